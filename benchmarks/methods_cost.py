"""What each method costs per accepted task: requests and tokens, measured against the stub.

Runs every method through the library on the stub OpenAI-compatible server (tests/stub_server.py,
which answers each prompt with plausible text of realistic shape and reports about four
characters per token) and divides the run's requests and tokens by the tasks it wrote. The
figures show each method's structure (how many calls a task takes, how long its prompts are);
a real model's answers, and so its acceptance rate and output tokens, differ.

    python benchmarks/methods_cost.py [--n 200] [--api chat]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import start_stub  # noqa: E402

METHODS = ("self-instruct", "alpaca")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="instructions to accept per method")
    parser.add_argument("--api", choices=["chat", "completion"], default="completion")
    args = parser.parse_args()

    from selfinstruct import registry
    from selfinstruct.backends.factory import build_backend
    from selfinstruct.runner import run

    stub, port = start_stub("--delay", "0")
    rows = []
    try:
        for method in METHODS:
            with tempfile.TemporaryDirectory() as tmp:
                backend = build_backend(
                    model="stub", base_url=f"http://127.0.0.1:{port}/v1", api_key=None,
                    api=args.api, model_path=None, timeout=60, concurrency=16,
                )  # fmt: skip
                settings = registry.get(method).configure(backend, n=args.n, concurrency=16, seed=0)
                summary = run(settings, backend, Path(tmp) / "run").summary
                usage = summary.run_usage
                tasks = max(summary.tasks, 1)
                rows.append((method, summary.tasks, summary.instances, usage["responses"],
                             usage["prompt_tokens"], usage["completion_tokens"], tasks))  # fmt: skip
    finally:
        stub.terminate()
        stub.wait(10)
    print(f"stub, {args.api} API, --n {args.n}")
    print("| method | tasks | instances | requests / task | prompt tokens / task | "
          "completion tokens / task |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for method, tasks, instances, responses, prompt, completion, per in rows:
        print(f"| {method} | {tasks} | {instances} | {responses / per:.2f} | {prompt / per:,.0f} "
              f"| {completion / per:,.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
