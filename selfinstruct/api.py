"""The library from Python: the same steps the command line takes, with the same checks.

    import selfinstruct as si

    model = si.backend()                                   # the bundled model, in-process
    run = si.run(si.settings("self-instruct", model, n=20), model, "data/py")
    answered = si.run(si.settings("respond", model, input_path=run.folder), model, "data/py-r")
    si.filter_tasks(answered.folder / "tasks.jsonl", "data/clean.jsonl")
    si.export_tasks("data/clean.jsonl", "alpaca", output="data/train.json")

Every function raises :class:`UserError` (one line naming the problem) on bad input, as the
command line does before it exits with status 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfinstruct import registry
from selfinstruct.backends.base import Backend
from selfinstruct.backends.factory import build_backend
from selfinstruct.config import RunSettings
from selfinstruct.export import ExportReport
from selfinstruct.exporting import export as _export
from selfinstruct.filtering import FilterOptions, FilterReport, run_filter
from selfinstruct.runner import run
from selfinstruct.stats import StatsResult, compute_stats

__all__ = ["backend", "export_tasks", "filter_tasks", "run", "settings", "task_stats"]


def backend(
    model: str | None = None,
    *,
    base_url: str | Sequence[str] | None = None,
    api_key: str | None = None,
    api: str = "auto",
    model_path: str | Path | None = None,
    timeout: float = 120.0,
    concurrency: int = 8,
) -> Backend:
    """The model a run talks to: the bundled one (no arguments), a GGUF file in-process
    (``model_path``), or an OpenAI-compatible server (``model`` and ``base_url``; several URLs
    spread the load). Nothing is loaded or contacted until a run starts."""
    return build_backend(
        model=model, base_url=base_url, api_key=api_key, api=api,
        model_path=Path(model_path) if model_path is not None else None,
        timeout=timeout, concurrency=concurrency,
    )  # fmt: skip


def settings(
    method: str, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
) -> RunSettings:
    """Validated settings of ``method`` for a run on ``backend``: ``values`` are the settings
    fields (the method's reference defaults fill the rest), ``decoding`` the
    ``STAGE.PARAM=VALUE`` overrides of ``--decoding``."""
    return registry.get(method).configure(backend, decoding=decoding, **values)


def filter_tasks(
    source: str | Path,
    output: str | Path,
    *,
    rejects: str | Path | None = None,
    against: str | Path | None = None,
    **options: Any,
) -> FilterReport:
    """``selfinstruct filter``: the instruction and instance rules and ROUGE-L novelty, in input
    order. ``options`` are :class:`FilterOptions` fields (threshold, tokenizer, ...)."""
    if rejects is None:
        rejects = str(output).removesuffix(".jsonl") + ".rejected.jsonl"
    return run_filter(
        str(source), str(output), Path(rejects), FilterOptions(**options),
        str(against) if against is not None else None,
    )  # fmt: skip


def export_tasks(source: str | Path, fmt: str, **options: Any) -> ExportReport:
    """``selfinstruct export``: tasks (a file or a run folder) in a trainer's format."""
    return _export(source, fmt, **options)


def task_stats(source: str | Path, **options: Any) -> StatsResult:
    """``selfinstruct stats``: counts, lengths, ROUGE-L to the seeds, verbs and the method's
    own section."""
    return compute_stats(source, **options)
