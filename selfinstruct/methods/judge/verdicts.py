"""Strict parsing of a judge's answers, and the rates a report gives with their intervals.

A verdict is a label from a fixed set (``Yes``/``No``, a score 1..10, a rating A..D) at the start
of the answer's first non-empty line, optionally after a field name ("Answer:", "Score:",
"Rating:", "Verdict:") and markdown emphasis; the rest of the answer is the reason. Anything
else (no label, a label outside the set, two labels, a score of 11) is *unparseable* and
counted as such: it is never turned into a pass or a fail.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

YES_NO = ("Yes", "No")
RATINGS = ("A", "B", "C", "D")
SCORES = tuple(str(n) for n in range(1, 11))

# The paper's expert study of 200 GPT-3 tasks (Self-Instruct, section 4).
PAPER_RATES = {"instruction": 0.92, "input": 0.79, "output": 0.58, "all": 0.54}

_FIELD = re.compile(r"^(?:answer|score|rating|verdict|label|grade)\s*[:=\-]\s*", re.IGNORECASE)
_REASON = re.compile(r"^(?:reason|because|explanation)\s*[:\-]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    label: str | None  # None: unparseable
    reason: str
    raw: str

    @property
    def parsed(self) -> bool:
        return self.label is not None


def _strip_markup(text: str) -> str:
    return re.sub(r"[*_`#>]+", " ", text).strip()


def parse_label(text: str, labels: tuple[str, ...]) -> Verdict:
    """The label that opens ``text`` (case-insensitive), or an unparseable verdict."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return Verdict(None, "", text)
    by_case = {label.lower(): label for label in labels}
    first = _FIELD.sub("", _strip_markup(lines[0])).strip()
    match = re.match(r"^([A-Za-z]+|\d+)(?:\s*/\s*10)?(?=$|[\s,;:!)\-]|\.(?!\d))", first)
    if match is None:
        return Verdict(None, "", text)
    word = match.group(1)
    label = by_case.get(word.lower())
    if label is None:
        return Verdict(None, "", text)
    # "A: ...\nB: ...\nC: ...": the scale echoed back, not a verdict.
    opened = {
        m.group(1).lower()
        for line in lines
        if (m := re.match(r"^\s*([A-Za-z]+|\d+)\s*[:)]", _strip_markup(line)))
        and m.group(1).lower() in by_case
    }
    if len(opened) > 1:
        return Verdict(None, "", text)
    after = first[match.end() :]
    # "Yes or No", "A/B", "7 or 8": two labels are no single verdict.
    second = re.match(r"^\s*(?:or|/)\s*([A-Za-z]+|\d+)\b", after, re.IGNORECASE)
    if second is not None and second.group(1).lower() in by_case:
        return Verdict(None, "", text)
    rest = after.lstrip(" .,;:!)-/").strip()
    tail = [_REASON.sub("", _strip_markup(line)).strip() for line in lines[1:]]
    reason = " ".join(part for part in [_REASON.sub("", rest).strip(), *tail] if part)
    return Verdict(label, reason, text)


def parse_yes_no(text: str) -> Verdict:
    return parse_label(text, YES_NO)


def parse_score(text: str) -> Verdict:
    """A score 1..10 ("7", "Score: 7/10", "**8** - clear and correct")."""
    return parse_label(text, SCORES)


def parse_rating(text: str) -> Verdict:
    """The paper's rating levels A (valid and satisfying) .. D (irrelevant or invalid)."""
    return parse_label(text, RATINGS)


def wilson(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (0, 1) when nothing was counted.

    Better than the normal approximation at small samples and near 0% or 100%."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
