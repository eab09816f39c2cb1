"""Running a recipe (:mod:`selfinstruct.recipe`) on the Python API, step after step.

Each method step is a run folder ``FOLDER/NAME/``, resumed when it exists; one whose
``summary.json`` says complete, with the same data settings, is skipped without replaying it.
A filter step writes ``FOLDER/NAME.jsonl`` (and ``NAME.rejected.jsonl``), an export step its
output file; each reruns only when its output is missing or its input or options changed (a
fingerprint in ``FOLDER/.recipe/NAME.json``, written after the output). The recipe stops at the
first method step that does not complete (a budget, Ctrl-C, a stall): running it again resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct import api
from selfinstruct.config import RunSettings
from selfinstruct.errors import UserError
from selfinstruct.recipe import Recipe, Step, input_setting
from selfinstruct.store import load_settings_file, summary_file, tasks_file
from selfinstruct.summary import RunResult, StopKind

STATE_DIR = ".recipe"


@dataclass(frozen=True)
class StepOutcome:
    """What one step did: ``ran`` or ``skipped``; a method step's run result when it ran."""

    step: Step
    output: Path
    action: str
    result: RunResult | None = None
    detail: str = ""

    @property
    def complete(self) -> bool:
        return self.result is None or self.result.stop is StopKind.COMPLETE


def output_of(recipe: Recipe, step: Step) -> Path:
    """Where a step writes: a run folder, the filter's JSONL, or the export's file."""
    if step.kind == "filter":
        return recipe.folder / f"{step.name}.jsonl"
    if step.kind == "export":
        if "output" in step.options:
            return recipe.folder / step.options["output"]
        fmt = step.options["format"]
        if fmt in ("hf", "parquet"):
            return recipe.folder / step.name
        single = fmt == "alpaca" and not step.options.get("jsonl")
        return recipe.folder / f"{step.name}.{'json' if single else 'jsonl'}"
    return recipe.folder / step.name


def run_recipe(
    recipe: Recipe,
    *,
    on_step: Callable[[StepOutcome], None] | None = None,
    on_start: Callable[[Step], None] | None = None,
    run_options: dict[str, Any] | None = None,
) -> list[StepOutcome]:
    """Run every step in order; stop after a method step that did not complete."""
    recipe.folder.mkdir(parents=True, exist_ok=True)
    outcomes: list[StepOutcome] = []
    for step in recipe.steps:
        if on_start is not None:
            on_start(step)
        if step.kind == "filter":
            outcome = _filter(recipe, step)
        elif step.kind == "export":
            outcome = _export(recipe, step)
        else:
            outcome = _method(recipe, step, run_options or {})
        outcomes.append(outcome)
        if on_step is not None:
            on_step(outcome)
        if not outcome.complete:
            break
    return outcomes


def _source(recipe: Recipe, path: Path | None, source: str | None) -> Path | None:
    if source is None:
        return path
    return output_of(recipe, recipe.step(source))


def _tasks_path(path: Path) -> Path:
    """A run folder's data file, or the file itself."""
    return tasks_file(path) if path.is_dir() else path


def _method(recipe: Recipe, step: Step, run_options: dict[str, Any]) -> StepOutcome:
    options = dict(step.options)
    overrides = options.pop("decoding_overrides", ())
    source = _source(recipe, step.input, step.source)
    if source is not None:
        options[input_setting(step.kind) or "input_path"] = str(source)
    model = recipe.model
    backend = api.backend(
        model.get("model"), base_url=model.get("base_url"), api=model.get("api", "auto"),
        model_path=model.get("model_path"),
        timeout=options.get("timeout", 120.0), concurrency=options.get("concurrency", 8),
    )  # fmt: skip
    settings = api.settings(step.kind, backend, decoding=overrides, **options)
    out = output_of(recipe, step)
    if _finished(out, settings):
        return StepOutcome(step, out, "skipped", detail="complete")
    result = api.run(settings, backend, out, **run_options)
    return StepOutcome(step, out, "ran", result)


def _finished(folder: Path, settings: RunSettings) -> bool:
    """The folder holds a complete run of these data settings, of at least this ``n``."""
    try:
        summary = json.loads(summary_file(folder).read_text(encoding="utf-8"))
        saved = load_settings_file(folder, type(settings))
    except (OSError, ValueError, UserError):
        return False
    if saved is None or summary.get("status") != "complete" or saved.n < settings.n:
        return False
    before, after = saved.model_dump(mode="json"), settings.model_dump(mode="json")
    return all(before.get(k) == v for k, v in after.items() if k not in settings.OPERATIONAL)


def _fingerprint(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            digest.update(part.read_bytes() if part.is_file() else b"-")
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _state(recipe: Recipe, step: Step) -> Path:
    return recipe.folder / STATE_DIR / f"{step.name}.json"


def _up_to_date(recipe: Recipe, step: Step, output: Path, fingerprint: str) -> bool:
    try:
        saved = json.loads(_state(recipe, step).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return output.exists() and saved.get("fingerprint") == fingerprint


def _remember(recipe: Recipe, step: Step, fingerprint: str) -> None:
    path = _state(recipe, step)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _filter(recipe: Recipe, step: Step) -> StepOutcome:
    source = _tasks_path(_source(recipe, step.input, step.source))  # type: ignore[arg-type]
    against = _source(recipe, step.against, step.against_source)
    against = _tasks_path(against) if against is not None else None
    output = output_of(recipe, step)
    fingerprint = _fingerprint(step.kind, step.options, source, against)
    if _up_to_date(recipe, step, output, fingerprint):
        return StepOutcome(step, output, "skipped", detail="up to date")
    report = api.filter_tasks(source, output, against=against, **step.options)
    _remember(recipe, step, fingerprint)
    return StepOutcome(step, output, "ran", detail=f"kept {report.kept} of {report.read}")


def _export(recipe: Recipe, step: Step) -> StepOutcome:
    source = _source(recipe, step.input, step.source)
    assert source is not None  # checked when the recipe was loaded
    options = {k: v for k, v in step.options.items() if k not in ("format", "output")}
    output = output_of(recipe, step)
    fingerprint = _fingerprint(step.kind, step.options, _tasks_path(source))
    if _up_to_date(recipe, step, output, fingerprint):
        return StepOutcome(step, output, "skipped", detail="up to date")
    api.export_tasks(source, step.options["format"], output=output, **options)
    _remember(recipe, step, fingerprint)
    return StepOutcome(step, output, "ran", detail=f"wrote {output}")
