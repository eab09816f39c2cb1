"""Reading model text in a dialogue: lists, role confusion, refusals, requests, turn counts.

Pure functions, kept apart from the methods so each rule can be tested on recorded text. A rule
answers with a stable snake_case reason (what ``rejected.jsonl`` records) or None.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from selfinstruct.errors import UserError

# --------------------------------------------------------------------------- lists

_ITEM = re.compile(r"^\s*(?:\d+\s*[.):]|[-*•])\s*(.+?)\s*$")


def parse_list(text: str) -> list[str]:
    """The items of a numbered or bulleted list, markup removed; a line without a number or
    bullet is not an item (a preamble or a comment)."""
    items = []
    for line in text.splitlines():
        match = _ITEM.match(line)
        if match:
            item = match.group(1).strip().strip("*").strip().strip('"').strip()
            if item:
                items.append(item)
    return items


# --------------------------------------------------------------------------- turns


def parse_turns(spec: str) -> tuple[int, int]:
    """``--turns 3-7`` (or ``4``) -> (3, 7): the range a dialogue's round count is drawn from."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", spec)
    if not match:
        raise UserError(f"--turns {spec!r}: expected a number or a range such as 3-7")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= 50:
        raise UserError(f"--turns {spec!r}: need 1 <= MIN <= MAX <= 50")
    return low, high


def draw_rounds(seed: int, dialogue_id: str, low: int, high: int) -> int:
    """A dialogue's number of rounds (user message + reply): uniform in [low, high], a function
    of the seed and the dialogue's id alone."""
    return random.Random(f"{seed}:turns:{dialogue_id}").randint(low, high)


_LEADING_USER_LABEL = re.compile(r"^\s*(?:\*\*)?(?:human|user|me)(?:\*\*)?\s*:\s*", re.I)
# A line that hands the floor to the assistant: the user simulator is writing both parts.
_ROLE_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:assistant|ai(?: assistant)?|chatbot|bot|gpt|chatgpt|system)(?:\*\*)?\s*:",
    re.I | re.M,
)
_LATER_USER_LABEL = re.compile(r"\n\s*(?:\*\*)?(?:human|user)(?:\*\*)?\s*:", re.I)
# How assistants, not people, open or close a message.
_ASSISTANT_VOICE = re.compile(
    r"^\s*(?:as an ai\b|as a (?:large )?language model|i(?:'m| am) an ai\b"
    r"|i(?:'m| am) (?:just )?a (?:large )?language model|(?:sure|certainly|of course|absolutely)"
    r"[,!.] (?:here|i can|i'd be|i would)|here(?: is|'s| are) (?:the|a|an|some|your)\b"
    r"|great question\b)"
    r"|(?:how )?(?:can|may) i (?:help|assist) you|is there anything else i can (?:help|do)"
    r"|i(?:'m| am) (?:here|ready|happy|glad) to (?:help|assist)|i'd be (?:happy|glad) to help"
    r"|i hope (?:this|that) helps",
    re.I,
)
_SELF_ANSWER = re.compile(
    r"\?\s*(?:\n\s*)+(?:\*\*)?(?:answer|a|response|reply)(?:\*\*)?\s*[:\-]"
    r"|\?\s*(?:the answer is|answer:)",
    re.I,
)


def clean_user_turn(text: str) -> str:
    """A user turn without a leading "Human:" label (harmless: the prompt asked for none)."""
    return _LEADING_USER_LABEL.sub("", text.strip(), count=1).strip()


def role_confusion(text: str) -> str | None:
    """Why a simulated user turn is not a user's message, or None.

    ``assistant_label``: a line speaks as the assistant ("Assistant: ..."); ``writes_both_sides``:
    a later line starts another "User:" turn; ``assistant_voice``: the text talks like an
    assistant ("As an AI...", "Sure, here is...", "How can I help you?"); ``answers_own_question``:
    a question followed by its own "Answer:"."""
    if _ROLE_LABEL.search(text):
        return "assistant_label"
    if _LATER_USER_LABEL.search(text):
        return "writes_both_sides"
    if _ASSISTANT_VOICE.search(text):
        return "assistant_voice"
    if _SELF_ANSWER.search(text):
        return "answers_own_question"
    return None


_REFUSAL = re.compile(
    r"^\s*(?:i(?:'m| am) sorry,? but i (?:can(?:no|')t|am unable|won't)|i can(?:no|')t (?:help|assist"
    r"|provide|comply|do that)|i(?:'m| am) (?:not able|unable) to (?:help|assist|provide|comply)"
    r"|as an ai(?: language model)?,? i (?:can(?:no|')t|am unable|don't))",
    re.I,
)


def is_refusal(text: str) -> bool:
    """An assistant reply that declines the request instead of answering it."""
    return bool(_REFUSAL.search(text))


# --------------------------------------------------------------------------- requests

_REQUEST_START = re.compile(
    r"^(?:please|can|could|would|will|how|what|why|when|where|which|who|whose|is|are|do|does"
    r"|did|should|may|i (?:need|want|would|am|have|was|wonder)|i'm|i'd|help|write|explain"
    r"|describe|give|tell|list|create|make|generate|summari[sz]e|translate|compare|suggest"
    r"|find|calculate|provide|design|plan|draft|recommend|show|rewrite|edit|fix|analy[sz]e"
    r"|identify|convert|classify|solve|name|define|outline|compose|develop|imagine|let's"
    r"|let us|teach|assist|prepare|recommend|evaluate|discuss|determine)\b",
    re.I,
)
_ANSWER_START = re.compile(
    r"^(?:sure|certainly|of course|absolutely|here (?:is|are)|here's|as an ai|i'm sorry"
    r"|i am sorry|great question|thank you for)\b",
    re.I,
)


def not_request(text: str) -> bool:
    """A sampled query that is not something a user asks: an answer, a statement, a fragment.

    A request asks a question or opens with a request word ("Explain", "Can you", "I need")."""
    first = text.strip().lstrip("\"'*#- ").strip()
    if _ANSWER_START.match(first):
        return True
    return "?" not in first and not _REQUEST_START.match(first)


# --------------------------------------------------------------------------- material


def passages(text: str, words: int) -> list[str]:
    """A text cut into passages of about ``words`` words at paragraph breaks (a paragraph
    longer than that is a passage of its own)."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    found: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in paragraphs:
        current.append(paragraph)
        count += len(paragraph.split())
        if count >= words:
            found.append("\n\n".join(current))
            current, count = [], 0
    if current:
        if found and count < words // 2:
            found[-1] += "\n\n" + "\n\n".join(current)
        else:
            found.append("\n\n".join(current))
    return found


def transcript(turns: Sequence[tuple[str, str]]) -> str:
    """The dialogue as the user simulator reads it."""
    names = {"user": "Human", "assistant": "Assistant"}
    return "\n\n".join(f"{names.get(role, role)}: {content}" for role, content in turns)
