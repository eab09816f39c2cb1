"""respond's settings: GPT-4-LLM's regenerated answers."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.config import RunSettings
from selfinstruct.methods.judge.settings import JUDGE_DECODING
from selfinstruct.templates import ChatTemplate

# A teacher's answer (GPT-4-LLM regenerated Alpaca's outputs with one request per instance).
RESPOND_DECODING = Decoding(max_tokens=512, temperature=0.7, top_p=1.0)


class RespondSettings(RunSettings):
    """Regenerate every output with a teacher model; optionally score original and new."""

    OPERATIONAL: ClassVar[frozenset[str]] = RunSettings.OPERATIONAL | {"input_path"}
    method: Literal["respond"] = "respond"
    input_path: str
    input_sha256: str
    system: str | None = None
    n_responses: int = Field(default=1, ge=1, le=16)
    compare: bool = False
    original_model: str = "original"
    decoding: Decoding = RESPOND_DECODING
    judge_decoding: Decoding = JUDGE_DECODING
    # With ``system`` on a completion endpoint: the chat template the system and user turns are
    # rendered with (None: ``system`` is a text prefix of the response template).
    template: ChatTemplate | None = None
    # ``compare`` scores with this model (None: the teacher), on this server (None: the
    # teacher's).
    judge_model: str | None = None
    judge_base_url: str | None = None
