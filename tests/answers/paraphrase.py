"""Fake answers for the example plug-in method (examples/plugin_method): its rewrite prompt.

Rewrites are a function of the instruction alone. Some share most of their words with an
earlier rewrite, so ROUGE-L novelty has something to reject; a completion answer continues
the "1." that the prompt ends with."""

from __future__ import annotations

import hashlib
import re

MARKER = re.compile(
    r"Rewrite the instruction below in (\d+) different ways.*?Instruction: (.*?)\n", re.S
)
OPENERS = ["Please", "Kindly", "Could you", "I need you to", "Try to", "Help me"]
TOPICS = ["budget", "poem", "garden", "invoice", "volcano", "recipe", "contract", "galaxy"]
ACTS = ["outline", "sketch", "draft", "work out", "put together", "figure out"]


def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str | None:
    match = MARKER.search(prompt)
    if match is None:
        return None
    ways, instruction = int(match.group(1)), match.group(2)
    h = int(hashlib.sha256(f"{salt}{instruction}".encode()).hexdigest(), 16)
    lines = []
    for j in range(ways):
        k = (h >> (8 * j)) % 48
        opener, topic, act = OPENERS[k % 6], TOPICS[(k // 6) % 8], ACTS[(k + j) % 6]
        lines.append(f"{j + 1}. {opener} {act} the {topic} plan step by step for a beginner.")
    text = "\n".join(lines)
    return text if chat else text[2:]
