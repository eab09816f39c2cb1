"""``export``: the one entry point that writes tasks in a format (the command line's and Python's).

It checks the options, then hands the work to the module that knows the format: the row shapes
and their files (:mod:`selfinstruct.export`), the hub folders and the upload
(:mod:`selfinstruct.hub`), or the tools method's call formats (:mod:`selfinstruct.export_tools`).
Those modules never import this one, so the data takes one way down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfinstruct import trainers
from selfinstruct.errors import UserError
from selfinstruct.export import (
    CONTAINERS,
    TOOL_FORMATS,
    ExportReport,
    _split,
    _write_files,
    _write_stdout,
    check_options,
    collect,
    split_paths,
)
from selfinstruct.export_tools import export_tools
from selfinstruct.hub import export_dataset
from selfinstruct.locking import exclusive_all
from selfinstruct.output_guard import check_output
from selfinstruct.resources import default_seed_path


def export(
    path: str | Path,
    fmt: str,
    *,
    output: str | Path | None = None,
    jsonl: bool = False,
    system: str | None = None,
    include_seeds: bool = False,
    seeds: str | Path | None = None,
    seed: int = 42,
    split: float | None = None,
    end_marker: str = "",
    pairs: str | None = None,
    rows: str | None = None,
    push_to_hub: str | None = None,
    public: bool = False,
) -> ExportReport:
    """Convert the tasks at ``path`` to ``fmt`` and write them (stdout when ``output`` is None).
    ``pairs``: which ranked pairs ``preference`` and ``trl-dpo`` write (default ``all``).
    ``hf`` and ``parquet`` write a dataset folder of ``rows``-shaped rows (default
    ``messages``) with its card, and ``push_to_hub`` uploads it (see :mod:`selfinstruct.hub`)."""
    check_options(fmt, output, split=split, include_seeds=include_seeds, system=system, pairs=pairs)
    if public and push_to_hub is None:
        raise UserError("--public applies to --push-to-hub only")
    if fmt in CONTAINERS or rows is not None or push_to_hub is not None:
        return export_dataset(
            path, fmt, output=output, rows=rows, system=system, seed=seed, split=split,
            pairs=pairs, push_to_hub=push_to_hub, public=public,
        )  # fmt: skip
    if fmt in trainers.LLAMAFACTORY_SHAPES and (output is None or str(output) == "-"):
        raise UserError(
            f"--format {fmt} writes {trainers.DATASET_INFO} beside the data: give -o FILE"
        )
    if fmt in TOOL_FORMATS:
        return export_tools(path, fmt, output, split, seed, system)
    to_stdout = output is None or str(output) == "-"
    if split is not None:
        targets = list(split_paths(output))  # type: ignore[arg-type]
    else:
        targets = [] if to_stdout else [Path(output)]  # type: ignore[arg-type]
    seed_path = (
        (Path(seeds) if seeds is not None else default_seed_path()) if include_seeds else None
    )
    info = (
        targets[0].with_name(trainers.DATASET_INFO) if fmt in trainers.LLAMAFACTORY_SHAPES else None
    )
    for target in [*targets, *([info] if info else [])]:
        check_output(target, "-o", [path, seed_path])
    # Locked before any work, so a second export to the same file is refused at once.
    locked = [(target, "-o") for target in [*targets, *([info] if info else [])]]
    with exclusive_all(locked):
        report = ExportReport()
        examples, rng = collect(
            path, fmt, system=system, seed_path=seed_path, seed=seed, end_marker=end_marker,
            pairs=pairs, report=report,
        )  # fmt: skip
        as_array = fmt == "alpaca" and not jsonl
        if not targets:
            report.written["-"] = _write_stdout([e.record for e in examples], as_array)
            _trainer_notes(fmt, None, report)
            return report
        sides = [examples] if split is None else list(_split(examples, split, rng))
        parts = [(t, [e.record for e in side]) for t, side in zip(targets, sides, strict=True)]
        extra = [] if info is None else [(info, _dataset_info_text(info, fmt, parts))]
        _write_files(parts, as_array, extra)
    for target, records in parts:
        report.written[str(target)] = len(records)
    _trainer_notes(fmt, targets, report)
    return report


def _dataset_info_text(info: Path, fmt: str, parts: list[tuple[Path, list[dict[str, Any]]]]) -> str:
    """LLaMA-Factory's dataset_info.json with an entry per written file (named by its stem),
    kept beside the entries it already holds."""
    known: dict[str, Any] = {}
    if info.is_file():
        try:
            known = json.loads(info.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{info}: invalid JSON ({exc}); fix or remove it") from None
        if not isinstance(known, dict):
            raise UserError(f"{info}: not a JSON object; fix or remove it")
    for target, records in parts:
        name = target.name[: -len(target.suffix)] if target.suffix else target.name
        system = any("system" in record for record in records)
        known[name] = trainers.llamafactory_entry(fmt, target.name, system)
    return json.dumps(known, ensure_ascii=False, indent=2) + "\n"


def _trainer_notes(fmt: str, targets: list[Path] | None, report: ExportReport) -> None:
    if fmt in ("axolotl-chat", "axolotl-alpaca"):
        report.notes.append("axolotl config:\n" + trainers.axolotl_yaml(fmt, targets))
