"""README's "Use from Python" examples, run for real.

The Python code blocks under README's "Use from Python" heading are extracted and executed as
they are written, one after the other, in a temporary folder. The one thing changed is the
model: ``selfinstruct.backend`` is monkeypatched to return tests/fakes.py's ``FakeBackend``, so
the example's own code runs unchanged (settings, runs, filter, export, a method of its own) but
on the synthetic in-process model instead of the bundled one, in a second rather than minutes.
The files the example says it writes must then exist and hold records.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeBackend

import selfinstruct
from selfinstruct import registry

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Use from Python"
# What the examples write, relative to the folder they run in: (the path the code names, the
# file that must hold records).
WRITTEN = [
    ('"data/py"', "data/py/tasks.jsonl"),  # generate (Self-Instruct)
    ('"data/py-r"', "data/py-r/tasks.jsonl"),  # respond
    ('"data/clean.jsonl"', "data/clean.jsonl"),  # filter
    ('"data/train.json"', "data/train.json"),  # export (Alpaca's JSON array)
    ('"data/questions"', "data/questions/tasks.jsonl"),  # the method of one's own
]


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of each ```python block in the "Use from Python" section."""
    lines = text.splitlines()
    start = lines.index(HEADING)  # ValueError: the section is missing
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    section = "\n".join(lines[start:end])
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```$", section, re.M | re.S):
        first = start + section.count("\n", 0, match.start(1)) + 1
        blocks.append((first, match.group(1)))
    return blocks


def records(path: Path) -> list[Any]:
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data, list)
        return data
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_the_use_from_python_examples_run_and_write_what_they_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "README's 'Use from Python' needs the pipeline and the method example"
    code = "\n".join(block for _, block in blocks)
    for named, _ in WRITTEN:
        assert named in code, f"the examples no longer write {named}"

    models: list[FakeBackend] = []

    def fake_backend(*args: Any, **kwargs: Any) -> FakeBackend:
        models.append(FakeBackend())
        return models[-1]

    monkeypatch.setattr(selfinstruct, "backend", fake_backend)
    registry.names()  # the built-ins, before the example registers its own method
    monkeypatch.setattr(registry, "_methods", dict(registry._methods))  # forgotten afterwards
    monkeypatch.chdir(tmp_path)
    for number, (first, block) in enumerate(blocks):
        # Each block runs as a script does: in a module of its own, known to sys.modules (pydantic
        # looks the settings model's annotations up there).
        module = types.ModuleType(f"readme_example_{number}")
        monkeypatch.setitem(sys.modules, module.__name__, module)
        exec(compile(block, f"{README}:{first + 1}", "exec"), module.__dict__)

    assert models and all(model.requests for model in models), "the fake model was never asked"
    for _, path in WRITTEN:
        assert records(tmp_path / path), f"{path} holds no records"
    tasks = records(tmp_path / "data/py-r/tasks.jsonl")
    assert all(inst["original_output"] for task in tasks for inst in task["instances"])
    assert {json.loads((tmp_path / "data/questions/settings.json").read_text())["method"]} == {
        "questions"
    }
