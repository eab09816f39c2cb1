"""GLAN: kill -9 at any level, then resume, gives the files of an uninterrupted run, line for
line (stub)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import kill_at, records
from stub_server import StubServer

LOGS = ("taxonomy", "subjects", "syllabi", "questions", "tasks", "rejected")


def glan_command(base_url: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "selfinstruct", "glan", "--base-url", base_url, "--model",
            "stub", "--disciplines", "3", "--subjects", "2", "--questions", "4", "--out",
            str(out), "--seed", "5", "--concurrency", "4", "--quiet"]  # fmt: skip


def final_data(out: Path) -> dict[str, list[str] | bytes]:
    """Each log's lines in file order; tasks.jsonl as bytes."""
    data: dict[str, list[str] | bytes] = {"tasks.jsonl": (out / "tasks.jsonl").read_bytes()}
    for name in LOGS:
        rows = records(out / f"{name}.jsonl")
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids))  # nothing written twice
        # request_key includes the server address, which differs between the two stubs
        data[name] = [json.dumps({**r, "request_key": None}) for r in rows]
    return data


def test_kill_minus_nine_at_every_level_then_resume_equals_straight_run(tmp_path: Path):
    with StubServer(delay=0.02) as stub:
        straight = tmp_path / "straight"
        done = subprocess.run(glan_command(stub.base_url, straight), capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        expected = final_data(straight)
        assert len(expected["tasks"]) > 12

    with StubServer(delay=0.02) as stub:
        out = tmp_path / "killed"
        command = glan_command(stub.base_url, out)
        kills = kill_at(command, out, (("rejected", 1), ("subjects", 3), ("syllabi", 2),
                               ("questions", 5), ("tasks", 4), ("tasks", 15)))  # fmt: skip
        assert kills >= 4
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert final_data(out) == expected
        # Only requests in flight at a kill (at most --concurrency each time) were sent twice.
        assert stub.state.stats()["repeated_prompts"] <= 4 * kills
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "complete"
