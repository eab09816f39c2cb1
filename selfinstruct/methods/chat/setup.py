"""Settings for the dialogue methods (chat, magpie) from command-line choices and a backend.

Kept apart from the click commands so tests and Python callers make the same choices. The chat
template is resolved here, once, and saved in the settings: it decides every prompt, so a resume
with another template is refused like any other data setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Backend
from selfinstruct.config import ChatSettings, MagpieSettings, file_sha256, validated
from selfinstruct.errors import UserError
from selfinstruct.templates import ChatTemplate, resolve


def backend_template(backend: Backend, choice: str | None) -> ChatTemplate | None:
    """``--template`` if given; else, for an in-process GGUF model, the file's own template;
    else None (a chat API templates for itself)."""
    if choice is None and backend.api == "chat":
        return None
    model_path: Path | None = getattr(backend, "model_path", None)
    return resolve(choice, model_path)


def _common(n: int, backend: Backend, template: str | None) -> dict[str, Any]:
    return {
        "n": n,
        "model": backend.model,
        "base_url": backend.base_url,
        "api": backend.api,
        "template": backend_template(backend, template),
    }


def chat_settings(
    n: int,
    backend: Backend,
    *,
    template: str | None = None,
    material: Path | None = None,
    openings: Path | None = None,
    sources: tuple[str, ...] | None = None,
    **options: Any,
) -> ChatSettings:
    """Sources default to the paper's generated ones (world, writing), plus material and
    openings when their files are given."""
    if sources is None:
        sources = ("world", "writing")
        if material is not None:
            sources += ("material",)
        if openings is not None:
            sources += ("openings",)
    for name, path in (("material", material), ("openings", openings)):
        if name in sources and path is None:
            raise UserError(f"source '{name}' needs --{name} FILE")
    files: dict[str, Any] = {}
    for name, path in (("material", material), ("openings", openings)):
        if path is not None:
            if not path.is_file():
                raise UserError(f"--{name} {path}: no such file")
            files[f"{name}_path"] = str(path)
            files[f"{name}_sha256"] = file_sha256(path)
    chosen = {k: v for k, v in options.items() if v is not None}
    return validated(
        ChatSettings, **_common(n, backend, template), sources=sources, **files, **chosen
    )


def magpie_settings(
    n: int, backend: Backend, *, template: str | None = None, **options: Any
) -> MagpieSettings:
    from selfinstruct.methods.magpie import check_backend  # before anything is shown or written

    common = _common(n, backend, template)
    check_backend(backend.api, common["template"])
    chosen = {k: v for k, v in options.items() if v is not None}
    return validated(MagpieSettings, **common, **chosen)
