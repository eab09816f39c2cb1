"""Faults through the real HTTP path: the openai client against the stub server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

from helpers import run_generate
from stub_server import Fault, StubServer, generate_command

from selfinstruct.backends.base import Decoding, Request
from selfinstruct.backends.openai_api import OpenAIBackend
from selfinstruct.cache import ResponseCache
from selfinstruct.client import ModelClient, RetryPolicy

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
    with StubServer(delay=0.0, faults=[Fault("slow", first=2, seconds=2.5)]) as stub:
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
    truncate = Fault("length", match="Brainstorm a varied list", times=3)
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
        assert done.returncode not in (0, 130)
        assert "Traceback" not in done.stderr
        stopped = [line for line in done.stderr.splitlines() if line.startswith("Stopped:")]
        assert len(stopped) == 1 and "requests in a row failed" in stopped[0]
        assert "HTTP 500" in stopped[0] and "resume" in stopped[0]
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


def test_budget_stops_cleanly_and_a_larger_budget_resumes(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0) as stub:
        command = generate_command(stub.base_url, out, 6, "--price", "1000,1000")
        done = subprocess.run([*command, "--max-cost", "0.5"], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        # A budget stop is what was asked for: exit status 0, the reason on stderr.
        assert done.returncode == 0 and "Traceback" not in done.stderr
        assert "--max-cost 0.5 USD reached (" in done.stderr
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
        assert "--max-cost 0.5 USD reached (" in done.stderr

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
    assert done.returncode == 0 and "--max-tokens 3000 reached" in done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_usage"]["total_tokens"] >= 3000
    assert_consistent(out)
