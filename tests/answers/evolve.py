"""The synthetic model's answers to Evol-Instruct's prompts (selfinstruct evolve): rewrites, the
equality check, and responses to evolved instructions."""

from __future__ import annotations

from ._words import ADJECTIVES, AUDIENCES, NOUNS, PLACES, TEMPLATES, fill, rng_of

PRIORITY = 30  # after judge.py: a judge's prompt about an evolved instruction is the judge's

# The in-process fake's stages for these prompts; the respond and judge stages are the respond
# and judge methods' too.
STAGES = ("evolve", "respond", "judge")

# Evol-Instruct (selfinstruct evolve): every rewrite the stub makes carries this phrase, so that
# a chat request made of an evolved instruction alone is recognised as a response request.
EVOLVE_MARK = "as a further requirement,"
DEMANDS = (
    "keep the answer under {n} words.",
    "explain each step to {audience}.",
    "use one example from {place}.",
    "compare at least {n} options in a table.",
    "justify the choice of {noun} for {audience}.",
)


def _source_instruction(prompt: str) -> str:
    body = prompt.split("#Source Instruction#:\n", 1)[1]
    return body.rsplit("\n\n#Evolved Instruction#:", 1)[0].strip()


def evolve_answer(prompt: str, chat: bool, salt: str = "") -> str | None:
    """Answers to evolve's prompts (None for any other prompt): a rewrite that adds a demand
    (about 6% leak the prompt's label, about 3% are empty), the equality label (about 12%
    "Equal", 4% neither label), or a response (about 7% an apology, 4% only stop words)."""
    lead = "" if chat else " "
    if "#Source Instruction#:" in prompt and prompt.rstrip().endswith("#Evolved Instruction#:"):
        rng = rng_of("evolve", salt, prompt)
        source = _source_instruction(prompt)
        demand = rng.choice(DEMANDS).format(
            n=rng.randrange(3, 200), audience=rng.choice(AUDIENCES), place=rng.choice(PLACES),
            noun=rng.choice(NOUNS),
        )  # fmt: skip
        roll = rng.random()
        if roll < 0.03:
            return ""
        base = fill(rng.choice(TEMPLATES), rng) if "brand-new instruction" in prompt else source
        text = f"{base} Also, {EVOLVE_MARK} {demand}"
        if roll < 0.09:
            text = f"#Evolved Instruction#: {text}"
        return lead + text
    if "Answer with one of the two labels, Equal or Not Equal" in prompt:
        roll = rng_of("judge", salt, prompt).random()
        return lead + ("Equal" if roll < 0.12 else "Maybe" if roll < 0.16 else "Not Equal")
    if prompt.startswith("Below is a request from a user.") or EVOLVE_MARK in prompt:
        rng = rng_of("respond", salt, prompt)
        roll = rng.random()
        if roll < 0.07:
            return lead + "I'm sorry, but I can't help with that request."
        if roll < 0.11:
            return lead + "It is what it is."
        words = [
            f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} suits {rng.choice(AUDIENCES)}."
            for _ in range(rng.randrange(4, 12))
        ]
        return lead + " ".join(words)
    return None


def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str | None:
    if stage is not None and stage not in STAGES:
        return None
    evolved = evolve_answer(prompt, chat, salt)
    if evolved is None and stage in ("respond", "judge"):
        return ""  # the fake says nothing to a respond or judge prompt that nobody knows
    return evolved
