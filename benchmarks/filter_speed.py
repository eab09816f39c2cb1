"""CPU of ``selfinstruct filter`` on a ~50K-record Alpaca corpus (issue 25).

The corpus is the 5,000 Alpaca anchor records, then seeded copies with word-level edits of the
instruction (a swap, a drop, a duplicated or substituted word: some near duplicates, some novel;
one in 50 with six words of our prompts),
written as JSONL. The filter runs in this process through the library (``run_filter``, the
command's one call) with its defaults (instruction rules, prompt echo, instance rules, ROUGE-L
novelty at 0.7), and the script prints its CPU seconds, best of ``--repeat``, with the load
average. ``--profile FILE`` writes cProfile stats of one run; ``--keep DIR`` keeps the outputs
(to compare two versions byte for byte).

    python benchmarks/filter_speed.py [--n 50000] [--repeat 3] [--alpaca PATH] [--profile F]
                                      [--instructions edits|novelty]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
ALPACA = REPO.parent / "shared" / "anchors" / "alpaca_data_5000.json"


def corpus(alpaca: Path, n: int, seed: int = 25) -> list[dict[str, str]]:
    """The anchor's records, then edited copies, ``n`` in all; one copy in 50 has six words of
    our prompts in it (a prompt echo)."""
    from selfinstruct.filters import prompt_phrases

    records = json.loads(alpaca.read_text(encoding="utf-8"))
    out = list(records[:n])
    rng = random.Random(seed)
    vocab = sorted({w for r in records for w in r["instruction"].split()})
    echoes = sorted(" ".join(run) for run in prompt_phrases(6))
    while len(out) < n:
        rec = dict(rng.choice(records))
        words = rec["instruction"].split()
        for _ in range(rng.randint(1, max(1, len(words) // 3))):
            op = rng.random()
            if len(words) < 2:
                words.append(rng.choice(vocab))
            elif op < 0.3:
                i = rng.randrange(len(words) - 1)
                words[i], words[i + 1] = words[i + 1], words[i]
            elif op < 0.5:
                del words[rng.randrange(len(words))]
            elif op < 0.6:
                i = rng.randrange(len(words))
                words.insert(i, words[i])
            else:
                words[rng.randrange(len(words))] = rng.choice(vocab)
        if rng.random() < 0.02:
            words.insert(rng.randint(0, len(words)), rng.choice(echoes).capitalize())
        rec["instruction"] = " ".join(words)
        out.append(rec)
    return out


def novelty_corpus(alpaca: Path, n: int, seed: int = 3) -> list[dict[str, str]]:
    """``--instructions novelty``: benchmarks/novelty.py's texts (Alpaca sentences, then seeded
    word-level variations: about half of 46K are kept) as the instructions of Alpaca records
    drawn at random."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from novelty import build_corpus

    records = json.loads(alpaca.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    return [{**rng.choice(records), "instruction": t} for t in build_corpus(n, alpaca)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--alpaca", type=Path, default=ALPACA)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="copy the outputs here")
    parser.add_argument(
        "--instructions",
        choices=["edits", "novelty"],
        default="edits",
        help="edits: the anchor's records and edited copies (most are near duplicates); "
        "novelty: benchmarks/novelty.py's texts as instructions (about half are kept)",
    )
    args = parser.parse_args()
    from selfinstruct.filtering import FilterOptions, run_filter

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        with src.open("w", encoding="utf-8") as fh:
            make = corpus if args.instructions == "edits" else novelty_corpus
            for rec in make(args.alpaca, args.n):
                fh.write(json.dumps(rec) + "\n")
        best = float("inf")
        for _ in range(args.repeat):
            out, rejects = Path(tmp) / "out.jsonl", Path(tmp) / "out.rejected.jsonl"
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            cpu0 = time.process_time()
            report = run_filter(str(src), str(out), rejects, FilterOptions())
            best = min(best, time.process_time() - cpu0)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
                args.profile = None
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(out, args.keep / "out.jsonl")
            shutil.copy(rejects, args.keep / "out.rejected.jsonl")
    print(f"records {report.read}, kept {report.kept}, reasons {dict(report.reasons)}")
    print(
        f"filter CPU (best of {args.repeat}) {best:.2f} s = {1e6 * best / report.read:.0f} us per record"
    )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
