"""Templatize's speed with no model: a million labelled rows through the bundled templates.

Writes three datasets (a three-label classification in CSV, extractive QA in JSONL, a
summarisation set in Parquet; ``--rows`` in all, 40/30/30) and their task file, then runs
``selfinstruct templatize`` on them from the command line with ``--cap`` above every task's
size, so every row is transformed (zero-shot, few-shot, inverted and chain-of-thought forms at
their default shares). Reports the wall time of the whole command (reading, checking, rendering,
writing tasks.jsonl, the summary) and its rate, the command's CPU time (its process and any it
waited for: getrusage RUSAGE_CHILDREN) and the load average before and after, since a loaded
machine stretches the wall time but hardly the CPU time.

    python benchmarks/templatize_speed.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABELS = ("negative", "neutral", "positive")


def write_inputs(folder: Path, rows: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    reviews, questions = rows * 4 // 10, rows * 3 // 10
    articles = rows - reviews - questions
    with open(folder / "reviews.csv", "w", encoding="utf-8") as handle:
        handle.write("review,sentiment,why\n")
        for i in range(reviews):
            label = LABELS[i % 3]
            handle.write(f'"Review {i}: the plot was {label} and the cast did well.",{label},'
                         f'"The words used are {label}."\n')  # fmt: skip
    with open(folder / "qa.jsonl", "w", encoding="utf-8") as handle:
        for i in range(questions):
            handle.write(json.dumps({
                "context": f"Country {i} has City{i} as its capital since {1000 + i % 900}.",
                "question": f"What is the capital of country {i}?", "answer": f"City{i}",
            }) + "\n")  # fmt: skip
    pq.write_table(pa.table({
        "article": [f"Article {i}. It tells a long story in several sentences about item {i}."
                    for i in range(articles)],
        "highlights": [f"Story {i}, told short." for i in range(articles)],
    }), folder / "news.parquet")  # fmt: skip
    tasks = folder / "tasks.toml"
    tasks.write_text(
        '[[task]]\nname = "sentiment"\ntype = "classification"\ndata = "reviews.csv"\n'
        'labels = ["negative", "neutral", "positive"]\n'
        'columns = { text = "review", label = "sentiment", rationale = "why" }\n\n'
        '[[task]]\nname = "capitals"\ntype = "extractive_qa"\ndata = "qa.jsonl"\n\n'
        '[[task]]\nname = "news"\ntype = "summarization"\ndata = "news.parquet"\n'
        'columns = { document = "article", summary = "highlights" }\n',
        encoding="utf-8",
    )
    return tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="write the inputs and run here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="templatize-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    tasks = write_inputs(folder, args.rows)
    out = folder / "run"
    command = [sys.executable, "-m", "selfinstruct", "templatize", str(tasks), "--out", str(out),
               "--cap", str(args.rows), "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    load = os.getloadavg()
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    if done.returncode != 0:
        sys.exit(done.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own = resource.getrusage(resource.RUSAGE_SELF)
    with open(out / "tasks.jsonl", "rb") as handle:
        written = sum(1 for _ in handle)
    print(f"command: {' '.join(command)}")
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after: "
          f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")  # fmt: skip
    print(f"{written:,} examples in {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({written / wall:,.0f} examples/s); tasks.jsonl "
          f"{(out / 'tasks.jsonl').stat().st_size / 1e6:,.0f} MB")  # fmt: skip
    print(f"CPU of this script writing the inputs: {own.ru_utime + own.ru_stime:.1f} s")


if __name__ == "__main__":
    main()
