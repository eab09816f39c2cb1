"""Templatize's section of ``summary.json`` and ``stats``: examples per task, template family,
template and form, the rows read and skipped, and the templates a model wrote."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selfinstruct.jsonio import read_jsonl
from selfinstruct.store import tasks_file

TEMPLATES_FILE = "templates.jsonl"
INPUTS_FILE = "inputs.jsonl"
BLOCK = 1 << 22  # characters read at a time
# The fields the section counts, as the method writes them (in this order, one after another):
# read without decoding the whole line (a million examples); any other line is decoded.
_FIELDS = re.compile(
    r'"source_task": "([^"\\]*)", "task_type": "[^"\\]*", "template": "([^"\\]*)", '
    r'"family": "([^"\\]*)", "form": "([^"\\]*)"'
)


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _counted_fields(path: Path) -> Iterator[list[Any]]:
    """(task, family, template, form) of each whole line, read a block of lines at a time: a
    block whose every line shows the fields as the method writes them is one regex scan, any
    other block is read line by line."""
    with open(path, encoding="utf-8") as handle:
        rest = ""
        while True:
            chunk = handle.read(BLOCK)
            block = rest + chunk
            end = block.rfind("\n") + 1
            block, rest = block[:end], block[end:]
            found = _FIELDS.findall(block)
            if len(found) == block.count("\n"):
                for task, template, family, form in found:
                    yield [task, family, template, form]
            else:
                for line in block.split("\n")[:-1]:  # not splitlines: U+2028 is not an end
                    yield _line_fields(line)
            if not chunk:
                return  # ``rest``: a line torn by kill -9, cut when the run resumes


def _line_fields(line: str) -> list[Any]:
    found = _FIELDS.search(line)
    if found is not None:
        return [found.group(1), found.group(3), found.group(2), found.group(4)]
    record = json.loads(line)
    return [record.get(k) for k in ("source_task", "family", "template", "form")]


def section(folder: Path) -> dict[str, Any] | None:
    path = tasks_file(folder)
    inputs = folder / INPUTS_FILE
    if not path.is_file() and not inputs.is_file():
        return None
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("task", "family", "template", "form")}
    if path.is_file():
        for values in _counted_fields(path):
            for counter, value in zip(counts.values(), values, strict=True):
                if value is not None:
                    counter[str(value)] += 1
    tasks: dict[str, Any] = {}
    if inputs.is_file():
        for _, record in read_jsonl(inputs, skip_torn_tail=True):
            tasks[str(record["id"])] = {k: v for k, v in record.items() if k != "id"}
    for name, count in counts["task"].items():
        tasks.setdefault(name, {})["examples"] = count
    written = {"kept": 0, "rejected": 0, "asked": 0}
    if (folder / TEMPLATES_FILE).is_file():
        for _, record in read_jsonl(folder / TEMPLATES_FILE, skip_torn_tail=True):
            written["kept"] += len(record.get("templates") or [])
            written["rejected"] += int(record.get("rejected") or 0)
            written["asked"] += int(record.get("asked") or 0)
    return {
        "examples": sum(counts["task"].values()),
        "tasks": tasks,
        "families": _sorted(counts["family"]),
        "forms": _sorted(counts["form"]),
        "templates": _sorted(counts["template"]),
        "model_templates": written,
    }


def render_section(section: dict[str, Any]) -> list[str]:
    lines = ["Templatize", f"  examples {section.get('examples', 0):,}"]
    lines.append("  per task")
    for name, task in section.get("tasks", {}).items():
        skipped = sum((task.get("skipped") or {}).values())
        read = f", {task['rows']:,} rows read" if "rows" in task else ""
        lines.append(
            f"    {name:<24}{task.get('examples', 0):>10,}  {task.get('type', '')}{read}"
            + (f", {skipped:,} bad rows skipped" if skipped else "")
        )
    for key, title in (("families", "per template family"), ("forms", "per form"),
                       ("templates", "per template")):  # fmt: skip
        lines.append(f"  {title}")
        for name, count in section.get(key, {}).items():
            lines.append(f"    {name:<40}{count:>10,}")
    written = section.get("model_templates") or {}
    if written.get("asked"):
        lines.append(
            f"  templates written by the model: {written['kept']} kept, "
            f"{written['rejected']} rejected (of {written['asked']} asked)"
        )
    return lines
