"""Requests-per-minute and tokens-per-minute limits."""

from __future__ import annotations

import asyncio

import pytest

from selfinstruct import ratelimit
from selfinstruct.ratelimit import RateLimiter


@pytest.fixture
def short_window(monkeypatch):
    monkeypatch.setattr(ratelimit, "WINDOW", 0.5)


def test_rpm_spaces_requests_over_the_window(short_window):
    limiter = RateLimiter(rpm=3)

    async def go() -> list[float]:
        return [await limiter.acquire(1) for _ in range(7)]

    starts = asyncio.run(go())
    assert starts[2] - starts[0] < 0.1  # the first three go at once
    assert starts[3] - starts[0] >= 0.5 - 1e-3  # the fourth waits for the window to pass
    assert starts[6] - starts[3] >= 0.5 - 1e-3


def test_tpm_counts_estimates_then_actual_tokens(short_window):
    limiter = RateLimiter(tpm=100)

    async def go() -> tuple[float, float, float]:
        first = await limiter.acquire(80)
        limiter.settle(first, 80, 10)  # it really used only 10
        second = await limiter.acquire(80)  # 10 + 80 fits
        third = await limiter.acquire(80)  # 90 + 80 does not: waits
        return first, second, third

    first, second, third = asyncio.run(go())
    assert second - first < 0.1
    assert third - first >= 0.5 - 1e-3


def test_no_limits_is_inactive():
    assert not RateLimiter().active
    assert RateLimiter(rpm=10).active and RateLimiter(tpm=10).active
