"""Cost per kept pair of `selfinstruct tools`, measured against the stub server.

Runs the command on the three-tool OpenAPI document of the tests (tests/fixtures/tools/) against
tests/stub_server.py and reads the run folder's summary: requests and tokens per kept
request-call pair. The stub's answers break one line in three and repeat one in six, so the
share kept is the stub's, not a model's; the prompt side (tool docs and example pairs) is real.

    python benchmarks/tools_cost.py [--n 200] [--api completion] [--responses]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import command_summary  # noqa: E402

SPEC = REPO / "tests" / "fixtures" / "tools" / "calendar.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--api", choices=["chat", "completion"], default="completion")
    parser.add_argument("--responses", action="store_true")
    args = parser.parse_args()
    summary = command_summary([
        "tools", str(SPEC), "--n", str(args.n), "--model", "stub", "--api", args.api,
        "--combine", *(["--responses"] if args.responses else []),
    ])  # fmt: skip
    tasks = summary["tasks"]
    stages = summary["run_usage"]["by_stage"]
    requests = sum(row["responses"] for row in stages.values())
    prompt = sum(row["prompt_tokens"] for row in stages.values())
    completion = sum(row["completion_tokens"] for row in stages.values())
    print(f"tools --combine --n {args.n} --api {args.api}: {tasks} pairs kept")
    print(f"per pair: {requests / tasks:.2f} requests, {prompt / tasks:,.0f} prompt + "
          f"{completion / tasks:,.0f} completion tokens")  # fmt: skip


if __name__ == "__main__":
    main()
