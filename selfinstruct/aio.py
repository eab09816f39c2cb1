"""Run the pipeline's event loop, on uvloop when it is installed.

At 64 requests in flight the event loop and the HTTP stack, not the model, are the pipeline's
CPU cost; uvloop (a dependency except on Windows) lowers it. Behaviour is the same either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)
