"""Magpie's settings (Xu et al. 2024)."""

from __future__ import annotations

from typing import Literal

from selfinstruct.backends.base import Decoding
from selfinstruct.methods.chat.settings import DialogueGateSettings

# Magpie (Xu et al. 2024): queries sampled at temperature 1, top_p 1; responses greedy.
MAGPIE_QUERY_DECODING = Decoding(max_tokens=256, temperature=1.0, top_p=1.0)
MAGPIE_RESPONSE_DECODING = Decoding(max_tokens=512, temperature=0.0, top_p=1.0)


class MagpieSettings(DialogueGateSettings):
    """Magpie: queries sampled from the pre-query template alone, then answered."""

    method: Literal["magpie"] = "magpie"
    query_decoding: Decoding = MAGPIE_QUERY_DECODING
    response_decoding: Decoding = MAGPIE_RESPONSE_DECODING
