"""The ordered loop's timing: answers are committed in request order, and a request that
committing frees a slot for is sent while the rest of a wave of answers is still being
committed, not after it (a wave of 64 answers takes tens of milliseconds to commit, and every
request held back that long lowers the rate)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from selfinstruct.backends.base import Backend, Completion, Decoding, Request
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.store import RunFolder

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
