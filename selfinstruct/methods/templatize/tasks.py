"""The task file: which labelled datasets to turn into instructions, as what kind of task.

A TOML file (YAML too, with PyYAML) holding one ``[[task]]`` table per dataset::

    [[task]]
    name = "sentiment"                  # names the task in every record
    type = "classification"             # see TASK_TYPES
    data = "reviews.csv"                # JSONL, CSV, Parquet or a `datasets` folder
    labels = ["negative", "positive"]   # classification only; read from the data when absent
    description = "Decide whether a movie review is positive or negative."
    columns = { text = "review", label = "stars" }   # our field -> the data's column

Relative paths are relative to the task file. Only the file is read here: the data is read by
:mod:`selfinstruct.methods.templatize.data`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError

# Task type -> (required fields, optional fields). ``rationale`` (a chain of thought) is optional
# for every type; its presence enables the chain-of-thought templates.
TASK_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "classification": (("text", "label"), ("rationale",)),
    "extractive_qa": (("context", "question", "answer"), ("rationale",)),
    "generative_qa": (("question", "answer"), ("context", "rationale")),
    "summarization": (("document", "summary"), ("rationale",)),
    "generation": (("input", "output"), ("rationale",)),
}
# The field each type's answer is in (the target of a plain template).
TARGET_FIELD = {
    "classification": "label",
    "extractive_qa": "answer",
    "generative_qa": "answer",
    "summarization": "summary",
    "generation": "output",
}
TASK_KEYS = {"name", "type", "data", "labels", "description", "columns", "split"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TaskSpec:
    """One task of the task file."""

    name: str
    type: str
    data: Path
    columns: dict[str, str]  # our field -> the data's column (dotted for nested values)
    labels: tuple[str, ...] | None = None
    description: str = ""
    split: str | None = None
    source: str = field(default="", compare=False)  # "tasks.toml: task 'x'" for messages

    @property
    def fields(self) -> tuple[str, ...]:
        required, optional = TASK_TYPES[self.type]
        return required + tuple(f for f in optional if f in self.columns)


def _load(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read the task file {path}: {exc.strerror}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UserError(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write it as TOML"
            ) from None
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None


def load_task_file(path: str | Path) -> list[TaskSpec]:
    """The tasks of a task file; any problem is one line naming the file and the task."""
    path = Path(path)
    data = _load(path)
    entries = data.get("task") if isinstance(data, dict) else None
    if isinstance(data, dict) and entries is None:
        entries = data.get("tasks")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: holds no [[task]] tables (each names a dataset to templatize)")
    specs: list[TaskSpec] = []
    for number, entry in enumerate(entries, 1):
        specs.append(_spec(path, number, entry))
    names = [s.name for s in specs]
    for name in names:
        if names.count(name) > 1:
            raise UserError(f"{path}: two tasks are named {name!r}")
    return specs


def _spec(path: Path, number: int, entry: Any) -> TaskSpec:
    where = f"{path}: task {number}"
    if not isinstance(entry, dict):
        raise UserError(f"{where}: not a table")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserError(f'{where}: needs a name (letters, digits, _ . -), e.g. name = "sst2"')
    where = f"{path}: task {name!r}"
    unknown = sorted(set(entry) - TASK_KEYS)
    if unknown:
        raise UserError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(TASK_KEYS))})"
        )
    kind = entry.get("type")
    if kind not in TASK_TYPES:
        raise UserError(f"{where}: type must be one of {', '.join(TASK_TYPES)}, not {kind!r}")
    data = entry.get("data")
    if not isinstance(data, str) or not data:
        raise UserError(f'{where}: needs data = "FILE" (JSONL, CSV, Parquet or a datasets folder)')
    data_path = Path(data) if Path(data).is_absolute() else path.parent / data
    if not data_path.exists():
        raise UserError(f"{where}: data file {data_path} does not exist")
    columns = entry.get("columns", {})
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise UserError(
            f'{where}: columns must map fields to column names, e.g. {{ text = "review" }}'
        )
    required, optional = TASK_TYPES[kind]
    for key in columns:
        if key not in required + optional:
            raise UserError(
                f"{where}: a {kind} task has no field {key!r} (fields: {', '.join(required + optional)})"
            )
    columns = {f: columns.get(f, f) for f in required} | {
        f: columns[f] for f in optional if f in columns
    }
    labels = entry.get("labels")
    if labels is not None:
        if kind != "classification":
            raise UserError(f"{where}: labels are for classification tasks, not {kind}")
        if not isinstance(labels, list) or not all(isinstance(x, str | int) for x in labels):
            raise UserError(f'{where}: labels must be a list, e.g. ["negative", "positive"]')
        labels = [str(x).strip() for x in labels]
        if not labels:
            raise UserError(
                f"{where}: the label set is empty (list the labels, or leave labels out to read them from the data)"
            )
        if len(set(labels)) < len(labels):
            raise UserError(f"{where}: a label is listed twice")
        if len(labels) < 2:
            raise UserError(f"{where}: a classification task needs at least two labels")
    description = entry.get("description", "")
    split = entry.get("split")
    if not isinstance(description, str) or (split is not None and not isinstance(split, str)):
        raise UserError(f"{where}: description and split must be strings")
    return TaskSpec(
        name=name, type=kind, data=data_path, columns=columns,
        labels=tuple(labels) if labels is not None else None,
        description=description.strip(), split=split, source=where,
    )  # fmt: skip
