"""CPU per request of the HTTP path alone: ``OpenAIBackend.complete`` against the stub server.

No pipeline around it, so the figure is the openai client and its transport (aiohttp or httpx)
plus the backend's body building and parsing. The stub runs in its own process, as in
throughput.py.

    python benchmarks/transport.py [--transport aiohttp|httpx] [--n 3000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import start_stub  # noqa: E402

from selfinstruct.backends.base import Decoding, Request  # noqa: E402
from selfinstruct.backends.openai_api import OpenAIBackend  # noqa: E402

DECODING = Decoding(max_tokens=100, temperature=0.7, top_p=1.0)


async def measure(backend: OpenAIBackend, n: int, concurrency: int) -> tuple[float, float]:
    """CPU and wall seconds for ``n`` requests, after a warm-up that opens the connections."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        request = Request("instructions", f"prompt {i}", DECODING)
        async with gate:
            await backend.complete(request, request.prompt)

    await asyncio.gather(*(one(-1 - i) for i in range(2 * concurrency)))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.process_time() - cpu0, time.perf_counter() - wall0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.2, help="stub answer delay, seconds")
    args = parser.parse_args()
    stub, port = start_stub("--delay", str(args.delay))
    try:
        backend = OpenAIBackend("stub", base_url=f"http://127.0.0.1:{port}/v1", timeout=60,
                                max_concurrency=args.concurrency, transport=args.transport)  # fmt: skip

        async def go() -> tuple[float, float]:
            try:
                return await measure(backend, args.n, args.concurrency)
            finally:
                await backend.aclose()

        cpu, wall = asyncio.run(go())
    finally:
        stub.terminate()
        stub.wait(10)
    print(f"transport {backend.transport}, n {args.n}, concurrency {args.concurrency}")
    print(f"requests/s          {args.n / wall:.1f}")
    print(f"CPU                 {cpu:.2f} s = {1000 * cpu / args.n:.2f} s per 1,000 requests")
    print(f"load average        {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
