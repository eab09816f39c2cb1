"""The synthetic model's answers to the judge method's prompts (its three questions, the rating
and the score), and to the respond method's completion prompt ("Respond to the instruction",
"### Response:"), which shares them: respond has no module of its own. Its judge stage asks the
judge's prompts; a bare instruction sent as chat is answered by evolve.py (an evolved
instruction) or chat.py (the stub's conversation turn)."""

from __future__ import annotations

from ._words import rng_of

PRIORITY = 20

# The in-process fake's stages for these prompts (rate: the judge's rating; compare: the
# answers of a second model, selfinstruct.backends.routing).
STAGES = ("judge", "rate", "respond", "compare")


def judge_answer(prompt: str, salt: str = "") -> str | None:
    """Answers to the judge and respond prompts (None: not one of them). Mostly well-formed
    verdicts, with a share of No, low grades and unparseable replies, all by prompt."""
    rng = rng_of("judge", salt, prompt)
    roll = rng.random()
    if "machine-written instruction-tuning data set" in prompt:
        if roll < 0.1:
            return " Maybe, it depends."
        return " Yes\nIt is clear." if roll < 0.8 else " No\nSomething is missing."
    if "Grade the response" in prompt:
        return " " + "ABCD"[int(roll * 4)] + "\nGraded by the stub."
    if "Score the response" in prompt:
        return " " + ("eleven" if roll < 0.05 else str(1 + int(roll * 10))) + "\nScored."
    if (
        prompt.startswith(("Respond to the instruction", "Instruction:"))
        or "### Response:" in prompt
    ):
        return f" A stub answer number {int(roll * 1000)}, written with care."
    return None


def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str | None:
    if stage is not None and stage not in STAGES:
        return None
    judged = judge_answer(prompt, salt)
    if judged is None and stage in ("rate", "compare"):
        return ""  # the fake says nothing to a prompt it does not know
    return judged  # judge and respond: evolve's stages too (evolve.py; "" when neither knows it)
