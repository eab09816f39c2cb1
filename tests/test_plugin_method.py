"""The extension point end to end: a method from another package (examples/plugin_method),
installed through the entry-point group alone, runs like a built-in: from the command line and
from Python, killed and resumed, with its own log file and its section in ``stats``."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from helpers import kill_at, records
from stub_server import StubServer

import selfinstruct as si
from selfinstruct import registry
from selfinstruct.cli import main

ROOT = Path(__file__).resolve().parents[1]
INSTALL = "pip install -e examples/plugin_method (the README's test command does)"


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    """The first 15 of the bundled seed tasks, as a task file to paraphrase."""
    lines = (ROOT / "seeds" / "seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()[:15]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_plugin_is_found_through_its_entry_point_alone():
    found = [e for e in entry_points(group="selfinstruct.methods") if e.name == "paraphrase"]
    assert found, INSTALL
    method = registry.get("paraphrase")
    assert method.__module__ == "selfinstruct_paraphrase"
    assert not (ROOT / "selfinstruct").joinpath("methods", "paraphrase").exists()
    assert "paraphrase" in CliRunner().invoke(main, ["--help"]).output


def test_from_python_with_its_own_log_and_stats_section(tmp_path: Path, tasks: Path):
    model = FakeBackend()
    settings = si.settings("paraphrase", model, input_path=tasks, ways=3, seed=1)
    result = si.run(settings, model, tmp_path / "para")
    assert result.stop is si.StopKind.COMPLETE
    kept = records(tmp_path / "para" / "tasks.jsonl")
    log = records(tmp_path / "para" / "paraphrases.jsonl")
    rejected = records(tmp_path / "para" / "rejected.jsonl")
    assert len(log) == 15 and len(model.requests) == 15
    assert {r.stage for r in model.requests} == {"paraphrase"}
    assert kept and rejected  # some rewrites are near-duplicates of earlier ones
    assert sum(r["kept"] for r in log) == len(kept)
    assert "rouge_similar" in {r["reason"] for r in rejected}
    first = kept[0]
    source = json.loads(tasks.read_text(encoding="utf-8").splitlines()[0])
    assert first["source_instruction"] == source["instruction"]
    assert first["instances"] == source["instances"]
    assert result.summary.section("paraphrase")["kept"] == len(kept)
    stats = CliRunner().invoke(main, ["stats", str(tmp_path / "para"), "--no-verbs"])
    assert stats.exit_code == 0, stats.output
    assert f"Paraphrase\n  instructions 15, rewrites kept {len(kept)}" in stats.output


def test_killed_and_resumed_from_the_command_line_equals_a_straight_run(
    tmp_path: Path, tasks: Path
):
    def command(base_url: str, out: Path) -> list[str]:
        return [sys.executable, "-m", "selfinstruct", "paraphrase", str(tasks), "--out",
                str(out), "--model", "stub", "--base-url", base_url, "--api", "completion",
                "--concurrency", "2", "--seed", "3", "--quiet"]  # fmt: skip

    with StubServer(delay=0.02) as stub:
        straight = tmp_path / "straight"
        done = subprocess.run(command(stub.base_url, straight), capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
    with StubServer(delay=0.02) as stub:
        out = tmp_path / "killed"
        kills = kill_at(command(stub.base_url, out), out, (("paraphrases", 3), ("tasks", 12)))
        assert kills >= 1
        done = subprocess.run(command(stub.base_url, out), capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
    for name in ("tasks.jsonl", "paraphrases.jsonl"):
        assert (out / name).read_bytes() == (straight / name).read_bytes()
