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
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from selfinstruct.backends.base import Decoding
from selfinstruct.errors import UserError

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
    batch_round: int | None = Field(
        default=None,
        ge=1,
        description="batch mode: the bootstrap goes in rounds of this many prompts, each "
        "sampling the pool as it stood after the previous round (None: pool_lag decides)",
    )


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


# The settings a run folder was written with, told apart by their ``method`` (a folder written
# before methods existed has none, and is Self-Instruct's).
SETTINGS_MODELS: dict[str, type[RunSettings]] = {
    "self-instruct": SelfInstructSettings,
    "alpaca": AlpacaSettings,
}  # the other methods are added below their settings


M = TypeVar("M", bound=BaseModel)


def validated(settings_model: type[M], **values: Any) -> M:
    """Settings from command-line values; an invalid one is one line naming it."""
    try:
        return settings_model(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise UserError(f"invalid setting {name}={first.get('input')!r}: {first['msg']}") from None


def default(model: type[BaseModel], name: str) -> Any:
    """A setting's default, for the command line's options."""
    return model.model_fields[name].default


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Evol-Instruct's operations: five in-depth rewrites and the in-breadth one (Xu et al. 2023).
EVOLVE_OPERATIONS: tuple[str, ...] = (
    "constraints", "deepen", "concretize", "reasoning", "complicate-input", "breadth",
)  # fmt: skip
# The rewrite: room for a rewritten instruction that carries a table or code (in-depth
# "complicate the input"). Completion models are stopped where they would open a new label.
EVOLVE_DECODING = Decoding(max_tokens=1024, temperature=0.7, top_p=1.0)
EVOLVE_RESPONSE_DECODING = Decoding(max_tokens=1024, temperature=0.7, top_p=1.0)
# The equality check is one label: "Equal" or "Not Equal".
EVOLVE_JUDGE_DECODING = Decoding(max_tokens=8, temperature=0.0, top_p=1.0, stop=("\n",))


class EvolveSettings(InstructionRunSettings):
    """Evol-Instruct (Xu et al. 2023, WizardLM): rounds of in-depth and in-breadth rewrites,
    a response per rewrite, and the four elimination rules.

    ``seeds_path`` is the input set (``seeds_sha256`` its contents) and ``n`` how many of its
    instructions are evolved (``--limit``); the instruction gate's settings serve ``novelty``,
    an optional extra filter the paper does not have."""

    method: Literal["evolve"] = "evolve"
    rounds: int = Field(default=4, ge=1, le=100)
    operations: tuple[str, ...] = EVOLVE_OPERATIONS
    novelty: bool = False
    keep_inputs: bool = Field(
        default=True,
        description="write each input task (round 0) beside its evolutions, as the paper's "
        "data set holds the initial instructions too",
    )
    evolve_decoding: Decoding = EVOLVE_DECODING
    response_decoding: Decoding = EVOLVE_RESPONSE_DECODING
    judge_decoding: Decoding = EVOLVE_JUDGE_DECODING

    @field_validator("operations")
    @classmethod
    def _known_operations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [op for op in value if op not in EVOLVE_OPERATIONS]
        if unknown:
            raise ValueError(
                f"unknown operation {unknown[0]!r} (choose from {', '.join(EVOLVE_OPERATIONS)})"
            )
        if not value:
            raise ValueError("at least one operation is needed")
        return value


SETTINGS_MODELS["evolve"] = EvolveSettings
# ------------------------------------------------------------------ chat and magpie (issue 13)

from selfinstruct.templates import ChatTemplate  # noqa: E402 - appended section

# UltraChat (Ding et al. 2023) drew openings and replies from ChatGPT at its defaults.
OPENING_LIST_DECODING = Decoding(max_tokens=512, temperature=1.0, top_p=1.0)
USER_TURN_DECODING = Decoding(max_tokens=256, temperature=1.0, top_p=1.0)
ASSISTANT_TURN_DECODING = Decoding(max_tokens=512, temperature=0.7, top_p=1.0)
# Magpie (Xu et al. 2024): queries sampled at temperature 1, top_p 1; responses greedy.
MAGPIE_QUERY_DECODING = Decoding(max_tokens=256, temperature=1.0, top_p=1.0)
MAGPIE_RESPONSE_DECODING = Decoding(max_tokens=512, temperature=0.0, top_p=1.0)

ChatSource = Literal["world", "writing", "material", "openings"]


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
    turns_min: int = Field(default=3, ge=1, le=50)
    turns_max: int = Field(default=7, ge=1, le=50)
    sources: tuple[ChatSource, ...] = ("world", "writing")
    material_path: str | None = None
    material_sha256: str | None = None
    openings_path: str | None = None
    openings_sha256: str | None = None
    passage_words: int = Field(default=200, ge=20, description="words per material passage")
    regenerate_confused: bool = Field(
        default=True,
        description="a user turn that speaks as the assistant is asked for once more "
        "(another seed) before the dialogue ends early",
    )
    list_decoding: Decoding = OPENING_LIST_DECODING
    user_decoding: Decoding = USER_TURN_DECODING
    assistant_decoding: Decoding = ASSISTANT_TURN_DECODING


class MagpieSettings(DialogueGateSettings):
    """Magpie: queries sampled from the pre-query template alone, then answered."""

    method: Literal["magpie"] = "magpie"
    query_decoding: Decoding = MAGPIE_QUERY_DECODING
    response_decoding: Decoding = MAGPIE_RESPONSE_DECODING


SETTINGS_MODELS["chat"] = ChatSettings
SETTINGS_MODELS["magpie"] = MagpieSettings
# GLAN (Li et al. 2024). The paper gives top_p 0.95 and temperature 1.0 for subjects and 0.7 for
# answers; the taxonomy (reviewed by hand in the paper) is asked for greedily, and syllabi and
# questions share the subjects' sampling, since the paper gives no other figures for them.
GLAN_TAXONOMY_DECODING = Decoding(max_tokens=300, temperature=0.0, top_p=1.0)
GLAN_SUBJECT_DECODING = Decoding(max_tokens=700, temperature=1.0, top_p=0.95)
GLAN_SYLLABUS_DECODING = Decoding(max_tokens=900, temperature=1.0, top_p=0.95)
GLAN_QUESTION_DECODING = Decoding(max_tokens=300, temperature=1.0, top_p=0.95)
GLAN_ANSWER_DECODING = Decoding(max_tokens=1024, temperature=0.7, top_p=0.95)
GLAN_LEVELS = ("taxonomy", "subjects", "syllabus", "questions", "answers")


class GlanSettings(RunSettings):
    """GLAN: taxonomy -> subjects -> syllabi -> homework questions -> answers.

    ``n`` is the number of questions asked for in all (disciplines x subjects x questions);
    the sizes and ``until`` are operational: a later run with larger sizes, or without
    ``until``, extends the folder (see docs/glan.md for what extends exactly)."""

    OPERATIONAL: ClassVar[frozenset[str]] = RunSettings.OPERATIONAL | frozenset(
        {"disciplines", "subjects", "questions", "until"}
    )

    method: Literal["glan"] = "glan"
    taxonomy_path: str | None = None
    taxonomy_sha256: str | None = None
    disciplines: int = Field(default=3, ge=1)
    fields_asked: int = Field(default=10, ge=1, le=50, description="fields per taxonomy request")
    sub_fields_asked: int = Field(default=8, ge=1, le=50)
    disciplines_asked: int = Field(default=8, ge=1, le=50)
    subjects: int = Field(default=2, ge=1)
    subject_requests: int = Field(
        default=3, ge=1, le=20, description="subject lists asked per discipline, then merged"
    )
    sessions: int = Field(default=8, ge=1, le=40, description="class sessions asked per syllabus")
    questions: int = Field(default=4, ge=1, description="homework questions per subject")
    two_session_share: float = Field(default=0.5, ge=0, le=1)
    max_concepts: int = Field(default=3, ge=1, le=10, description="key concepts per question")
    answer_model: str | None = None
    threshold: float = Field(default=0.7, ge=0, le=1)
    tokenizer: Literal["rouge", "unicode"] = "rouge"
    decontaminate_path: str | None = None
    decontaminate_sha256: str | None = None
    decontaminate_ngram: int = Field(default=5, ge=1, le=50)
    decontaminate_threshold: float = Field(default=0.5, gt=0, le=1)
    until: Literal["taxonomy", "subjects", "syllabus", "questions", "answers"] = "answers"
    taxonomy_decoding: Decoding = GLAN_TAXONOMY_DECODING
    subject_decoding: Decoding = GLAN_SUBJECT_DECODING
    syllabus_decoding: Decoding = GLAN_SYLLABUS_DECODING
    question_decoding: Decoding = GLAN_QUESTION_DECODING
    answer_decoding: Decoding = GLAN_ANSWER_DECODING


SETTINGS_MODELS["glan"] = GlanSettings  # type: ignore[assignment]
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
    # With ``system`` on a completion endpoint: the chat template the system and user turns are
    # rendered with (None: ``system`` is a text prefix of the response template).
    template: ChatTemplate | None = None
    # ``compare`` scores with this model (None: the teacher), on this server (None: the
    # teacher's).
    judge_model: str | None = None
    judge_base_url: str | None = None


SETTINGS_MODELS["respond"] = RespondSettings  # type: ignore[assignment]
