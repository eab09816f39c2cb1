"""Answers of other models to the same data (``respond --candidates RUN``), to be rated beside the
teacher's: GPT-4-LLM's comparison data rates three models' answers to each prompt together.

A candidates source is an earlier ``respond`` run folder (or any task or Alpaca file) made from
the same data. Its answers are matched by instruction and input (the original ones, when the
source was translated); its model is the name each instance records (``model``), else the run
folder's model, else the file's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.jsonio import read_records
from selfinstruct.records import Task
from selfinstruct.store import settings_file, tasks_file


@dataclass(frozen=True)
class Candidates:
    path: str
    answers: dict[tuple[str, str], dict[str, str]]  # (instruction, input) -> model, output

    def answer(self, instruction: str, input_text: str) -> dict[str, str] | None:
        return self.answers.get((instruction.strip(), input_text.strip()))


def _default_model(source: Path) -> str:
    if source.is_dir() and settings_file(source).is_file():
        saved = json.loads(settings_file(source).read_text(encoding="utf-8"))
        if isinstance(saved.get("model"), str):
            return str(saved["model"])
    return source.stem if source.is_file() else source.name


def _instances(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(obj.get("instances"), list):
        return [i for i in obj["instances"] if isinstance(i, dict)]
    if "output" in obj:
        return [obj]
    return []


def load_candidates(path: str) -> Candidates:
    source = Path(path)
    if not source.exists():
        raise UserError(f"--candidates {path}: no such file or folder")
    records = tasks_file(source) if source.is_dir() else source
    if not records.is_file():
        raise UserError(f"--candidates {path}: not a run folder with tasks (no tasks.jsonl)")
    fallback = _default_model(source)
    answers: dict[tuple[str, str], dict[str, str]] = {}
    for _line, obj in read_records(records, skip_torn_tail=source.is_dir()):
        instruction = str(obj.get("original_instruction") or obj.get("instruction") or "")
        for instance in _instances(obj):
            given = instance.get("original_input", instance.get("input"))
            key = (instruction.strip(), str(given or "").strip())
            model = instance.get("model")
            answers.setdefault(key, {
                "model": model if isinstance(model, str) and model else fallback,
                "output": str(instance.get("output") or ""),
            })  # fmt: skip
    return Candidates(path, answers)


def check_coverage(source: Candidates, tasks: list[Task]) -> None:
    """Every instance to answer must have an answer in ``source``: one line naming the first
    that has none."""
    wanted = [(t.instruction, i.input) for t in tasks for i in t.instances]
    missing = [w for w in wanted if source.answer(*w) is None]
    if missing:
        raise UserError(
            f"--candidates {source.path}: has no answer to {len(missing)} of the {len(wanted)} "
            f"instances (first: {missing[0][0]!r}); pass a run made from the same data"
        )
