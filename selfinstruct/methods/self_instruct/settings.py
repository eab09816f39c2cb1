"""Self-Instruct's settings: the reference implementation's parameters as defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.config import InstructionRunSettings

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
    max_instructions_per_answer: int | None = Field(
        default=None,
        ge=1,
        description="keep at most this many new instructions from one bootstrap answer (None: "
        "every item, as the reference, whose stop sequences end the list at item 15)",
    )
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
