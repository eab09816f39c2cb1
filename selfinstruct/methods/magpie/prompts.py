"""Magpie's prompts: the text a user turn opens with, after a system prompt or a conversation.

The reference keeps a pre-query template per model (with a system prompt, per controlled task,
and one to append after a conversation); here each is derived from the chat template itself:
the conversation is rendered followed by a user message holding a sentinel, and the text before
the sentinel is the prompt. The system prompts are ours (``prompts/magpie/``).
"""

from __future__ import annotations

from collections.abc import Sequence

from selfinstruct.errors import UserError
from selfinstruct.prompting import load_prompt
from selfinstruct.templates import ChatTemplate

_SENTINEL = "\x00USER\x00"


def user_opening(template: ChatTemplate, conversation: Sequence[tuple[str, str]]) -> str:
    """``conversation`` rendered, then the opening of a user turn: what the model continues
    as the user. With no conversation this is the pre-query template."""
    if not conversation:
        return template.pre_query
    text = template.render([*conversation, ("user", _SENTINEL)], add_generation_prompt=False)
    if text.count(_SENTINEL) != 1:
        raise UserError(f"chat template {template.name}: a user message is not rendered once")
    return text.split(_SENTINEL)[0]


def system_prompt(task: str | None, system: str | None) -> str | None:
    """The queries' system prompt: ``--system`` as given, or ours for ``--task``."""
    if system is not None:
        return system
    if task is not None:
        return load_prompt(f"magpie/{task}.txt").strip()
    return None


def multi_turn_system() -> str:
    """The system prompt a further user turn is sampled under (ours)."""
    return load_prompt("magpie/multi_turn.txt").strip()
