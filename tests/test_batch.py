"""Batch mode against the fake Batch API: whole runs, kill -9 at every step, refusals."""

from __future__ import annotations

import json
import os
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
    assert again == set(expired)
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
    assert notes[-1] == (
        "batch batch_0011 (b00001.1.1.1.1.2, 1 request) was refused: invalid_request: The "
        "request body could not be validated. (line 1)"
    )
    assert len(records(tmp_path / "run" / "tasks.jsonl")) == 30


def test_a_120000_request_job_is_split_into_3_files():
    lines = [Line(f"id{i}", "m", "/v1/chat/completions", {"model": "m", "n": i})
             for i in range(120_000)]  # fmt: skip
    files = split(lines)
    assert [len(f) for f in files] == [50_000, 50_000, 20_000]


def test_files_split_at_the_byte_limit_and_by_model():
    lines = [Line(f"id{i}", "ab"[i % 2], "/v1/completions", {"x": "y" * 50}) for i in range(8)]
    files = split(lines, max_lines=100, max_bytes=300)
    assert all(sum(map(len, f)) <= 300 for f in files)
    assert all(len({json.loads(raw)["body"].get("x") and json.loads(raw)["custom_id"][-1]
                    for raw in f}) >= 1 for f in files)  # fmt: skip
    models = [{int(json.loads(raw)["custom_id"][2:]) % 2 for raw in f} for f in files]
    assert all(len(m) == 1 for m in models)
