"""The dialogue methods' (chat, magpie) chat template and input files, as settings values.

The chat
template is resolved here, once, and saved in the settings: it decides every prompt, so a resume
with another template is refused like any other data setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Backend
from selfinstruct.config import file_sha256
from selfinstruct.errors import UserError
from selfinstruct.templates import ChatTemplate, resolve


def backend_template(backend: Backend, choice: str | None) -> ChatTemplate | None:
    """``--template`` if given; else, for an in-process GGUF model, the file's own template;
    else None (a chat API templates for itself)."""
    if choice is None and backend.api == "chat":
        return None
    model_path: Path | None = getattr(backend, "model_path", None)
    return resolve(choice, model_path)


def chat_values(
    backend: Backend,
    *,
    template: str | None = None,
    material: str | Path | None = None,
    openings: str | Path | None = None,
    entities: str | Path | None = None,
    sources: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The template, the sources and their files as settings values. Sources default to the
    paper's generated ones (world, writing), plus entities, material and openings when their
    files are given."""
    given = {"entities": entities, "material": material, "openings": openings}
    if sources is None:
        sources = ("world", "writing")
        sources += tuple(name for name, path in given.items() if path is not None)
    for name, path in given.items():
        if name in sources and path is None:
            raise UserError(f"source '{name}' needs --{name} FILE")
    files: dict[str, Any] = {}
    for name, value in given.items():
        if value is not None:
            path = Path(value)
            if not path.is_file():
                raise UserError(f"--{name} {path}: no such file")
            files[f"{name}_path"] = str(path)
            files[f"{name}_sha256"] = file_sha256(path)
    return {"template": backend_template(backend, template), "sources": sources, **files}
