"""Commands that write a file never replace one of their inputs or a file of a run folder
(issue 21, items 2, 3 and 16): one line, exit status 2, nothing written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from selfinstruct.cli import main
from selfinstruct.errors import UserError
from selfinstruct.output_guard import check_output

FIX = Path(__file__).parent / "fixtures"
TASKS = FIX / "export_tasks.jsonl"
SEEDS = FIX / "stats_seeds.jsonl"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def run_folder(tmp_path: Path) -> Path:
    """A run folder: its settings.json and its tasks."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "settings.json").write_text('{"method": "self-instruct"}\n', encoding="utf-8")
    shutil.copy(TASKS, run / "tasks.jsonl")
    return run


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------ the shared check


def test_check_output_refuses_an_input_and_a_run_folder_file(tmp_path):
    src = tmp_path / "in.jsonl"
    shutil.copy(TASKS, src)
    with pytest.raises(UserError) as info:
        check_output(src, "-o", [src])
    assert str(info.value) == "the output would overwrite the input: choose another -o"
    run = run_folder(tmp_path)
    with pytest.raises(UserError) as info:
        check_output(run / "clean.jsonl", "-o", [src])
    assert str(info.value) == (
        f"{run / 'clean.jsonl'} is inside the run folder {run} (it holds settings.json): "
        "choose another -o outside it"
    )
    (run / "batches").mkdir()
    with pytest.raises(UserError):
        check_output(run / "batches" / "x.jsonl", "-o", [])
    check_output(tmp_path / "out.jsonl", "-o", [src, None, "-"])  # allowed


# ------------------------------------------------------------------ export


def test_export_refuses_to_replace_its_input(tmp_path):
    src = tmp_path / "in.jsonl"
    shutil.copy(TASKS, src)
    result = invoke("export", str(src), "--format", "openai", "-o", str(src))
    assert result.exit_code == 2
    assert result.stderr == "Error: the output would overwrite the input: choose another -o\n"
    assert src.read_bytes() == TASKS.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_export_refuses_a_link_to_its_input(tmp_path, link):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    shutil.copy(TASKS, src)
    (os.symlink if link == "symlink" else os.link)(src, out)
    result = invoke("export", str(src), "--format", "messages", "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == "Error: the output would overwrite the input: choose another -o\n"
    assert src.read_bytes() == TASKS.read_bytes()


def test_export_refuses_its_seed_file(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    shutil.copy(SEEDS, seeds)
    result = invoke("export", str(TASKS), "--format", "prompt-completion", "--include-seeds",
                    "--seeds", str(seeds), "-o", str(seeds))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == "Error: the output would overwrite the input: choose another -o\n"
    assert seeds.read_bytes() == SEEDS.read_bytes()


def test_export_refuses_a_run_folders_own_data(tmp_path):
    run = run_folder(tmp_path)
    before = snapshot(run)
    result = invoke("export", str(run), "--format", "alpaca", "-o", str(run / "tasks.jsonl"))
    assert result.exit_code == 2
    assert result.stderr == "Error: the output would overwrite the input: choose another -o\n"
    result = invoke("export", str(TASKS), "--format", "alpaca", "-o", str(run / "train.json"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {run / 'train.json'} is inside the run folder {run} (it holds settings.json): "
        "choose another -o outside it\n"
    )
    result = invoke("export", str(TASKS), "--format", "openai", "--split", "0.5",
                    "-o", str(run / "t.jsonl"))  # fmt: skip
    assert result.exit_code == 2
    assert snapshot(run) == before


def test_export_include_seeds_refuses_an_empty_seed_file(tmp_path):
    empty, out = tmp_path / "empty.jsonl", tmp_path / "pc.jsonl"
    empty.write_text("", encoding="utf-8")
    result = invoke("export", str(TASKS), "--format", "prompt-completion", "--include-seeds",
                    "--seeds", str(empty), "-o", str(out))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == f"Error: {empty}: holds no seed tasks to include\n"
    assert not out.exists()


# ------------------------------------------------------------------ filter


def test_filter_refuses_a_run_folders_file(tmp_path):
    run = run_folder(tmp_path)
    before = snapshot(run)
    result = invoke("filter", str(TASKS), "-o", str(run / "tasks.jsonl"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {run / 'tasks.jsonl'} is inside the run folder {run} (it holds settings.json): "
        "choose another -o outside it\n"
    )
    out = tmp_path / "out.jsonl"
    result = invoke("filter", str(TASKS), "-o", str(out), "--rejects", str(run / "r.jsonl"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {run / 'r.jsonl'} is inside the run folder {run} (it holds settings.json): "
        "choose another --rejects outside it\n"
    )
    # No lock file of its own beside the run's data, nothing else either.
    assert snapshot(run) == before
    assert not out.exists()


def test_filter_refuses_a_hard_link_to_its_input_and_its_against_file(tmp_path):
    src, link, against = tmp_path / "in.jsonl", tmp_path / "link.jsonl", tmp_path / "a.jsonl"
    shutil.copy(TASKS, src)
    shutil.copy(SEEDS, against)
    os.link(src, link)
    result = invoke("filter", str(src), "-o", str(link))
    assert result.exit_code == 2
    assert result.stderr == "Error: the output would overwrite the input: choose another -o\n"
    result = invoke("filter", str(src), "-o", str(against), "--against", str(against))
    assert result.exit_code == 2
    assert result.stderr == "Error: the output would overwrite the input: choose another -o\n"
    assert src.read_bytes() == TASKS.read_bytes() and against.read_bytes() == SEEDS.read_bytes()


def test_filter_refuses_to_replace_the_verdicts_it_reads(tmp_path):
    judged = tmp_path / "j"
    result = invoke("judge", str(TASKS), "--heuristics-only", "--out", str(judged))
    assert result.exit_code == 0, result.output
    verdicts = judged / "judgments.jsonl"
    before = verdicts.read_bytes()
    for given in (judged, verdicts):
        result = invoke("filter", str(TASKS), "--judged", str(given), "-o", str(verdicts))
        assert result.exit_code == 2
        assert result.stderr == "Error: the output would overwrite the input: choose another -o\n"
    assert verdicts.read_bytes() == before
