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
# The rewrite: room for a rewritten instruction that carries a table or code (in-depth
# "complicate the input"). Completion models are stopped where they would open a new label.
# A completion model runs on past its answer into a new labelled block: stop it there.
COMPLETION_EVOLVE_STOP = ("\n#",)
COMPLETION_RESPONSE_STOP = ("\nRequest:",)
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
