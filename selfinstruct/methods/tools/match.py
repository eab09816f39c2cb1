"""Gorilla's AST-style match of predicted tool calls against reference calls.

Gorilla (Patil et al. 2023) parses the generated call and checks that its API name and the
arguments the reference gives are the reference's; a call to an API that is not in the API
database is a hallucination. Here calls are already structured (a name and an arguments
object), so the "tree" is the name and the arguments:

- a predicted call matches a reference call when the names are equal and every argument the
  reference gives has the same value in the prediction (numbers compared as numbers, strings
  with surrounding spaces ignored); an optional argument the reference leaves out may be given;
- each reference call needs a predicted call of its own (in any order);
- an example is correct when every reference call is matched and no predicted call is left over;
- a predicted call whose tool is not among ``tools`` is hallucinated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.methods.tools.check import Call, as_call


@dataclass(frozen=True)
class MatchResult:
    correct: bool
    matched: int  # reference calls matched by a predicted call
    reference: int
    predicted: int
    hallucinated: int  # predicted calls to a tool not among the tools


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def call_matches(predicted: Call, reference: Call) -> bool:
    return predicted.name == reference.name and all(
        key in predicted.arguments and _same(predicted.arguments[key], value)
        for key, value in reference.arguments.items()
    )


def match_calls(
    predicted: Sequence[Any], reference: Sequence[Any], tools: Collection[str] | None = None
) -> MatchResult:
    """Match ``predicted`` calls against ``reference`` calls (each a ``{"name", "arguments"}``
    object or a :class:`Call`); ``tools``: the tool names that exist (None: no call counts as
    hallucinated). A predicted call that is not a call at all matches nothing."""
    parsed = [p if isinstance(p, Call) else as_call(p) for p in predicted]
    gold = [r if isinstance(r, Call) else as_call(r) for r in reference]
    unused = [p for p in parsed if p is not None]
    matched = 0
    for ref in gold:
        hit = next((p for p in unused if ref is not None and call_matches(p, ref)), None)
        if hit is not None:
            unused.remove(hit)
            matched += 1
    hallucinated = 0 if tools is None else sum(
        1 for p in parsed if p is not None and p.name not in tools
    )  # fmt: skip
    return MatchResult(
        correct=matched == len(gold) == len(parsed),
        matched=matched,
        reference=len(gold),
        predicted=len(parsed),
        hallucinated=hallucinated,
    )


@dataclass(frozen=True)
class EvalReport:
    examples: int
    correct: int
    with_hallucination: int
    reference_calls: int
    predicted_calls: int
    matched_calls: int
    hallucinated_calls: int

    def lines(self) -> list[str]:
        def share(n: int) -> str:
            return f"{100 * n / self.examples:.1f}%" if self.examples else "-"

        return [
            f"examples {self.examples}: correct {self.correct} ({share(self.correct)}), "
            f"with a hallucinated tool {self.with_hallucination} "
            f"({share(self.with_hallucination)})",
            f"calls: reference {self.reference_calls}, predicted {self.predicted_calls}, "
            f"matched {self.matched_calls}, hallucinated {self.hallucinated_calls}",
        ]


def tool_names(records: Iterable[dict[str, Any]]) -> set[str]:
    """The tools a set of reference records defines (their ``tools``), or, when none does, the
    tools their calls name."""
    names = set()
    calls = set()
    for record in records:
        for tool in record.get("tools") or []:
            function = tool.get("function", tool) if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                names.add(function["name"])
        for call in record.get("calls") or []:
            if isinstance(call, dict) and isinstance(call.get("name"), str):
                calls.add(call["name"])
    return names or calls


def evaluate(
    predictions: list[tuple[str, dict[str, Any]]],
    gold: list[tuple[str, dict[str, Any]]],
    tools: Collection[str] | None,
    source: str,
) -> EvalReport:
    """Predictions paired with gold records by ``id`` (by position when a record has none);
    ``source``: how errors name the prediction file."""
    if all("id" in r for _, r in gold) and all("id" in r for _, r in predictions):
        by_id = {str(r["id"]): r for _, r in predictions}
        pairs = []
        for _, record in gold:
            if str(record["id"]) not in by_id:
                raise UserError(f"{source}: no prediction for id '{record['id']}'")
            pairs.append((by_id[str(record["id"])], record))
    elif len(predictions) != len(gold):
        raise UserError(
            f"{source}: {len(predictions)} predictions for {len(gold)} reference examples "
            "(give each record an id to pair them)"
        )
    else:
        pairs = [(p, g) for (_, p), (_, g) in zip(predictions, gold, strict=True)]
    names = tools if tools is not None else tool_names(g for _, g in gold)
    results = [match_calls(p.get("calls") or [], g.get("calls") or [], names) for p, g in pairs]
    return EvalReport(
        examples=len(results),
        correct=sum(r.correct for r in results),
        with_hallucination=sum(r.hallucinated > 0 for r in results),
        reference_calls=sum(r.reference for r in results),
        predicted_calls=sum(r.predicted for r in results),
        matched_calls=sum(r.matched for r in results),
        hallucinated_calls=sum(r.hallucinated for r in results),
    )
