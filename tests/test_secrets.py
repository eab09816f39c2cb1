"""The API key never reaches a file of the run folder, stdout or stderr, even when the server
echoes it back in an error message or rejects it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stub_server import Fault, StubServer, generate_command

SECRET = "fake-key-SECRET123-do-not-leak-4f9a"


def run(command: list[str], key_in_env: bool) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    if key_in_env:
        env["OPENAI_API_KEY"] = SECRET
    return subprocess.run(command, capture_output=True, env=env, timeout=60)


def assert_nowhere(out: Path, done: subprocess.CompletedProcess[bytes]) -> None:
    needle = SECRET.encode()
    assert needle not in done.stdout and needle not in done.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert needle not in path.read_bytes(), path


def test_key_from_env_and_option_never_written(tmp_path):
    # Some requests are refused with the Authorization header echoed in the error message.
    echo = Fault("status", status=400, echo_auth=True, every=4)
    with StubServer(delay=0.0, faults=[echo]) as stub:
        for key_in_env, extra in ((True, []), (False, ["--api-key", SECRET])):
            out = tmp_path / ("env" if key_in_env else "option")
            done = run(generate_command(stub.base_url, out, 6, *extra), key_in_env)
            assert done.returncode == 0, done.stderr
            assert (out / "failures.jsonl").read_text()  # the echoing errors were recorded
            assert_nowhere(out, done)
        # The key was really sent, with every request.
        assert stub.state.authorization
        assert all(header == f"Bearer {SECRET}" for header in stub.state.authorization)
        assert stub.state.fault_hits["status"] > 0


def test_rejected_key_is_one_clear_line_without_the_key(tmp_path):
    refuse = Fault("status", status=401, echo_auth=True)
    with StubServer(delay=0.0, faults=[refuse]) as stub:
        for key_in_env, extra in ((True, []), (False, ["--api-key", SECRET])):
            out = tmp_path / ("env" if key_in_env else "option")
            done = run(generate_command(stub.base_url, out, 3, *extra), key_in_env)
            assert done.returncode == 2
            stderr = done.stderr.decode()
            assert "Traceback" not in stderr
            assert stderr.strip().splitlines()[-1] == (
                f"Error: {stub.base_url} rejected the API key: check OPENAI_API_KEY or --api-key"
            )
            assert_nowhere(out, done)
        # Each request in flight (at most --concurrency 8 per run) is sent once: no retry of a 401.
        assert 2 <= stub.state.fault_hits["status"] <= 16


def test_batch_mode_never_writes_the_key_a_gateway_echoes(tmp_path):
    """Echoed in a failed batch's errors (the state file, a line on stderr), in expired lines
    (the saved error file), and in the error body of a download that fails (the last line)."""
    from fake_batch_server import FakeBatchServer

    out = tmp_path / "run"
    fake = FakeBatchServer(echo_auth=True, token_limit=6, expire_every=3, output_fault=500)
    with fake:
        command = [sys.executable, "-m", "selfinstruct", "generate", "--method", "alpaca",
                   "--batch", "--base-url", fake.base_url, "--model", "stub", "--api", "chat",
                   "--api-key", SECRET, "--n", "20", "--out", str(out), "--quiet",
                   "--poll-interval", "0.01", "--batch-quiet", "0.05"]  # fmt: skip
        stopped = run(command, key_in_env=False)
        fake.output_fault = None
        done = run(command, key_in_env=False)
        echoed = [b.errors for b in fake.creates if b.errors]
    assert echoed and all(SECRET in e["message"] for errors in echoed for e in errors)
    assert fake.expired
    assert stopped.returncode == 2 and b"could not be downloaded" in stopped.stderr
    assert done.returncode == 0, done.stderr
    for finished in (stopped, done):
        assert_nowhere(out, finished)
    assert b"[redacted]" in (out / "batches" / "state.jsonl").read_bytes()
