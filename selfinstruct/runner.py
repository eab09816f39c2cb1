"""Running a method: the library's entry point, shared by the command line and Python.

:func:`run` checks the run folder against the settings (nothing is written before the run really
starts), builds the method from the registry (which validates its inputs), takes the folder, and
runs the method on the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selfinstruct import aio, registry
from selfinstruct.backends.base import Backend
from selfinstruct.client import RetryPolicy
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine, Progress
from selfinstruct.errors import UserError
from selfinstruct.store import RunFolder
from selfinstruct.summary import RunResult


def run(
    settings: RunSettings,
    backend: Backend,
    out: str | Path,
    *,
    allow_changes: bool = False,
    on_resume: Callable[[], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    price: tuple[float, float] | None = None,
    retry: RetryPolicy | None = None,
) -> RunResult:
    """Run ``settings`` on ``backend`` into the run folder ``out`` (resumed if it exists)."""
    kind = registry.get(settings.method)
    if getattr(settings, "shard", None) is not None and not kind.shardable:
        raise UserError(f"method {kind.name!r} does not split its work: run it without --shard")
    folder = RunFolder(Path(out), logs=kind.logs)
    previous = folder.check(settings, allow_changes, settings.OPERATIONAL)
    method = kind.create(settings, backend.api)
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
            settings, backend, folder, method=kind.name, target=settings.n,
            on_progress=on_progress, price=price, retry=retry, section=kind.report,
        )  # fmt: skip
    except BaseException:
        folder.close()
        raise
    return aio.run(engine.run(method))
