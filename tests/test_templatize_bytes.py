"""Templatize's output bytes on the speed benchmark's data, pinned to what the code wrote before
it was made faster (issue 23): tasks.jsonl and inputs.jsonl byte for byte, summary.json field
for field (its wall time and the data's folder aside), straight and when a run is extended."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROWS = 20_000
# Written by commit 0712b04 (before the speed work) on write_inputs(folder, 20_000).
TASKS_SHA256 = "f3233d376c8a14416586c5c67db4a2ea81fc69db81fbf47b7b61a783a449fe13"
INPUTS_SHA256 = "22addf04b681027a9bb962f5afd4b94a5889b2aa5334b77fb501835efb2c874c"
SUMMARY_SHA256 = "e1e49c2bcbdd2edb506b2dfb6cbea61abb4ae2c0e0ee22b30b27d7ccf947e9b8"


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "templatize_speed", REPO / "benchmarks" / "templatize_speed.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    return _benchmark().write_inputs(folder, ROWS)


def _run(tasks: Path, out: Path, *extra: str) -> None:
    command = [sys.executable, "-m", "selfinstruct", "templatize", str(tasks), "--out", str(out),
               "--cap", str(ROWS), "--quiet", *extra]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _sha(path: Path, folder: Path | None = None) -> str:
    """A file's SHA-256, the data's folder (in inputs.jsonl) written as <in>."""
    data = path.read_bytes()
    if folder is not None:
        data = data.replace(str(folder).encode(), b"<in>")
    return hashlib.sha256(data).hexdigest()


def summary_digest(out: Path, folder: Path) -> str:
    """summary.json without its wall time, the data's folder written as <in>."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary.pop("wall_seconds")
    text = json.dumps(summary, indent=2).replace(str(folder), "<in>")
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_benchmark_data_gives_the_same_bytes_as_before(tmp_path: Path, inputs: Path):
    out = tmp_path / "run"
    _run(inputs, out)
    assert _sha(out / "tasks.jsonl") == TASKS_SHA256
    assert _sha(out / "inputs.jsonl", inputs.parent) == INPUTS_SHA256
    assert summary_digest(out, inputs.parent) == SUMMARY_SHA256


def test_a_run_extended_on_resume_gives_the_same_bytes_and_summary(tmp_path: Path, inputs: Path):
    out = tmp_path / "run"
    _run(inputs, out, "--n", "7001")
    _run(inputs, out, "--n", str(ROWS))
    assert _sha(out / "tasks.jsonl") == TASKS_SHA256
    assert summary_digest(out, inputs.parent) == SUMMARY_SHA256


@pytest.mark.parametrize("block", [37, 1 << 22])
def test_the_section_counts_every_whole_line_whatever_its_shape(tmp_path: Path, monkeypatch, block):
    from selfinstruct.methods.templatize import report

    monkeypatch.setattr(report, "BLOCK", block)
    made = {"source_task": "t1", "task_type": "x", "template": "f/a", "family": "f", "form": "cot"}
    lines = [
        json.dumps({"id": "1", "instruction": "a\u2028b", **made}, ensure_ascii=False),
        json.dumps({"id": "2", "form": "inverted", "source_task": "t2", "family": "g"}),
        json.dumps({"id": "3", **made, "template": "f/b"}),
    ]
    (tmp_path / "tasks.jsonl").write_text("\n".join(lines) + '\n{"id": "4", "sour', "utf-8")
    found = report.section(tmp_path)
    assert found is not None
    assert (found["examples"], found["families"], found["forms"]) == (
        3, {"f": 2, "g": 1}, {"cot": 2, "inverted": 1},
    )  # fmt: skip
    assert found["templates"] == {"f/a": 1, "f/b": 1}
    assert found["tasks"] == {"t1": {"examples": 2}, "t2": {"examples": 1}}
