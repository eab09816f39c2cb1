"""Requests-per-minute and tokens-per-minute limits over a sliding 60-second window.

Providers publish both limits; staying under them avoids a storm of 429s. The tokens a request
will use are not known before it is sent, so it is charged an estimate (prompt characters / 4
plus its max_tokens) when it starts, corrected to the real count when it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

WINDOW = 60.0


class RateLimiter:
    def __init__(self, rpm: int | None = None, tpm: int | None = None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._starts: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        self._lock = asyncio.Lock()

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def _expire(self, now: float) -> None:
        while self._starts and now - self._starts[0] >= WINDOW:
            self._starts.popleft()
        while self._tokens and now - self._tokens[0][0] >= WINDOW:
            self._tokens.popleft()

    def _wait_time(self, now: float, tokens: int) -> float:
        self._expire(now)
        waits = [0.0]
        if self.rpm is not None and len(self._starts) >= self.rpm:
            waits.append(WINDOW - (now - self._starts[0]))
        if self.tpm is not None and self._tokens:
            used = sum(count for _, count in self._tokens)
            if used + tokens > self.tpm:
                waits.append(WINDOW - (now - self._tokens[0][0]))
        return max(waits)

    async def acquire(self, estimated_tokens: int) -> float:
        """Wait until a request of about ``estimated_tokens`` fits; returns its start time."""
        async with self._lock:
            while True:
                now = time.monotonic()
                wait = self._wait_time(now, estimated_tokens)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._starts.append(now)
            self._tokens.append((now, estimated_tokens))
            return now

    def settle(self, started: float, estimated_tokens: int, actual_tokens: int) -> None:
        """Replace a request's estimate with what it really used."""
        for index, (when, count) in enumerate(self._tokens):
            if when == started and count == estimated_tokens:
                self._tokens[index] = (when, actual_tokens)
                return
