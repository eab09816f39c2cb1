"""Run settings: the reference parameters as defaults, saved into the run folder.

What every method shares lives here; each method's own settings live in its package, and the
command line reads its defaults from those models.
Settings split in two: those that decide the data (model, seeds, decoding, filters, seed) and
operational ones (concurrency, budgets, timeouts: ``OPERATIONAL``). Resuming a run folder with
different data settings is refused unless explicitly allowed, since it would silently mix two
datasets.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from selfinstruct.errors import UserError
from selfinstruct.shards import Shard

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
    # Shard K/N of a run split over N processes (issue 25): which part of the work it does.
    shard: str | None = None

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

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(Shard.parse(value))
        except UserError as exc:
            raise ValueError(str(exc)) from None


class InstructionRunSettings(RunSettings):
    """Methods that grow a pool of instructions from seed tasks, through the instruction gate."""

    seeds_path: str
    seeds_sha256: str
    threshold: float = Field(default=0.7, ge=0, le=1)
    tokenizer: Literal["rouge", "unicode"] = "rouge"
    blacklist: Literal["paper", "alpaca", "none"] = "paper"
    ascii_first_char: bool = True


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


def seeds_fields(path: str | Path) -> dict[str, str]:
    """``seeds_path`` and ``seeds_sha256`` of a seed (or input) file; resuming compares the hash."""
    return {"seeds_path": str(path), "seeds_sha256": file_sha256(Path(path))}


def seeded(values: Mapping[str, Any]) -> dict[str, Any]:
    """Settings values with the seed file named, checked and hashed (default: the bundled one),
    for the methods that start from seed tasks."""
    from selfinstruct.records import load_seed_tasks
    from selfinstruct.resources import default_seed_path

    chosen = {k: v for k, v in values.items() if k != "seeds_path"}
    path = values.get("seeds_path") or default_seed_path()
    load_seed_tasks(path)
    return {**chosen, **seeds_fields(path)}
