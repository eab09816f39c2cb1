"""Magpie's settings (Xu et al. 2024; magpie-align/magpie's scripts' defaults)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.methods.chat.settings import DialogueGateSettings

# Magpie: queries sampled at temperature 1, top_p 1, up to 2048 tokens; responses greedy, up to
# 4096 tokens (gen_ins.py and gen_res.py).
MAGPIE_QUERY_DECODING = Decoding(max_tokens=2048, temperature=1.0, top_p=1.0)
MAGPIE_RESPONSE_DECODING = Decoding(max_tokens=4096, temperature=0.0, top_p=1.0)

MagpieTask = Literal["math", "code", "translation"]


class MagpieSettings(DialogueGateSettings):
    """Magpie: queries sampled from the pre-query template alone, then answered."""

    method: Literal["magpie"] = "magpie"
    query_decoding: Decoding = MAGPIE_QUERY_DECODING
    response_decoding: Decoding = MAGPIE_RESPONSE_DECODING
    stop_at_newline: bool = Field(
        default=True, description="a query ends at its first newline (the reference's default)"
    )
    turns: int = Field(default=1, ge=1, le=50, description="user turns per conversation")
    task: MagpieTask | None = Field(
        default=None, description="a system prompt of ours steering the queries to this task"
    )
    system: str | None = Field(default=None, description="the queries' system prompt")
    requests_only: bool = Field(
        default=False,
        description="ours, not Magpie's: drop a query that neither asks a question nor opens "
        "with a request word",
    )
