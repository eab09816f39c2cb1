"""Reading a task's labelled data: JSONL, CSV, Parquet, or a folder saved by ``datasets``.

Only the columns the task file maps are kept, as one list per field (a million rows stay a few
lists of strings). Every row is checked: a missing field, a label outside the declared set, an
unknown column is one line naming the file and the row, or (``skip_bad_rows``) a counted skip.
``pyarrow`` and ``datasets`` are imported only when such a file is read.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.methods.templatize.tasks import TASK_TYPES, TaskSpec


@dataclass
class TaskData:
    """A task's valid rows: ``values[field][i]`` is row ``rows[i]``'s value (0-based data row)."""

    spec: TaskSpec
    rows: list[int]
    values: dict[str, list[str]]
    labels: tuple[str, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows skipped

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, i: int) -> dict[str, str]:
        return {name: column[i] for name, column in self.values.items()}


def fingerprint(path: Path) -> str:
    """SHA-256 of a data file, or of a folder's files (names and contents)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode())
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------ reading columns


def _columns_jsonl(path: Path, wanted: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    out: dict[str, list[Any]] = {c: [] for c in wanted}
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise UserError(f"{path}:{lineno}: not a JSON object") from None
            if not isinstance(record, dict):
                raise UserError(f"{path}:{lineno}: not a JSON object")
            if len(seen) < 1000:
                seen.update(record)
            for c in wanted:
                out[c].append(record.get(c))
    return sorted(seen), out


def _columns_csv(path: Path, wanted: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return [], {c: [] for c in wanted}
        index = {name: k for k, name in enumerate(header)}
        picks = [(c, index.get(c)) for c in wanted]
        out: dict[str, list[Any]] = {c: [] for c in wanted}
        for cells in reader:
            if not cells:
                continue
            for c, k in picks:
                out[c].append(cells[k] if k is not None and k < len(cells) else None)
    return header, out


def _columns_arrow(table: Any, wanted: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    names = list(table.column_names)
    return names, {c: table.column(c).to_pylist() for c in wanted if c in names}


def _columns_parquet(path: Path, wanted: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    import pyarrow.parquet as pq

    names = list(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in wanted if c in names])
    return names, _columns_arrow(table, wanted)[1]


def _columns_datasets(
    path: Path, wanted: list[str], spec: TaskSpec
) -> tuple[list[str], dict[str, list[Any]], dict[str, list[str]]]:
    from datasets import DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"{path}: not a folder saved by datasets ({exc})") from None
    if isinstance(loaded, DatasetDict):
        split = spec.split or ("train" if "train" in loaded else None)
        if split not in loaded:
            raise UserError(
                f"{spec.source}: {path} holds the splits {', '.join(loaded)}: choose one with "
                'split = "NAME"'
            )
        loaded = loaded[split]
    names = list(loaded.column_names)
    class_names = {
        c: list(feature.names)
        for c, feature in loaded.features.items()
        if c in wanted and hasattr(feature, "names")
    }
    columns = {c: loaded[c] for c in wanted if c in names}
    return names, columns, class_names


def read_columns(spec: TaskSpec) -> tuple[list[str], dict[str, list[Any]], dict[str, list[str]]]:
    """The data's column names, the wanted top-level columns' values, and ClassLabel names."""
    path = spec.data
    wanted = sorted({c.split(".")[0] for c in spec.columns.values()})
    if path.is_dir():
        return _columns_datasets(path, wanted, spec)
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json", ".ndjson"):
            return (*_columns_jsonl(path, wanted), {})
        if suffix in (".csv", ".tsv"):
            return (*_columns_csv(path, wanted), {})
        if suffix in (".parquet", ".pq"):
            return (*_columns_parquet(path, wanted), {})
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    raise UserError(
        f"{spec.source}: {path} is not .jsonl, .csv, .parquet or a folder saved by datasets"
    )


# ------------------------------------------------------------------ checking rows


def _walk(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        else:
            return None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _class_name(value: Any, names: list[str]) -> Any:
    """A ``datasets`` ClassLabel id as its name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else None
    return value


def load_task_data(spec: TaskSpec, skip_bad_rows: bool = False) -> TaskData:
    names, raw, class_names = read_columns(spec)
    for name, column in spec.columns.items():
        if column.split(".")[0] not in names:
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise UserError(
                f"{spec.source}: column {column!r} ({name}) is not in {spec.data} "
                f"(columns: {shown or 'none'})"
            )
    total = len(next(iter(raw.values()))) if raw else 0
    if total == 0:
        raise UserError(f"{spec.source}: {spec.data} holds no rows")
    required = set(TASK_TYPES[spec.type][0])
    declared = set(spec.labels) if spec.labels is not None else None
    names_for_label = class_names.get(spec.columns.get("label") or "")
    # Column by column (a million rows): each field's texts, then the rows with a problem.
    texts: dict[str, list[str | None]] = {}
    for f, column in spec.columns.items():
        parts = column.split(".")
        values_in = raw[parts[0]]
        if len(parts) > 1:
            values_in = [_walk(v, parts[1:]) for v in values_in]
        if f == "label" and names_for_label is not None:
            values_in = [_class_name(v, names_for_label) for v in values_in]
        texts[f] = [v.strip() or None if v.__class__ is str else _text(v) for v in values_in]
    problems: dict[int, tuple[str, str]] = {}
    for f, column in reversed(spec.columns.items()):  # the first field's problem wins
        if f in required:
            for r in [r for r, v in enumerate(texts[f]) if v is None]:
                problems[r] = ("missing_field", f"has no {column!r} ({f}) value")
    if declared is not None:
        for r, v in enumerate(texts["label"]):
            if v is not None and v not in declared and r not in problems:
                problems[r] = (
                    "undeclared_label",
                    f"label {v!r} is not one of the declared labels ({', '.join(spec.labels or ())})",
                )
    skipped: dict[str, int] = {}
    if problems and not skip_bad_rows:
        r = min(problems)
        raise UserError(
            f"{spec.data}: row {r + 1}: {problems[r][1]} (task {spec.name!r}; "
            "--skip-bad-rows skips such rows)"
        )
    for reason, _ in problems.values():
        skipped[reason] = skipped.get(reason, 0) + 1
    rows = [r for r in range(total) if r not in problems] if problems else list(range(total))
    values: dict[str, list[str]] = {}
    for f, column_texts in texts.items():
        if problems:
            column_texts = [column_texts[r] for r in rows]
        values[f] = [v or "" for v in column_texts] if f not in required else column_texts  # type: ignore[misc]
    if not rows:
        raise UserError(f"{spec.source}: every row of {spec.data} was skipped as bad")
    labels: tuple[str, ...] = ()
    if spec.type == "classification":
        labels = spec.labels or tuple(names_for_label or sorted(set(values["label"])))
        if len(labels) < 2:
            raise UserError(
                f"{spec.source}: {spec.data} holds fewer than two labels "
                f"({', '.join(labels) or 'none'}): a classification task needs a label set"
            )
    return TaskData(spec, rows, values, labels, skipped)


def iter_rows(data: TaskData) -> Iterator[tuple[int, dict[str, str]]]:
    for i, r in enumerate(data.rows):
        yield r, data.row(i)
