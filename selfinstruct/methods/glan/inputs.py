"""GLAN's two user inputs: a taxonomy file and a benchmark file to decontaminate against.

The taxonomy is GLAN's customisation point: the paper's authors reviewed the model's taxonomy by
hand, and here a user edits a file (a run's own ``taxonomy.jsonl`` is one) and passes it back
with ``--taxonomy``. Two layouts are read:

* JSONL (``.jsonl``/``.json``): one discipline per line, ``{"field", "sub_field", "discipline"}``
  (other keys, such as a run's ``id``, are ignored);
* YAML (``.yaml``/``.yml``, needs PyYAML): ``field: {sub_field: [discipline, ...]}``;
* indented text (``.txt``): one name per line, a field at the margin, its sub-fields two spaces
  (or one tab) in, their disciplines two levels in; blank lines and ``#`` comments are skipped.
  The shape a person writes in any editor; every mistake is named by its line.

Decontamination (``selfinstruct.decontamination``) drops a question whose word n-grams overlap
a benchmark item too much.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.decontamination import (  # noqa: F401  (GLAN's names, now the core's)
    Decontaminator,
    load_benchmark,
    ngrams,
    words,
)
from selfinstruct.errors import UserError
from selfinstruct.jsonio import display_name, read_records, read_text


@dataclass(frozen=True)
class Discipline:
    id: str  # f<field>.s<sub-field>.d<discipline>, numbered in order of first appearance
    field: str
    sub_field: str
    discipline: str


def number_disciplines(rows: list[tuple[str, str, str]]) -> list[Discipline]:
    """Ids from positions within the parent (field in the taxonomy, sub-field in its field,
    discipline in its sub-field): the same taxonomy always gives the same ids, and a node added
    at the end of its parent renumbers nothing. Repeated rows are dropped."""
    fields: dict[str, int] = {}
    subs: dict[tuple[str, str], int] = {}
    per_field: Counter[str] = Counter()
    per_sub: Counter[tuple[str, str]] = Counter()
    out: list[Discipline] = []
    seen: set[tuple[str, str, str]] = set()
    for field, sub, name in rows:
        f_key, s_key = field.lower(), (field.lower(), sub.lower())
        if (f_key, s_key[1], name.lower()) in seen:
            continue
        seen.add((f_key, s_key[1], name.lower()))
        f = fields.setdefault(f_key, len(fields) + 1)
        if s_key not in subs:
            per_field[f_key] += 1
            subs[s_key] = per_field[f_key]
        per_sub[s_key] += 1
        out.append(
            Discipline(f"f{f:02d}.s{subs[s_key]:02d}.d{per_sub[s_key]:02d}", field, sub, name)
        )
    return out


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def load_taxonomy(path: str | Path) -> list[Discipline]:
    name = display_name(path)
    suffix = Path(path).suffix.lower()
    if not Path(path).is_file():
        raise UserError(f"{name}: no such taxonomy file")
    rows: list[tuple[str, str, str]] = []
    if suffix in (".yaml", ".yml"):
        rows = _yaml_rows(Path(path), name)
    elif suffix == ".txt":
        rows = _text_rows(Path(path), name)
    elif suffix in (".jsonl", ".json"):
        for lineno, obj in read_records(path):
            where = f"{name}:{lineno}"
            rows.append(
                tuple(_text(obj.get(k), where, k) for k in ("field", "sub_field", "discipline"))  # type: ignore[arg-type]
            )
    else:
        raise UserError(f"{name}: a taxonomy file must end in .jsonl, .json, .yaml, .yml or .txt")
    if not rows:
        raise UserError(f"{name}: the taxonomy holds no disciplines")
    return number_disciplines(rows)


def _yaml_rows(path: Path, name: str) -> list[tuple[str, str, str]]:
    try:
        import yaml
    except ImportError:
        raise UserError(
            f"{name}: reading YAML needs PyYAML (pip install pyyaml); or write the taxonomy "
            "as JSONL"
        ) from None
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{name}{line}: not valid YAML") from None
    if not isinstance(data, dict):
        raise UserError(f"{name}: expected a mapping field -> sub-field -> list of disciplines")
    rows: list[tuple[str, str, str]] = []
    for field, subs in data.items():
        if not isinstance(subs, dict):
            raise UserError(f"{name}: field '{field}' must map sub-fields to discipline lists")
        for sub, names in subs.items():
            if not isinstance(names, list) or not names:
                raise UserError(f"{name}: sub-field '{sub}' must hold a list of disciplines")
            for item in names:
                rows.append(
                    (
                        _text(str(field), name, "field"),
                        _text(str(sub), name, "sub_field"),
                        _text(item, f"{name}: sub-field '{sub}'", "discipline"),
                    )
                )
    return rows


LEVEL_NAMES = ("field", "sub-field", "discipline")


def _indent_level(indent: str, where: str) -> int:
    """Two spaces or one tab per level, never both in one indent."""
    if " " in indent and "\t" in indent:
        raise UserError(f"{where}: indented with both spaces and tabs; use one or the other")
    if "\t" in indent:
        return len(indent)
    if len(indent) % 2:
        raise UserError(
            f"{where}: indented by {len(indent)} spaces; indent by two spaces (or one tab) "
            "per level"
        )
    return len(indent) // 2


def _text_rows(path: Path, name: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    # The open field and sub-field: (name, line) and whether a child has been seen under it.
    parents: list[tuple[str, int]] = []
    has_child = [False, False]
    lines = read_text(path).splitlines()

    def childless(level: int) -> None:
        """The open node at ``level`` is closed: it must have had a child."""
        if level < len(parents) and not has_child[level]:
            node, line = parents[level]
            below = "sub-fields" if level == 0 else "disciplines"
            raise UserError(f"{name}:{line}: {LEVEL_NAMES[level]} '{node}' has no {below}")

    for lineno, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{name}:{lineno}"
        level = _indent_level(raw[: len(raw) - len(raw.lstrip())], where)
        if level > 2:
            raise UserError(
                f"{where}: '{text}' is at level {level + 1}; a taxonomy has three: field, "
                "sub-field, discipline"
            )
        if level > len(parents):
            if not parents:
                raise UserError(
                    f"{where}: '{text}' is indented, but a taxonomy starts with a field at the "
                    "left margin"
                )
            raise UserError(
                f"{where}: '{text}' is indented {level - len(parents) + 1} levels below "
                f"'{parents[-1][0]}'; one level per line at most (two spaces or a tab)"
            )
        for closed in range(len(parents) - 1, level - 1, -1):
            childless(closed)
        del parents[level:]
        if level == 2:
            rows.append((parents[0][0], parents[1][0], text))
        else:
            parents.append((text, lineno))
            has_child[level] = False
        if level > 0:
            has_child[level - 1] = True
    for closed in range(len(parents) - 1, -1, -1):
        childless(closed)
    return rows
