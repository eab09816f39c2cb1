"""Faults through the real HTTP path: the openai client against the stub server."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_generate
from stub_server import Fault, StubServer, generate_command

from selfinstruct.backends.base import BackendError, Completion, Decoding, Request
from selfinstruct.backends.openai_api import OpenAIBackend
from selfinstruct.cache import ResponseCache
from selfinstruct.client import ModelClient, RetryPolicy
from selfinstruct.errors import UserError

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.02, max_delay=0.05)
REQUEST = Request("classify", "Task: Sort fruit by colour.\nIs it classification?",
                  Decoding(max_tokens=3, temperature=0.0, top_p=0.0), seed=1)  # fmt: skip


def lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_library(stub: StubServer, out: Path, n: int, retry: RetryPolicy = FAST_RETRY,
                timeout: float = 10.0, concurrency: int = 4):  # fmt: skip
    backend = OpenAIBackend(model="stub", base_url=stub.base_url, timeout=timeout,
                            max_concurrency=concurrency)  # fmt: skip
    result, _ = run_generate(out, n, backend=backend, seed=3, concurrency=concurrency,
                             timeout=timeout, retry=retry)  # fmt: skip
    return result


def assert_consistent(out: Path) -> None:
    """Every file is whole JSON lines; no record id is written twice."""
    for name in ("machine_instructions", "tasks", "classification", "rejected"):
        records = lines(out / f"{name}.jsonl")
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)), name
    lines(out / "failures.jsonl")


def test_rate_limit_waits_for_retry_after(tmp_path):
    with StubServer(delay=0.0, faults=[Fault("rate_limit", first=2, retry_after=0.3)]) as stub:
        backend = OpenAIBackend(model="stub", base_url=stub.base_url, timeout=5)
        client = ModelClient(backend, ResponseCache(tmp_path / "c.sqlite"), concurrency=1,
                             retry=RetryPolicy(attempts=5, base_delay=5, max_delay=5))  # fmt: skip
        started = time.monotonic()
        _, completion = asyncio.run(client.call(REQUEST))
        elapsed = time.monotonic() - started
    assert completion.text == "Yes"
    assert stub.hits == 3 and client.usage.retries == 2
    assert 0.55 <= elapsed < 3  # two waits of Retry-After 0.3 s, not the 5 s backoff


def test_server_errors_then_success_through_the_cli(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("server", first=3, retry_after=0.05)]) as stub:
        done = subprocess.run(generate_command(stub.base_url, out, 8), capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["retries"] >= 3
    assert summary["failures"] == {} and not lines(out / "failures.jsonl")
    assert len(lines(out / "machine_instructions.jsonl")) == 8
    assert_consistent(out)


def test_slow_response_past_timeout_is_retried(tmp_path):
    out = tmp_path / "run"
    # Not the first requests: twice without any answer yet ends the run (see below).
    with StubServer(delay=0.0, faults=[Fault("slow", every=3, times=2, seconds=2.5)]) as stub:
        result = run_library(stub, out, n=6, timeout=1.0)
    assert result.summary.status == "complete"
    assert result.summary.retries >= 2 and result.summary.failures == {}
    assert stub.state.fault_hits["slow"] == 2


def test_timeouts_that_persist_are_failures_with_their_kind(tmp_path):
    out = tmp_path / "run"
    slow = Fault("slow", match="Is it classification?", seconds=2.5, times=2)
    with StubServer(delay=0.0, faults=[slow]) as stub:
        result = run_library(stub, out, n=3, timeout=1.0, concurrency=2,
                             retry=RetryPolicy(attempts=1))  # fmt: skip
    failures = lines(out / "failures.jsonl")
    assert [f["kind"] for f in failures] == ["timeout", "timeout"]
    assert result.summary.failures == {"timeout": 2}
    assert_consistent(out)


def test_invalid_json_keeps_raw_text_and_invents_nothing(tmp_path):
    out = tmp_path / "run"
    broken = Fault("invalid_json", match="Is it classification?")
    with StubServer(delay=0.0, faults=[broken]) as stub:
        result = run_library(stub, out, n=4, retry=RetryPolicy(attempts=2, base_delay=0.01))
    failures = lines(out / "failures.jsonl")
    assert failures and all(f["stage"] == "classify" and f["kind"] == "malformed" for f in failures)
    assert all("half an ans" in f["raw"] and f["attempts"] == 2 for f in failures)
    assert not lines(out / "classification.jsonl") and not lines(out / "tasks.jsonl")
    assert result.summary.failures == {"malformed": len(failures)}
    assert_consistent(out)


def test_transient_invalid_json_is_retried(tmp_path):
    with StubServer(delay=0.0, faults=[Fault("invalid_json", first=2)]) as stub:
        result = run_library(stub, tmp_path / "run", n=5)
    assert result.summary.status == "complete" and result.summary.failures == {}
    assert result.summary.retries == 2


def test_truncated_instruction_response_is_rejected_whole(tmp_path):
    out = tmp_path / "run"
    truncate = Fault("length", match="Write a list of tasks:", times=3)
    with StubServer(delay=0.0, faults=[truncate]) as stub:
        result = run_library(stub, out, n=10)
    truncated = [r for r in lines(out / "rejected.jsonl") if r["reason"] == "response_truncated"]
    assert len(truncated) == 3
    assert all(r["stage"] == "instruction" and r["text"].strip() for r in truncated)
    assert result.summary.status == "complete"
    assert_consistent(out)


def test_dropped_connections_are_retried(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("drop", every=5)]) as stub:
        result = run_library(stub, out, n=10)
    assert stub.state.fault_hits["drop"] >= 3
    assert result.summary.status == "complete" and result.summary.failures == {}
    assert result.summary.retries == stub.state.fault_hits["drop"]
    assert_consistent(out)


def test_server_always_failing_stops_cleanly_then_resumes(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("server")]) as stub:
        command = generate_command(stub.base_url, out, 10, "--max-retries", "1", "--seed", "5")
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert done.stderr.splitlines()[-1] == (
            "Stopped: 25 requests in a row failed or were cut off (last: server: HTTP 500: Error code: 500 - "
            "internal error); check the server. Run the same command again to resume."
        )
        assert_consistent(out)
        failures = lines(out / "failures.jsonl")
        assert len(failures) >= 25 and {f["kind"] for f in failures} == {"server"}
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "stopped" and summary["failures"]["server"] >= 25

        # The server recovers: the same command resumes and completes, without re-asking the
        # bootstrap requests that the pool already moved on without.
        stub.state.faults.clear()
        hits_before = stub.hits
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(lines(out / "machine_instructions.jsonl")) == 10
    skipped = {f["request_key"] for f in failures if f.get("skipped")}
    assert skipped and stub.hits > hits_before
    assert_consistent(out)


BUDGET_STOP = (
    r"Stopped: --max-cost 0\.5 USD reached \(\d+\.\d{4} USD spent by this run folder\); "
    r"pass a larger --max-cost to continue\."
)


def test_budget_stops_cleanly_and_a_larger_budget_resumes(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0) as stub:
        command = generate_command(stub.base_url, out, 6, "--price", "1000,1000")
        done = subprocess.run([*command, "--max-cost", "0.5"], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        # A budget stop is what was asked for: exit status 0, the reason on stderr.
        assert done.returncode == 0 and "Traceback" not in done.stderr
        assert re.fullmatch(BUDGET_STOP, done.stderr.splitlines()[-1])
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "stopped" and "--max-cost" in summary["stop_reason"]
        spent = summary["run_usage"]["cost_usd"]
        assert spent >= 0.5 and summary["run_usage"]["total_tokens"] > 0
        assert_consistent(out)
        hits = stub.hits

        # The same budget again: nothing more is sent.
        done = subprocess.run([*command, "--max-cost", "0.5"], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0 and stub.hits == hits
        assert re.fullmatch(BUDGET_STOP, done.stderr.splitlines()[-1])

        done = subprocess.run([*command, "--max-cost", "10000"], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["accepted_instructions"] == 6
    # Totals count the whole run folder, including the first session's answers.
    assert summary["run_usage"]["cost_usd"] > spent
    assert summary["run_usage"]["responses"] == stub.hits
    assert_consistent(out)


def test_max_tokens_stops(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0) as stub:
        done = subprocess.run(generate_command(stub.base_url, out, 20, "--max-tokens", "3000"),
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert re.fullmatch(
        r"Stopped: --max-tokens 3000 reached \(\d+ tokens used by this run folder\); "
        r"pass a larger --max-tokens to continue\.",
        done.stderr.splitlines()[-1],
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_usage"]["total_tokens"] >= 3000
    assert_consistent(out)


# ------------------------------------------------ answers without text (issue 8, item 1)


def call_once(stub_url: str, api: str = "chat") -> Completion:
    backend = OpenAIBackend(model="stub", base_url=stub_url, timeout=5, api=api)  # type: ignore[arg-type]

    async def go():
        try:
            return await backend.complete(REQUEST, REQUEST.prompt)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def backend_error(stub_url: str, api: str = "chat") -> BackendError:
    try:
        call_once(stub_url, api)
    except BackendError as error:
        return error
    raise AssertionError("no BackendError")


def test_null_content_from_the_server_is_malformed():
    with StubServer(delay=0.0, faults=[Fault("null_content")]) as stub:
        chat = backend_error(stub.base_url, "chat")
        completion = backend_error(stub.base_url, "completion")
    assert (chat.kind, chat.message) == (
        "malformed", "response without answer text (message.content is missing or null)"
    )  # fmt: skip
    assert (completion.kind, completion.message) == (
        "malformed", "response without answer text (text is missing or null)"
    )  # fmt: skip
    assert '"content": null' in (chat.raw or "") and '"text": null' in (completion.raw or "")


def test_null_content_is_a_logged_failure_and_a_resume_completes(tmp_path):
    """Null answers are failures (failures.jsonl), never cached: the same command against a
    healthy server asks again and completes the run."""
    out = tmp_path / "run"
    null = Fault("null_content", match="Is it classification?")
    with StubServer(delay=0.0, faults=[null]) as stub:
        command = generate_command(stub.base_url, out, 4, "--max-retries", "2", "--seed", "2")
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "failed requests: malformed 4" in done.stderr.splitlines()
        failures = lines(out / "failures.jsonl")
        assert [(f["stage"], f["kind"], f["attempts"]) for f in failures] == [
            ("classify", "malformed", 2)
        ] * 4
        assert {f["error"] for f in failures} == {
            "response without answer text (message.content is missing or null)"
        }
        assert not lines(out / "tasks.jsonl") and not lines(out / "classification.jsonl")
        cache = ResponseCache(out / "cache.sqlite")
        try:
            assert "classify" not in cache.totals()
        finally:
            cache.close()
        assert stub.state.fault_hits["null_content"] == 8

        stub.state.faults.clear()
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(lines(out / "tasks.jsonl")) == 4 and len(lines(out / "classification.jsonl")) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["tasks"] == 4
    assert_consistent(out)


# ------------------------------------- connections closed mid-answer (issue 8, item 2)


def test_refused_connection_is_connection():
    with StubServer(delay=0.0) as stub:
        url = stub.base_url
    error = backend_error(url)  # the server is gone: nothing listens on the port
    assert error.kind == "connection"
    assert error.message.startswith(f"cannot connect to {url}: ")


def test_cut_off_answers_are_dropped_not_connection():
    faults = [Fault("truncated_body", first=1), Fault("reset_mid_body", first=2),
              Fault("drop", first=3)]  # fmt: skip
    with StubServer(delay=0.0, faults=faults) as stub:
        errors = [backend_error(stub.base_url) for _ in range(3)]
        answer = call_once(stub.base_url)
    assert [e.kind for e in errors] == ["dropped"] * 3
    prefix = f"{stub.base_url} closed the connection before the answer was complete ("
    assert all(e.message.startswith(prefix + "incomplete response: ") for e in errors)
    assert dict(stub.state.fault_hits) == {"truncated_body": 1, "reset_mid_body": 1, "drop": 1}
    assert answer.text == "Yes"


def test_answers_cut_off_at_start_are_retried_not_server_not_running(tmp_path):
    """Before any answer, only refused connections end the run as 'server not running'."""
    out = tmp_path / "run"
    faults = [Fault("truncated_body", first=2), Fault("reset_mid_body", first=3)]
    with StubServer(delay=0.0, faults=faults) as stub:
        result = run_library(stub, out, n=5, concurrency=1)
    assert result.summary.status == "complete" and result.summary.failures == {}
    assert result.summary.retries == 3
    assert_consistent(out)


def test_answers_cut_off_for_good_are_logged_as_dropped(tmp_path):
    out = tmp_path / "run"
    cut = Fault("truncated_body", match="Is it classification?")
    with StubServer(delay=0.0, faults=[cut]) as stub:
        command = generate_command(stub.base_url, out, 3, "--max-retries", "1")
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "failed requests: dropped 3" in done.stderr.splitlines()
    failures = lines(out / "failures.jsonl")
    assert [(f["stage"], f["kind"]) for f in failures] == [("classify", "dropped")] * 3
    prefix = f"{stub.base_url} closed the connection before the answer was complete ("
    assert all(f["error"].startswith(prefix) for f in failures)


# ------------------------------------------------ the cache file (issue 8, item 3)


def filled_cache(path: Path, rows: int) -> ResponseCache:
    cache = ResponseCache(path)
    for i in range(rows):
        cache.put(f"k{i}", "instructions", {"i": i}, Completion("x" * 400, "stop", 10, 100))
    return cache


def test_full_disk_on_put_is_one_line(tmp_path):
    path = tmp_path / "cache.sqlite"
    cache = filled_cache(path, 20)
    pages = cache._db.execute("PRAGMA page_count").fetchone()[0]
    cache._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
    with pytest.raises(UserError) as caught:
        for i in range(20, 200):
            cache.put(f"k{i}", "instructions", {"i": i}, Completion("y" * 400, "stop", 10, 100))
    assert str(caught.value) == (
        f"cannot write {path}: the disk is full; free space and run the same command again "
        "to resume"
    )
    stored = len(cache)
    cache.close()
    # What was stored before the disk filled up is still there.
    again = ResponseCache(path)
    assert len(again) == stored >= 20 and again.get("k0") is not None
    again.close()


def test_full_disk_during_a_run_stops_with_one_line(tmp_path):
    with StubServer(delay=0.0) as stub:
        backend = OpenAIBackend(model="stub", base_url=stub.base_url, timeout=5)
        cache = ResponseCache(tmp_path / "c.sqlite")
        pages = cache._db.execute("PRAGMA page_count").fetchone()[0]
        cache._db.execute(f"PRAGMA max_page_count = {pages}")  # no room for a long request
        client = ModelClient(backend, cache, concurrency=1, retry=FAST_RETRY)
        long = Request("classify", "Task: " + "Sort fruit. " * 1000 + "\nIs it classification?",
                       REQUEST.decoding)  # fmt: skip
        with pytest.raises(UserError) as caught:
            asyncio.run(client.call(long))
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'c.sqlite'}: the disk is full; free space and run the same "
        "command again to resume"
    )


DAMAGED = "; move it aside and rerun: answers will be requested again"


def test_garbage_cache_file_is_one_line(tmp_path):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    with pytest.raises(UserError) as caught:
        ResponseCache(path)
    assert str(caught.value) == f"{path} is damaged (file is not a database){DAMAGED}"


def open_and_read(path: Path) -> None:
    cache = ResponseCache(path)
    try:
        cache.totals()  # SQLite reads lazily: the damage may show only on the first query
    finally:
        cache.close()


def test_truncated_cache_file_is_one_line(tmp_path):
    path = tmp_path / "cache.sqlite"
    filled_cache(path, 300).close()
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with pytest.raises(UserError) as caught:
        open_and_read(path)
    assert str(caught.value) == f"{path} is damaged (database disk image is malformed){DAMAGED}"


def test_damaged_cache_through_the_cli(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0) as stub:
        command = generate_command(stub.base_url, out, 3)
        assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0
        tasks = (out / "tasks.jsonl").read_bytes()
        (out / "cache.sqlite").write_bytes(b"\x00garbage" * 1000)
        done = subprocess.run(generate_command(stub.base_url, out, 5), capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: {out / 'cache.sqlite'} is damaged (file is not a database){DAMAGED}"
    )
    assert (out / "tasks.jsonl").read_bytes() == tasks  # nothing written is lost


# ------------------------------------- every request failed (issue 21, item 7)


EVERY_FAILED_500 = (
    "Stopped: every request failed (last: server: HTTP 500: Error code: 500 - internal error); "
    "check the server. Run the same command again to resume."
)


def test_respond_where_every_request_failed_exits_2(tmp_path):
    """Fewer requests than --max-consecutive-failures, all failed: a failure, not a success."""
    from test_judge import write_alpaca
    from test_respond import respond_command

    data = write_alpaca(tmp_path / "data.json", count=8)
    out = tmp_path / "r"
    with StubServer(delay=0.0, faults=[Fault("server")]) as stub:
        command = [sys.executable, "-m", "selfinstruct",
                   *respond_command(stub.base_url, data, out, "--max-retries", "1")]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == EVERY_FAILED_500
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["stop"]) == ("stopped", "failed")
    assert summary["failures"] == {"server": 8}


def test_judge_where_every_answer_is_broken_json_exits_2(tmp_path):
    from test_judge import judge_command, write_alpaca

    data = write_alpaca(tmp_path / "data.json", count=5)
    out = tmp_path / "j"
    with StubServer(delay=0.0, faults=[Fault("invalid_json")]) as stub:
        command = judge_command(stub.base_url, data, out, "--max-retries", "1")
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    stopped = [line for line in done.stderr.splitlines() if line.startswith("Stopped: ")]
    assert len(stopped) == 1 and stopped[0].startswith("Stopped: every request failed (last: ")
    assert stopped[0].endswith("); check the server. Run the same command again to resume.")
    assert json.loads((out / "summary.json").read_text())["stop"] == "failed"


def test_a_run_with_some_answers_and_some_failures_still_completes(tmp_path):
    out = tmp_path / "run"
    broken = Fault("server", match="Is it classification?")
    with StubServer(delay=0.0, faults=[broken]) as stub:
        result = run_library(stub, out, n=3, retry=RetryPolicy(attempts=1))
    assert result.summary.stop.value == "complete" and result.summary.failures == {"server": 3}


def test_a_run_with_nothing_to_ask_is_complete_not_failed(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0) as stub:
        first = run_library(stub, out, n=3)
        again = run_library(stub, out, n=3)
    assert first.summary.stop.value == again.summary.stop.value == "complete"


# ------------------------------------- a server that never answers (issue 21, item 13)


def test_timeouts_are_tried_three_times_and_twice_before_any_answer(tmp_path):
    """A timeout costs --timeout each time: however many --max-retries, a request that timed
    out is tried at most three times, and twice while the server has answered nothing."""
    from selfinstruct.client import CallFailed

    slow = Fault("slow", match="Is it classification?", seconds=5)
    other = Request("instructions", "Name a river.", REQUEST.decoding, seed=1)
    with StubServer(delay=0.0, faults=[slow]) as stub:
        backend = OpenAIBackend(model="stub", base_url=stub.base_url, timeout=0.3)
        client = ModelClient(backend, ResponseCache(tmp_path / "c.sqlite"), concurrency=1,
                             retry=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.02))  # fmt: skip

        async def go() -> tuple[CallFailed, CallFailed]:
            try:
                with pytest.raises(CallFailed) as before:
                    await client.call(REQUEST)
                await client.call(other)
                with pytest.raises(CallFailed) as after:
                    await client.call(REQUEST)
                return before.value, after.value
            finally:
                await backend.aclose()

        before, after = asyncio.run(go())
    assert (before.error.kind, before.attempts) == ("timeout", 2)
    assert (after.error.kind, after.attempts) == ("timeout", 3)
    assert stub.state.fault_hits["slow"] == 5


def test_a_server_that_never_answers_ends_the_run_with_one_line(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("slow", seconds=30)]) as stub:
        command = generate_command(stub.base_url, out, 5, "--timeout", "1")
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 20  # two tries of 1 s, not six tries of every request
    assert done.stderr.splitlines()[-1] == (
        f"Error: no answer from {stub.base_url} within --timeout 1s (2 tries): is the server "
        "hung or overloaded? (a slow model needs a larger --timeout)"
    )
    assert json.loads((out / "summary.json").read_text())["stop"] == "failed"


def test_progress_says_how_long_requests_have_waited(tmp_path, monkeypatch):
    from selfinstruct import engine, registry
    from selfinstruct.runner import run

    monkeypatch.setattr(engine, "TICK_SECONDS", 0.1)
    seen: list[tuple[int, float]] = []
    with StubServer(delay=0.0, faults=[Fault("slow", first=1, seconds=1.5)]) as stub:
        backend = OpenAIBackend(model="stub", base_url=stub.base_url, timeout=10)
        settings = registry.get("self-instruct").configure(backend, n=1, concurrency=1, seed=3)
        result = run(settings, backend, tmp_path / "run",
                     on_progress=lambda p: seen.append((p.waiting, p.silent_seconds)))  # fmt: skip
    assert result.summary.status == "complete"
    waited = [seconds for waiting, seconds in seen if waiting == 1]
    assert len(waited) >= 5 and 1.2 <= max(waited) < 3  # reported while nothing came back
    assert seen[-1] == (0, 0.0)  # nothing waits at the end


def test_the_bar_shows_waiting_and_warns_once(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from selfinstruct import engine
    from selfinstruct.cli import main, running

    monkeypatch.setattr(engine, "TICK_SECONDS", 0.1)
    monkeypatch.setattr(running, "WAITING_SHOWN_SECONDS", 0.5)
    monkeypatch.setattr(running, "SILENCE_WARNING_SECONDS", 1.0)
    with StubServer(delay=0.0, faults=[Fault("slow", first=1, seconds=2)]) as stub:
        command = generate_command(stub.base_url, tmp_path / "run", 1, "--concurrency", "1")
        args = command[command.index("generate") :]
        args.remove("--quiet")
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    warning = (
        "Warning: nothing has come back from the server for 1s (1 request waiting): it may be "
        "hung or overloaded. Ctrl-C stops the run; the same command resumes it."
    )
    assert result.stderr.splitlines().count(warning) == 1
    assert re.search(r"waiting=[12]s", result.stderr)


def test_evolve_where_every_request_failed_exits_2(tmp_path):
    from test_evolve_cli import evolve_command

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"instruction": f"Name {i} rivers in Africa."}) + "\n"
                              for i in range(2, 7)))  # fmt: skip
    out = tmp_path / "e"
    with StubServer(delay=0.0, faults=[Fault("server")]) as stub:
        done = subprocess.run(evolve_command(stub.base_url, source, out, "--max-retries", "1"),
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert EVERY_FAILED_500 in done.stderr.splitlines()
    assert json.loads((out / "summary.json").read_text())["stop"] == "failed"


@pytest.mark.parametrize(
    "name, room",
    [("tasks.jsonl", 3), ("machine_instructions.jsonl", 3), ("classification.jsonl", 0)],
)
def test_a_disk_that_fills_up_during_a_cli_run_is_one_line_and_nothing_else(tmp_path, name, room):
    """The error says how to go on, and nothing follows it: no "Unclosed client session" nor
    connector dump from an HTTP client left open. What was written is kept; the same command
    goes on."""
    out = tmp_path / "run"
    helper = str(Path(__file__).resolve().parent / "full_disk.py")
    with StubServer(delay=0.0) as stub:
        args = generate_command(stub.base_url, out, 20)[3:]
        full = subprocess.run([sys.executable, helper, name, str(room), *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        kept = lines(out / name)
        again = subprocess.run(generate_command(stub.base_url, out, 20), capture_output=True,
                               text=True, timeout=120)  # fmt: skip
    assert full.returncode == 2
    assert "Unclosed" not in full.stderr
    assert full.stderr.splitlines() == [
        f"Error: cannot write {out / name}: the disk is full; free space and run the same "
        "command again to resume"
    ]
    assert len(kept) == room
    assert again.returncode == 0, again.stderr
    assert lines(out / name)[:room] == kept
    assert len(lines(out / "tasks.jsonl")) == 20


def test_an_in_process_model_is_not_called_a_silent_server(monkeypatch, capsys):
    """A long decode on the bundled model is not a hung server: no warning there."""
    from selfinstruct.cli import running
    from selfinstruct.engine import Progress

    monkeypatch.setattr(running, "SILENCE_WARNING_SECONDS", 1)
    waiting = Progress(target=1)
    waiting.waiting, waiting.silent_seconds = 1, 5.0
    running._Bar(1, quiet=True, warn_silence=False)(waiting)
    assert "Warning" not in capsys.readouterr().err
    running._Bar(1, quiet=True)(waiting)
    assert "nothing has come back from the server" in capsys.readouterr().err
