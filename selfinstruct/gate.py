"""The instruction gate: the rules, then ROUGE-L novelty, as one keep-or-reject decision.

Every method that makes instructions, and ``selfinstruct filter``, pass candidates through the
same gate, so a reason means the same everywhere. A rejection is a :class:`Rejection`: a stable
snake_case reason (what ``rejected.jsonl`` records and ``stats`` counts) and its detail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from selfinstruct.filters import InstructionFilter, instruction_rules
from selfinstruct.novelty import NoveltyIndex, Tokenizer


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


class InstructionGate:
    def __init__(
        self,
        rules: InstructionFilter,
        threshold: float = 0.7,
        tokenizer: Tokenizer = "rouge",
        novelty: bool = True,
    ) -> None:
        self.rules = rules
        self.novelty = novelty
        self.index = NoveltyIndex(threshold=threshold, tokenizer=tokenizer)

    @classmethod
    def from_settings(
        cls,
        blacklist: str,
        ascii_first_char: bool,
        tokenizer: Tokenizer,
        threshold: float,
        novelty: bool = True,
        write_a_program_any_case: bool = True,
    ) -> InstructionGate:
        rules = instruction_rules(blacklist, ascii_first_char, tokenizer, write_a_program_any_case)
        return cls(rules, threshold=threshold, tokenizer=tokenizer, novelty=novelty)

    def remember(self, texts: Iterable[str]) -> None:
        """Instructions that later candidates must differ from (seeds, earlier records)."""
        if self.novelty:
            for text in texts:
                self.index.add(text)

    def rule(self, text: str) -> Rejection | None:
        """The instruction rules alone, in the reference's order."""
        reason = self.rules.reason(text)
        if reason is None:
            return None
        if reason == "blacklist":
            return Rejection(reason, {"detail": self.rules.blacklisted_word(text)})
        return Rejection(reason)

    def similar(self, text: str) -> Rejection | None:
        """Novelty alone: too close (ROUGE-L above the threshold) to a remembered text."""
        if not self.novelty:
            return None
        verdict = self.index.query(text, top_k=0)
        if verdict.novel:
            return None
        return Rejection("rouge_similar", {"max_score": verdict.max_score})

    def check(self, text: str) -> Rejection | None:
        return self.rule(text) or self.similar(text)

    def admit(self, text: str) -> None:
        """Remember an accepted text (no record of it: see :meth:`admit_later`)."""
        self.remember((text,))

    def admit_later(
        self, ident: str, text: str, iteration: int, key: str
    ) -> Callable[[], dict[str, Any]]:
        """Admit ``text`` now; the returned function describes it as the references record an
        accepted instruction: where it came from, its 10 most similar earlier instructions and
        the mean similarity. Records built together share one batched scan of the pool
        (``Engine.write_later``), each against the texts admitted before its own."""
        scan = self.index.query_later(text, top_k=10, with_mean=True)
        if self.novelty:
            self.index.add(text)

        def record() -> dict[str, Any]:
            scored = scan()
            return {
                "id": ident,
                "instruction": text,
                "iteration": iteration,
                "request_key": key,
                "max_similarity": scored.max_score,
                "avg_similarity_score": scored.mean_score,
                "most_similar": [
                    {"instruction": s.text, "score": s.score} for s in scored.most_similar
                ],
            }

        return record
