"""Instruction and instance filters: each rule answers None (keep) or a reason to drop.

The rules and their order are the paper's. Reasons are stable snake_case strings; they are
what ``rejected.jsonl`` records and what ``stats`` counts.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from selfinstruct import prompting
from selfinstruct.records import ParsedInstance

PAPER_BLACKLIST: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
    "map", "maps", "draw", "plot", "go to",
)  # fmt: skip
ALPACA_EXTRA_BLACKLIST: tuple[str, ...] = ("video", "audio", "music", "flowchart", "diagram")

MIN_WORDS = 4
MAX_WORDS = 150
MAX_INSTANCES = 5

# Our own prompt wording that a model may copy into an "instruction": the list headers and chat
# wrappers whole, and the one-line headers of the demonstration prompts (their demonstration
# tasks are real tasks, so they are not included).
ECHO_FILES: tuple[str, ...] = (
    "instructions_header.txt",
    "instructions_header_classification.txt",
    "chat_instructions.txt",
    "chat_is_classification.txt",
    "chat_instances.txt",
    "alpaca/header.txt",
    "alpaca/chat.txt",
)
ECHO_HEADER_FILES: tuple[str, ...] = (
    "is_classification.txt",
    "instances_input_first.txt",
    "instances_output_first.txt",
)
ECHO_WORDS = 6


_WORD = re.compile(r"\w+")
#: ASCII bytes to themselves if ``\w`` (lower-cased), else to a space: an ASCII text's words.
_ASCII_WORDS = bytes(
    c if chr(c).isascii() and _WORD.fullmatch(chr(c)) else 32 for c in range(256)
).lower()


def _words(text: str) -> list[str]:
    r"""The ``\w+`` runs of the case-folded text (an ASCII text's by a byte table and a split,
    three times faster than the regular expression, with the same words)."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    return _WORD.findall(text.casefold())


@cache
def prompt_phrases(n: int) -> frozenset[tuple[str, ...]]:
    """Every run of ``n`` consecutive words, line by line, of our prompts' wording (read once)."""
    lines: list[str] = []
    for name in ECHO_FILES:
        lines += prompting.load_prompt(name).replace("{prompt}", " ").split("\n")
    for name in ECHO_HEADER_FILES:
        lines.append(prompting.load_prompt(name).split("\n", 1)[0])
    runs: set[tuple[str, ...]] = set()
    for line in lines:
        words = _words(line)
        runs.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return frozenset(runs)


@dataclass(frozen=True)
class InstructionFilter:
    """The instruction rules with their settings, in the reference's order (our prompt_echo rule
    comes right after the empty check); :meth:`reason` reports the first that fails."""

    blacklist: Sequence[str] = PAPER_BLACKLIST
    min_words: int = MIN_WORDS
    max_words: int = MAX_WORDS
    ascii_first_char: bool = True
    # An instruction holding this many consecutive words of our own prompts is the model
    # copying the prompt, not a task; 0 switches the rule off.
    echo_words: int = ECHO_WORDS
    # Self-Instruct capitalises (lower-cases the rest) before its "Write a program" check, so
    # the rule ignores case there; Alpaca checks the text as it is.
    write_a_program_any_case: bool = True
    # The paper counts whitespace-separated words; text without spaces (Chinese, Japanese) needs
    # a tokenizer that splits it, e.g. ``novelty.tokenize(text, "unicode")``.
    count_words: Callable[[str], int] = field(default=lambda text: len(text.split()), compare=False)
    _patterns: list[tuple[str, re.Pattern[str]]] = field(init=False, repr=False, compare=False)

    _echoes: frozenset[tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _echo_vocab: frozenset[str] = field(init=False, repr=False, compare=False)
    _any: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _any_lower: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _one_words: frozenset[str] = field(init=False, repr=False, compare=False)
    _other_lower: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _others: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = [(w, re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE)) for w in self.blacklist]
        object.__setattr__(self, "_patterns", patterns)
        # One scan for "any blacklisted word": it matches exactly where one of the patterns does.
        either = "|".join(rf"\b{re.escape(w)}\b" for w in self.blacklist)
        object.__setattr__(self, "_any", re.compile(either, re.IGNORECASE) if either else None)
        # The same search on an ASCII text, lower-cased, without IGNORECASE (4 times faster):
        # exact only when every word is ASCII too, as re.IGNORECASE folds some other letters
        # onto ASCII ones (the Kelvin sign onto k, the long s onto s).
        lower = "|".join(rf"\b{re.escape(w.lower())}\b" for w in self.blacklist)
        ascii_words = all(w.isascii() for w in self.blacklist)
        object.__setattr__(self, "_any_lower", re.compile(lower) if lower and ascii_words else None)
        # On an ASCII text, an entry of ASCII word characters only matches where it is one of
        # the text's words (lower-cased): a set look-up. The other entries ("go to") search.
        one = frozenset(w.lower() for w in self.blacklist if re.fullmatch(r"[A-Za-z0-9_]+", w))
        others = tuple(w.lower() for w in self.blacklist if w.lower() not in one)
        other = "|".join(rf"\b{re.escape(w)}\b" for w in others)
        object.__setattr__(self, "_one_words", one)
        object.__setattr__(self, "_others", others)
        object.__setattr__(self, "_other_lower", re.compile(other) if other else None)
        echoes = prompt_phrases(self.echo_words) if self.echo_words > 0 else frozenset()
        object.__setattr__(self, "_echoes", echoes)
        object.__setattr__(self, "_echo_vocab", frozenset(w for run in echoes for w in run))

    def reason(self, instruction: str) -> str | None:
        """The first failing rule's reason, or None when the instruction passes them all
        (:meth:`failures`' first, without checking the rules after it)."""
        text = instruction.strip()
        if not text:
            return "empty"
        tokens = _words(text) if self._echoes or self._any is not None else []
        if self._echoes_prompt(text, tokens):
            return "prompt_echo"
        words = self.count_words(text)
        if words < self.min_words:
            return "too_short"
        if words > self.max_words:
            return "too_long"
        if self._any is not None and self._blacklisted(text, tokens):
            return "blacklist"
        if self._writes_a_program(text):
            return "write_a_program"
        if text[0] in string.punctuation:
            return "starts_with_punctuation"
        if self.ascii_first_char and not text[0].isascii():
            return "starts_with_non_ascii"
        return None

    def failures(self, instruction: str) -> list[str]:
        """Every failing rule's reason, in rule order (an empty text fails "empty" only)."""
        text = instruction.strip()
        if not text:
            return ["empty"]
        found = []
        if self._echoes_prompt(text):
            found.append("prompt_echo")
        words = self.count_words(text)
        if words < self.min_words:
            found.append("too_short")
        if words > self.max_words:
            found.append("too_long")
        if self._any is not None and self._blacklisted(text):
            found.append("blacklist")
        if self._writes_a_program(text):
            found.append("write_a_program")
        if text[0] in string.punctuation:
            found.append("starts_with_punctuation")
        if self.ascii_first_char and not text[0].isascii():
            found.append("starts_with_non_ascii")
        return found

    def _blacklisted(self, text: str, words: list[str] | None = None) -> bool:
        """A blacklisted word, whole, in any case (``_any``, which must not be None).
        ``words``: the text's (:func:`_words`), when already at hand."""
        if self._any_lower is not None and text.isascii():
            if not self._one_words.isdisjoint(_words(text) if words is None else words):
                return True
            if self._other_lower is None:
                return False
            lowered = text.lower()  # the search only where an entry is in the text at all
            return any(w in lowered for w in self._others) and (
                self._other_lower.search(lowered) is not None
            )
        assert self._any is not None
        return self._any.search(text) is not None

    def _writes_a_program(self, text: str) -> bool:
        if self.write_a_program_any_case:
            # Only the first words matter: "write a program" needs at most 3 words (and the
            # spaces in between) of the text, whitespace collapsed.
            return " ".join(text.split(maxsplit=3)[:3]).lower().startswith("write a program")
        return text.startswith("Write a program")

    def _echoes_prompt(self, text: str, words: list[str] | None = None) -> bool:
        n = self.echo_words
        if not self._echoes:
            return False
        words = _words(text) if words is None else words
        # A run of n words of the prompts' wording needs n words in a row from their
        # vocabulary: only such runs are looked up.
        vocab = self._echo_vocab
        run = 0
        for i, word in enumerate(words):
            if word not in vocab:
                run = 0
                continue
            run += 1
            if run >= n and tuple(words[i - n + 1 : i + 1]) in self._echoes:
                return True
        return False

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
    rng: random.Random | None = None,
) -> InstanceFilterResult:
    """Apply the instance rules to one task's instances.

    Order as in the paper: drop the last instance of a length-truncated response; per-instance
    rules; if one non-empty input has two different outputs the whole task's instances go;
    exact duplicates are removed (first kept, order preserved); at most ``max_instances``.

    Which ones are kept over the limit: with ``rng``, as the reference chooses, a uniform random
    subset, ``rng.sample(unique, min(len(unique), max_instances))`` over the unique instances in
    response order (the reference samples the same way, from a set whose order is arbitrary);
    the kept ones stay in response order. Without ``rng``, the first ``max_instances``.
    The others are dropped as "instance_over_limit".
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
    limit = min(len(unique), max_instances)
    # Sampling positions picks the same ones as sampling `unique` itself would.
    picked = range(limit) if rng is None else rng.sample(range(len(unique)), limit)
    chosen = set(picked)
    kept = [item for i, item in enumerate(unique) if i in chosen]
    dropped.extend(
        (item, "instance_over_limit") for i, item in enumerate(unique) if i not in chosen
    )
    return InstanceFilterResult(kept=kept, dropped=dropped)


BLACKLISTS: dict[str, tuple[str, ...]] = {
    "paper": PAPER_BLACKLIST,
    "alpaca": PAPER_BLACKLIST + ALPACA_EXTRA_BLACKLIST,
    "none": (),
}


def instruction_rules(
    blacklist: str, ascii_first_char: bool, tokenizer: str, write_a_program_any_case: bool = True
) -> InstructionFilter:
    """The instruction rules for a run: with the unicode tokenizer, words are counted as its
    tokens so that scripts written without spaces are not all "too short"."""
    options: dict[str, Any] = {
        "blacklist": BLACKLISTS[blacklist],
        "ascii_first_char": ascii_first_char,
        "write_a_program_any_case": write_a_program_any_case,
    }
    if tokenizer == "unicode":
        from selfinstruct.novelty import tokenize

        options["count_words"] = lambda text: len(tokenize(text, "unicode"))
    return InstructionFilter(**options)
