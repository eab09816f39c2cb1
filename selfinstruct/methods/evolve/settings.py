"""Evol-Instruct's settings (Xu et al. 2023)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from selfinstruct.backends.base import Decoding
from selfinstruct.config import InstructionRunSettings

# Evol-Instruct's operations: five in-depth rewrites and the in-breadth one (Xu et al. 2023).
EVOLVE_OPERATIONS: tuple[str, ...] = (
    "constraints", "deepen", "concretize", "reasoning", "complicate-input", "breadth",
)  # fmt: skip
# A completion model runs on past its answer into a new labelled block: stop it there.
COMPLETION_EVOLVE_STOP = ("\n#",)
COMPLETION_RESPONSE_STOP = ("\nRequest:",)
# The reference code (WizardLM's Evol_Instruct, openai_access.py) makes every call with these
# (the paper gives none), and with the system message below.
EVOLVE_DECODING = Decoding(max_tokens=2048, temperature=1.0, top_p=0.95)
EVOLVE_RESPONSE_DECODING = Decoding(max_tokens=2048, temperature=1.0, top_p=0.95)
REFERENCE_SYSTEM = "You are a helpful assistant."
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
    system: str | None = Field(
        default=REFERENCE_SYSTEM,
        description="system message of every call on a chat API (None: none); a completion "
        "model gets the prompt alone",
    )
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
