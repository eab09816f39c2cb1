"""Shared test helpers: run a method on a backend through the library's entry point."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from fakes import FakeBackend

from selfinstruct import registry
from selfinstruct.backends.base import Backend
from selfinstruct.client import RetryPolicy
from selfinstruct.resources import default_seed_path
from selfinstruct.runner import run
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
    chosen = {k: v for k, v in options.items() if v is not None}
    settings = registry.get(method).configure(
        backend, n=n, seeds_path=seeds_file or default_seed_path(), seed=seed,
        concurrency=concurrency, **chosen,
    )  # fmt: skip
    return run(settings, backend, out, retry=retry), backend


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def records(path: Path) -> list[dict]:
    """Every line must be one whole JSON object."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_until(command: list[str], out: Path, name: str, at_least: int, sig: int) -> int | None:
    """Start the command; send ``sig`` once ``name``.jsonl holds ``at_least`` lines."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if count_lines(out / f"{name}.jsonl") >= at_least:
                process.send_signal(sig)
                break
            time.sleep(0.002)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode


def kill_at(command: list[str], out: Path, points: tuple[tuple[str, int], ...]) -> int:
    """Run ``command`` once per point, kill -9 it when ``name``.jsonl holds ``at_least``
    lines; returns how many runs were really killed (a run may finish first)."""
    kills = 0
    for name, at_least in points:
        kills += run_until(command, out, name, at_least, signal.SIGKILL) == -signal.SIGKILL
    return kills
