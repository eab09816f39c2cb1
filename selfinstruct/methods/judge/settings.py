"""The judge's settings: the Self-Instruct paper's quality study (section 4)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.config import RunSettings

# A judge's verdict is a label and one sentence; greedy, so the same question gets one answer.
JUDGE_DECODING = Decoding(max_tokens=64, temperature=0.0, top_p=1.0, stop=("\n\n",))


class JudgeSettings(RunSettings):
    """The Self-Instruct paper's quality questions (section 4), asked of a judge model."""

    OPERATIONAL: ClassVar[frozenset[str]] = RunSettings.OPERATIONAL | {"input_path"}
    method: Literal["judge"] = "judge"
    n: int = Field(default=200, gt=0, description="tasks sampled (the paper judged 200)")
    input_path: str
    input_sha256: str
    questions: bool = Field(default=True, description="ask the paper's three questions")
    rate: bool = Field(default=False, description="also rate the output A/B/C/D")
    decoding: Decoding = JUDGE_DECODING
