"""Run settings: the reference parameters as defaults, saved into the run folder.

Every default lives here once; the command line reads its defaults from these models.
Settings split in two: those that decide the data (model, seeds, decoding, filters, seed) and
operational ones (concurrency, budgets, timeouts: ``OPERATIONAL``). Resuming a run folder with
different data settings is refused unless explicitly allowed, since it would silently mix two
datasets.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from selfinstruct.backends.base import Decoding

# The paper's decoding parameters (completion API).
INSTRUCTION_DECODING = Decoding(
    max_tokens=1024,
    temperature=0.7,
    top_p=0.5,
    frequency_penalty=0.0,
    presence_penalty=2.0,
    stop=("\n\n", "\n16", "16.", "16 ."),
)
# Chat models separate list items with blank lines and restate numbers, so only item 16 stops.
CHAT_INSTRUCTION_STOP: tuple[str, ...] = ("\n16.", "\n**16")
CLASSIFY_DECODING = Decoding(max_tokens=3, temperature=0.0, top_p=0.0, stop=("\n", "Task"))
CLASSIFICATION_INSTANCE_DECODING = Decoding(
    max_tokens=300, temperature=0.0, top_p=0.0, presence_penalty=1.5, stop=("Example 6", "Task:")
)
# The paper gives a batch without classification tasks 350 tokens; we ask per task.
GENERATION_INSTANCE_DECODING = Decoding(
    max_tokens=350, temperature=0.0, top_p=0.0, presence_penalty=1.5, stop=("Example 6", "Task:")
)


# Chat models answer "Yes." or "**Answer:** No" rather than one bare word: room for that.
CHAT_CLASSIFY_DECODING = Decoding(max_tokens=16, temperature=0.0, top_p=0.0, stop=("\n\n",))

# Alpaca's one request for 20 tasks (stanford_alpaca's generate_instruction.py).
ALPACA_DECODING = Decoding(max_tokens=3072, temperature=1.0, top_p=1.0, stop=("\n20", "20."))

# Above this, the cost of the machinery in flight (HTTP clients, tasks) is all a run buys.
MAX_CONCURRENCY = 1024

Api = Literal["completion", "chat"]


class RunSettings(BaseModel):
    """What every method's run needs: the model, the seed, and the operational limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    OPERATIONAL: ClassVar[frozenset[str]] = frozenset(
        {"n", "seeds_path", "concurrency", "timeout", "max_retries", "max_consecutive_failures",
         "max_cost", "max_total_tokens", "rpm", "tpm"}
    )  # fmt: skip

    method: str
    # Data settings.
    n: int = Field(gt=0)
    model: str
    base_url: str | None = None
    api: Api
    seed: int = 0

    # Operational settings: they change how fast and how far, never which data.
    concurrency: int = Field(default=8, ge=1, le=MAX_CONCURRENCY)
    timeout: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=6, ge=1)
    max_consecutive_failures: int = Field(default=25, ge=1)
    max_cost: float | None = Field(default=None, ge=0)
    max_total_tokens: int | None = Field(default=None, gt=0)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)

    @field_validator("timeout", "max_cost")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class InstructionRunSettings(RunSettings):
    """Methods that grow a pool of instructions from seed tasks, through the instruction gate."""

    seeds_path: str
    seeds_sha256: str
    threshold: float = Field(default=0.7, ge=0, le=1)
    tokenizer: Literal["rouge", "unicode"] = "rouge"
    blacklist: Literal["paper", "alpaca", "none"] = "paper"
    ascii_first_char: bool = True


class SelfInstructSettings(InstructionRunSettings):
    """Self-Instruct (Wang et al. 2022), with the reference implementation's parameters."""

    method: Literal["self-instruct"] = "self-instruct"
    prompt_instructions: int = 8
    machine_instructions: int = 2
    pool_lag: int = Field(
        default=64,
        ge=0,
        description="prompt k samples the machine pool as committed after answer "
        "k-1-min(pool_lag, k//2)",
    )
    classification_only: bool = False
    max_instances: int = 5
    instruction_decoding: Decoding = INSTRUCTION_DECODING
    classify_decoding: Decoding = CLASSIFY_DECODING
    classification_instance_decoding: Decoding = CLASSIFICATION_INSTANCE_DECODING
    generation_instance_decoding: Decoding = GENERATION_INSTANCE_DECODING


class AlpacaSettings(InstructionRunSettings):
    """Alpaca's one-pass variant (Taori et al. 2023): whole tasks in one request, seeds only."""

    method: Literal["alpaca"] = "alpaca"
    blacklist: Literal["paper", "alpaca", "none"] = "alpaca"
    prompt_instructions: int = Field(default=3, ge=1, le=10)
    tasks_per_request: int = Field(
        default=20, ge=5, le=40, description="the list the model is asked to continue to"
    )
    decoding: Decoding = ALPACA_DECODING


# The settings a run folder was written with, told apart by their ``method`` (a folder written
# before methods existed has none, and is Self-Instruct's).
SETTINGS_MODELS: dict[str, type[InstructionRunSettings]] = {
    "self-instruct": SelfInstructSettings,
    "alpaca": AlpacaSettings,
}
GenerateSettings = SelfInstructSettings


def default(model: type[BaseModel], name: str) -> Any:
    """A setting's default, for the command line's options."""
    return model.model_fields[name].default


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


SETTINGS_MODELS["judge"] = JudgeSettings  # type: ignore[assignment]


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


SETTINGS_MODELS["respond"] = RespondSettings  # type: ignore[assignment]
