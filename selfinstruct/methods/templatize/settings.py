"""Templatize's settings: FLAN's (Wei et al. 2021) and the Flan Collection's (Longpre et al.
2023) choices as defaults."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from selfinstruct.backends.base import Decoding
from selfinstruct.config import RunSettings

# FLAN caps every dataset at 30,000 training examples and mixes them in proportion to size
# under that cap.
FLAN_CAP = 30_000
# The templates a model writes (--write-templates): K of them in one answer.
TEMPLATE_DECODING = Decoding(max_tokens=1500, temperature=0.7, top_p=1.0)


class TemplatizeSettings(RunSettings):
    """``n``: how many examples of the mixture are written (default: all, under the cap)."""

    OPERATIONAL: ClassVar[frozenset[str]] = RunSettings.OPERATIONAL | {
        "task_file", "template_files",
    }  # fmt: skip
    method: Literal["templatize"] = "templatize"
    task_file: str
    template_files: tuple[str, ...] = ()
    inputs_sha256: str = Field(description="the task file, its data and the template files")
    cap: int = Field(default=FLAN_CAP, ge=1, description="examples per task at most")
    inverted_share: float = Field(default=0.3, ge=0, le=1)
    few_shot_share: float = Field(default=0.2, ge=0, le=1)
    cot_share: float = Field(default=0.2, ge=0, le=1)
    shots: int = Field(default=3, ge=1, le=32, description="exemplars of a few-shot row")
    options_suffix: bool = True
    only_own_templates: bool = False
    skip_bad_rows: bool = False
    write_templates: int = Field(default=0, ge=0, le=50)
    template_decoding: Decoding = TEMPLATE_DECODING

    @model_validator(mode="after")
    def _shares(self) -> TemplatizeSettings:
        total = self.inverted_share + self.few_shot_share + self.cot_share
        if total > 1 + 1e-9:
            raise ValueError(
                f"inverted, few-shot and chain-of-thought shares add up to {total:g}: at most 1"
            )
        return self
