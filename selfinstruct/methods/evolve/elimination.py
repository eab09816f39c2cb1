"""Evol-Instruct's elimination step (Xu et al. 2023): when an evolved instruction has failed.

Four rules, each a pure function of recorded text so that it can be tested on recorded answers:

1. no information gain: the model, asked whether parent and child are equal, answers the label
   "Equal" (:func:`parse_judgement` reads the label exactly: "Not Equal" is never "Equal", and
   an answer that is neither label is ``None``, eliminated as ``judgement_unparseable``);
2. the response is an apology: it contains "sorry" and is under 80 words;
3. the response is only punctuation and stop words;
4. the evolved instruction copies words of the evolving prompt: its own labels, or the
   phrases "given prompt" / "rewritten prompt" that rewrites of this kind leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

# Reasons, as rejected.jsonl and the per-round report name them (the rule number in brackets).
NO_INFORMATION_GAIN = "no_information_gain"  # (1)
JUDGEMENT_UNPARSEABLE = "judgement_unparseable"  # (1) the model gave neither label
APOLOGY = "apology"  # (2)
STOP_WORDS_ONLY = "stop_words_only"  # (3)
PROMPT_LEAK = "prompt_leak"  # (4)
EMPTY_EVOLUTION = "empty_evolution"  # the rewrite came back empty
EVOLUTION_TRUNCATED = "evolution_truncated"  # the rewrite was cut off at max_tokens

# The paper: an apology is a response that says "sorry" in fewer than 80 words.
# The equality check's two answers, as a label set the in-process model can be held to.
JUDGEMENT_LABELS = ("Equal", "Not Equal")
APOLOGY_WORDS = 80
# Phrases of evolving prompts in general (the paper names these two); the labels of our own
# prompts are added by the method from the prompt files.
LEAK_PHRASES: tuple[str, ...] = ("given prompt", "rewritten prompt")

# English function words (our own list): a response made only of these says nothing. The
# pieces that apostrophes leave ("don't" -> "don", "t") are in it too.
_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either
    else ever few for from further had has have having he her here hers herself him himself his
    how however i if in into is it its itself just let like may me might mine more most much
    must my myself neither no nor not now of off on once only or other our ours ourselves out
    over own per quite rather same shall she should so some such than that the their theirs them
    themselves then there these they this those though through thus to too under until up upon
    us very via was we well were what whatever when where whether which while who whom whose
    why will with within without would yes yet you your yours yourself yourselves okay ok oh
    s t d ll m re ve don doesn didn isn aren wasn weren won wouldn shouldn couldn can cannot
    """
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS_TEXT.split())

Judgement = Literal["equal", "not_equal"]
_LABEL_PREFIX = re.compile(r"^(?:label|answer|judgement|judgment)\s*:\s*", re.IGNORECASE)


def parse_judgement(text: str) -> Judgement | None:
    """The equality check's label, read exactly from the answer's first non-empty line.

    Markdown emphasis, quotes, a restated "Label:" and end punctuation are ignored; what is left
    must be exactly "equal" or "not equal" (any case). Everything else is ``None``."""
    line = next((part for part in text.splitlines() if part.strip()), "")
    label = line.strip().strip("*_`'\"").strip()
    label = _LABEL_PREFIX.sub("", label).strip().strip("*_`'\"").rstrip(".!").strip()
    label = re.sub(r"\s+", " ", label).lower()
    if label == "equal":
        return "equal"
    if label == "not equal":
        return "not_equal"
    return None


def word_count(text: str) -> int:
    """Words are whitespace-separated runs (as the paper's 80-word rule and our stats count)."""
    return len(text.split())


def is_apology(response: str) -> bool:
    """Rule 2: "sorry" (any case) in a response of fewer than 80 words."""
    return "sorry" in response.lower() and word_count(response) < APOLOGY_WORDS


def only_stop_words(response: str) -> bool:
    """Rule 3: nothing but punctuation and stop words (an empty response included)."""
    words = re.findall(r"[^\W_]+", response.lower())
    return all(word in STOP_WORDS for word in words)


def leaked_phrase(instruction: str, phrases: Iterable[str]) -> str | None:
    """Rule 4: the first phrase of the evolving prompt that the instruction copies, if any."""
    folded = re.sub(r"\s+", " ", instruction.lower())
    for phrase in phrases:
        if phrase.lower() in folded:
            return phrase
    return None


def prompt_labels(template: str) -> list[str]:
    """A prompt's own labels, written ``#Label#``: the label itself and its words."""
    labels: list[str] = []
    for match in re.finditer(r"#([A-Za-z][A-Za-z ]*)#", template):
        labels += [match.group(0), match.group(1)]
    return labels
