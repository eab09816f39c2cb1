"""Self-Instruct's three prompts, rendered from the text files in ``prompts/``.

Completion-API prompts are the paper's: text that the model continues. For chat models the same
text is wrapped in a user message (``prompts/chat_*.txt``) asking the model to continue it in the
expected shape, so the parsers see the same structure from both APIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from selfinstruct.prompting import clean_instruction, load_prompt

Stage = Literal["instructions", "classify", "instances"]

_CHAT_WRAPPERS: dict[Stage, str] = {
    "instructions": "chat_instructions.txt",
    "classify": "chat_is_classification.txt",
    "instances": "chat_instances.txt",
}


def instruction_prompt(instructions: Sequence[str], classification_only: bool = False) -> str:
    """The numbered list of in-context instructions, ending at the next number to continue."""
    header_file = (
        "instructions_header_classification.txt"
        if classification_only
        else "instructions_header.txt"
    )
    lines = [load_prompt(header_file).strip()]
    for number, instruction in enumerate(instructions, start=1):
        lines.append(f"{number}. {clean_instruction(instruction)}")
    lines.append(f"{len(instructions) + 1}.")
    return "\n".join(lines)


def classification_prompt(instruction: str) -> str:
    demonstrations = load_prompt("is_classification.txt")
    return f"{demonstrations}Task: {instruction.strip()}\nIs it classification?"


def instances_prompt(instruction: str, is_classification: bool) -> str:
    filename = "instances_output_first.txt" if is_classification else "instances_input_first.txt"
    return f"{load_prompt(filename)}Task: {instruction.strip()}\n"


def chat_message(stage: Stage, prompt: str) -> str:
    """The user message that asks a chat model to continue ``prompt``."""
    return load_prompt(_CHAT_WRAPPERS[stage]).format(prompt=prompt)
