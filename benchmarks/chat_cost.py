"""Cost per dialogue of `selfinstruct chat`, measured against the stub server.

Runs ``python -m selfinstruct chat`` against tests/stub_server.py (its own process, fixed
delay) and reads the run folder's summary.json: requests and tokens per dialogue, by stage,
and the wall time. Token counts are the stub's (about four characters per token), so they
measure what the method asks for (prompt sizes grow with the transcript), not a real model's
verbosity; multiply by a provider's prices for a budget.

    python benchmarks/chat_cost.py [--n 50] [--turns 3-7] [--delay 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import start_stub  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--turns", default="3-7")
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    stub, port = start_stub("--delay", str(args.delay))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            command = [
                sys.executable, "-m", "selfinstruct", "chat", "--base-url",
                f"http://127.0.0.1:{port}/v1", "--model", "stub", "--n", str(args.n),
                "--turns", args.turns, "--concurrency", str(args.concurrency), "--seed",
                str(args.seed), "--out", str(out), "--quiet",
            ]  # fmt: skip
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            wall = time.monotonic() - started
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            summary = json.loads((out / "summary.json").read_text())
            tasks = [json.loads(line) for line in (out / "tasks.jsonl").open()]
    finally:
        stub.kill()
        stub.wait()
    dialogues = len(tasks)
    rounds = sum(t["rounds"] for t in tasks)
    print(f"{dialogues} dialogues, {rounds} rounds ({rounds / dialogues:.2f} per dialogue), "
          f"--turns {args.turns}, stub delay {args.delay}s, concurrency {args.concurrency}")  # fmt: skip
    print(f"wall {wall:.1f}s ({wall / dialogues:.2f}s per dialogue, Python start-up included)")
    print(f"{'stage':<11}{'requests':>9}{'per dlg':>9}{'prompt tok':>12}{'compl tok':>11}"
          f"{'tok/dlg':>9}")  # fmt: skip
    total = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for stage, usage in summary["usage"].items():
        for key in total:
            total[key] += usage[key]
        tokens = usage["prompt_tokens"] + usage["completion_tokens"]
        print(f"{stage:<11}{usage['requests']:>9}{usage['requests'] / dialogues:>9.2f}"
              f"{usage['prompt_tokens']:>12}{usage['completion_tokens']:>11}"
              f"{tokens / dialogues:>9.0f}")  # fmt: skip
    tokens = total["prompt_tokens"] + total["completion_tokens"]
    print(f"{'all':<11}{total['requests']:>9}{total['requests'] / dialogues:>9.2f}"
          f"{total['prompt_tokens']:>12}{total['completion_tokens']:>11}{tokens / dialogues:>9.0f}")  # fmt: skip
    print("rejected:", summary["rejected"])
    ended = {}
    for task in tasks:
        ended[task["ended_early"] or "complete"] = (
            ended.get(task["ended_early"] or "complete", 0) + 1
        )
    print("dialogues ended:", ended)


if __name__ == "__main__":
    main()
