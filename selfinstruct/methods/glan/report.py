"""Coverage of a GLAN run folder: per field and per discipline, how much of the taxonomy the
data reaches (subjects, questions, final tasks), the mix of one- and two-session questions, and
how many questions decontamination dropped. GLAN's point is coverage by design, so a
discipline with no tasks is worth seeing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from selfinstruct.jsonio import read_jsonl
from selfinstruct.methods.glan.settings import GLAN_LOGS
from selfinstruct.store import rejected_file, tasks_file


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [obj for _, obj in read_jsonl(path, skip_torn_tail=True)]


def glan_coverage(folder: Path) -> dict[str, Any]:
    taxonomy = _records(folder / GLAN_LOGS["taxonomy"])
    by_discipline: dict[str, Counter[str]] = {d["id"]: Counter() for d in taxonomy}
    for kind, log in (("subjects", "subjects"), ("questions", "questions")):
        for record in _records(folder / GLAN_LOGS[log]):
            by_discipline.setdefault(str(record.get("discipline_id")), Counter())[kind] += 1
    kinds: Counter[str] = Counter()
    for record in _records(tasks_file(folder)):
        by_discipline.setdefault(str(record.get("discipline_id")), Counter())["tasks"] += 1
        kinds[str(record.get("question_kind"))] += 1
    fields: dict[str, dict[str, int]] = {}
    disciplines = []
    for d in taxonomy:
        counts = by_discipline[d["id"]]
        row = fields.setdefault(d["field"], {"disciplines": 0, "covered": 0, "tasks": 0})
        row["disciplines"] += 1
        row["covered"] += counts["tasks"] > 0
        row["tasks"] += counts["tasks"]
        disciplines.append({
            "id": d["id"], "field": d["field"], "sub_field": d["sub_field"],
            "discipline": d["discipline"], "subjects": counts["subjects"],
            "questions": counts["questions"], "tasks": counts["tasks"],
        })  # fmt: skip
    contaminated = sum(
        1 for r in _records(rejected_file(folder)) if r.get("reason") == "contaminated"
    )
    return {
        "fields": fields,
        "disciplines": disciplines,
        "question_kinds": dict(sorted(kinds.items())),
        "decontaminated": contaminated,
    }


def render_coverage(coverage: dict[str, Any]) -> list[str]:
    lines = ["GLAN coverage"]
    lines.append(f"  {'field':<34}{'disciplines':>12}{'with tasks':>12}{'tasks':>8}")
    for name, row in coverage["fields"].items():
        lines.append(
            f"  {name[:33]:<34}{row['disciplines']:>12}{row['covered']:>12}{row['tasks']:>8}"
        )
    lines.append(f"  {'discipline':<46}{'subjects':>9}{'questions':>10}{'tasks':>8}")
    for d in coverage["disciplines"]:
        label = f"{d['id']} {d['discipline']}"[:45]
        lines.append(f"  {label:<46}{d['subjects']:>9}{d['questions']:>10}{d['tasks']:>8}")
    kinds = ", ".join(f"{k} {v}" for k, v in coverage["question_kinds"].items()) or "-"
    lines.append(f"  question kinds: {kinds}")
    lines.append(f"  dropped by decontamination: {coverage['decontaminated']}")
    lines.append("")
    return lines
