"""Kill -9 and Ctrl-C at any moment, then resume: the data equals an uninterrupted run.

`python -m selfinstruct generate` runs as a subprocess against the deterministic stub server;
it is killed when the run folder's files reach given line counts, resumed with the same command
until complete, and compared with a straight run of the same seed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import count_lines, kill_at, records
from stub_server import StubServer, generate_command

N = 40
FILES = ("machine_instructions", "classification", "tasks", "rejected")


def final_data(out: Path) -> tuple[list[str], list[str], list[str]]:
    machine = records(out / "machine_instructions.jsonl")
    tasks = records(out / "tasks.jsonl")
    classification = records(out / "classification.jsonl")
    for data in (machine, tasks, classification, records(out / "rejected.jsonl")):
        ids = [r["id"] for r in data]
        assert len(ids) == len(set(ids))  # nothing written twice
    return (
        [m["instruction"] for m in machine],
        sorted(json.dumps(t, sort_keys=True) for t in tasks),
        # request_key includes the server address, which differs between the two stubs
        sorted(json.dumps({**c, "request_key": None}, sort_keys=True) for c in classification),
    )


KILL_POINTS = {
    "self-instruct": (("machine_instructions", 1), ("classification", 5), ("tasks", 12),
                      ("rejected", 14), ("machine_instructions", 33)),
    "alpaca": (("machine_instructions", 1), ("tasks", 9), ("rejected", 6), ("tasks", 24),
               ("machine_instructions", 33)),
}  # fmt: skip


@pytest.mark.parametrize("method", ["self-instruct", "alpaca"])
def test_kill_minus_nine_anywhere_then_resume_equals_straight_run(tmp_path, method):
    args = ("--seed", "7", "--concurrency", "4", "--method", method)
    with StubServer(delay=0.02) as stub:
        straight = tmp_path / "straight"
        command = generate_command(stub.base_url, straight, N, *args)
        assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0
        expected = final_data(straight)
        assert len(expected[0]) == N

    with StubServer(delay=0.02) as stub:  # a fresh server, to count this run's requests alone
        out = tmp_path / "killed"
        command = generate_command(stub.base_url, out, N, *args)
        # Whatever the moment, the files hold whole lines after a resume repairs the tail.
        kills = kill_at(command, out, KILL_POINTS[method])
        assert kills >= 3
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert final_data(out) == expected
        # Answers received before a kill come from the cache; only requests in flight at the
        # moment of a kill (at most --concurrency each time) can have been sent twice.
        assert stub.state.stats()["repeated_prompts"] <= 4 * kills
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "complete" and summary["accepted_instructions"] == N


def test_rerun_never_resends_a_cached_request(tmp_path):
    with StubServer(delay=0.0) as stub:
        out = tmp_path / "run"
        command = generate_command(stub.base_url, out, 12, "--seed", "2")
        assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0
        hits = stub.hits
        assert hits > 12
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert stub.hits == hits  # the second run is answered entirely from cache.sqlite
        assert stub.state.stats()["repeated_prompts"] == 0
        summary = json.loads((out / "summary.json").read_text())
        assert sum(s["requests"] for s in summary["usage"].values()) == 0
        assert summary["usage"]["instructions"]["cached"] > 0  # the bootstrap is replayed
        assert summary["run_usage"]["responses"] == hits


def test_ctrl_c_stops_gracefully_and_resume_completes(tmp_path):
    with StubServer(delay=0.05) as stub:
        straight = tmp_path / "straight"
        command = generate_command(stub.base_url, straight, 30, "--seed", "9")
        assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0
        expected = final_data(straight)

    with StubServer(delay=0.05) as stub:
        out = tmp_path / "run"
        command = generate_command(stub.base_url, out, 30, "--seed", "9")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while count_lines(out / "tasks.jsonl") < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        assert "resume" in stderr.lower() and "Traceback" not in stderr
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "stopped" and summary["stop_reason"] == "interrupted"
        interrupted = final_data(out)  # whole lines, nothing duplicated
        assert len(interrupted[1]) < 30

        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert final_data(out) == expected
        # Answers in flight at Ctrl-C were awaited and saved: the resume asked nothing twice.
        assert stub.state.stats()["repeated_prompts"] == 0


def test_sigterm_stops_like_ctrl_c_and_resume_completes(tmp_path):
    """What containers, systemd and Ray send: stop sending, save what arrives, say so, 143."""
    with StubServer(delay=0.05) as stub:
        straight = tmp_path / "straight"
        command = generate_command(stub.base_url, straight, 20, "--seed", "9")
        assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0
        expected = final_data(straight)

    with StubServer(delay=0.05) as stub:
        out = tmp_path / "run"
        command = generate_command(stub.base_url, out, 20, "--seed", "9")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while count_lines(out / "tasks.jsonl") < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 143, stderr
        assert stderr.splitlines()[-1] == (
            "Stopped: terminated (SIGTERM). Run the same command again to resume."
        )
        summary = json.loads((out / "summary.json").read_text())
        assert (summary["status"], summary["stop"]) == ("stopped", "terminated")
        assert len(final_data(out)[1]) < 20

        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert final_data(out) == expected
        assert stub.state.stats()["repeated_prompts"] == 0  # answers in flight were saved
