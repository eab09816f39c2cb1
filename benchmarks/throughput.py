"""Throughput of the generate pipeline against a stub OpenAI-compatible server.

The stub (tests/stub_server.py) runs in its own process and answers every request after a
fixed delay, so the ideal rate is concurrency / delay requests per second (320/s at 64 and
200 ms). The pipeline runs in this process through the library (no Python start-up in the
figures); its CPU time is this process's CPU time during the run. The stub's own CPU time
during the run is reported beside it (from /proc, on Linux): on a machine with few cores the two
processes share them, and a stub that needs a core of its own caps the rate however lean the
pipeline is.

    python benchmarks/throughput.py [--n 3000] [--concurrency 64] [--delay 0.2] [--api chat]
                                    [--method alpaca|respond|judge|evolve|chat|glan|tools|magpie]
                                    [--profile out.prof] [--out DIR] [--alpaca PATH]

``respond`` and ``judge`` answer the first ``--n`` records of the Alpaca anchor (one request per
task: ``--n 2000`` is the 2,000-prompt job), and ``evolve`` evolves them (its default rounds);
``--n`` for the generating methods is the number of items to accept. ``tools`` uses the tests'
calendar spec; ``magpie`` runs on the completion API with the ChatML template (the stub does
not re-template prompts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALPACA = REPO.parent / "shared" / "anchors" / "alpaca_data_5000.json"
#: Methods that answer a task file rather than generate instructions.
ANSWERING = ("respond", "judge")
#: Methods that read the anchor's first ``--n`` records as their source instructions.
SOURCED = ("evolve",)
OTHERS = ("chat", "glan", "tools", "magpie")
TOOL_SPEC = REPO / "tests" / "fixtures" / "tools" / "calendar.yaml"


def anchor_tasks(alpaca: Path, n: int, folder: Path) -> Path:
    """The first ``n`` Alpaca records as a task file in ``folder`` (what respond and judge read)."""
    if not alpaca.is_file():
        raise SystemExit(f"{alpaca}: no such file (pass --alpaca PATH to alpaca_data_5000.json)")
    records = json.loads(alpaca.read_text(encoding="utf-8"))[:n]
    path = folder / "tasks.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def start_stub(*options: str) -> tuple[subprocess.Popen[str], int]:
    """The stub server in a process of its own (``options``: its flags, e.g. --delay 0.2)."""
    process = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "stub_server.py"), *options],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise SystemExit("a stub server did not start")
    return process, int(line.split()[1])


def command_summary(args: list[str], stub_options: tuple[str, ...] = ()) -> dict:
    """Run ``selfinstruct ARGS --base-url STUB --out TMP --quiet`` against a fresh stub server
    and return the run folder's summary.json."""
    stub, port = start_stub(*stub_options)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            command = [sys.executable, "-m", "selfinstruct", *args, "--base-url",
                       f"http://127.0.0.1:{port}/v1", "--out", str(out), "--quiet"]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            return json.loads((out / "summary.json").read_text())
    finally:
        stub.terminate()
        stub.wait()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stub_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="instructions to accept")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.2, help="stub answer delay, seconds")
    parser.add_argument("--api", choices=["chat", "completion"], default="chat")
    parser.add_argument(
        "--method",
        choices=["self-instruct", "alpaca", *ANSWERING, *SOURCED, *OTHERS],
        default="self-instruct",
    )
    parser.add_argument(
        "--alpaca", type=Path, default=ALPACA, help="respond, judge and evolve only"
    )
    parser.add_argument("--pool-lag", type=int, default=64, help="self-instruct only")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    parser.add_argument("--out", type=Path, default=None, help="keep the run folder here")
    args = parser.parse_args()
    if args.method == "magpie":
        args.api = "completion"  # Magpie sends the raw template: no server-side chat template

    from selfinstruct import registry
    from selfinstruct.backends.factory import build_backend
    from selfinstruct.resources import default_seed_path
    from selfinstruct.runner import run

    stub, port = start_stub("--delay", str(args.delay))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            backend = build_backend(
                model="stub", base_url=f"http://127.0.0.1:{port}/v1", api_key=None,
                api=args.api, model_path=None, timeout=60, concurrency=args.concurrency,
            )  # fmt: skip
            extra: dict[str, object] = {"seeds_path": default_seed_path()}
            if args.method == "self-instruct":
                extra["pool_lag"] = args.pool_lag
            elif args.method in ANSWERING:
                extra = {"input_path": anchor_tasks(args.alpaca, args.n, Path(tmp))}
            elif args.method in SOURCED:
                extra = {"seeds_path": anchor_tasks(args.alpaca, args.n, Path(tmp))}
            elif args.method == "tools":
                extra = {"spec_path": TOOL_SPEC}
            elif args.method == "magpie":
                extra = {"template": "chatml"}
            elif args.method == "glan":
                # Enough subjects that the questions and answers (two requests an item) are
                # most of the job, not the taxonomy's levels, which are asked one after another.
                extra = {"disciplines": 8, "subjects": 10, "questions": max(1, args.n // 80)}
            elif args.method in OTHERS:
                extra = {}
            settings = registry.get(args.method).configure(
                backend, n=args.n, seed=0, concurrency=args.concurrency, **extra
            )
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            stub0 = cpu_seconds(stub.pid)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            result = run(settings, backend, out)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            stub1 = cpu_seconds(stub.pid)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            if args.out is not None:
                shutil.rmtree(args.out, ignore_errors=True)
                shutil.copytree(out, args.out)
        stats = stub_stats(port)
    finally:
        stub.terminate()
        stub.wait(10)
    requests = stats["requests"]
    ideal = args.concurrency / args.delay
    rate = requests / wall
    accepted = result.summary.accepted_instructions
    print(f"method {args.method}, concurrency {args.concurrency}, stub delay "
          f"{args.delay * 1000:.0f} ms, api {args.api}, n {args.n}")  # fmt: skip
    print(f"HTTP transport      {getattr(backend, 'transport', 'n/a')}")
    print(f"requests            {requests} in {wall:.2f} s")
    print(f"requests/s          {rate:.1f}  ({100 * rate / ideal:.0f}% of ideal {ideal:.0f}/s)")
    print(f"accepted instr/s    {accepted / wall:.1f}  ({accepted} accepted, "
          f"{result.summary.tasks} tasks)")  # fmt: skip
    print(
        f"pipeline CPU        {cpu:.2f} s = {1000 * cpu / max(requests, 1):.2f} s per 1,000 requests"
    )
    if stub0 is not None and stub1 is not None:
        stub_cpu = stub1 - stub0
        print(f"stub CPU            {stub_cpu:.2f} s = "
              f"{1000 * stub_cpu / max(requests, 1):.2f} s per 1,000 requests")  # fmt: skip
    print(f"load average        {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if stats["repeated_prompts"]:
        print(f"warning: {stats['repeated_prompts']} prompts were sent more than once")


if __name__ == "__main__":
    main()
