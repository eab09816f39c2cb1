"""Turn raw model text into instructions, yes/no answers and instances.

Pure functions. In completion mode (``chat=False``) the rules are the reference's exactly and
nothing is cleaned: a base model continues our plain-text prompt, so any markdown in its answer
is content. Chat models add wrapping around the shape we asked for: preambles ("Sure! Here are
more tasks:"), decorated numbering ("**9.**", "9)"), a fence around the whole answer, emphasis on
labels ("**Output:**"), closing remarks. ``chat=True`` removes that wrapping and only that:
code (fenced blocks, inline backticks), identifiers (``__init__``) and maths (``2**10``) are
never touched, since they are the data.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from selfinstruct.records import ParsedInstance

# The paper's item boundary: newline, number, optional space, dot, space.
_ITEM_BOUNDARY = re.compile(r"\n\d+\s?\. ")
# A chat model's numbered line: optional bullet or heading mark, optional opening emphasis, the
# number, "." or ")", with the emphasis closed right after the number or at the item's end.
_CHAT_ITEM = re.compile(
    r"^\s*(?:[-*+>]\s+|#{1,6}\s*)?(?P<open>\*\*|__)?\s*(?P<num>\d{1,3})"
    r"(?P<close1>\*\*|__)?\s*[.)](?P<close2>\*\*|__)?\s*(?P<rest>.*)$"
)

# The reference's markers, case-sensitive: "Example" with an optional number and dot;
# "Output"/"Input" with an optional number, then a colon.
_EXAMPLE = re.compile(r"Example\s?\d*\.?")
_OUTPUT = re.compile(r"Output\s*\d*\s*:")
_INPUT = re.compile(r"Input\s*\d*\s*:")
_LEADING_INPUT = re.compile(r"^Input\s*\d*\s*:")


# ------------------------------------------------------------------ chat wrapping, never code

# Strong emphasis as markdown reads it: "**" opening before a non-space and not after a word
# character (so "2**10" and "f(**kw, **kv)" are left alone), closing after a non-space and not
# before a word character. "__" must also hold a space, so identifiers such as "__init__" or
# "__dict__" are never taken for emphasis.
_STRONG = re.compile(r"(?<![\w*\\])\*\*(?=[^\s*])(.+?)(?<=[^\s*])\*\*(?![\w*])")
_UNDERLINE_STRONG = re.compile(r"(?<![\w\\])__(?=[^\s_])([^_]*?\s[^_]*?)(?<=[^\s_])__(?!\w)")
_CODE_SPAN = re.compile(r"(`+[^`]*`+)")
_FENCE_OPEN = re.compile(r"^(```|~~~)[\w+.-]*$")
_FENCE_LINE = re.compile(r"^\s*(```|~~~)")
# A line that is only an example header, decorated: "### **Example 2:**" -> "Example 2".
_EXAMPLE_HEADER = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?P<em>\*\*|__)?\s*(?P<head>Example\s?\d*)"
    r"\s*[.:]?\s*(?(em)(?P=em))\s*[.:]?\s*$"
)
# Emphasis around a line-leading label: "**Output:**", "**Class label**:", "__Input 1:__".
_LABEL_EMPHASIS = re.compile(
    r"^(?P<indent>\s*)(?P<em>\*\*|__)(?P<label>[A-Z][A-Za-z0-9 ]{0,40}?)\s*"
    r"(?P<c1>:?)(?P=em)(?P<c2>:?)"
)
# Bold around the whole value of a labelled line: "Class label: **Positive**".
_BOLD_VALUE = re.compile(
    r"^(?P<label>\s*[A-Z][A-Za-z0-9 ]{0,40}:)[ \t]*"
    r"\*\*(?P<value>[^*\s](?:[^*]*[^*\s])?)\*\*[ \t]*$"
)


def strip_emphasis_spans(text: str) -> str:
    """Remove strong emphasis markers around words, outside inline code spans."""
    parts = _CODE_SPAN.split(text)
    for i in range(0, len(parts), 2):  # odd indices are code spans: left as they are
        parts[i] = _UNDERLINE_STRONG.sub(r"\1", _STRONG.sub(r"\1", parts[i]))
    return "".join(parts)


def _strip_whole_fence(text: str) -> str:
    """Remove a fence around the whole answer (or an opening fence whose closing one was cut);
    a fence around only part of the answer is content."""
    lines = text.strip().split("\n")
    if not _FENCE_OPEN.match(lines[0].strip()):
        return text
    fences = [i for i, line in enumerate(lines) if i and _FENCE_LINE.match(line)]
    if not fences:
        return "\n".join(lines[1:])
    if fences == [len(lines) - 1] and lines[-1].strip() == lines[0].strip()[:3]:
        return "\n".join(lines[1:-1])
    return text


def _unwrap_line(line: str) -> str:
    header = _EXAMPLE_HEADER.match(line)
    if header:
        return header["head"]
    label = _LABEL_EMPHASIS.match(line)
    if label and ":" in (label["c1"], label["c2"]):
        line = f"{label['indent']}{label['label'].rstrip()}:{line[label.end() :]}"
    value = _BOLD_VALUE.match(line)
    if value:
        line = f"{value['label']} {value['value']}"
    return line


def unwrap_chat_answer(text: str) -> str:
    """A chat answer to an instance prompt without its wrapping: a fence around the whole answer,
    markdown headings and emphasis on "Example N" lines, emphasis around line-leading labels
    and around a label's whole value, a preamble (text without "Output:" before the first
    example). Lines inside fenced code blocks are left untouched."""
    lines = _strip_whole_fence(text).split("\n")
    in_code = False
    first_example = None
    for i, line in enumerate(lines):
        if _FENCE_LINE.match(line):
            in_code = not in_code
        elif not in_code:
            lines[i] = _unwrap_line(line)
            if first_example is None and _EXAMPLE_HEADER.match(lines[i]):
                first_example = i
    if first_example and not _OUTPUT.search("\n".join(lines[:first_example])):
        lines = lines[first_example:]  # "Sure! Here are the examples:" before "Example 1"
    return "\n".join(lines)


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
    items: list[tuple[list[str], str | None]] = []
    open_item = False
    for line in text.splitlines():
        if _FENCE_LINE.match(line):
            continue
        match = _CHAT_ITEM.match(line)
        if match:
            unclosed = match["open"] if not (match["close1"] or match["close2"]) else None
            items.append(([match["rest"]], unclosed))
            open_item = True
        elif not line.strip():
            open_item = False
        elif open_item:
            items[-1][0].append(line)
        # Unnumbered text outside an item is a preamble or a closing remark: dropped.
    cleaned = []
    for lines, unclosed in items:
        item = " ".join(part.strip() for part in lines).strip()
        if unclosed and item.endswith(unclosed):
            item = item[: -len(unclosed)].rstrip()  # "**9. Whole item in bold.**"
        item = strip_emphasis_spans(item).strip()
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'`":
            item = item[1:-1]
        cleaned.append(item)
    return cleaned


def echo_key(text: str) -> str:
    """How an echoed instruction is recognised: whitespace collapsed, case folded, punctuation
    at either end (a trailing colon, a full stop, quotes) removed."""
    return re.sub(r"\s+", " ", text).strip().casefold().strip(string.punctuation + " ")


def parse_instructions(
    text: str, chat: bool = False, max_items: int | None = None, shown: Sequence[str] = ()
) -> list[str]:
    """New instructions from a response to the numbered-list prompt.

    Completion responses continue the open item directly; chat responses restate numbers,
    possibly restarting at 1. Empty items are kept as "" so the filters count them. Every item
    is kept, as in the reference (its stop sequences end the list); ``max_items`` keeps only
    the first ones.

    Chat models often restate the prompt's own items before their new ones; in chat mode an item
    that echoes one of ``shown`` (the instructions in the prompt, compared by :func:`echo_key`) is
    dropped *before* the ``max_items`` cap, so the echoes do not use up the new items' places.
    Completion mode keeps the reference's rule (novelty rejects an echo later).
    """
    if not chat:
        items = [normalise_instruction(item) for item in _completion_items(text)]
    else:
        echoes = {key for key in map(echo_key, shown) if key}
        items = [normalise_instruction(item) for item in _chat_items(text)]
        items = [item for item in items if echo_key(item) not in echoes]
    return items if max_items is None else items[:max_items]


# A chat answer to "Is it classification?": optional short labels ending in ":" or "?" (the
# model restating "Answer:", "Decision:" or the question itself), then yes or no as a word not
# followed by "or"/"and"/"/" (which would be the model repeating the choice, not making it).
_CHAT_YES_NO = re.compile(r"^(?:[a-z][a-z ]{0,40}?[:?]\s*)*(yes|no)\b(?!\s*(?:/|or\b|and\b))")
_DECORATION = re.compile(r"[*_`#>\"'\[\]()]")


def parse_is_classification(text: str, chat: bool = False) -> bool | None:
    """Is the task a classification task, as the model answered?

    Completion mode is the reference's rule exactly: True when the stripped answer is "Yes",
    "yes" or "YES", False for anything else. Chat mode reads a decorated answer ("Yes.",
    "**No**", "Yes, it is", "Answer: No") and returns None when no clear yes or no can be read
    (for example an answer cut after "Decision:"), so that a cut or off-topic answer is not
    silently taken as "not classification".
    """
    answer = text.strip()
    if not chat:
        return answer in ("Yes", "yes", "YES")
    plain = _DECORATION.sub("", answer).strip().casefold()
    match = _CHAT_YES_NO.match(plain)
    if match is None:
        return None
    return match.group(1) == "yes"


def parse_classification_instances(text: str, chat: bool = False) -> list[ParsedInstance]:
    """Output-first, as the reference: nothing without "Class label:"; otherwise each chunk after
    a "Class label:" is one instance whose first line is the label (the output) and the rest the
    input. An empty chunk (a label cut off at the end) is kept as an instance with an empty
    output, so that a length-cut response loses that one and the filters drop it."""
    if chat:
        text = unwrap_chat_answer(text)
    if "Class label:" not in text:
        return []
    instances = []
    for chunk in text.split("Class label:")[1:]:
        first, _, rest = chunk.strip().partition("\n")
        instances.append(ParsedInstance(input=rest.strip(), output=first.strip()))
    return instances


def _split_input_output(part: str) -> ParsedInstance:
    """One example: the text before the first "Output:" is the input and the text between it and
    a second "Output:" the output (without "Output:" it is all output); the output stops at an
    "Input N:" (the model went on to another pair); a leading "Input N:" label is removed."""
    if _OUTPUT.search(part):
        pieces = _OUTPUT.split(part)
        input_text, output = pieces[0].strip(), pieces[1].strip()
    else:
        input_text, output = "", part.strip()
    output = _INPUT.split(output)[0].strip()
    input_text = _LEADING_INPUT.sub("", input_text).strip()
    return ParsedInstance(input=input_text, output=output)


def parse_generation_instances(text: str, chat: bool = False) -> list[ParsedInstance]:
    """Input-first, as the reference: when the text has an "Example" marker it is split on the
    markers and every non-empty part is one instance; else when it has an "Output:" marker the
    whole text is one instance; else (neither marker) there is nothing to keep."""
    if chat:
        text = unwrap_chat_answer(text)
    text = text.strip()
    if _EXAMPLE.search(text):
        parts = [part.strip() for part in _EXAMPLE.split(text) if part.strip()]
        return [_split_input_output(part) for part in parts]
    if _OUTPUT.search(text):
        return [_split_input_output(text)]
    return []


def parse_instances(text: str, is_classification: bool, chat: bool = False) -> list[ParsedInstance]:
    if is_classification:
        return parse_classification_instances(text, chat=chat)
    return parse_generation_instances(text, chat=chat)
