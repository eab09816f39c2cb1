"""Throughput over 1, 2 and 4 endpoints: does the rate grow with the number of servers?

Each endpoint is a stub server (tests/stub_server.py) in its own process that answers after a
fixed delay and at most ``--limit`` requests at once (the rest queue, as on a GPU server), so
one endpoint can give at most limit / delay requests per second (80/s at 16 and 200 ms). The
run sends requests through the endpoint pool with each endpoint's limit set to the same
``--limit``; the ideal rate is endpoints x limit / delay.

Two modes: ``client`` (default) sends ``--per-endpoint`` distinct requests per endpoint
through the model-call layer (ModelClient: cache, concurrency, retries) and so measures the
pool itself; ``generate`` runs the Self-Instruct pipeline (n = 100 x endpoints) as
benchmarks/throughput.py does, filters and novelty checks included. CPU seconds are this
process's (the stubs excluded); on a loaded machine wall-clock rates fall short of the ideal.

    python benchmarks/endpoints.py [--delay 0.2] [--limit 16] [--per-endpoint 300]
                                   [--endpoints 1 2 4] [--mode client|generate]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import start_stub  # noqa: E402


def stub_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return json.loads(response.read())


def run_client(backend, count: int, concurrency: int, folder: Path) -> int:
    """``count`` distinct classification requests through the model-call layer."""
    from selfinstruct.backends.base import Decoding, Request
    from selfinstruct.cache import ResponseCache
    from selfinstruct.client import ModelClient

    decoding = Decoding(max_tokens=3, temperature=0.0, top_p=0.0)
    cache = ResponseCache(folder / "cache.sqlite")
    client = ModelClient(backend, cache, concurrency=concurrency)

    async def main() -> None:
        requests = [
            Request("classify", f"Task: Sort item {i} by colour.\nIs it classification?", decoding)
            for i in range(count)
        ]
        await asyncio.gather(*(client.call(r) for r in requests))
        await backend.aclose()

    asyncio.run(main())
    cache.close()
    return client.usage.requests


def run_generate(backend, endpoints: int, concurrency: int, folder: Path) -> int:
    from selfinstruct import registry
    from selfinstruct.runner import run

    settings = registry.get("self-instruct").configure(
        backend, n=100 * endpoints, seed=0, concurrency=concurrency
    )
    result = run(settings, backend, folder / "run")
    return sum(stage.requests for stage in result.summary.usage.values())


def measure(args: argparse.Namespace, endpoints: int) -> dict[str, float]:
    from selfinstruct.backends.factory import build_backend

    stubs = [
        start_stub("--delay", str(args.delay), "--capacity", str(args.limit))
        for _ in range(endpoints)
    ]
    try:
        urls = tuple(f"http://127.0.0.1:{port}/v1#{args.limit}" for _, port in stubs)
        backend = build_backend(
            model="stub", base_url=urls, api_key=None, api="chat", model_path=None,
            timeout=60, concurrency=args.limit,
        )  # fmt: skip
        total = args.limit * endpoints
        with tempfile.TemporaryDirectory() as tmp:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if args.mode == "client":
                sent = run_client(backend, args.per_endpoint * endpoints, total, Path(tmp))
            else:
                sent = run_generate(backend, endpoints, total, Path(tmp))
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        per_stub = [stub_stats(port)["requests"] for _, port in stubs]
        peaks = [stub_stats(port)["max_inflight"] for _, port in stubs]
    finally:
        for process, _ in stubs:
            process.terminate()
            process.wait(10)
    return {"requests": sent, "wall": wall, "cpu": cpu, "per_stub": per_stub, "peaks": peaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=0.2, help="each stub's latency, seconds")
    parser.add_argument("--limit", type=int, default=16, help="requests in flight per endpoint")
    parser.add_argument("--per-endpoint", type=int, default=300, help="client mode: requests")
    parser.add_argument("--endpoints", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--mode", choices=["client", "generate"], default="client")
    args = parser.parse_args()

    print(f"mode {args.mode}, stub delay {args.delay * 1000:.0f} ms, limit {args.limit} per "
          f"endpoint, load average before {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("endpoints  requests   wall s   req/s  ideal/s  of ideal  ratio  CPU s/1k req  spread")
    base_rate = None
    for count in args.endpoints:
        m = measure(args, count)
        rate = m["requests"] / m["wall"]
        base_rate = base_rate or rate
        ideal = count * args.limit / args.delay
        spread = "/".join(str(n) for n in m["per_stub"])
        print(
            f"{count:9d}  {m['requests']:8d}  {m['wall']:7.2f}  {rate:6.1f}  {ideal:7.0f}  "
            f"{100 * rate / ideal:7.0f}%  {rate / base_rate:5.2f}  "
            f"{1000 * m['cpu'] / max(m['requests'], 1):12.2f}  {spread}"
        )
        if max(m["peaks"]) > args.limit:
            print(f"warning: a stub saw {max(m['peaks'])} requests at once (limit {args.limit})")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
