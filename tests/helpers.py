"""Shared test helpers: run a method on a backend through the library's entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakes import FakeBackend

from selfinstruct.backends.base import Backend
from selfinstruct.client import RetryPolicy
from selfinstruct.generate import build_settings
from selfinstruct.methods import run
from selfinstruct.resources import default_seed_path
from selfinstruct.summary import RunResult


def run_generate(
    out: Path,
    n: int,
    *,
    backend: Backend | None = None,
    method: str = "self-instruct",
    seed: int = 0,
    concurrency: int = 4,
    seeds_file: Path | None = None,
    retry: RetryPolicy | None = None,
    **options: Any,
) -> tuple[RunResult, Any]:
    backend = backend or FakeBackend()
    settings = build_settings(
        n=n, backend=backend, seeds_file=seeds_file or default_seed_path(), method=method,
        seed=seed, concurrency=concurrency, **options,
    )  # fmt: skip
    return run(settings, backend, out, retry=retry), backend


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
