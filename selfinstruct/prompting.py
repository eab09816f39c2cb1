"""Prompt text files: every method's prompts live as plain text under ``prompts/<method>/``."""

from __future__ import annotations

import re
from functools import cache

from selfinstruct.resources import prompt_path


@cache
def load_prompt(filename: str) -> str:
    return prompt_path(filename).read_text(encoding="utf-8")


def clean_instruction(text: str) -> str:
    """Collapse whitespace and drop a trailing colon, as instructions are shown in prompts."""
    return re.sub(r"\s+", " ", text).strip().rstrip(":")
