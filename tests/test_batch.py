"""Batch mode against the fake Batch API: whole runs, kill -9 at every step, refusals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fake_batch_server import FakeBatchServer
from helpers import records, run_generate

from selfinstruct.backends.openai_api import OpenAIBackend
from selfinstruct.batch.backend import FAULT_ENV, FAULT_POINTS, BatchBackend
from selfinstruct.batch.files import Line, split

N = 24


def batch_backend(fake: FakeBatchServer, notes: list[str] | None = None, **options) -> BatchBackend:
    inner = OpenAIBackend("stub", base_url=fake.base_url, api_key="test-key", api="chat")
    options = {"poll_interval": 0.01, "quiet": 0.05, **options}
    return BatchBackend(inner, notify=(notes.append if notes is not None else None), **options)


def command(fake: FakeBatchServer, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "selfinstruct", "generate", "--batch", "--base-url",
            fake.base_url, "--model", "stub", "--api", "chat", "--api-key", "test-key",
            "--n", str(N), "--out", str(out), "--quiet", "--seed", "3", "--batch-round", "10",
            "--poll-interval", "0.01", "--batch-quiet", "0.05", *extra]  # fmt: skip


def tasks(out: Path) -> list[str]:
    return sorted(json.dumps(t, sort_keys=True) for t in records(out / "tasks.jsonl"))


def test_self_instruct_in_batch_mode_writes_the_tasks_through_batches(tmp_path):
    with FakeBatchServer() as fake:
        result, _ = run_generate(tmp_path / "run", N, backend=batch_backend(fake), batch_round=10)
        submitted = fake.submitted()
    assert result.stop.value == "complete"
    assert len(records(tmp_path / "run" / "tasks.jsonl")) == N
    assert len(submitted) == len(set(submitted))  # every request went in once
    assert len(fake.creates) >= 3  # rounds of 10 prompts, then the tasks' own stages
    events = [e["event"] for e in records(tmp_path / "run" / "batches" / "state.jsonl")]
    assert events.count("written") == events.count("downloaded") == len(fake.creates)


def test_rounds_show_each_prompt_the_pool_after_the_previous_round(tmp_path):
    with FakeBatchServer() as fake:
        run_generate(tmp_path / "run", N, backend=batch_backend(fake), batch_round=10)
        first, second = fake.creates[0], fake.creates[1]
    assert len(first.custom_ids) == 10  # round 0: ten prompts at once, none waiting for another
    assert len(second.custom_ids) > 10  # round 1's ten prompts with the new tasks' first stage


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("straight") / "run"
    with FakeBatchServer() as fake:
        done = subprocess.run(command(fake, out), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return tasks(out)


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_kill_minus_nine_at_each_step_then_rerun_submits_nothing_twice(tmp_path, straight, point):
    out = tmp_path / "run"
    with FakeBatchServer() as fake:
        killed = subprocess.run(command(fake, out), capture_output=True, text=True,
                                timeout=120, env={**os.environ, FAULT_ENV: point})  # fmt: skip
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        done = subprocess.run(command(fake, out), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        submitted = fake.submitted()
        uploads = list(fake.uploads)
    assert len(submitted) == len(set(submitted))  # 0 duplicate submissions
    assert len(uploads) == len(set(uploads))  # nor uploads
    assert tasks(out) == straight  # 0 lost rows, the same data


def test_expired_lines_are_sent_again_and_only_those(tmp_path):
    with FakeBatchServer(expire_every=3) as fake:
        result, _ = run_generate(tmp_path / "run", 40, backend=batch_backend(fake),
                                 method="alpaca")  # fmt: skip
        submitted = fake.submitted()
        expired = list(fake.expired)
    assert result.stop.value == "complete"
    assert expired
    again = {cid for cid in submitted if submitted.count(cid) > 1}
    # Only expired lines are sent again, once each; those the run still needed when it ended
    # (the ordered commit waits for them), not those it had no more use for.
    assert again and again <= set(expired)
    assert all(submitted.count(cid) == 2 for cid in again)


def test_a_refused_batch_is_reported_and_sent_again_in_halves(tmp_path):
    notes: list[str] = []
    with FakeBatchServer(token_limit=6) as fake:
        result, _ = run_generate(tmp_path / "run", 40, backend=batch_backend(fake, notes),
                                 method="alpaca")  # fmt: skip
        sizes = [len(b.custom_ids) for b in fake.creates]
    assert result.stop.value == "complete"
    assert sizes[0] > 6 and max(s for s in sizes if s <= 6) <= 6
    assert notes and notes[0].startswith("batch batch_0001 (b00001, ")
    assert (
        "was refused: token_limit_exceeded: Enqueued token limit reached.; sending it again "
        "as two files of" in notes[0]
    )
    assert len(records(tmp_path / "run" / "tasks.jsonl")) == 40


def test_a_line_that_fails_validation_fails_its_request_only(tmp_path):
    notes: list[str] = []
    with FakeBatchServer(invalid_line=2) as fake:
        result, _ = run_generate(tmp_path / "run", 30, backend=batch_backend(fake, notes),
                                 method="alpaca")  # fmt: skip
        poisoned = fake.poisoned
    assert result.stop.value == "complete"
    failures = records(tmp_path / "run" / "failures.jsonl")
    assert [(f["id"], f["kind"], f["request_key"]) for f in failures] == [
        ("r000001", "bad_request", next(iter(poisoned)))
    ]
    # How many batches came before depends on how requests were grouped (timing); the halving
    # down to the one refused line and the message do not.
    assert re.fullmatch(
        r"batch batch_\d{4} \(b\d{5}(\.[12])+, 1 request\) was refused: invalid_request: The "
        r"request body could not be validated\. \(line 1\)",
        notes[-1],
    ), notes[-1]
    assert len(records(tmp_path / "run" / "tasks.jsonl")) == 30


def test_a_120000_request_job_is_split_into_3_files():
    lines = [Line(f"id{i}", "m", "/v1/chat/completions", {"model": "m", "n": i})
             for i in range(120_000)]  # fmt: skip
    files = split(lines)
    assert [len(f) for f in files] == [50_000, 50_000, 20_000]


def test_files_split_at_the_byte_limit_and_by_model():
    lines = [Line(f"id{i}", "ab"[i % 2], "/v1/completions", {"x": "y" * 50}) for i in range(8)]
    assert {len(line.encode()) for line in lines} == {126}  # two fit in 300 bytes, three do not

    def ids(files: list[list[bytes]]) -> list[list[str]]:
        return [[json.loads(raw)["custom_id"] for raw in f] for f in files]

    # One model per file, each model's lines in arrival order, a file closed only when the next
    # line would not fit.
    files = split(lines, max_lines=100, max_bytes=300)
    assert all(sum(map(len, f)) <= 300 for f in files)
    assert ids(files) == [["id0", "id2"], ["id4", "id6"], ["id1", "id3"], ["id5", "id7"]]
    assert ids(split(lines, max_lines=100, max_bytes=400)) == [
        ["id0", "id2", "id4"], ["id6"], ["id1", "id3", "id5"], ["id7"],
    ]  # fmt: skip
    assert ids(split(lines, max_lines=3, max_bytes=10_000)) == [
        ["id0", "id2", "id4"], ["id6"], ["id1", "id3", "id5"], ["id7"],
    ]  # fmt: skip


def cli(*args: str):
    from click.testing import CliRunner

    from selfinstruct.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_batch_needs_a_server_model(tmp_path):
    result = cli("generate", "--batch", "--n", "2", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: --batch needs a server model: pass --model (and --base-url for a self-hosted "
        "server); the bundled model runs in-process"
    )


def test_batch_takes_one_server(tmp_path):
    result = cli(
        "generate", "--batch", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
        "--base-url", "http://127.0.0.1:10/v1", "--n", "2", "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: --batch takes one --base-url: a batch goes to one provider"
    )
    assert not (tmp_path / "run").exists()


def vllm_run_batch(input_file: Path, output_file: Path) -> None:
    """What `vllm run-batch -i INPUT -o OUTPUT` writes: a result line per request."""
    from fake_batch_server import line_payload

    rows = []
    for number, raw in enumerate(input_file.read_text().splitlines(), start=1):
        line = json.loads(raw)
        body = line_payload(line["body"], line["url"].endswith("chat/completions"), number)
        rows.append({"id": f"vllm-{number}", "custom_id": line["custom_id"],
                     "response": {"status_code": 200, "request_id": f"r{number}", "body": body},
                     "error": None})  # fmt: skip
    output_file.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_batch_file_only_then_import_round_trip(tmp_path):
    out = tmp_path / "run"
    first = cli("generate", "--method", "alpaca", "--batch-file-only", "--model", "stub",
                "--api", "chat", "--n", "30", "--out", str(out), "--quiet",
                "--batch-quiet", "0.05")  # fmt: skip
    assert first.exit_code == 0, first.output
    rounds = 0
    while True:
        stopped = [line for line in first.output.splitlines() if line.startswith("Stopped: ")]
        if not stopped:
            break
        message = stopped[0]
        inputs = sorted(str(p) for p in (out / "batches").glob("*.input.jsonl"))
        newest = Path(inputs[-1])
        result_file = out / "batches" / f"{newest.name.split('.')[0]}.vllm.jsonl"
        assert message == (
            f"Stopped: batch input files written ({newest}): run `vllm run-batch -i FILE -o "
            f"{result_file} --model stub` for each, then `selfinstruct batches {out} --import "
            f"{result_file}`."
        )
        lines = [json.loads(raw) for raw in newest.read_text().splitlines()]
        assert {line["url"] for line in lines} == {"/v1/chat/completions"}
        assert all(line["method"] == "POST" and line["body"]["model"] == "stub" for line in lines)
        vllm_run_batch(newest, result_file)
        first = cli("batches", str(out), "--import", str(result_file))
        assert first.exit_code == 0, first.output
        rounds += 1
        assert rounds < 5
    assert len(records(out / "tasks.jsonl")) == 30
    with FakeBatchServer() as fake:
        run_generate(tmp_path / "online", 30, backend=batch_backend(fake), method="alpaca")
    assert tasks(out) == tasks(tmp_path / "online")  # the same data either way
    status = cli("batches", str(out), "--price", "2,4")
    assert status.exit_code == 0
    rows = status.output.splitlines()
    assert rows[0].startswith("b00001  -  imported: ")
    usage = [
        json.loads(line) for line in (out / "batches" / "state.jsonl").read_text().splitlines()
    ]
    tokens = [u["usage"] for u in usage if u["event"] == "imported"]
    prompt = sum(t["prompt_tokens"] for t in tokens)
    completion = sum(t["completion_tokens"] for t in tokens)
    spent = (prompt * 1.0 + completion * 2.0) / 1e6
    assert (
        rows[-2] == f"answered so far: {prompt}+{completion} tokens, {spent:.4f} USD at the "
        "batch discount"
    )
    assert rows[-1] == "left: nothing waiting in a batch"


def test_import_refuses_a_line_of_no_waiting_file(tmp_path):
    out = tmp_path / "run"
    cli("generate", "--method", "alpaca", "--batch-file-only", "--model", "stub", "--api",
        "chat", "--n", "5", "--out", str(out), "--quiet", "--batch-quiet", "0.05")  # fmt: skip
    stray = tmp_path / "stray.jsonl"
    stray.write_text('{"id": "x", "custom_id": "nope", "response": null, "error": null}\n')
    result = cli("batches", str(out), "--import", str(stray))
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {stray}, line 1: custom_id 'nope' is not a request waiting in a batch file of "
        f"{out}"
    )


def test_batches_shows_each_file_and_what_is_left(tmp_path):
    with FakeBatchServer() as fake:
        run_generate(tmp_path / "run", 20, backend=batch_backend(fake), method="alpaca")
        batch_id = fake.creates[0].id
    result = cli("batches", str(tmp_path / "run"))
    assert result.exit_code == 0
    rows = result.output.splitlines()
    state = [json.loads(x) for x in (tmp_path / "run/batches/state.jsonl").read_text().splitlines()]
    usage = next(e["usage"] for e in state if e["event"] == "downloaded")
    assert rows[0] == (
        f"b00001  {batch_id}  completed: {usage['completed']} lines, {usage['completed']} done, "
        f"0 failed, tokens {usage['prompt_tokens']}+{usage['completion_tokens']}"
    )
    assert (
        rows[-2] == f"answered so far: {usage['prompt_tokens']}+{usage['completion_tokens']} tokens"
    )
    assert rows[-1] == "left: nothing waiting in a batch"


def without_keys(value):
    """Records without their request keys (the key names the server, which differs)."""
    if isinstance(value, dict):
        return {k: without_keys(v) for k, v in value.items() if "key" not in k}
    if isinstance(value, list):
        return [without_keys(v) for v in value]
    return value


@pytest.mark.parametrize("method", ["respond", "judge", "evolve"])
def test_other_methods_write_the_same_data_in_batch_mode(tmp_path, method):
    from stub_server import StubServer
    from test_judge import write_alpaca

    data = write_alpaca(tmp_path / "data.json", count=6)
    extra = {"respond": ["--compare"], "judge": ["--rate"], "evolve": ["--rounds", "2"]}[method]

    def run(base_url: str, out: Path, *batch: str) -> None:
        result = cli(method, str(data), "--out", str(out), "--model", "stub", "--base-url",
                     base_url, "--api-key", "x", "--api", "completion", "--quiet", *extra,
                     *batch)  # fmt: skip
        assert result.exit_code == 0, result.output

    with StubServer(delay=0.0) as stub:
        run(stub.base_url, tmp_path / "live")
    with FakeBatchServer() as fake:
        run(fake.base_url, tmp_path / "batch", "--batch", "--poll-interval", "0.01",
            "--batch-quiet", "0.05")  # fmt: skip
        submitted = fake.submitted()
        files = len(fake.creates)
    assert submitted and len(submitted) == len(set(submitted))
    if method == "respond":  # the answers in one file, then the scores of both in another
        assert files == 2
    name = "judgments.jsonl" if method == "judge" else "tasks.jsonl"

    def data_of(folder: str) -> list[str]:
        found = records(tmp_path / folder / name)
        return sorted(json.dumps(without_keys(r), sort_keys=True) for r in found)

    assert data_of("live") and data_of("batch") == data_of("live")


def test_the_summary_prices_batch_answers_at_half_the_list_price(tmp_path):
    out = tmp_path / "run"
    with FakeBatchServer() as fake:
        result = cli("generate", "--method", "alpaca", "--batch", "--base-url", fake.base_url,
                     "--model", "stub", "--api", "chat", "--api-key", "x", "--n", "10", "--out",
                     str(out), "--quiet", "--price", "2,4", "--poll-interval", "0.01",
                     "--batch-quiet", "0.05")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    expected = (summary["prompt_tokens"] * 1.0 + summary["completion_tokens"] * 2.0) / 1e6
    assert summary["cost_usd"] == pytest.approx(expected)


def test_batch_file_only_rerun_before_the_import_writes_nothing_new(tmp_path):
    out = tmp_path / "run"
    args = ("generate", "--method", "alpaca", "--batch-file-only", "--model", "stub", "--api",
            "chat", "--n", "5", "--out", str(out), "--quiet", "--batch-quiet", "0.05")  # fmt: skip
    first = cli(*args)
    again = cli(*args)
    assert again.exit_code == 0
    assert again.output.splitlines()[-1] == first.output.splitlines()[-1]
    assert [p.name for p in (out / "batches").glob("*.input.jsonl")] == ["b00001.input.jsonl"]


@pytest.mark.parametrize(
    "args",
    [
        ("glan", "--disciplines", "2", "--subjects", "2", "--questions", "2"),
        ("chat", "--n", "3", "--turns", "2-2"),
        ("magpie", "--n", "4", "--api", "completion", "--template", "smollm2"),
    ],
    ids=["glan", "chat", "magpie"],
)
def test_glan_chat_and_magpie_write_the_same_data_in_batch_mode(tmp_path, args):
    from stub_server import StubServer

    def run(base_url: str, out: Path, *batch: str) -> None:
        result = cli(*args, "--out", str(out), "--model", "stub", "--base-url", base_url,
                     "--api-key", "x", "--quiet", *batch)  # fmt: skip
        assert result.exit_code == 0, result.output

    with StubServer(delay=0.0) as stub:
        run(stub.base_url, tmp_path / "live")
    with FakeBatchServer() as fake:
        run(fake.base_url, tmp_path / "batch", "--batch", "--poll-interval", "0.01",
            "--batch-quiet", "0.05")  # fmt: skip
        submitted = fake.submitted()
    assert submitted and len(submitted) == len(set(submitted))

    def data_of(folder: str) -> list[str]:
        found = records(tmp_path / folder / "tasks.jsonl")
        return sorted(json.dumps(without_keys(r), sort_keys=True) for r in found)

    assert data_of("live") and data_of("batch") == data_of("live")


def test_the_round_size_is_a_data_setting_checked_on_resume(tmp_path):
    out = tmp_path / "run"
    with FakeBatchServer() as fake:
        first = subprocess.run(command(fake, out), capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        again = [*command(fake, out)[:-4], "--batch-round", "20"]
        refused = subprocess.run(again, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        f"Error: {out} was generated with batch_round=10, not 20: resuming would mix two "
        "datasets; use another --out, or pass --allow-setting-changes"
    )


def test_a_run_that_completes_does_not_wait_for_batches_it_no_longer_needs(tmp_path):
    """The first batch's answers are enough; the later batches would take 10,000 polls. The
    run ends at once, leaves no batch running at the provider (cancelled, or never submitted)
    and a rerun submits nothing."""
    notes: list[str] = []
    out = tmp_path / "run"
    with FakeBatchServer(polls=20, later_polls=10_000) as fake:
        result, _ = run_generate(out, 4, backend=batch_backend(fake, notes, max_lines=2),
                                 method="alpaca")  # fmt: skip
        statuses = [b.status for b in fake.creates]
        created = len(fake.creates)
        again, _ = run_generate(out, 4, backend=batch_backend(fake, notes, max_lines=2),
                                method="alpaca")  # fmt: skip
        assert len(fake.creates) == created  # the rerun submitted nothing
    assert result.stop.value == "complete" and again.stop.value == "complete"
    assert statuses[0] == "completed" and all(s == "cancelled" for s in statuses[1:])
    events = [e["event"] for e in records(out / "batches" / "state.jsonl")]
    assert events.count("written") == 1 + events.count("cancelled") + events.count("abandoned")


def test_abandoning_cancels_running_batches_and_says_so(tmp_path):
    import asyncio

    from selfinstruct.backends.base import Decoding, Request

    notes: list[str] = []

    async def scenario(fake: FakeBatchServer) -> None:
        backend = batch_backend(fake, notes, max_lines=1)
        backend.bind(tmp_path, lambda kind, reason: None)
        decoding = Decoding(max_tokens=16, temperature=0.0, top_p=1.0)
        asking = [asyncio.ensure_future(backend.complete(Request("s", f"p{i}", decoding), f"p{i}"))
                  for i in range(2)]  # fmt: skip
        while len(fake.creates) < 2:
            await asyncio.sleep(0.01)
        for task in asking:
            task.cancel()
        await backend.abandon_pending()
        await backend.aclose()

    with FakeBatchServer(polls=10_000) as fake:
        asyncio.run(scenario(fake))
        statuses = [b.status for b in fake.creates]
    assert statuses == ["cancelled", "cancelled"]
    # Which file went into which batch depends on which upload finished first.
    said = [re.fullmatch(r"batch (batch_\d+) \((b\d+)\) cancelled: the run needs none of its "
                         r"answers", note) for note in notes]  # fmt: skip
    assert all(said), notes
    assert sorted(m.group(1) for m in said if m) == ["batch_0001", "batch_0002"]
    assert sorted(m.group(2) for m in said if m) == ["b00001", "b00002"]


def test_answers_with_a_malformed_usage_are_kept_and_warned_about_once(tmp_path, capsys):
    with FakeBatchServer(malformed_usage=True) as fake:
        result, _ = run_generate(tmp_path / "run", 10, backend=batch_backend(fake),
                                 method="alpaca")  # fmt: skip
        base_url = fake.base_url
    assert result.stop.value == "complete"
    assert len(records(tmp_path / "run" / "tasks.jsonl")) == 10
    assert not (tmp_path / "run" / "failures.jsonl").read_text()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [
        f"warning: {base_url} sent an answer whose token usage is malformed: the answer is kept "
        "and its unknown token counts are taken as 0 (token and cost figures, and --max-tokens "
        "and --max-cost, count less than was used)"
    ]
    downloaded = [e for e in records(tmp_path / "run" / "batches" / "state.jsonl")
                  if e["event"] == "downloaded"]  # fmt: skip
    assert downloaded and all(e["usage"]["prompt_tokens"] == 0 for e in downloaded)
    assert all(e["usage"]["completion_tokens"] > 0 for e in downloaded)


DOWNLOAD_FAULTS = {
    401: "HTTP 401: the server rejected the API key",
    400: "HTTP 400: Error code: 400 - the file is not available",
    500: "HTTP 500: Error code: 500 - the file is not available",
    200: "line 1 is not a batch result line",
}


@pytest.mark.parametrize("fault", DOWNLOAD_FAULTS, ids=["401", "400", "500", "not-jsonl"])
def test_an_output_file_that_cannot_be_downloaded_stops_the_run_and_a_rerun_fetches_it(
    tmp_path, straight, fault
):
    out = tmp_path / "run"
    with FakeBatchServer(output_fault=fault) as fake:
        stopped = subprocess.run(command(fake, out), capture_output=True, text=True, timeout=60)
        tries = fake.output_downloads
        saved = list((out / "batches").glob("*.output.jsonl"))
        fake.output_fault = None
        done = subprocess.run(command(fake, out), capture_output=True, text=True, timeout=120)
        submitted = fake.submitted()
    assert stopped.returncode == 2, stopped.stderr
    assert "Traceback" not in stopped.stderr and "Unclosed" not in stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"Error: batch batch_0001 (b00001) is completed, but its output file file-2 could not "
        f"be downloaded from {fake.base_url} in 5 attempts (last: {DOWNLOAD_FAULTS[fault]}); "
        "run the same command again to fetch it"
    )
    assert tries == 5  # tried again with backoff, then stopped
    assert not saved  # nothing unreadable was saved
    assert done.returncode == 0, done.stderr
    assert len(submitted) == len(set(submitted))  # the rerun submitted nothing twice
    assert tasks(out) == straight


def test_a_provider_without_a_file_list_is_named_as_such_not_as_an_unknown_model(tmp_path):
    out = tmp_path / "run"
    with FakeBatchServer(files_status=404) as fake:
        done = subprocess.run(command(fake, out), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: {fake.base_url} answered HTTP 404 to GET /v1/files (the provider's file list), "
        "which batch mode needs: the server has no Batch API; run without --batch, or check "
        "--base-url"
    ]


def test_a_batch_file_on_a_full_disk_says_how_to_go_on(tmp_path, monkeypatch):
    import errno

    from selfinstruct.batch import files
    from selfinstruct.errors import UserError

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    target = tmp_path / "batches" / "b00001.output.jsonl"
    with pytest.raises(UserError) as caught:
        files.write_atomic(target, b"{}\n")
    assert str(caught.value) == (
        f"cannot write {target}: the disk is full; free space and run the same command again "
        "to resume"
    )
    assert list(target.parent.iterdir()) == []  # no half file left behind
