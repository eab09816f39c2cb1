"""IFD (Superfiltering) with the bundled SmolLM2-135M on the first N Alpaca examples.

Prints the time per example, the IFD distribution, and the top and bottom examples:

    python benchmarks/ifd.py --n 100 [--data ../shared/anchors/alpaca_data_5000.json]

On two cores shared with other work, two single-thread shards finish sooner than one process
with two threads (llama.cpp's threads spin while they wait for each other); the report then
reads both files:

    python benchmarks/ifd.py --n 1000 --threads 1 --shard 0/2 --json a.json &
    python benchmarks/ifd.py --n 1000 --threads 1 --shard 1/2 --json b.json
    python benchmarks/ifd.py --report a.json b.json
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
    parser.add_argument("--shard", default="0/1", metavar="K/N",
                        help="score only the examples whose index is K modulo N")  # fmt: skip
    parser.add_argument("--report", type=Path, nargs="+", default=None, metavar="JSON",
                        help="score nothing: summarise the scores in these --json files")  # fmt: skip
    args = parser.parse_args()
    if args.report:
        rows = [row for path in args.report for row in json.loads(path.read_text("utf-8"))]
        summarise(rows, args.show, "")
        return
    shard, shards = (int(part) for part in args.shard.split("/"))

    tasks = load_tasks(args.data)[: args.n]
    rows: list[dict] = []
    if args.json is not None and args.json.is_file():  # resume: scores already written stay
        rows = json.loads(args.json.read_text(encoding="utf-8"))
        print(f"  resuming after {len(rows)} scores in {args.json}", file=sys.stderr)
    done_indices = {r["index"] for r in rows}
    started = time.monotonic()
    scorer = ifd.LlamaScorer(n_threads=args.threads)
    loaded = time.monotonic()
    for index, task in enumerate(tasks):
        instance = task.instances[0]
        if not instance.output.strip() or index in done_indices or index % shards != shard:
            continue
        wall, cpu = time.monotonic(), time.process_time()
        s = ifd.score(scorer, task.instruction, instance.input, instance.output)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        prompt = ifd.prompt_for(task.instruction, instance.input).encode()
        output = instance.output.encode()
        tokens = len(scorer.llm.tokenize(prompt, add_bos=True, special=False)) + 2 * min(
            ifd.MAX_OUTPUT_TOKENS, len(scorer.llm.tokenize(output, add_bos=False, special=False))
        )
        rows.append({"index": index, "ifd": s.ifd, "conditioned_loss": s.conditioned_loss,
                     "output_loss": s.output_loss, "instruction": task.instruction,
                     "input": instance.input, "output": instance.output, "seconds": wall,
                     "cpu_seconds": cpu, "tokens": tokens})  # fmt: skip
        if len(rows) % 10 == 0:
            print(
                f"  {len(rows)} scored (#{index}), {time.monotonic() - loaded:.0f}s",
                file=sys.stderr,
            )
            if args.json is not None:  # a checkpoint: a killed run resumes from here
                partial = args.json.with_suffix(".partial")
                partial.write_text(json.dumps(rows, indent=1), encoding="utf-8")
                partial.replace(args.json)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    summarise(rows, args.show, f"; model load {loaded - started:.1f}s")


def summarise(rows: list[dict], show: int, note: str) -> None:
    rows.sort(key=lambda r: r["index"])
    wall = sum(r["seconds"] for r in rows)
    cpu = sum(r["cpu_seconds"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    print(f"{len(rows)} examples scored in {wall:.1f}s "
          f"({wall / max(1, len(rows)):.2f}s each{note})")  # fmt: skip
    print(f"CPU {cpu:.1f}s ({cpu / max(1, len(rows)):.2f}s each, {tokens} tokens evaluated, "
          f"{1000 * cpu / max(1, tokens):.1f} ms CPU per token)")  # fmt: skip
    values = [r["ifd"] for r in rows if math.isfinite(r["ifd"])]
    print(f"IFD: median {statistics.median(values):.3f}, min {min(values):.3f}, "
          f"max {max(values):.3f}, >= 1: {sum(v >= 1 for v in values)}")  # fmt: skip
    ranked = sorted(rows, key=lambda r: -r["ifd"])
    below = [r for r in ranked if r["ifd"] < 1]
    for title, part in (("highest IFD below 1 (kept first by --keep-top-ifd)", below[: show]),
                        ("lowest IFD (dropped first)", ranked[-show :]),
                        ("IFD >= 1 (dropped)", [r for r in ranked if r["ifd"] >= 1][: show])):  # fmt: skip
        print(f"\n{title}:")
        for r in part:
            text = r["instruction"].replace("\n", " ")[:70]
            output = r["output"].replace("\n", " ")[:50]
            print(f"  {r['ifd']:.3f}  #{r['index']:<4} {text} -> {output}")


if __name__ == "__main__":
    main()
