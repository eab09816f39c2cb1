"""IFD (Superfiltering) with the bundled SmolLM2-135M on the first N Alpaca examples.

Prints the time per example, the IFD distribution, and the top and bottom examples:

    python benchmarks/ifd.py --n 100 [--data ../shared/anchors/alpaca_data_5000.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

from selfinstruct import ifd
from selfinstruct.export import load_tasks

# The public anchors sit beside the checkout (../shared/anchors).
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "alpaca_data_5000.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write every score here")
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads (default: every core; 1 is often faster when "
                        "other work loads the machine)")  # fmt: skip
    args = parser.parse_args()

    tasks = load_tasks(args.data)[: args.n]
    started = time.monotonic()
    scorer = ifd.LlamaScorer(n_threads=args.threads)
    loaded = time.monotonic()
    cpu_loaded = time.process_time()
    tokens = 0
    rows = []
    for index, task in enumerate(tasks):
        instance = task.instances[0]
        if not instance.output.strip():
            continue
        s = ifd.score(scorer, task.instruction, instance.input, instance.output)
        tokens += len(
            scorer.llm.tokenize(
                ifd.prompt_for(task.instruction, instance.input).encode(),
                add_bos=True,
                special=False,
            )
        )
        tokens += 2 * min(ifd.MAX_OUTPUT_TOKENS, len(scorer.llm.tokenize(
            instance.output.encode(), add_bos=False, special=False)))  # fmt: skip
        if (index + 1) % 10 == 0:
            print(f"  {index + 1} scored, {time.monotonic() - loaded:.0f}s", file=sys.stderr)
        rows.append({"index": index, "ifd": s.ifd, "conditioned_loss": s.conditioned_loss,
                     "output_loss": s.output_loss, "instruction": task.instruction,
                     "input": instance.input, "output": instance.output})  # fmt: skip
    done = time.monotonic()
    cpu = time.process_time() - cpu_loaded
    values = [r["ifd"] for r in rows if math.isfinite(r["ifd"])]
    print(
        f"{len(rows)} examples scored in {done - loaded:.1f}s "
        f"({(done - loaded) / max(1, len(rows)):.2f}s each; model load {loaded - started:.1f}s)"
    )
    print(f"CPU {cpu:.1f}s ({cpu / max(1, len(rows)):.2f}s each, {tokens} tokens evaluated, "
          f"{1000 * cpu / max(1, tokens):.1f} ms CPU per token; threads {scorer.llm.n_threads})")  # fmt: skip
    print(f"IFD: median {statistics.median(values):.3f}, min {min(values):.3f}, "
          f"max {max(values):.3f}, >= 1: {sum(v >= 1 for v in values)}")  # fmt: skip
    ranked = sorted(rows, key=lambda r: -r["ifd"])
    below = [r for r in ranked if r["ifd"] < 1]
    for title, part in (("highest IFD below 1 (kept first by --keep-top-ifd)", below[: args.show]),
                        ("lowest IFD (dropped first)", ranked[-args.show :]),
                        ("IFD >= 1 (dropped)", [r for r in ranked if r["ifd"] >= 1][: args.show])):  # fmt: skip
        print(f"\n{title}:")
        for r in part:
            text = r["instruction"].replace("\n", " ")[:70]
            output = r["output"].replace("\n", " ")[:50]
            print(f"  {r['ifd']:.3f}  #{r['index']:<4} {text} -> {output}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
