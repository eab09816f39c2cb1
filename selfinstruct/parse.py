"""Turn raw model text into instructions, yes/no answers and instances.

Pure functions. The completion-API rules are the paper's; chat models additionally add
preambles ("Sure! Here are more tasks:"), markdown numbering ("**9.**", "9)"), and closing
remarks, which :func:`parse_instructions` strips when ``chat=True``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The paper's item boundary: newline, number, optional space, dot, space.
_ITEM_BOUNDARY = re.compile(r"\n\d+\s?\. ")
# A chat model's numbered line: optional bullet/emphasis, the number, "." or ")", emphasis.
_CHAT_ITEM = re.compile(r"^\s*(?:[-*>#]+\s*)?(?:\*\*|__)?\s*(\d{1,3})\s*[.)]\s*(.*)$")
_MARKDOWN_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")


@dataclass(frozen=True)
class ParsedInstance:
    input: str
    output: str


def normalise_instruction(text: str) -> str:
    """Collapse whitespace and capitalise the first letter (the paper's normalisation)."""
    text = re.sub(r"\s+", " ", text).strip()
    return text[:1].upper() + text[1:]


def _completion_items(text: str) -> list[str]:
    pieces = _ITEM_BOUNDARY.split(text)
    # The prompt ends at "9." so the first piece continues that item; drop a restated number.
    pieces[0] = re.sub(r"^\s*\d+\s?\.\s", "", pieces[0])
    return pieces


def _chat_items(text: str) -> list[str]:
    items: list[list[str]] = []
    open_item = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            continue
        match = _CHAT_ITEM.match(line)
        if match:
            items.append([match.group(2)])
            open_item = True
        elif not line.strip():
            open_item = False
        elif open_item:
            items[-1].append(line)
        # Unnumbered text outside an item is a preamble or a closing remark: dropped.
    cleaned = []
    for lines in items:
        item = " ".join(part.strip() for part in lines)
        item = _MARKDOWN_EMPHASIS.sub(r"\2", item)
        item = item.replace("**", "").replace("__", "").strip()
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'`":
            item = item[1:-1]
        cleaned.append(item)
    return cleaned


def parse_instructions(text: str, chat: bool = False, max_items: int = 7) -> list[str]:
    """New instructions from a response to the numbered-list prompt.

    Completion responses continue the open item directly; chat responses restate numbers,
    possibly restarting at 1. Empty items are kept as "" so the filters count them.
    """
    items = _chat_items(text) if chat else _completion_items(text)
    return [normalise_instruction(item) for item in items][:max_items]


def parse_is_classification(text: str, chat: bool = False) -> bool:
    """The paper's rule: the stripped answer is "Yes" in any case. Chat mode also accepts
    "Yes." or "**Yes**" since chat models decorate short answers."""
    answer = text.strip()
    if chat:
        words = re.findall(r"[A-Za-z]+", answer)
        answer = words[0] if words else ""
    return answer.lower() == "yes"


def _strip_chat_wrapping(text: str) -> str:
    text = re.sub(r"^\s*```[a-z]*\s*\n", "", text)
    text = re.sub(r"\n```\s*$", "", text)
    return _MARKDOWN_EMPHASIS.sub(r"\2", text)


def parse_classification_instances(text: str) -> list[ParsedInstance]:
    """Output-first: split on "Class label:"; a chunk's first line is the label (the output),
    the rest is the input for it."""
    text = _strip_chat_wrapping(text)
    chunks = re.split(r"Class label:", text)
    instances = []
    for chunk in chunks[1:] if len(chunks) > 1 else []:
        chunk = chunk.strip()
        if not chunk:
            continue
        first, _, rest = chunk.partition("\n")
        instances.append(ParsedInstance(input=rest.strip(), output=first.strip()))
    return instances


_EXAMPLE_SPLIT = re.compile(r"Example\s?\d*\.?:?")
_INPUT_LABEL = re.compile(r"^\s*Input\s?\d*\s*:\s*")
_INPUT_CUT = re.compile(r"\n?\s*Input\s?\d*\s*:")


def _split_input_output(part: str) -> ParsedInstance:
    if "Output:" in part:
        input_text, _, output = part.partition("Output:")
    else:
        input_text, output = "", part
    input_text = _INPUT_LABEL.sub("", input_text.strip()).strip()
    output = _INPUT_CUT.split(output, maxsplit=1)[0].strip()
    return ParsedInstance(input=input_text, output=output)


def parse_generation_instances(text: str) -> list[ParsedInstance]:
    """Input-first: split on "Example N"; in each part the text before "Output:" is the input
    and after it the output; a part without "Output:" is all output."""
    text = _strip_chat_wrapping(text)
    if _EXAMPLE_SPLIT.search(text):
        parts = [part for part in _EXAMPLE_SPLIT.split(text) if part.strip()]
    else:
        parts = [text] if text.strip() else []
    return [_split_input_output(part) for part in parts]


def parse_instances(text: str, is_classification: bool) -> list[ParsedInstance]:
    if is_classification:
        return parse_classification_instances(text)
    return parse_generation_instances(text)
