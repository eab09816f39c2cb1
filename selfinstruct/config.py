"""Run settings: the reference parameters as defaults, saved into the run folder.

Settings split in two: those that decide the data (model, seeds, decoding, filters, seed) and
operational ones (concurrency, budgets, timeouts). Resuming a run folder with different data
settings is refused unless explicitly allowed, since it would silently mix two datasets.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from selfinstruct.backends.base import Decoding
from selfinstruct.errors import UserError

SETTINGS_FILE = "settings.json"

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


class GenerateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Data settings.
    n: int = Field(gt=0)
    model: str
    base_url: str | None = None
    api: Literal["completion", "chat"]
    seeds_path: str
    seeds_sha256: str
    seed: int = 0
    prompt_instructions: int = 8
    machine_instructions: int = 2
    pool_lag: int = Field(
        default=64,
        ge=0,
        description="prompt k samples the machine pool as committed after response k-1-pool_lag",
    )
    classification_only: bool = False
    threshold: float = 0.7
    tokenizer: Literal["rouge", "unicode"] = "rouge"
    blacklist: Literal["paper", "alpaca", "none"] = "paper"
    ascii_first_char: bool = True
    max_instances: int = 5
    instruction_decoding: Decoding = INSTRUCTION_DECODING
    classify_decoding: Decoding = CLASSIFY_DECODING
    classification_instance_decoding: Decoding = CLASSIFICATION_INSTANCE_DECODING
    generation_instance_decoding: Decoding = GENERATION_INSTANCE_DECODING

    # Operational settings: they change how fast and how far, never which data.
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 6
    max_consecutive_failures: int = 25
    max_cost: float | None = None
    max_total_tokens: int | None = None
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


OPERATIONAL = frozenset(
    {"n", "seeds_path", "concurrency", "timeout", "max_retries", "max_consecutive_failures", "max_cost",
     "max_total_tokens", "rpm", "tpm"}
)  # fmt: skip


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_settings(run_dir: Path, settings: GenerateSettings) -> None:
    path = run_dir / SETTINGS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_settings(run_dir: Path) -> GenerateSettings | None:
    path = run_dir / SETTINGS_FILE
    if not path.exists():
        return None
    try:
        return GenerateSettings.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        raise UserError(f"{path}: unreadable run settings ({exc.__class__.__name__})") from None


def data_differences(old: GenerateSettings, new: GenerateSettings) -> list[str]:
    """Names of the data settings that differ between a saved run and a new invocation."""
    before: dict[str, Any] = old.model_dump(mode="json")
    after: dict[str, Any] = new.model_dump(mode="json")
    return [key for key in after if key not in OPERATIONAL and before.get(key) != after[key]]
