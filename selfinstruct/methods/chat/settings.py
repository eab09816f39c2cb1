"""UltraChat's settings (Ding et al. 2023), and the gate an opening passes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.config import RunSettings
from selfinstruct.templates import ChatTemplate

# UltraChat (Ding et al. 2023) drew lists and replies from ChatGPT at its defaults: temperature
# 1.0, top_p 1.0 and no output cap; 4096 tokens stands for "no cap" (a ChatGPT reply rarely
# reaches it). The user simulator's turns are capped lower: a longer "user message" is almost
# always the simulator writing both sides (docs/methods/chat.md, How it differs).
OPENING_LIST_DECODING = Decoding(max_tokens=4096, temperature=1.0, top_p=1.0)
USER_TURN_DECODING = Decoding(max_tokens=256, temperature=1.0, top_p=1.0)
ASSISTANT_TURN_DECODING = Decoding(max_tokens=4096, temperature=1.0, top_p=1.0)


ChatSource = Literal["world", "entities", "writing", "material", "openings"]

# Rounds per dialogue (MIN, MAX) by source: the paper's 3-7 for Questions about the World (its
# entity questions included), 2-4 for Writing and Creation and for Existent Materials; a task
# file's instructions (ours) are treated like writing requests. --turns overrides them all.
SECTOR_TURNS: dict[str, tuple[int, int]] = {
    "world": (3, 7), "entities": (3, 7), "writing": (2, 4), "material": (2, 4),
    "openings": (2, 4),
}  # fmt: skip


class DialogueGateSettings(RunSettings):
    """The gate an opening or a query passes: the instruction rules and ROUGE-L novelty."""

    threshold: float = Field(default=0.7, ge=0, le=1)
    tokenizer: Literal["rouge", "unicode"] = "rouge"
    blacklist: Literal["paper", "alpaca", "none"] = "none"
    ascii_first_char: bool = False
    # A completion endpoint gets raw text rendered with this template; a chat API needs none.
    template: ChatTemplate | None = None


class ChatSettings(DialogueGateSettings):
    """UltraChat: a simulated user and an assistant talk for a drawn number of rounds."""

    method: Literal["chat"] = "chat"
    # None: each source's own range (SECTOR_TURNS); set: one range for every source.
    turns_min: int | None = Field(default=None, ge=1, le=50)
    turns_max: int | None = Field(default=None, ge=1, le=50)
    sources: tuple[ChatSource, ...] = ("world", "writing")
    material_path: str | None = None
    material_sha256: str | None = None
    openings_path: str | None = None
    openings_sha256: str | None = None
    entities_path: str | None = None
    entities_sha256: str | None = None
    passage_words: int = Field(default=200, ge=20, description="words per material passage")
    regenerate_confused: bool = Field(
        default=True,
        description="a user turn that speaks as the assistant is asked for once more "
        "(another seed) before the dialogue ends early",
    )
    list_decoding: Decoding = OPENING_LIST_DECODING
    user_decoding: Decoding = USER_TURN_DECODING
    assistant_decoding: Decoding = ASSISTANT_TURN_DECODING
