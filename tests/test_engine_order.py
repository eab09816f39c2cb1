"""The ordered loop's timing and failures: answers are committed in request order, and a request that
committing frees a slot for is sent while the rest of a wave of answers is still being
committed, not after it (a wave of 64 answers takes tens of milliseconds to commit, and every
request held back that long lowers the rate)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import lines

from selfinstruct.backends.base import Backend, BackendError, Completion, Decoding, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.store import RunFolder
from selfinstruct.summary import StopKind

WAVE = 8


class WaveBackend(Backend):
    """Answers the first WAVE requests together, once all of them have arrived; later ones at
    once. Records when each request reaches it, among the engine's commits."""

    def __init__(self, events: list[str]) -> None:
        self.model = "wave"
        self.api = "completion"
        self.base_url = "http://wave.invalid/v1"
        self.max_concurrency = WAVE
        self.events = events
        self._first_wave = asyncio.Event()
        self._arrived = 0

    async def complete(self, request: Request, text: str) -> Completion:
        self.events.append(f"send {text}")
        self._arrived += 1
        if self._arrived == WAVE:
            self._first_wave.set()
        if self._arrived <= WAVE:
            await self._first_wave.wait()
        return Completion(text=f"answer {text}", finish_reason="stop")


def test_a_freed_slot_is_used_before_the_rest_of_the_wave_is_committed(tmp_path: Path) -> None:
    events: list[str] = []
    settings = RunSettings(method="test", n=1, model="wave", api="completion", concurrency=WAVE)
    folder = RunFolder(tmp_path / "run")
    folder.open(settings)
    backend = WaveBackend(events)
    engine = Engine(settings, backend, folder, method="alpaca", target=1)
    decoding = Decoding(max_tokens=16, temperature=0.0, top_p=1.0)
    total = 2 * WAVE

    def commit(k: int, answer: object) -> bool:
        events.append(f"commit {k}")
        return True

    async def body(engine: Engine) -> int:
        committed: list[int] = []
        await engine.in_order(
            "instructions",
            lambda k: Request("instructions", str(k), decoding),
            lambda k, answer: (committed.append(k), commit(k, answer))[1],
            wanted=lambda: len(committed) < total,
            lag=lambda k: k,
        )
        return len(committed)

    asyncio.run(engine.run(body))
    assert [e for e in events if e.startswith("commit")] == [f"commit {k}" for k in range(total)]
    # Request WAVE takes the slot that answer 0 freed: it is sent before answer WAVE - 1 (the
    # last of the first wave) is committed.
    assert events.index(f"send {WAVE}") < events.index(f"commit {WAVE - 1}"), events


class FailingOnce(Backend):
    """Answers every request with its text, except request ``bad`` in the first session: it
    fails with ``kind`` (``server``: the server was down; ``bad_request``: refused as such)."""

    def __init__(self, bad: str | None = None, kind: str = "server") -> None:
        self.model = "once"
        self.api = "completion"
        self.base_url = "http://once.invalid/v1"
        self.max_concurrency = 4
        self.bad, self.kind = bad, kind
        self.asked: list[str] = []

    async def complete(self, request: Request, text: str) -> Completion:
        self.asked.append(text)
        if text == self.bad:
            raise BackendError(self.kind, "injected")  # type: ignore[arg-type]
        return Completion(text=f"answer {text}", finish_reason="stop")


def run_numbers(out: Path, backend: Backend, lag: Callable[[int], int]) -> StopKind:
    """Twelve numbered requests in order, each answer written as task ``t<k>``."""
    settings = RunSettings(method="test", n=1, model="once", api="completion", concurrency=4,
                           max_retries=1)  # fmt: skip
    folder = RunFolder(out)
    folder.open(settings)
    engine = Engine(settings, backend, folder, method="test", target=12)
    decoding = Decoding(max_tokens=16, temperature=0.0, top_p=1.0)

    def commit(k: int, answer: Answer | None) -> bool:
        text = None if answer is None else answer.completion.text
        engine.write("tasks", {"id": f"t{k}", "answer": text})
        return True

    async def body(engine: Engine) -> int:
        await engine.in_order("numbers", lambda k: Request("numbers", str(k), decoding), commit,
                              wanted=lambda: True, lag=lag, count=12)  # fmt: skip
        return 12

    return asyncio.run(engine.run(body)).stop


def test_a_request_lost_to_an_outage_stops_the_run_and_the_resume_asks_it(tmp_path: Path):
    straight = tmp_path / "straight"
    assert run_numbers(straight, FailingOnce(), lambda k: k) is StopKind.COMPLETE
    out = tmp_path / "out"
    assert run_numbers(out, FailingOnce("5"), lambda k: k) is StopKind.FAILED
    assert [r["id"] for r in lines(out / "tasks.jsonl")] == ["t0", "t1", "t2", "t3", "t4"]
    again = FailingOnce()
    assert run_numbers(out, again, lambda k: k) is StopKind.COMPLETE
    assert "5" in again.asked
    assert (out / "tasks.jsonl").read_bytes() == (straight / "tasks.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("kind", "lag"),
    [("bad_request", lambda k: k), ("server", lambda k: 0)],
    ids=["refused as such", "later requests built from it"],
)
def test_a_failure_settled_in_order_is_replayed_not_asked_again(tmp_path: Path, kind, lag):
    out = tmp_path / "out"
    assert run_numbers(out, FailingOnce("5", kind), lag) is StopKind.COMPLETE
    first = (out / "tasks.jsonl").read_bytes()
    assert {"id": "t5", "answer": None} in lines(out / "tasks.jsonl")
    again = FailingOnce()
    assert run_numbers(out, again, lag) is StopKind.COMPLETE
    assert again.asked == [] and (out / "tasks.jsonl").read_bytes() == first
