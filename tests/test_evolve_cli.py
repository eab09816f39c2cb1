"""`selfinstruct evolve` end to end: subprocesses against the stub server, kill -9 and resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import anchor
from helpers import kill_at, records
from stub_server import StubServer

from selfinstruct.cli import main


def evolve_command(base_url: str, source: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "selfinstruct", "evolve", str(source), "-o", str(out),
            "--base-url", base_url, "--model", "stub", "--quiet", *extra]  # fmt: skip


def selfinstruct(*args: str) -> Result:
    """A quick command in process (the runs whose process matters use evolve_command)."""
    return CliRunner().invoke(main, list(args))


def final_data(out: Path) -> tuple[str, list[str], list[str]]:
    for name in ("tasks", "evolutions", "rejected"):
        ids = [r["id"] for r in records(out / f"{name}.jsonl")]
        assert len(ids) == len(set(ids))  # nothing written twice
    return (
        (out / "evolutions.jsonl").read_text(encoding="utf-8"),  # committed in a fixed order
        sorted(json.dumps(t, sort_keys=True) for t in records(out / "tasks.jsonl")),
        # request_key includes the server address, which differs between the two stubs
        sorted(
            json.dumps({**r, "request_key": None}, sort_keys=True)
            for r in records(out / "rejected.jsonl")
        ),
    )


def test_cli_end_to_end_then_stats_and_export(tmp_path):
    out = tmp_path / "evolved"
    with StubServer(delay=0.0) as stub:
        command = evolve_command(
            stub.base_url, anchor("alpaca_data_5000.json"), out, "--rounds", "2", "--limit",
            "20", "--seed", "4",
        )  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Evolution (per round, per operation)" in done.stderr
    assert "  round 2 " in done.stderr and "  total " in done.stderr
    summary = json.loads((out / "summary.json").read_text())
    evolutions = records(out / "evolutions.jsonl")
    assert len(evolutions) == 40 and summary["status"] == "complete"
    assert summary["tasks"] == 20 + sum(e["outcome"] == "passed" for e in evolutions)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["method"] == "evolve" and settings["n"] == 20 and settings["rounds"] == 2

    stats = selfinstruct("stats", str(out), "--no-verbs")
    assert stats.exit_code == 0, stats.output
    assert "Evolution (per round, per operation)" in stats.stdout

    exported = tmp_path / "train.jsonl"
    done = selfinstruct("export", str(out), "--format", "openai", "-o", str(exported))
    assert done.exit_code == 0, done.output
    assert len(exported.read_text().splitlines()) == summary["tasks"]

    # A run folder is an input too: evolve the evolved set once more.
    again = tmp_path / "again"
    with StubServer(delay=0.0) as stub:
        command = evolve_command(stub.base_url, out, again, "--rounds", "1", "--limit", "5")
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(records(again / "evolutions.jsonl")) == 5


def test_cli_bad_options_say_one_line(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"instruction": "Name a river."}\n')
    base = ["evolve", str(source), "-o", str(tmp_path / "out"), "--base-url",
            "http://127.0.0.1:9/v1", "--model", "stub"]  # fmt: skip
    done = selfinstruct(*base, "--operations", "deepen,widen")
    assert done.exit_code == 2
    assert "'widen' is not an operation; choose from constraints,deepen,concretize," in done.stderr
    done = selfinstruct("evolve", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o"))
    assert done.exit_code == 2
    assert (
        done.stderr.strip().splitlines()[-1] == f"Error: {tmp_path / 'missing.jsonl'}: no such file"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Name a river."}\n')
    done = selfinstruct("evolve", str(bad), "-o", str(tmp_path / "o"))
    assert done.exit_code == 2 and isinstance(done.exception, SystemExit)  # no traceback
    assert done.stderr.strip() == f"Error: {bad}:1: expected a non-empty 'instruction' string"
    assert not (tmp_path / "o").exists()  # nothing written before the input is known good


def test_kill_minus_nine_anywhere_then_resume_equals_straight_run(tmp_path):
    source = tmp_path / "in.jsonl"
    rows = [
        {"instruction": f"Describe {k} ways to reuse a {w}.", "input": "", "output": "Many."}
        for k in range(2, 7)
        for w in ("jar", "rope", "tyre", "crate", "sheet", "box")
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ("--rounds", "3", "--seed", "7", "--concurrency", "4")
    with StubServer(delay=0.01) as stub:
        straight = tmp_path / "straight"
        done = subprocess.run(evolve_command(stub.base_url, source, straight, *args),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        expected = final_data(straight)
        assert len(records(straight / "evolutions.jsonl")) == 90
        expected_counts = json.loads((straight / "summary.json").read_text())["evolve"]
        assert expected_counts["total"]["evolved"] == 90
        # Some prompts are the same text with another seed (a rewrite asked of two items).
        same_text = stub.state.stats()["repeated_prompts"]

    with StubServer(delay=0.01) as stub:
        out = tmp_path / "killed"
        command = evolve_command(stub.base_url, source, out, *args)
        kills = kill_at(command, out, (("tasks", 1), ("evolutions", 3), ("rejected", 4),
                               ("evolutions", 31), ("tasks", 60), ("evolutions", 75)))  # fmt: skip
        assert kills >= 4
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert final_data(out) == expected
        # summary.json counts the whole folder's evolutions, every session's, as one run would.
        assert json.loads((out / "summary.json").read_text())["evolve"] == expected_counts
        # Answers received before a kill come from the cache; only requests in flight at the
        # moment of a kill (at most --concurrency each time) can have been sent twice.
        assert stub.state.stats()["repeated_prompts"] <= same_text + 4 * kills
