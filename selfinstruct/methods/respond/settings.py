"""respond's settings: GPT-4-LLM's regenerated answers, comparison data and translated data."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.config import RunSettings
from selfinstruct.methods.judge.settings import JUDGE_DECODING
from selfinstruct.templates import ChatTemplate

# A teacher's answer (GPT-4-LLM regenerated Alpaca's outputs with one request per instance).
RESPOND_DECODING = Decoding(max_tokens=512, temperature=0.7, top_p=1.0)
# A translation (the paper gives no decoding for its ChatGPT translations): faithful, not varied.
TRANSLATE_DECODING = Decoding(max_tokens=1024, temperature=0.0, top_p=1.0)


class RespondSettings(RunSettings):
    """Regenerate every output with a teacher model; optionally rate the candidates."""

    OPERATIONAL: ClassVar[frozenset[str]] = RunSettings.OPERATIONAL | {
        "input_path", "candidate_paths",
    }  # fmt: skip
    method: Literal["respond"] = "respond"
    input_path: str
    input_sha256: str
    system: str | None = None
    n_responses: int = Field(default=1, ge=1, le=16)
    # The teacher's question: Alpaca's prompt with or without input, as the paper sent it
    # ("alpaca"), or the instruction and input alone / our short template ("plain").
    framing: Literal["alpaca", "plain"] = "alpaca"
    compare: bool = False
    # How ``compare`` rates: every candidate of an instance in one request, side by side, as
    # the paper's comparison data ("side-by-side"), or each candidate alone ("separate").
    rating: Literal["side-by-side", "separate"] = "side-by-side"
    original_model: str = "original"
    # Earlier runs on the same data whose answers are rated beside the teacher's (their
    # contents are fingerprinted; the paths may move).
    candidate_paths: tuple[str, ...] = ()
    candidates_sha256: tuple[str, ...] = ()
    # GPT-4-LLM's Chinese data: instructions and inputs translated into this language (a code
    # such as "zh", or a language's name) by ``translate_model``, then answered in it.
    translate: str | None = None
    translate_model: str | None = None
    translate_base_url: str | None = None
    decoding: Decoding = RESPOND_DECODING
    judge_decoding: Decoding = JUDGE_DECODING
    translate_decoding: Decoding = TRANSLATE_DECODING
    # With ``system`` on a completion endpoint: the chat template the system and user turns are
    # rendered with (None: ``system`` is a text prefix of the response template).
    template: ChatTemplate | None = None
    # ``compare`` scores with this model (None: the teacher), on this server (None: the
    # teacher's).
    judge_model: str | None = None
    judge_base_url: str | None = None
