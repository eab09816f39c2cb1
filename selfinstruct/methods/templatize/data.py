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
    values: dict[str, list[str]] = {f: [] for f in spec.columns}
    rows: list[int] = []
    skipped: dict[str, int] = {}
    declared = set(spec.labels) if spec.labels is not None else None
    label_column = spec.columns.get("label")
    names_for_label = class_names.get(label_column or "")
    getters = [(f, c, c.split(".")) for f, c in spec.columns.items()]
    for r in range(total):
        row: dict[str, str] = {}
        problem = None
        for f, column, parts in getters:
            value = raw[parts[0]][r]
            if len(parts) > 1:
                value = _walk(value, parts[1:])
            if f == "label" and names_for_label is not None and isinstance(value, int):
                value = names_for_label[value] if 0 <= value < len(names_for_label) else None
            text = _text(value)
            if text is None:
                if f in required:
                    problem = ("missing_field", f"has no {column!r} ({f}) value")
                    break
                text = ""
            row[f] = text
        if problem is None and declared is not None and row["label"] not in declared:
            problem = (
                "undeclared_label",
                f"label {row['label']!r} is not one of the declared labels "
                f"({', '.join(spec.labels or ())})",
            )
        if problem is not None:
            if not skip_bad_rows:
                raise UserError(
                    f"{spec.data}: row {r + 1}: {problem[1]} (task {spec.name!r}; "
                    "--skip-bad-rows skips such rows)"
                )
            skipped[problem[0]] = skipped.get(problem[0], 0) + 1
            continue
        rows.append(r)
        for f in values:
            values[f].append(row[f])
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
