"""kill -9 at any moment, then resume: the chat method's and Magpie's files equal an
uninterrupted run line for line (`python -m selfinstruct chat|magpie` as a subprocess against
the deterministic stub), and Magpie's on the bundled model with a fixed seed (slow)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import count_lines, kill_at, records
from stub_server import StubServer, chat_command

N = 16


def file_data(out: Path) -> tuple[bytes, list[str]]:
    """tasks.jsonl as bytes, and rejected.jsonl's records in file order."""
    rejected = records(out / "rejected.jsonl")
    ids = [r["id"] for r in rejected]
    assert len(ids) == len(set(ids))  # nothing written twice
    # request_key includes the server address, which differs between the two stubs
    return (out / "tasks.jsonl").read_bytes(), [json.dumps({**r, "request_key": None})
                                                for r in rejected]  # fmt: skip


def magpie_command(base_url: str, out: Path, n: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "selfinstruct", "magpie", "--base-url", base_url, "--model",
            "stub", "--api", "completion", "--template", "chatml", "--n", str(n), "--seed", "3",
            "--concurrency", "4", "--out", str(out), "--quiet", *extra]  # fmt: skip


def magpie_kill_and_resume(tmp_path: Path, *extra: str) -> list[dict]:
    """A straight run, then one killed at four points and resumed: the same files."""
    with StubServer(delay=0.02) as stub:
        straight = tmp_path / "straight"
        done = subprocess.run(magpie_command(stub.base_url, straight, N, *extra),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        expected = file_data(straight)
        assert expected[0].count(b"\n") == N

    with StubServer(delay=0.02) as stub:
        out = tmp_path / "killed"
        command = magpie_command(stub.base_url, out, N, *extra)
        kills = kill_at(command, out, (("tasks", 2), ("tasks", 5), ("tasks", 9), ("tasks", 12)))
        assert kills >= 3
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert file_data(out) == expected
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "complete" and summary["tasks"] == N
    return records(out / "tasks.jsonl")


def test_magpie_kill_minus_nine_then_resume_writes_the_same_files(tmp_path):
    magpie_kill_and_resume(tmp_path)


def test_magpie_multi_turn_kill_minus_nine_then_resume_writes_the_same_files(tmp_path):
    tasks = magpie_kill_and_resume(tmp_path, "--turns", "3")
    assert all(len(t["turns"]) == 6 for t in tasks)


def test_chat_kill_minus_nine_then_resume_writes_the_same_files(tmp_path):
    """Dialogues run in their openings' units of work, so the files are in opening order."""
    extra = ("--seed", "5", "--concurrency", "4", "--turns", "2-4")
    with StubServer(delay=0.02) as stub:
        straight = tmp_path / "straight"
        done = subprocess.run(chat_command(stub.base_url, straight, N, *extra),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        expected = file_data(straight)
        tasks = records(straight / "tasks.jsonl")
        lost = [r for r in records(straight / "rejected.jsonl") if r["stage"] == "dialogue"]
        assert len(tasks) == N - len(lost) >= N - 3  # a refused first reply loses one

    with StubServer(delay=0.02) as stub:
        out = tmp_path / "killed"
        command = chat_command(stub.base_url, out, N, *extra)
        kills = kill_at(command, out, (("rejected", 1), ("tasks", 2), ("rejected", 8), ("tasks", 9)))  # fmt: skip
        assert kills >= 3
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert file_data(out) == expected
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "complete" and summary["tasks"] == len(tasks)


MAGPIE_RUNNER = """
import sys
import time
from pathlib import Path
from selfinstruct.backends.base import Decoding
from selfinstruct.backends.local import LocalBackend
from selfinstruct.methods.magpie import Magpie
from selfinstruct.runner import run

backend = LocalBackend(n_ctx=512, n_threads=1)
short = Decoding(max_tokens=24, temperature=1.0, top_p=1.0)
settings = Magpie.configure(backend, n=3, seed=11, query_decoding=short,
                           response_decoding=Decoding(max_tokens=24, temperature=0.0, top_p=1.0))
result = run(settings, backend, Path(sys.argv[1]))
print(result.stop.value)
"""


def kill_when(command: list[str], out: Path, at_least: int) -> int | None:
    """kill -9 once tasks and rejected hold ``at_least`` lines together (the bundled model is
    slow: no deadline but the test's)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while process.poll() is None:
            written = count_lines(out / "tasks.jsonl") + count_lines(out / "rejected.jsonl")
            if written >= at_least:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode


@pytest.mark.slow
def test_magpie_on_the_bundled_model_kill_then_resume_equals_straight_run(tmp_path):
    """Short answers (24 tokens) keep this near a minute on two cores."""
    script = tmp_path / "runner.py"
    script.write_text(MAGPIE_RUNNER)
    straight = tmp_path / "straight"
    done = subprocess.run([sys.executable, str(script), str(straight)], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = file_data(straight)
    assert expected[0] or expected[1]

    out = tmp_path / "killed"
    command = [sys.executable, str(script), str(out)]
    codes = [kill_when(command, out, lines) for lines in (1, 2)]
    assert -signal.SIGKILL in codes
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert file_data(out) == expected
