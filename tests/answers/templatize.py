"""Fake answers for templatize's --write-templates prompt: K templates over the fields the
prompt lists, the last of which names a field the rows do not have (so that validation has
something to reject: ``render_error``). A completion answer continues "Template 1:"."""

from __future__ import annotations

import re

MARKER = "You write instruction templates that turn the rows of a labelled dataset"
OPENERS = ["Look at this carefully.", "Here is an item.", "Consider the following.",
           "Please work on this.", "A new example follows.", "Read this."]  # fmt: skip


def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str | None:
    if MARKER not in prompt:
        return None
    k = int(re.search(r"Write (\d+) new templates", prompt).group(1))
    fields = re.findall(r"\{\{ (\w+) \}\}", prompt.split("Fields of a row:")[1].split("\n")[0])
    target = re.search(r"The answer: \{\{ (\w+) \}\}", prompt).group(1)
    shown = [f for f in fields if f not in (target, "rationale")]
    parts = []
    for j in range(1, k + 1):
        body = "\n".join(f"{f.capitalize()}: {{{{ {f} }}}}" for f in shown)
        if j == k:
            body += "\nAlso: {{ sentence }}"  # not a field: the template fails to render
        text = f"{OPENERS[j % len(OPENERS)]} (variant {j})\n{body}\n|||\n{{{{ {target} }}}}"
        parts.append(text if j == 1 and not chat else f"Template {j}:\n{text}")
    return "\n\n".join(parts)
