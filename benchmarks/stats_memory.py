"""Peak memory and wall time of ``selfinstruct stats`` on a large task file.

Builds a task file of ``--lines`` Alpaca-shaped JSONL records from the Alpaca anchor file
(the 5,000 examples repeated; every copy after the first gets a seeded word-level variation of
its instruction so the ROUGE-L figures are not 40 copies of the same numbers), then runs

    python -m selfinstruct stats FILE --json --no-verbs

in a subprocess and reports its wall time and peak RSS (``resource.getrusage`` of the
children: ``ru_maxrss`` of the largest child, which is the stats process). Issue 8: on
200,000 lines the peak was 2.0 GB because of whole texts x seeds float matrices.

    python benchmarks/stats_memory.py [--lines 200000] [--alpaca PATH] [--keep FILE]
                                      [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ALPACA = (
    Path(__file__).resolve().parents[2] / "shared" / "anchors" / "alpaca_data_5000.json"
)


def _vary(text: str, rng: random.Random) -> str:
    """Drop, duplicate or swap a word or two (deterministic for a given rng state)."""
    words = text.split()
    for _ in range(rng.randint(1, 2)):
        if len(words) < 2:
            break
        i = rng.randrange(len(words))
        op = rng.randrange(3)
        if op == 0:
            del words[i]
        elif op == 1:
            words.insert(i, words[i])
        else:
            j = rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
    return " ".join(words)


def build_file(alpaca: Path, lines: int, out: Path) -> None:
    records = json.loads(alpaca.read_text(encoding="utf-8"))
    rng = random.Random(8)
    with out.open("w", encoding="utf-8") as handle:
        for k in range(lines):
            rec = records[k % len(records)]
            instruction = rec["instruction"] if k < len(records) else _vary(rec["instruction"], rng)
            row = {"instruction": instruction, "input": rec["input"], "output": rec["output"]}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def run_stats(path: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes and stdout of one `selfinstruct stats` subprocess."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "selfinstruct", "stats", str(path), "--json", "--no-verbs"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"stats failed ({done.returncode}): {done.stderr.strip()}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return seconds, peak_kib * 1024, done.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--alpaca", type=Path, default=DEFAULT_ALPACA)
    parser.add_argument("--keep", type=Path, default=None, help="write the task file here")
    parser.add_argument("--json-out", type=Path, default=None, help="save the stats JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "tasks.jsonl"
        build_file(args.alpaca, args.lines, path)
        size_mb = path.stat().st_size / 1e6
        seconds, peak, stdout = run_stats(path)
    if args.json_out:
        args.json_out.write_text(stdout, encoding="utf-8")
    summary = json.loads(stdout)
    rouge = summary["rouge_l_to_seed"]["distribution"]
    print(f"file: {args.lines:,} lines, {size_mb:.0f} MB")
    print(f"selfinstruct stats --json --no-verbs: {seconds:.1f} s, peak RSS {peak / 1e6:.0f} MB")
    print(f"tasks {summary['counts']['tasks']:,}, ROUGE-L to seed mean {rouge['mean']:.6f}")


if __name__ == "__main__":
    main()
