"""MinHash near-duplicate removal at scale: time, peak memory, recall and precision.

    python benchmarks/minhash.py               # 1,000,000 texts
    python benchmarks/minhash.py --n 10000000  # 10M

Texts are generated, never held: text i is 80-160 words drawn from a 50,000-word vocabulary
with a generator seeded by i, so any text can be made again. A share of them (--dup-share,
0.1) are planted duplicates of an earlier original: a third exact copies, two thirds with one
word replaced (Jaccard of 5-word shingles about 0.94). Each text goes through the filter's
index exactly as `selfinstruct filter --near-dup minhash` does: keys, find, add when kept.
Recall: planted duplicates dropped; precision: dropped texts that were planted, with the right
original. Peak memory is the process's ru_maxrss (the index plus Python, numpy and rensa).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfinstruct.neardup import MinHashSettings, NearDupIndex  # noqa: E402

VOCAB = [f"w{i}" for i in range(50_000)]


def plan(i: int, share: float) -> tuple[int | None, int]:
    """Text i's original (None: it is one) and its edit (0 exact, 1 one word replaced)."""
    rng = random.Random(i * 2 + 1)
    if i == 0 or rng.random() >= share:
        return None, 0
    source = rng.randrange(i)
    while True:  # copies are of originals only
        root, _ = plan(source, share)
        if root is None:
            break
        source = root
    return source, 0 if rng.random() < 1 / 3 else 1


def original(i: int) -> list[str]:
    rng = random.Random(i * 2)
    return rng.choices(VOCAB, k=rng.randint(80, 160))


def text(i: int, share: float) -> tuple[str, int | None]:
    source, edit = plan(i, share)
    if source is None:
        return " ".join(original(i)), None
    words = original(source)
    if edit:
        rng = random.Random(i * 2)
        words[rng.randrange(len(words))] = "edited"
    return " ".join(words), source


def mb(kib: int) -> float:
    return kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dup-share", type=float, default=0.1)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--shingle", type=int, default=5)
    parser.add_argument("--num-perm", type=int, default=128)
    args = parser.parse_args()
    settings = MinHashSettings(args.threshold, args.shingle, args.num_perm)
    index = NearDupIndex(settings)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    planted = found = right = dropped = 0
    in_index = 0.0  # seconds spent in the filter's calls, without making the texts
    clock = time.perf_counter
    started = clock()
    for i in range(args.n):
        body, source = text(i, args.dup_share)
        tick = clock()
        keys = index.keys(body)
        earlier = index.find(keys)
        if earlier is None:
            index.add(keys, i + 1)
        in_index += clock() - tick
        planted += source is not None
        if earlier is None:
            continue
        dropped += 1
        found += source is not None
        right += source is not None and earlier == source + 1
        if (i + 1) % 1_000_000 == 0:
            print(f"  {i + 1:,} texts, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"texts {args.n:,}, planted near-duplicates {planted:,}, dropped {dropped:,}")
    print(
        f"threshold {settings.threshold}, shingle {settings.shingle}, num_perm "
        f"{settings.num_perm}, bands x rows {index.bands} x {index.rows}"
    )
    print(
        f"time {elapsed:.1f} s in all, {in_index:.1f} s in the index "
        f"({args.n / in_index:,.0f} texts/s; the rest makes the texts)"
    )
    print(f"peak memory {mb(peak):,.0f} MB (before the index {mb(before):,.0f} MB)")
    print(f"index keys {index.size:,}")
    print(f"recall {found / max(planted, 1):.4f}, precision {found / max(dropped, 1):.4f}, "
          f"pointing at the planted original {right / max(found, 1):.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
