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

Decontamination drops a question whose word n-grams overlap a benchmark item too much: the share
of the question's n-grams found in one item, maximised over items, must stay below the threshold.
A question shorter than n words counts as one n-gram (its whole word sequence).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.jsonio import display_name, read_records, read_text

BENCHMARK_FIELDS = ("question", "instruction", "prompt", "problem", "input", "text")
WORD = re.compile(r"\w+")


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


# ------------------------------------------------------------------ decontamination


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = words(text)
    if not tokens:
        return set()
    if len(tokens) < n:
        return {tuple(tokens)}
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def load_benchmark(path: str | Path) -> list[str]:
    """Benchmark items: JSONL/JSON objects (the first of BENCHMARK_FIELDS present) or, for a
    ``.txt`` file, one item per non-empty line."""
    name = display_name(path)
    if not Path(path).is_file():
        raise UserError(f"{name}: no such benchmark file (--decontaminate)")
    items: list[str] = []
    if Path(path).suffix.lower() == ".txt":
        lines = read_text(path).splitlines()
        items = [line.strip() for line in lines if line.strip()]
    else:
        for lineno, obj in read_records(path):
            text = next((obj[k] for k in BENCHMARK_FIELDS if isinstance(obj.get(k), str)), None)
            if text is None:
                raise UserError(
                    f"{name}:{lineno}: no text field; expected one of {', '.join(BENCHMARK_FIELDS)}"
                )
            items.append(text)
    if not items:
        raise UserError(f"{name}: the benchmark file holds no items")
    return items


class Decontaminator:
    """An inverted index from n-gram to benchmark items, for the worst overlap of a question."""

    def __init__(self, items: list[str], n: int, threshold: float) -> None:
        self.items = items
        self.n = n
        self.threshold = threshold
        self._index: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for number, item in enumerate(items):
            for gram in ngrams(item, n):
                self._index[gram].append(number)

    def overlap(self, question: str) -> tuple[float, int | None]:
        """The largest share of the question's n-grams found in one item, and that item."""
        grams = ngrams(question, self.n)
        if not grams:
            return 0.0, None
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self._index.get(gram, ()))
        if not shared:
            return 0.0, None
        item, count = min(shared.items(), key=lambda pair: (-pair[1], pair[0]))
        return count / len(grams), item

    def contaminated(self, question: str) -> tuple[float, int] | None:
        """(overlap, item) when the overlap reaches the threshold, else None."""
        score, item = self.overlap(question)
        if item is not None and score >= self.threshold:
            return score, item
        return None
