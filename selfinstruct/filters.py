"""Instruction and instance filters: each rule answers None (keep) or a reason to drop.

The rules and their order are the paper's. Reasons are stable snake_case strings; they are
what ``rejected.jsonl`` records and what ``stats`` counts.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from selfinstruct.parse import ParsedInstance

PAPER_BLACKLIST: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
    "map", "maps", "draw", "plot", "go to",
)  # fmt: skip
ALPACA_EXTRA_BLACKLIST: tuple[str, ...] = ("video", "audio", "music", "flowchart", "diagram")

MIN_WORDS = 4
MAX_WORDS = 150
MAX_INSTANCES = 5


@dataclass(frozen=True)
class InstructionFilter:
    """The instruction rules with their settings; :meth:`reason` applies them in order."""

    blacklist: Sequence[str] = PAPER_BLACKLIST
    min_words: int = MIN_WORDS
    max_words: int = MAX_WORDS
    ascii_first_char: bool = True
    # The paper counts whitespace-separated words; text without spaces (Chinese, Japanese) needs
    # a tokenizer that splits it, e.g. ``novelty.tokenize(text, "unicode")``.
    count_words: Callable[[str], int] = field(default=lambda text: len(text.split()), compare=False)
    _patterns: list[tuple[str, re.Pattern[str]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = [(w, re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE)) for w in self.blacklist]
        object.__setattr__(self, "_patterns", patterns)

    def reason(self, instruction: str) -> str | None:
        text = instruction.strip()
        if not text:
            return "empty"
        words = self.count_words(text)
        if words < self.min_words:
            return "too_short"
        if words > self.max_words:
            return "too_long"
        if any(pattern.search(text) for _, pattern in self._patterns):
            return "blacklist"
        if text.startswith("Write a program"):
            return "write_a_program"
        if text[0] in string.punctuation:
            return "starts_with_punctuation"
        if self.ascii_first_char and not text[0].isascii():
            return "starts_with_non_ascii"
        return None

    def blacklisted_word(self, instruction: str) -> str | None:
        for word, pattern in self._patterns:
            if pattern.search(instruction):
                return word
        return None


def instance_reason(instance: ParsedInstance) -> str | None:
    """The per-instance rules."""
    if instance.input == instance.output:
        return "instance_input_equals_output"
    if not instance.output.strip():
        return "instance_empty_output"
    if instance.input.strip().endswith(":") or instance.output.strip().endswith(":"):
        return "instance_ends_with_colon"
    return None


@dataclass
class InstanceFilterResult:
    kept: list[ParsedInstance]
    dropped: list[tuple[ParsedInstance, str]]


def filter_instances(
    instances: Sequence[ParsedInstance],
    truncated: bool = False,
    max_instances: int = MAX_INSTANCES,
) -> InstanceFilterResult:
    """Apply the instance rules to one task's instances.

    Order as in the paper: drop the last instance of a length-truncated response; per-instance
    rules; if one non-empty input has two different outputs the whole task's instances go;
    exact duplicates are removed (first kept, order preserved); at most ``max_instances``.
    """
    dropped: list[tuple[ParsedInstance, str]] = []
    items = list(instances)
    if truncated and items:
        dropped.append((items.pop(), "instance_truncated"))
    valid: list[ParsedInstance] = []
    for instance in items:
        reason = instance_reason(instance)
        if reason:
            dropped.append((instance, reason))
        else:
            valid.append(instance)
    outputs_by_input: dict[str, str] = {}
    for instance in valid:
        if not instance.input:
            continue
        previous = outputs_by_input.setdefault(instance.input, instance.output)
        if previous != instance.output:
            dropped.extend((item, "instance_conflicting_outputs") for item in valid)
            return InstanceFilterResult(kept=[], dropped=dropped)
    unique: list[ParsedInstance] = []
    seen: set[ParsedInstance] = set()
    for instance in valid:
        if instance in seen:
            dropped.append((instance, "instance_duplicate"))
            continue
        seen.add(instance)
        unique.append(instance)
    dropped.extend((item, "instance_over_limit") for item in unique[max_instances:])
    return InstanceFilterResult(kept=unique[:max_instances], dropped=dropped)


BLACKLISTS: dict[str, tuple[str, ...]] = {
    "paper": PAPER_BLACKLIST,
    "alpaca": PAPER_BLACKLIST + ALPACA_EXTRA_BLACKLIST,
    "none": (),
}


def instruction_rules(blacklist: str, ascii_first_char: bool, tokenizer: str) -> InstructionFilter:
    """The instruction rules for a run: with the unicode tokenizer, words are counted as its
    tokens so that scripts written without spaces are not all "too short"."""
    if tokenizer == "unicode":
        from selfinstruct.novelty import tokenize

        return InstructionFilter(
            blacklist=BLACKLISTS[blacklist],
            ascii_first_char=ascii_first_char,
            count_words=lambda text: len(tokenize(text, "unicode")),
        )
    return InstructionFilter(blacklist=BLACKLISTS[blacklist], ascii_first_char=ascii_first_char)
