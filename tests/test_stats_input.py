"""How `selfinstruct stats` reads its input: stdin in both shapes, and killed run folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from selfinstruct.cli import main

FIX = Path(__file__).parent / "fixtures"
TASKS = FIX / "stats_tasks.jsonl"
SEEDS = FIX / "stats_seeds.jsonl"


def stats_json(*args: str, input: str | None = None) -> tuple[int, dict | None, str]:
    result = CliRunner().invoke(
        main, ["stats", *args, "--seeds", str(SEEDS), "--no-verbs", "--json"], input=input
    )
    data = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, data, result.stderr


def test_stdin_jsonl_gives_the_same_numbers_as_the_file():
    code, from_file, _ = stats_json(str(TASKS))
    assert code == 0
    code, from_stdin, err = stats_json("-", input=TASKS.read_text(encoding="utf-8"))
    assert (code, err) == (0, "")
    assert from_stdin["source"] == {"path": "-", "kind": "stdin"}
    assert {k: v for k, v in from_stdin.items() if k != "source"} == {
        k: v for k, v in from_file.items() if k != "source"
    }


def test_stdin_json_array():
    records = [
        {"instruction": "Say hi to the user.", "input": "", "output": "Hi"},
        {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
    ]
    code, data, err = stats_json("-", input=json.dumps(records, indent=2))
    assert (code, err) == (0, "")
    assert data["counts"]["tasks"] == 2 and data["counts"]["instances"] == 2
    assert data["counts"]["empty_input_instances"] == 1


def test_stdin_error_names_stdin():
    result = CliRunner().invoke(
        main,
        ["stats", "-", "--no-verbs"],
        input='{"instruction": "Say hi.", "output": "Hi"}\n{"b": \n',
    )
    assert result.exit_code == 2
    assert result.stderr == "Error: <stdin>:2: invalid JSON (Expecting value)\n"


def test_killed_run_folder_reads_as_resume_would(tmp_path, real_run):
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    code, complete, _ = stats_json(str(run))
    assert code == 0
    torn = ("tasks.jsonl", "rejected.jsonl", "machine_instructions.jsonl", "failures.jsonl")
    for name in torn:
        with open(run / name, "ab") as handle:
            handle.write(b'{"id": "t9", "stage": "instances", "instruction": "Half wr')
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, data, err = stats_json(str(run))
    assert code == 0
    assert data == complete
    lines = {name: (run / name).read_bytes().count(b"\n") + 1 for name in torn}
    assert sorted(err.splitlines()) == sorted(
        f"warning: {run / name}:{lines[name]}: ignored a half-written last line "
        "(interrupted run; resuming the run removes it)"
        for name in torn
    )
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_killed_run_without_tasks_warns_once_for_machine_instructions(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    machine = run / "machine_instructions.jsonl"
    machine.write_bytes(b'{"instruction": "Name three rivers in Europe."}\n{"instruction": "Na')
    code, data, err = stats_json(str(run))
    assert code == 0
    assert data["counts"]["tasks"] == 1 and data["run"]["accepted_instructions"] == 1
    assert err == (
        f"warning: {machine}:2: ignored a half-written last line "
        "(interrupted run; resuming the run removes it)\n"
    )
