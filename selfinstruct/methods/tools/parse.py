"""Request-call pairs from an answer: one JSON object a line.

A line that opens with ``{`` is one pair ``{"request": ..., "calls": [...]}``; other lines (a
chat model's preamble, a code fence) are skipped; a whole answer that is one JSON list of
pairs is read too. A pair line that is not JSON is ``unparseable_line``; JSON without a
request string is ``no_request``. When the answer was cut at max_tokens its last pair is
dropped as ``item_truncated`` (its calls may be cut).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from selfinstruct.gate import Rejection


@dataclass(frozen=True)
class Pair:
    request: str
    calls: Any  # as the model wrote them: checked by check.check_calls


def _pair(item: Any, raw: str) -> Pair | Rejection:
    if not isinstance(item, dict):
        return Rejection("unparseable_line", {"raw": raw})
    request = item.get("request")
    if not isinstance(request, str) or not request.strip():
        return Rejection("no_request", {"raw": raw})
    return Pair(" ".join(request.split()), item.get("calls"))


def parse_pairs(text: str, truncated: bool = False) -> list[Pair | Rejection]:
    stripped = text.strip()
    results: list[Pair | Rejection] = []
    whole = None
    if stripped.startswith("["):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError:
            whole = None
    if isinstance(whole, list):
        results = [_pair(item, json.dumps(item, ensure_ascii=False)) for item in whole]
    else:
        for line in stripped.splitlines():
            line = line.strip().rstrip(",")
            if not line.startswith("{"):
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                results.append(Rejection("unparseable_line", {"raw": line}))
                continue
            results.append(_pair(item, line))
    if truncated and results:
        last = results.pop()
        raw = last.request if isinstance(last, Pair) else last.detail.get("raw")
        results.append(Rejection("item_truncated", {"raw": raw}))
    return results
