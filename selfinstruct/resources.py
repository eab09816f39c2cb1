"""Locate the prompt and seed files shipped with the package.

In a wheel they live inside the package (``selfinstruct/prompts``); in a source checkout or an
editable install they live at the repository root (``prompts/``), so both places are tried.
"""

from __future__ import annotations

from pathlib import Path

from selfinstruct.errors import UserError

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise UserError(f"the package's {name}/ folder is missing; reinstall selfinstruct")


def prompt_path(filename: str) -> Path:
    path = resource_dir("prompts") / filename
    if not path.is_file():
        raise UserError(f"prompt file {path} is missing; reinstall selfinstruct")
    return path


def default_seed_path() -> Path:
    return resource_dir("seeds") / "seed_tasks.jsonl"
