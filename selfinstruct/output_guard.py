"""Where a command may write a file: never over one of its inputs, never into a run folder.

``export -o IN`` would replace the file it reads; ``export RUN -o RUN/tasks.jsonl`` would
replace a run's own data with another format (and a resumed run would then append its tasks
again). A run folder (a folder holding ``settings.json``) is written by its run alone, so a
command writing a file (``export``, ``filter``) calls :func:`check_output` for each file
before it locks or writes anything; ``merge`` calls :func:`check_output_folder` for its folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from selfinstruct.errors import UserError
from selfinstruct.store import BATCH_DIR, settings_file, tasks_file


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same path, or through a symlink or a hard
    link (only an existing file can be a hard link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def run_folder_of(path: Path) -> Path | None:
    """The run folder that writing ``path`` would write into (its batch folder too), or None."""
    parent = path.resolve().parent
    folders = [parent, parent.parent] if parent.name == BATCH_DIR else [parent]
    for folder in folders:
        if settings_file(folder).is_file():
            return folder
    return None


def input_files(path: str | Path | None) -> list[Path]:
    """The files an input argument reads: a run folder's data, a file, nothing for stdin."""
    if path is None or str(path) == "-":
        return []
    source = Path(path)
    return [tasks_file(source)] if source.is_dir() else [source]


def check_output(
    output: str | Path,
    option: str,
    inputs: Iterable[str | Path | None],
    what: str = "the output",
) -> None:
    """Refuse ``output`` (given by ``option``) when it is one of ``inputs`` or inside a run
    folder: one line naming the option to change. Stdout (``-``) is always allowed."""
    if str(output) == "-":
        return
    target = Path(output)
    for source in inputs:
        if any(same_file(target, file) for file in input_files(source)):
            raise UserError(f"{what} would overwrite the input: choose another {option}")
    folder = run_folder_of(target)
    if folder is not None:
        shown = Path(os.path.relpath(folder)) if not target.is_absolute() else folder
        raise UserError(
            f"{output} is inside the run folder {shown} (it holds settings.json): "
            f"choose another {option} outside it"
        )


def check_output_folder(output: str | Path, option: str, inputs: Iterable[str | Path]) -> None:
    """Refuse an output folder (``merge``'s OUT) that is one of the input folders, inside one,
    or inside another run folder: one line naming the option to change."""
    target = Path(output)
    for source in inputs:
        folder = Path(source)
        if target.resolve() == folder.resolve() or (
            target.exists() and folder.exists() and same_file(target, folder)
        ):
            raise UserError(f"{option} {output} is the input {source}: choose another {option}")
        if folder.resolve() in target.resolve().parents:
            raise UserError(
                f"{option} {output} is inside the input {source}: choose another {option}"
            )
    folder = run_folder_of(target)
    if folder is not None:
        raise UserError(
            f"{option} {output} is inside the run folder {folder} (it holds settings.json): "
            f"choose another {option} outside it"
        )
