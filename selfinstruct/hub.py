"""Data sets as the Hub and ``datasets`` take them: ``--format hf`` / ``parquet``, the card,
``--push-to-hub``.

* ``hf``: a folder ``datasets.load_from_disk`` opens (``DatasetDict.save_to_disk``).
* ``parquet``: ``FOLDER/data/<split>.parquet``, the Hub's layout, which
  ``datasets.load_dataset("parquet", data_files=...)`` and the Hub's viewer open.

Both hold ``README.md``, the dataset card (:mod:`selfinstruct.card`). The folder is built in a
temporary folder beside the target and renamed over it only when whole. ``--push-to-hub
OWNER/NAME`` uploads the parquet folder with ``huggingface_hub`` (a private dataset repo unless
``public``); the token is huggingface_hub's own (``HF_TOKEN``, or a stored login), never
written or printed by this module.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from selfinstruct.card import MARKER, SplitFiles, render_card
from selfinstruct.errors import UserError
from selfinstruct.export import (
    CONTAINERS,
    ROW_SHAPES,
    ExportReport,
    _split,
    collect,
)
from selfinstruct.locking import exclusive_all
from selfinstruct.output_guard import check_output
from selfinstruct.store import settings_file

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def _need(module: str, what: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise UserError(f"{what} needs the hub extra: pip install 'selfinstruct[hub]'") from None


def _check_target(target: Path, source: str | Path) -> None:
    """Refuse a folder that is the input, holds it, or holds something else."""
    check_output(target, "-o", [source])
    if str(source) != "-":
        src = Path(source).resolve()
        if target.resolve() == src or target.resolve() in src.parents:
            raise UserError(f"{target} holds the input {source}: choose another -o")
    if target.is_file():
        raise UserError(
            f"{target} is a file; --format hf/parquet writes a folder: choose another -o"
        )
    if target.is_dir() and any(target.iterdir()):
        card = target / "README.md"
        ours = card.is_file() and MARKER in card.read_text(encoding="utf-8", errors="replace")
        if settings_file(target).is_file() or not ours:
            raise UserError(
                f"{target} exists and is not a data set written by export: choose another -o"
            )


def _write_folder(
    folder: Path, fmt: str, sides: dict[str, list[dict[str, Any]]]
) -> list[SplitFiles]:
    import datasets

    datasets.disable_progress_bars()
    data = {name: datasets.Dataset.from_list(rows) for name, rows in sides.items()}
    if fmt == "hf":
        datasets.DatasetDict(data).save_to_disk(str(folder))
        return [SplitFiles(n, f"{n}/data-*.arrow", len(r)) for n, r in sides.items()]
    (folder / "data").mkdir(parents=True)
    for name, dataset in data.items():
        dataset.to_parquet(str(folder / "data" / f"{name}.parquet"))
    return [SplitFiles(n, f"data/{n}.parquet", len(r)) for n, r in sides.items()]


def _replace(temp: Path, target: Path) -> None:
    """Put the finished ``temp`` folder at ``target`` (the old one removed only after)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(temp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_dataset(
    path: str | Path,
    fmt: str,
    *,
    output: str | Path | None,
    rows: str | None,
    system: str | None,
    seed: int,
    split: float | None,
    pairs: str | None,
    push_to_hub: str | None,
    public: bool,
) -> ExportReport:
    """Write the data set folder of ``path`` (and upload it); see the module docstring."""
    if fmt not in CONTAINERS:
        if push_to_hub is not None:
            raise UserError("--push-to-hub uploads parquet files: add --format parquet")
        raise UserError("--rows applies to --format hf and parquet only")
    if push_to_hub is not None and fmt != "parquet":
        raise UserError("--push-to-hub uploads parquet files: use --format parquet")
    shape = rows or "messages"
    if shape not in ROW_SHAPES:
        raise UserError(f"unknown --rows {shape!r}; choose one of {', '.join(ROW_SHAPES)}")
    if push_to_hub is not None and not REPO_ID.match(push_to_hub):
        raise UserError(f"--push-to-hub {push_to_hub!r}: give OWNER/NAME")
    _need("datasets", f"--format {fmt}")
    if push_to_hub is not None:
        _need("huggingface_hub", "--push-to-hub")
    if (output is None or str(output) == "-") and push_to_hub is None:
        raise UserError(f"--format {fmt} writes a folder: give -o FOLDER")
    keep = output is not None and str(output) != "-"
    base = Path(output) if keep else Path(tempfile.mkdtemp(prefix="selfinstruct-hub-"))  # type: ignore[arg-type]
    target = base if keep else base / "dataset"
    if keep:
        _check_target(target, path)
    title = push_to_hub.split("/")[1] if push_to_hub else target.name
    report = ExportReport()
    try:
        with exclusive_all([(target, "-o")] if keep else []):
            examples, rng = collect(
                path, shape, system=system, seed=seed, pairs=pairs, report=report
            )
            if not examples:
                raise UserError(f"{path}: no rows to export as {shape}")
            if split is None:
                parts = {"train": examples}
            else:
                train, validation = _split(examples, split, rng)
                parts = {"train": train, "validation": validation}
            sides = {name: [e.record for e in side] for name, side in parts.items() if side}
            temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp",
                                         dir=target.parent))  # fmt: skip
            try:
                files = _write_folder(temp / "data-set", fmt, sides)
                card = render_card(
                    path, shape=shape, splits=files, title=title, skipped=dict(report.skipped)
                )
                (temp / "data-set" / "README.md").write_text(card, encoding="utf-8")
                _replace(temp / "data-set", target)
            finally:
                shutil.rmtree(temp, ignore_errors=True)
            if keep:
                for item in files:
                    report.written[str(target / item.path)] = item.rows
                report.notes.append(f"wrote the dataset card {target / 'README.md'}")
            if push_to_hub is not None:
                url = push(target, push_to_hub, private=not public)
                visibility = "public" if public else "private"
                report.notes.append(f"uploaded to {url} ({visibility})")
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    return report


def push(folder: Path, repo_id: str, *, private: bool) -> str:
    """Upload ``folder`` to the dataset repo ``repo_id`` (created if missing); its address."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError

    failures: tuple[type[BaseException], ...] = (HfHubHTTPError, OSError)
    try:
        import httpx

        failures += (httpx.HTTPError,)
    except ImportError:  # an older huggingface_hub, on requests (its errors are OSErrors)
        pass

    token = get_token()
    if token is None:
        raise UserError(
            "--push-to-hub needs a Hugging Face write token: set HF_TOKEN or run `hf auth login`"
        )
    api = HfApi(token=token)
    try:
        repo = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message="Upload data set written by selfinstruct export",
        )
    except failures as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise UserError(f"--push-to-hub {repo_id}: {first.replace(token, '***')}") from None
    return str(repo)
