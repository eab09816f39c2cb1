"""The judge's quality report. It gives the Self-Instruct paper's rates (valid instruction, appropriate input, correct
output, all three) with Wilson 95% intervals beside the paper's figures; each rate counts only
the tasks whose answer parsed, and the unparseable and failed answers are reported apart.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from selfinstruct.judgments import QUESTIONS
from selfinstruct.methods.judge.heuristics import REASONS
from selfinstruct.methods.judge.verdicts import PAPER_RATES, RATINGS, wilson


def _rate(successes: int, total: int, paper: float | None = None) -> dict[str, Any]:
    low, high = wilson(successes, total)
    rate: dict[str, Any] = {
        "yes": successes,
        "of": total,
        "rate": successes / total if total else None,
        "ci95": [round(low, 4), round(high, 4)],
    }
    if paper is not None:
        rate["paper"] = paper
    return rate


def build_report(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The quality report of a judgments file (model verdicts, ratings and heuristics)."""
    heuristics: Counter[str] = Counter()
    for record in records:
        for flag in record.get("heuristics", []):
            heuristics[flag["reason"]] += 1
    report: dict[str, Any] = {
        "tasks": len(records),
        "heuristics": {reason: heuristics[reason] for reason in REASONS},
        "flagged": sum(bool(r.get("heuristics")) for r in records),
    }
    judged = [r for r in records if r.get("answers")]
    if judged:
        rates: dict[str, Any] = {}
        unparseable: dict[str, int] = {}
        failed: dict[str, int] = {}
        for question in QUESTIONS:
            labels = [r["answers"].get(question, {}) for r in judged]
            parsed = [a["label"] for a in labels if a.get("label") is not None]
            rates[question] = _rate(parsed.count("Yes"), len(parsed), PAPER_RATES[question])
            failed[question] = sum(bool(a.get("failed")) for a in labels)
            unparseable[question] = len(labels) - len(parsed) - failed[question]
        decided = [r["valid"] for r in judged if r.get("valid") is not None]
        # "All three" over tasks whose three answers all parsed (a No alone decides "not all").
        complete = [
            r for r in judged if all(r["answers"].get(q, {}).get("label") for q in QUESTIONS)
        ]
        rates["all"] = _rate(sum(r["valid"] is True for r in complete), len(complete),
                             PAPER_RATES["all"])  # fmt: skip
        report.update(judged=len(judged), rates=rates, unparseable=unparseable, failed=failed,
                      decided=len(decided))  # fmt: skip
    rated = [r["rating"] for r in records if r.get("rating")]
    if rated:
        labels = [a["label"] for a in rated if a.get("label") is not None]
        report["ratings"] = {
            "levels": {level: _rate(labels.count(level), len(labels)) for level in RATINGS},
            "unparseable": sum(a.get("label") is None and not a.get("failed") for a in rated),
            "failed": sum(bool(a.get("failed")) for a in rated),
        }
    return report


def _percent(value: float | None) -> str:
    return "  n/a" if value is None else f"{100 * value:5.1f}%"


def describe(report: dict[str, Any]) -> list[str]:
    """The report as lines for the terminal."""
    lines = [f"{report['tasks']} tasks, {report['flagged']} flagged by heuristics"]
    for reason, count in report["heuristics"].items():
        lines.append(f"  {reason}: {count}")
    if "rates" in report:
        lines.append(f"judged {report['judged']} tasks (rate [95% CI] | paper, 200 GPT-3 tasks)")
        names = {"instruction": "valid instruction", "input": "appropriate input",
                 "output": "correct output", "all": "all three valid"}  # fmt: skip
        for question, name in names.items():
            r = report["rates"][question]
            low, high = r["ci95"]
            lines.append(
                f"  {name:18} {_percent(r['rate'])} [{100 * low:4.1f}-{100 * high:5.1f}] "
                f"of {r['of']:4} | {100 * r['paper']:.0f}%"
            )
        lines.append(
            "  unparseable answers: "
            + ", ".join(f"{q} {n}" for q, n in report["unparseable"].items())
            + "; failed requests: "
            + ", ".join(f"{q} {n}" for q, n in report["failed"].items())
        )
    if "ratings" in report:
        ratings = report["ratings"]
        lines.append("response ratings (A valid and satisfying .. D irrelevant or invalid):")
        for level, r in ratings["levels"].items():
            low, high = r["ci95"]
            lines.append(
                f"  {level} {_percent(r['rate'])} [{100 * low:4.1f}-{100 * high:5.1f}] "
                f"({r['yes']} of {r['of']})"
            )
        lines.append(f"  unparseable {ratings['unparseable']}, failed {ratings['failed']}")
    return lines
