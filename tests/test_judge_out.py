"""`judge --out`: a judge never replaces another kind of run's records, takes the folder's lock,
and answers a missing input or an unwritable folder with one line (issue 21, items 3 and 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from selfinstruct.cli import main
from selfinstruct.locking import exclusive


def write_alpaca(path: Path) -> Path:
    records = [{"instruction": f"Describe a {topic} to a child in two sentences.", "input": "",
                "output": f"A {topic} is something people know well."}
               for topic in ("river", "poem", "garden", "tennis")]  # fmt: skip
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def fake_model(monkeypatch):
    from fakes import FakeBackend

    backend = FakeBackend()
    backend.model = "big-judge"
    monkeypatch.setattr("selfinstruct.cli.running.build_backend", lambda **kw: backend)
    return backend


def model_judge(data: Path, out: Path):
    return CliRunner().invoke(main, ["judge", str(data), "--n", "2", "--out", str(out),
                                     "--model", "big-judge", "--quiet"])  # fmt: skip


def heuristics(data: Path, out: Path):
    return CliRunner().invoke(main, ["judge", str(data), "--heuristics-only", "--out", str(out)])


def test_heuristics_only_never_replaces_a_model_judges_verdicts(tmp_path, fake_model):
    data, out = write_alpaca(tmp_path / "data.json"), tmp_path / "j"
    assert model_judge(data, out).exit_code == 0
    before = snapshot(out)
    assert "settings.json" in before and "judgments.jsonl" in before
    result = heuristics(data, out)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {out} holds a run of method 'judge' (model 'big-judge'): --heuristics-only "
        "would replace its records; choose another --out\n"
    )
    assert snapshot(out) == before


def test_heuristics_only_never_writes_into_another_methods_run_folder(tmp_path):
    data, run = write_alpaca(tmp_path / "data.json"), tmp_path / "run"
    run.mkdir()
    (run / "settings.json").write_text('{"method": "evolve", "model": "m"}\n', encoding="utf-8")
    result = heuristics(data, run)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {run} holds a run of method 'evolve' (model 'm'): --heuristics-only would "
        "replace its records; choose another --out\n"
    )
    assert sorted(p.name for p in run.iterdir()) == ["settings.json"]


def test_a_model_judge_refuses_a_folder_of_heuristic_verdicts(tmp_path, fake_model):
    data, out = write_alpaca(tmp_path / "data.json"), tmp_path / "j"
    assert heuristics(data, out).exit_code == 0
    before = snapshot(out)
    result = model_judge(data, out)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {out} holds JSONL files but no settings.json: use another --out\n"
    )
    assert snapshot(out) == before


def test_heuristics_only_takes_the_folders_lock(tmp_path):
    data, out = write_alpaca(tmp_path / "data.json"), tmp_path / "j"
    out.mkdir()
    with exclusive(out, "--out", lock_file=out / ".lock"):
        result = heuristics(data, out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {out} is in use by another selfinstruct process")
    assert not (out / "judgments.jsonl").exists()


def test_heuristics_only_into_an_unwritable_place_is_one_line(tmp_path):
    data, blocker = write_alpaca(tmp_path / "data.json"), tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = heuristics(data, blocker / "j")
    assert result.exit_code == 2
    assert result.stderr == f"Error: cannot write to {blocker / 'j'}: Not a directory\n"


def test_a_model_judge_of_a_folder_without_tasks_is_one_line(tmp_path, fake_model):
    folder = tmp_path / "empty"
    folder.mkdir()
    result = model_judge(folder, tmp_path / "j")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {folder}: not a run folder with tasks (no tasks.jsonl)\n"
    assert not (tmp_path / "j").exists()
