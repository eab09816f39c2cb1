"""Cost per question of `selfinstruct glan`, measured against the stub server.

Runs the command (in a subprocess, as a user would) against tests/stub_server.py, then reads
the run folder's summary: requests and tokens by level, and per final task (question with its
answer). The stub counts about four characters per token and its answers are shorter than a
real model's, so the token figures are for our prompts (which are real) plus stub-sized
answers; the prompt side is what the method itself decides. USD figures use --price.

    python benchmarks/glan_cost.py [--disciplines 3] [--subjects 2] [--questions 4]
                                   [--api chat] [--price 0.15,0.60]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import command_summary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--disciplines", type=int, default=3)
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--api", choices=["chat", "completion"], default="chat")
    parser.add_argument("--price", default="0.15,0.60", help="USD per million IN,OUT tokens")
    args = parser.parse_args()
    price_in, price_out = (float(p) for p in args.price.split(","))

    summary = command_summary([
        "glan", "--model", "stub", "--api", args.api, "--disciplines", str(args.disciplines),
        "--subjects", str(args.subjects), "--questions", str(args.questions),
    ], ("--delay", "0"))  # fmt: skip

    tasks = summary["tasks"]
    print(f"glan --disciplines {args.disciplines} --subjects {args.subjects} --questions "
          f"{args.questions} --api {args.api}: {tasks} tasks")  # fmt: skip
    print(f"{'level':<11}{'requests':>9}{'prompt tok':>12}{'compl. tok':>12}"
          f"{'tok/task':>10}{'USD/1k tasks':>14}")  # fmt: skip
    total_p = total_c = total_r = 0
    for level, row in summary["run_usage"]["by_stage"].items():
        p, c, r = row["prompt_tokens"], row["completion_tokens"], row["responses"]
        total_p, total_c, total_r = total_p + p, total_c + c, total_r + r
        usd = (p * price_in + c * price_out) / 1e6 / tasks * 1000
        print(f"{level:<11}{r:>9}{p:>12}{c:>12}{(p + c) / tasks:>10.0f}{usd:>14.4f}")
    usd = (total_p * price_in + total_c * price_out) / 1e6 / tasks * 1000
    print(f"{'total':<11}{total_r:>9}{total_p:>12}{total_c:>12}"
          f"{(total_p + total_c) / tasks:>10.0f}{usd:>14.4f}")  # fmt: skip
    print(f"requests per task {total_r / tasks:.2f}; prices {price_in},{price_out} USD/M tokens")


if __name__ == "__main__":
    main()
