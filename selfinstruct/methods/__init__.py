"""The methods, each a small module that reads like its paper, and the one way to run them.

:func:`run` is the library's entry point: it checks the run folder against the settings (nothing
is written before the run really starts), builds the method (which validates its inputs), takes
the folder, and runs the method on the engine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from selfinstruct import aio
from selfinstruct.backends.base import Backend
from selfinstruct.client import RetryPolicy
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine, Progress
from selfinstruct.errors import UserError
from selfinstruct.store import RunFolder
from selfinstruct.summary import RunResult


class Method(Protocol):
    """A method: built (and its inputs validated) by its module's ``create(settings, api)``;
    called with the engine, it runs its stages and returns how many items it accepted."""

    name: str

    async def __call__(self, engine: Engine) -> int: ...


# Method name -> the module of selfinstruct.methods that defines ``create(settings, api)``.
METHODS: dict[str, str] = {
    "self-instruct": "self_instruct",
    "alpaca": "alpaca",
    "evolve": "evolve",
    "chat": "chat",
    "magpie": "magpie",
    "glan": "glan",
    "judge": "judge",
    "respond": "respond",
}


def build_method(settings: RunSettings, api: str) -> Method:
    if settings.method not in METHODS:
        raise UserError(f"unknown method {settings.method!r}")
    module = importlib.import_module(f"selfinstruct.methods.{METHODS[settings.method]}")
    method: Method = module.create(settings, api)
    return method


def run(
    settings: RunSettings,
    backend: Backend,
    out: Path,
    *,
    allow_changes: bool = False,
    on_resume: Callable[[], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    price: tuple[float, float] | None = None,
    retry: RetryPolicy | None = None,
) -> RunResult:
    folder = RunFolder(out)
    previous = folder.check(settings, allow_changes, settings.OPERATIONAL)
    method = build_method(settings, backend.api)
    # settings.json keeps the largest --n the folder was asked for; a smaller --n on a resume
    # neither shrinks the data nor rewrites the record of what was asked.
    saved = settings
    if previous is not None and previous.n > settings.n:
        saved = settings.model_copy(update={"n": previous.n})
    folder.open(saved)
    try:
        if previous is not None and on_resume is not None:
            on_resume()
        engine = Engine(
            settings, backend, folder, method=settings.method, target=settings.n,
            on_progress=on_progress, price=price, retry=retry,
        )  # fmt: skip
    except BaseException:
        folder.close()
        raise
    return aio.run(engine.run(method))
