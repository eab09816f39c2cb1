"""The synthetic model's answers to Magpie's prompts: the stub's, told by the ChatML template, and
the in-process fake's, told by the stage (query, response)."""

from __future__ import annotations

from typing import Any

from ._words import ADJECTIVES, AUDIENCES, NOUNS, VERBS, WORDS, digest, rng_of

PRIORITY = 40  # before chat.py: a system turn opens Magpie's prompts


def magpie_answer(prompt: str, salt: str = "", seed: Any = None) -> str | None:
    """Magpie's two prompts in the ChatML template: the pre-query template (a user turn just
    opened: a query comes back, a function of the seed) and a query awaiting its answer."""
    if prompt.endswith("<|im_start|>user\n"):
        rng = rng_of("magpie", salt, seed)
        return (
            f"How should {rng.choice(AUDIENCES)} {rng.choice(('choose', 'repair', 'compare'))} "
            f"a {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} for {rng.randrange(2, 99)} days?"
        )
    if prompt.endswith("<|im_start|>assistant\n") and "<|im_start|>user\n" in prompt:
        rng = rng_of("magpie-answer", salt, prompt)
        return f"Start small: test one {rng.choice(NOUNS)} first, then ask {rng.choice(AUDIENCES)}."
    return None


def fake_query(text: str, seed: int | None) -> str:
    """Magpie queries: mostly requests, some answers or fragments for the filters."""
    h = digest(f"{text}:{seed}")
    kind = h % 10
    a, b = WORDS[(h >> 8) % len(WORDS)], WORDS[(h >> 16) % len(WORDS)]
    if kind == 0:
        return "Sure, here is a recipe for you."  # not a request
    if kind == 1:
        return ""  # empty
    return f"{VERBS[(h >> 24) % len(VERBS)]} the {a} and the {b} for me, case {h % 9973}."


MAGPIE_ANSWERS = {
    "query": fake_query,
    "response": lambda text, seed: f"Here is an answer about {text[-40:].strip()}.",
}


def answer(prompt: str, *, chat: bool, stage: str | None, seed: Any, salt: str) -> str | None:
    if stage is None:
        return magpie_answer(prompt, salt, seed)
    if stage in MAGPIE_ANSWERS:
        return MAGPIE_ANSWERS[stage](prompt, seed)
    return None
