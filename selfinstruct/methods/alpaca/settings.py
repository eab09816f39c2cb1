"""Alpaca's settings: stanford_alpaca's generate_instruction.py parameters as defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.config import InstructionRunSettings

# Alpaca's one request for 20 tasks (stanford_alpaca's generate_instruction.py).
ALPACA_DECODING = Decoding(max_tokens=3072, temperature=1.0, top_p=1.0, stop=("\n20", "20."))


class AlpacaSettings(InstructionRunSettings):
    """Alpaca's one-pass variant (Taori et al. 2023): whole tasks in one request, seeds only."""

    method: Literal["alpaca"] = "alpaca"
    blacklist: Literal["paper", "alpaca", "none"] = "alpaca"
    prompt_instructions: int = Field(default=3, ge=1, le=10)
    tasks_per_request: int = Field(
        default=20, ge=5, le=40, description="the list the model is asked to continue to"
    )
    merged_items: Literal["keep", "drop"] = Field(
        default="keep",
        description="two items with no ### between them: keep the first with the second in its "
        "output (the reference), or drop it",
    )
    layout: Literal["grammar", "free"] = Field(
        default="grammar",
        description="an in-process model (the bundled one, --model-path) is held to the items' "
        "layout by a grammar, or writes freely as a server's model does",
    )
    decoding: Decoding = ALPACA_DECODING
