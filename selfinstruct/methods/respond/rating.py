"""Strict parsing of a side-by-side rating: one score from 1 to 10 per candidate, in order.

The first non-empty line holds the scores (after an optional "Scores:" and markdown emphasis),
separated by spaces or commas, and nothing else; the rest of the answer is the reason. Any
other shape (too few or too many numbers, a word, a fraction, a score outside 1..10) is
unparseable: no candidate gets a score from it.
"""

from __future__ import annotations

import re

_LABEL = re.compile(r"^(?:scores?|ratings?)\s*[:=\-]\s*", re.IGNORECASE)
_SCORE = re.compile(r"^(?:10|[1-9])$")


def parse_scores(text: str, count: int) -> tuple[list[int] | None, str]:
    """The ``count`` scores that open ``text`` and the reason after them, or ``(None, "")``."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None, ""
    first = _LABEL.sub("", re.sub(r"[*_`#>]+", " ", lines[0]).strip()).strip()
    parts = [p for p in re.split(r"[\s,;]+", first) if p]
    if len(parts) != count or not all(_SCORE.match(p) for p in parts):
        return None, ""
    reason = " ".join(line.strip() for line in lines[1:])
    return [int(p) for p in parts], reason


def scores_grammar(count: int) -> str:
    """A GBNF grammar for ``count`` scores on the first line, then optionally one line of
    reasons: what the side-by-side prompt asks for, enforced where the backend can."""
    score = " | ".join(f'"{n}"' for n in range(1, 11))
    scores = ' " " '.join(["score"] * count)
    return f'root ::= {scores} ("\\n" [^\\n]*)?\nscore ::= {score}\n'
