"""A server that goes down mid-run and comes back: the run stops (exit 2), the same command run
again retries what failed, and the data equals an uninterrupted run's, for every method.

One stub serves both runs, so the request keys match: the uninterrupted run first, then the
same command into another folder with every request failing from a third of the way in (a
``server`` fault, one try each), then once more with the fault removed. Self-Instruct is the
exception by design (docs/engine.md): a bootstrap answer that failed is replayed as a failure,
so its data is a complete dataset that every resume of the same folder reproduces.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import records
from stub_server import Fault, StubServer, chat_command, generate_command
from test_chat_kill_resume import magpie_command
from test_evolve import alpaca_input
from test_evolve_cli import evolve_command
from test_glan_kill_resume import glan_command
from test_judge import judge_command, write_alpaca
from test_respond import respond_command

Command = Callable[[str, Path], list[str]]
RESUME = "Run the same command again to resume."


def commands(tmp_path: Path) -> dict[str, Command]:
    alpaca = write_alpaca(tmp_path / "data.json", count=14)
    source = alpaca_input(tmp_path, 8)
    return {
        "self-instruct": lambda url, out: generate_command(url, out, 40, "--seed", "7",
                                                           "--concurrency", "4"),
        "alpaca": lambda url, out: generate_command(url, out, 40, "--seed", "7", "--method",
                                                    "alpaca", "--concurrency", "4"),
        "respond": lambda url, out: [sys.executable, "-m", "selfinstruct",
                                     *respond_command(url, alpaca, out, "--n-responses", "2")],
        "judge": lambda url, out: judge_command(url, alpaca, out, "--rate"),
        "evolve": lambda url, out: evolve_command(url, source, out, "--rounds", "2", "--seed",
                                                  "1", "--concurrency", "4"),
        "glan": glan_command,
        "chat": lambda url, out: chat_command(url, out, 12, "--seed", "5", "--concurrency", "4",
                                              "--turns", "2-3"),
        "magpie": lambda url, out: magpie_command(url, out, 12),
    }  # fmt: skip


# Files whose line order depends on when spawned work ends (Self-Instruct's classification and
# instances, chat's dialogues and their rejections): compared as sorted lines; every other log
# line for line.
UNORDERED = {
    "self-instruct": {"tasks", "classification", "rejected"},
    "chat": {"tasks", "rejected"},
}


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, "--max-retries", "1"], capture_output=True, text=True,
                          timeout=180)  # fmt: skip


def data(out: Path, method: str) -> dict[str, list[str]]:
    """Every log but failures.jsonl, line for line (sorted where the order is timing's)."""
    found: dict[str, list[str]] = {}
    for path in sorted(out.glob("*.jsonl")):
        if path.stem == "failures":
            continue
        ids = [r["id"] for r in records(path)]
        assert len(ids) == len(set(ids)), path  # nothing written twice
        lines = path.read_text(encoding="utf-8").splitlines()
        found[path.stem] = sorted(lines) if path.stem in UNORDERED.get(method, ()) else lines
    return found


def down_then_up(stub: StubServer, command: Command, out: Path, after: int) -> None:
    """The run into ``out`` with the server down from request ``after`` + 1 on: it stops."""
    down = Fault("server", after=stub.hits + after)
    stub.state.faults.append(down)
    try:
        first = run(command(stub.base_url, out))
    finally:
        stub.state.faults.remove(down)
    assert first.returncode == 2, first.stderr
    assert down.hits > 0 and "Traceback" not in first.stderr
    assert f". {RESUME}" in first.stderr, first.stderr
    assert lines_of(out / "failures.jsonl")


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.mark.parametrize(
    "method", ["alpaca", "respond", "judge", "evolve", "glan", "chat", "magpie"]
)
def test_an_outage_then_a_resume_gives_the_uninterrupted_runs_data(tmp_path, method):
    command = commands(tmp_path)[method]
    with StubServer(delay=0.0) as stub:
        straight = tmp_path / "straight"
        done = run(command(stub.base_url, straight))
        assert done.returncode == 0, done.stderr
        expected = data(straight, method)
        assert expected.get("tasks") or expected.get("judgments")

        out = tmp_path / "out"
        down_then_up(stub, command, out, after=max(1, stub.hits // 3))
        assert data(out, method) != expected  # the outage left the data unfinished
        again = run(command(stub.base_url, out))
        assert again.returncode == 0, again.stderr
        assert data(out, method) == expected
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "complete"


def test_self_instruct_after_an_outage_is_complete_and_the_same_on_every_resume(tmp_path):
    """Later bootstrap prompts sample the pool, so a failed bootstrap answer is replayed as a
    failure (it is never asked again) and the data cannot equal an uninterrupted run's: it is
    a complete dataset, the same whichever copy of the stopped folder is resumed."""
    command = commands(tmp_path)["self-instruct"]
    with StubServer(delay=0.0) as stub:
        straight = tmp_path / "straight"
        assert run(command(stub.base_url, straight)).returncode == 0
        out = tmp_path / "out"
        down_then_up(stub, command, out, after=max(1, stub.hits // 3))
        skipped = [json.loads(line) for line in lines_of(out / "failures.jsonl")]
        assert any(f.get("skipped") for f in skipped)
        copy = tmp_path / "copy"
        shutil.copytree(out, copy)
        for folder in (out, copy):
            again = run(command(stub.base_url, folder))
            assert again.returncode == 0, again.stderr
        assert data(out, "self-instruct") == data(copy, "self-instruct")
        assert len(records(out / "machine_instructions.jsonl")) == 40
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "complete"
