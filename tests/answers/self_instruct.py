"""The synthetic model's answers to Self-Instruct's prompts (the paper's pipeline): numbered new
instructions, the classification question, and instance prompts. The last module asked: any
prompt no other module knows gets an instance answer ("Example 1 ..." or "Class label: ...").

The stub tells the prompts apart by their wording: instruction prompts get numbered items,
varied but derived only from the prompt, so most pass the filters and the novelty check (and
some are bad, for the filters); classification prompts "Yes" or "No"; instance prompts
"Example 1 ... Output: ..." blocks or "Class label: ..." blocks. The in-process fake goes by the
stage."""

from __future__ import annotations

from ._words import (
    ADJECTIVES,
    AUDIENCES,
    NOUNS,
    TEMPLATES,
    VERBS,
    VERBS_CLASS,
    WORDS,
    digest,
    fill,
    rng_of,
)

PRIORITY = 90

CLASS_TEMPLATES = (
    "{cverb} this {adj} {noun} review: positive, negative, or neutral.",
    "{cverb} each {noun} claim from {place} as fact or opinion.",
    "{cverb} {adj} {noun2} incidents as low, medium, or high risk.",
)
# Occasional items that the filters must drop.
BAD_ITEMS = (
    "Draw a picture of the {noun}.",
    "Name a {noun}.",
    "Write a program that sorts {noun}s.",
)
LABELS = (("Positive", "Negative"), ("Fact", "Opinion"), ("Low risk", "High risk"))


def instruction_items(prompt: str, salt: str = "", count: int = 7) -> list[str]:
    rng = rng_of("instructions", salt, prompt)
    items = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.08:
            items.append(fill(rng.choice(BAD_ITEMS), rng))
        elif roll < 0.3:
            items.append(fill(rng.choice(CLASS_TEMPLATES), rng))
        else:
            items.append(fill(rng.choice(TEMPLATES), rng))
    return items


def last_task(prompt: str) -> str:
    return prompt.rsplit("Task:", 1)[-1].split("\n", 1)[0].strip()


def stage_of(prompt: str) -> str:
    if "Is it classification?" in prompt[-400:]:
        return "classify"
    if "Task:" in prompt:
        return "instances"
    return "instructions"


def stub_answer(prompt: str, chat: bool, salt: str = "") -> str:
    stage = stage_of(prompt)
    if stage == "instructions":
        items = instruction_items(prompt, salt)
        if chat:
            return "\n".join(f"{9 + j}. {item}" for j, item in enumerate(items))
        return " " + "\n".join(f"{9 + j}. {item}" for j, item in enumerate(items))[3:]
    task = last_task(prompt)
    rng = rng_of(stage, salt, task)
    if stage == "classify":
        return "Yes" if task.split(" ", 1)[0] in VERBS_CLASS else "No"
    if "Class label:" in prompt:
        labels = LABELS[rng.randrange(len(LABELS))]
        return "".join(
            f"Class label: {label}\nText: The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} "
            f"seemed {label.lower()} to {rng.choice(AUDIENCES)}.\n"
            for label in labels
        )
    examples = []
    for number in range(1, 2 + rng.randrange(3)):
        noun = rng.choice(NOUNS)
        examples.append(
            f"Example {number}\nInput: a {rng.choice(ADJECTIVES)} {noun} near the {rng.choice(NOUNS)}"
            f"\nOutput: The {noun} is best handled by {rng.choice(AUDIENCES)}, step by step."
        )
    return "\n\n".join(examples) + "\n"


def fake_instructions(prompt: str, count: int = 5) -> str:
    """Numbered continuation items; some are deliberately bad to exercise the filters."""
    h = digest(prompt)
    items = []
    for j in range(count):
        v = VERBS[(h >> (4 * j)) % len(VERBS)]
        a = WORDS[(h >> (4 * j + 7)) % len(WORDS)]
        b = WORDS[(h >> (4 * j + 13)) % len(WORDS)]
        c = WORDS[(h >> (4 * j + 19)) % len(WORDS)]
        items.append(f"{v} the {a} and the {b} for a {c} lover number {h % 997}-{j}.")
    items[1] = "Draw a picture of it."  # blacklist
    items[3] = "Too short."  # too_short
    return " " + "\n".join(f"{9 + j}. {item}" for j, item in enumerate(items)) + "\n"


def fake_answer(prompt: str, stage: str) -> str:
    """The in-process fake's answer, by the stage."""
    if stage == "instructions":
        return fake_instructions(prompt)
    if stage == "classify":
        return " Yes" if "Classify" in prompt.rsplit("Task:", 1)[-1] else " No"
    if "Class label" in prompt.rsplit("Task:", 1)[-1] or "first state a class label" in prompt:
        return "Class label: Positive\nSentence: I love it.\nClass label: Negative\nSentence: I hate it.\n"
    return "Example 1\nInput: two plus two\nOutput: four\n\nExample 2\nInput: ten minus one\nOutput: nine\n"


def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str:
    if stage is None:
        return stub_answer(prompt, chat, salt)
    return fake_answer(prompt, stage)
