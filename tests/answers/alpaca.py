"""The synthetic model's answers to Alpaca's prompt (whole tasks in Alpaca's layout, continuing
the prompt's open item): the stub's, told by the layout, and the in-process fake's, an
instructions-stage prompt in that layout."""

from __future__ import annotations

import re

from ._words import AUDIENCES, NOUNS, PLACES, VERBS, WORDS, digest, rng_of
from .self_instruct import instruction_items

PRIORITY = 85  # before self_instruct.py, whose instruction prompts have no "###"


def is_alpaca(prompt: str) -> bool:
    return "###" in prompt and "Instruction:" in prompt


def alpaca_answer(prompt: str, chat: bool, salt: str = "", count: int = 6) -> str:
    """Whole tasks in Alpaca's layout, continuing the prompt's open item."""
    first = int(re.findall(r"###\n(\d+)\. Instruction:", prompt)[-1])
    rng = rng_of("alpaca", salt, prompt)
    pieces = []
    for number, item in enumerate(instruction_items(prompt, salt, count), start=first):
        given = (
            "<noinput>"
            if rng.random() < 0.6
            else f"The {rng.choice(NOUNS)} in {rng.choice(PLACES)}."
        )
        output = f"Start with the {rng.choice(NOUNS)}, then ask {rng.choice(AUDIENCES)}."
        pieces.append(f"{number}. Instruction: {item}\n{number}. Input:\n{given}\n"
                      f"{number}. Output:\n{output}")  # fmt: skip
    text = "\n###\n".join(pieces) + "\n###\n"
    return text if chat else " " + text.removeprefix(f"{first}. Instruction: ")


def fake_alpaca(prompt: str, first: int = 4, last: int = 8) -> str:
    """Items first..last in Alpaca's layout, continuing the open instruction field."""
    h = digest(prompt)
    pieces = []
    for j, number in enumerate(range(first, last + 1)):
        v = VERBS[(h >> (4 * j)) % len(VERBS)]
        a = WORDS[(h >> (4 * j + 7)) % len(WORDS)]
        b = WORDS[(h >> (4 * j + 13)) % len(WORDS)]
        instruction = f"{v} the {a} of a {b} fan, case {h % 991}-{j}."
        if j == 1:
            instruction = "Draw a map of the town."  # blacklist
        given = "<noinput>" if j % 2 else f"A {a} and a {b}."
        body = f"{instruction}\n{number}. Input:\n{given}\n{number}. Output:\nAbout the {a}."
        pieces.append(body if j == 0 else f"{number}. Instruction: {body}")
    return " " + "\n###\n".join(pieces) + "\n###\n"


def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str | None:
    if stage is None:
        return alpaca_answer(prompt, chat, salt) if is_alpaca(prompt) else None
    if stage == "instructions" and "###" in prompt:
        return fake_alpaca(prompt)
    return None
