"""The tools method's settings: Gorilla's and ToolBench's generation as defaults."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.config import RunSettings

# One request asks for ``requests`` new request-call pairs, one JSON object a line; a line
# holds a request and its calls (about 60-120 tokens).
REQUEST_DECODING = Decoding(max_tokens=1536, temperature=0.7, top_p=1.0, stop=("###",))
# A simulated tool result (a JSON object) and the assistant's reply after it: greedy.
SIMULATE_DECODING = Decoding(max_tokens=256, temperature=0.0, top_p=1.0, stop=("###",))
RESPONSE_DECODING = Decoding(max_tokens=400, temperature=0.0, top_p=1.0, stop=("###",))


class ToolsSettings(RunSettings):
    """Tool-use data from API documentation (Gorilla, Patil et al. 2023; ToolBench, Qin et
    al. 2023). ``n``: request-call pairs to keep."""

    OPERATIONAL: ClassVar[frozenset[str]] = RunSettings.OPERATIONAL | frozenset(
        {"spec_path", "examples_path", "mock_path"}
    )

    method: Literal["tools"] = "tools"
    spec_path: str
    spec_sha256: str
    examples_path: str | None = Field(
        default=None, description="example request-call pairs (None: ours, prompts/tools/)"
    )
    examples_sha256: str
    shots: int = Field(default=3, ge=0, le=20, description="example pairs shown per prompt")
    requests: int = Field(default=10, ge=1, le=40, description="new pairs asked per prompt")
    combine: bool = Field(
        default=False, description="also prompt with sets of tools of one group (ToolBench)"
    )
    combine_share: float = Field(
        default=0.5, ge=0, le=1, description="with combine: the share of prompts on a tool set"
    )
    set_size: int = Field(default=3, ge=2, le=8, description="at most this many tools a set")
    responses: bool = Field(default=False, description="a final answer after each call's result")
    mock_path: str | None = None
    mock_sha256: str | None = None
    threshold: float = Field(default=0.7, ge=0, le=1)
    tokenizer: Literal["rouge", "unicode"] = "rouge"
    # Tools do what a language model cannot (files, maps, images): no words are forbidden.
    blacklist: Literal["paper", "alpaca", "none"] = "none"
    ascii_first_char: bool = True
    request_decoding: Decoding = REQUEST_DECODING
    simulate_decoding: Decoding = SIMULATE_DECODING
    response_decoding: Decoding = RESPONSE_DECODING
