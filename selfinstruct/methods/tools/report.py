"""The tools section of ``stats``: calls per tool, which arguments the calls use, the tool-set
sizes, where the results came from, and why pairs were dropped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selfinstruct.jsonio import read_jsonl
from selfinstruct.store import rejected_file, tasks_file


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The file's records, one at a time (none when it is absent)."""
    if path.is_file():
        for _, obj in read_jsonl(path, skip_torn_tail=True):
            yield obj


def tools_report(folder: Path) -> dict[str, Any] | None:
    pairs = 0
    per_tool: dict[str, dict[str, Any]] = {}
    sizes: Counter[str] = Counter()
    results: Counter[str] = Counter()
    for task in _records(tasks_file(folder)):
        pairs += 1
        for tool in task.get("tools") or []:
            function = tool.get("function", {}) if isinstance(tool, dict) else {}
            properties = (function.get("parameters") or {}).get("properties") or {}
            row = per_tool.setdefault(str(function.get("name")), {"calls": 0, "arguments": {}})
            for name in properties:
                row["arguments"].setdefault(name, 0)
        sizes[str(len(task.get("tools") or []))] += 1
        for call in task.get("calls") or []:
            row = per_tool.setdefault(str(call.get("name")), {"calls": 0, "arguments": {}})
            row["calls"] += 1
            for name in call.get("arguments") or {}:
                row["arguments"][name] = row["arguments"].get(name, 0) + 1
        for result in task.get("results") or []:
            results["simulated" if result.get("simulated") else "mocked"] += 1
    drops = Counter(str(r.get("reason")) for r in _records(rejected_file(folder)))
    if not pairs and not drops:
        return None
    return {
        "pairs": pairs,
        "tools": per_tool,
        "set_sizes": dict(sorted(sizes.items())),
        "results": dict(sorted(results.items())),
        "drops": dict(drops.most_common()),
    }


def render_tools_report(section: dict[str, Any]) -> list[str]:
    sizes = ", ".join(f"{size} tool{'s' * (size != '1')}: {n}"
                      for size, n in section["set_sizes"].items())  # fmt: skip
    lines = ["Tools", f"  pairs {section['pairs']:,} ({sizes or '-'})"]
    lines.append(f"  {'tool':<28}{'calls':>7}  arguments used (calls giving each)")
    for name, row in section["tools"].items():
        arguments = row["arguments"]
        used = sum(1 for n in arguments.values() if n)
        detail = ", ".join(f"{a} {n}" for a, n in arguments.items()) or "none defined"
        lines.append(f"  {name[:27]:<28}{row['calls']:>7}  {used}/{len(arguments)}: {detail}")
    if section["results"]:
        lines.append("  results: " + ", ".join(f"{k} {v}" for k, v in section["results"].items()))
    drops = ", ".join(f"{reason} {n}" for reason, n in section["drops"].items()) or "none"
    lines.append(f"  drops: {drops}")
    lines.append("")
    return lines
