"""Evolve run folders in numbers: per round and per operation, evolved, passed, eliminated by
rule, failed requests, and the length of passed rewrites before and after (``stats`` and the
``evolve`` command's closing table)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from selfinstruct.jsonio import read_jsonl
from selfinstruct.report_format import number, percent


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _evolve_row() -> dict[str, Any]:
    return {"evolved": 0, "passed": 0, "failed_requests": 0, "eliminated": Counter(),
            "_before": [], "_after": []}  # fmt: skip


def _finish_row(row: dict[str, Any]) -> dict[str, Any]:
    before, after = row.pop("_before"), row.pop("_after")
    row["eliminated"] = dict(row["eliminated"].most_common())
    row["pass_rate"] = _share(row["passed"], row["evolved"])
    # Lengths of the passed evolutions and of their parents, in words.
    row["words_before"] = float(np.mean(before)) if before else None
    row["words_after"] = float(np.mean(after)) if after else None
    return row


# Every evolution tried, passed or not, with its round, operation and outcome.
EVOLUTIONS_FILE = "evolutions.jsonl"


def evolutions_file(folder: Path) -> Path:
    return folder / EVOLUTIONS_FILE


def evolve_stats(folder: Path) -> dict[str, Any] | None:
    """Per round and per operation: evolved, passed, eliminated by rule, failed requests, and
    the mean length (words) of passed evolutions before and after; None without a log."""
    path = evolutions_file(folder)
    if not path.is_file():
        return None
    rounds: dict[int, dict[str, Any]] = {}
    operations: dict[str, dict[str, Any]] = {}
    total = _evolve_row()
    for _lineno, record in read_jsonl(path, skip_torn_tail=True):
        round_ = int(record.get("round") or 0)
        operation = str(record.get("operation") or "unknown")
        rows = (
            rounds.setdefault(round_, _evolve_row()),
            operations.setdefault(operation, _evolve_row()),
            total,
        )
        for row in rows:
            row["evolved"] += 1
            outcome = record.get("outcome")
            if outcome == "passed":
                row["passed"] += 1
                row["_before"].append(record.get("parent_words") or 0)
                row["_after"].append(record.get("words") or 0)
            elif outcome == "failed":
                row["failed_requests"] += 1
            else:
                row["eliminated"][str(record.get("reason") or "unknown")] += 1
    return {
        "rounds": {str(k): _finish_row(v) for k, v in sorted(rounds.items())},
        "operations": {k: _finish_row(v) for k, v in sorted(operations.items())},
        "total": _finish_row(total),
    }


def render_evolve(report: dict[str, Any]) -> str:
    """The per-round and per-operation table of an evolve run."""
    head = (
        f"  {'':<18}{'evolved':>8}{'passed':>8}{'rate':>8}{'failed':>8}"
        f"{'words before':>14}{'after':>8}   eliminated by rule"
    )
    lines = ["Evolution (per round, per operation)", head]

    def row(label: str, r: dict[str, Any]) -> str:
        eliminated = ", ".join(f"{k} {v}" for k, v in r["eliminated"].items()) or "-"
        return (
            f"  {label:<18}{r['evolved']:>8,}{r['passed']:>8,}{percent(r['pass_rate']):>8}"
            f"{r['failed_requests']:>8,}{number(r['words_before']):>14}{number(r['words_after']):>8}"
            f"   {eliminated}"
        )

    for key, r in report["rounds"].items():
        lines.append(row(f"round {key}", r))
    for key, r in report["operations"].items():
        lines.append(row(key, r))
    lines.append(row("total", report["total"]))
    return "\n".join(lines) + "\n"
