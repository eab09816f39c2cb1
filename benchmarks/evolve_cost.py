"""What `selfinstruct evolve` costs per instruction per round, against the stub server.

Starts tests/stub_server.py in its own process (as benchmarks/throughput.py does), runs

    selfinstruct evolve INPUT --rounds R --limit N -o DIR --base-url STUB --model stub

as a subprocess, and prints requests and tokens per instruction per round, by stage (evolve,
respond, judge) and by round, from the run folder's summary.json and evolutions.jsonl. The stub
counts about four characters per token, so token figures are estimates of prompt length.

    python benchmarks/evolve_cost.py [--input alpaca_data_5000.json] [--rounds 2] [--limit 50]
                                     [--api chat|completion] [--delay 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import start_stub, stub_stats  # noqa: E402

DEFAULT_INPUT = REPO.parent / "shared" / "anchors" / "alpaca_data_5000.json"
# Requests an evolution made, by the stage it ended at.
REQUESTS_BY_LAST_STAGE = {"evolve": 1, "respond": 2, "judge": 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--api", choices=["chat", "completion"], default="chat")
    parser.add_argument("--delay", type=float, default=0.05, help="stub answer delay, seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None, help="keep the run folder here")
    args = parser.parse_args()

    stub, port = start_stub("--delay", str(args.delay))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = args.out or Path(tmp) / "evolved"
            command = [
                sys.executable, "-m", "selfinstruct", "evolve", str(args.input),
                "--rounds", str(args.rounds), "--limit", str(args.limit), "-o", str(out),
                "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "stub",
                "--api", args.api, "--concurrency", str(args.concurrency), "--quiet",
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"evolve failed ({done.returncode}):\n{done.stderr}")
            summary = json.loads((out / "summary.json").read_text())
            evolutions = [
                json.loads(line) for line in (out / "evolutions.jsonl").read_text().splitlines()
            ]
        stats = stub_stats(port)
    finally:
        stub.terminate()
        stub.wait(10)

    per = args.limit * args.rounds  # instruction-rounds
    by_stage = summary["run_usage"]["by_stage"]
    total = summary["run_usage"]
    print(" ".join(command[2:]).replace(str(out), "DIR"))
    print(f"stub delay {args.delay * 1000:.0f} ms, api {args.api}, wall {wall:.1f} s "
          f"(python start-up included), {stats['requests']} requests to the stub")  # fmt: skip
    print(f"\nper instruction per round ({args.limit} instructions x {args.rounds} rounds):")
    print(f"  {'stage':<10}{'requests':>10}{'prompt tok':>12}{'completion tok':>16}")
    for stage in ("evolve", "respond", "judge"):
        row = by_stage.get(stage, {"responses": 0, "prompt_tokens": 0, "completion_tokens": 0})
        print(f"  {stage:<10}{row['responses'] / per:>10.2f}{row['prompt_tokens'] / per:>12.1f}"
              f"{row['completion_tokens'] / per:>16.1f}")  # fmt: skip
    print(f"  {'total':<10}{total['responses'] / per:>10.2f}{total['prompt_tokens'] / per:>12.1f}"
          f"{total['completion_tokens'] / per:>16.1f}")  # fmt: skip

    print("\nby round (requests counted from where each evolution ended):")
    rounds: dict[int, Counter[str]] = {}
    for record in evolutions:
        row = rounds.setdefault(record["round"], Counter())
        row["evolved"] += 1
        row["requests"] += REQUESTS_BY_LAST_STAGE[record["stage"]]
        row[record["outcome"]] += 1
    for round_, row in sorted(rounds.items()):
        print(f"  round {round_}: {row['evolved']} evolved, {row['passed']} passed, "
              f"{row['eliminated']} eliminated, {row['failed']} failed; "
              f"{row['requests'] / row['evolved']:.2f} requests per instruction")  # fmt: skip
    if stats["repeated_prompts"]:
        # A failed evolution's parent is evolved again next round: when the same operation is
        # drawn, the same text goes out with another seed (the stub ignores seeds).
        print(f"{stats['repeated_prompts']} prompt texts were sent twice (re-evolved parents, "
              "another seed)")  # fmt: skip


if __name__ == "__main__":
    main()
