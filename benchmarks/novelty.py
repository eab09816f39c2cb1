"""Benchmark and exactness check for selfinstruct.novelty.

Builds a deterministic corpus from the Alpaca anchor file (instructions, plus
inputs and outputs split into sentences of 4..60 words; larger sizes add
seeded word-level variations), runs the incremental Self-Instruct filter
(``NoveltyIndex.add_if_novel``, fast path, threshold 0.7) and prints
texts / kept / seconds / peak memory per size.  Each size runs in a fresh
spawned process so peak RSS is per size.

It also checks, on a prefix of the corpus, that the kept set equals
rouge_score's brute force: by induction over the sequence, it suffices that
for every text i the index's decision and (for rejected texts) its exact max
score equal rouge_score's against the texts the index kept before i.  Those
checks are independent, so they run on all cores.

    python benchmarks/novelty.py [--sizes 50000,100000,1000000] [--filter-workers 2]
                                 [--bulk exact|decisions] [--threads N] [--numpy] [--corpus-cache FILE]
                                 [--check-prefix 3000] [--check-varied 3000]
                                 [--compare-naive]
                                 [--alpaca PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import random
import re
import resource
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_ALPACA = (
    Path(__file__).resolve().parents[2] / "shared" / "anchors" / "alpaca_data_5000.json"
)
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


def base_texts(alpaca: Path) -> list[str]:
    """Instructions plus input/output sentences of 4..60 words, in file order."""
    records = json.loads(alpaca.read_text(encoding="utf-8"))
    out: list[str] = []
    for rec in records:
        out.append(rec["instruction"])
        for key in ("input", "output"):
            for sent in _SENT_SPLIT.split(rec.get(key) or ""):
                sent = sent.strip()
                if 4 <= len(sent.split()) <= 60:
                    out.append(sent)
    return out


def _vary(words: list[str], rng: random.Random, vocab: list[str]) -> list[str]:
    """A seeded word-level variation: swaps, drops, duplications, substitutions.

    The number of edits ranges from one (a near duplicate, usually rejected)
    to about half the words (usually novel), so both paths get exercised.
    """
    w = list(words)
    edits = rng.randint(1, max(1, len(w) // 2))
    for _ in range(edits):
        op = rng.random()
        if len(w) < 2:
            w.append(rng.choice(vocab))
        elif op < 0.3:
            i = rng.randrange(len(w) - 1)
            w[i], w[i + 1] = w[i + 1], w[i]
        elif op < 0.5:
            del w[rng.randrange(len(w))]
        elif op < 0.6:
            i = rng.randrange(len(w))
            w.insert(i, w[i])
        else:
            w[rng.randrange(len(w))] = rng.choice(vocab)
    return w


def iter_corpus(size: int, alpaca: Path, seed: int = 1234) -> Iterator[str]:
    """The texts of :func:`build_corpus`, one at a time (a 10M corpus is about 1.5 GB as a list)."""
    base = base_texts(alpaca)
    yield from base[:size]
    if len(base) >= size:
        return
    rng = random.Random(seed)
    vocab = sorted({w for t in base for w in t.split()})
    split = [t.split() for t in base]
    for _ in range(size - len(base)):
        i = rng.randrange(len(split))
        yield " ".join(_vary(split[i], rng, vocab))


def make_cache(size: int, alpaca: Path, cache: Path) -> None:
    """Write the texts of :func:`iter_corpus` to ``cache``, one JSON string a line, unless it
    already holds ``size`` or more (a 10M corpus takes about 45 s to make, 1.5 GB as a list)."""
    if cache.is_file():
        with cache.open("rb") as f:
            if sum(1 for _ in f) >= size:
                return
    tmp = cache.with_name(cache.name + ".part")
    with tmp.open("w", encoding="utf-8") as f:
        for text in iter_corpus(size, alpaca):
            f.write(json.dumps(text) + "\n")
    tmp.replace(cache)


def cached_corpus(size: int, cache: Path) -> Iterator[str]:
    """The first ``size`` texts of a :func:`make_cache` file, streamed."""
    with cache.open(encoding="utf-8") as f:
        for line in itertools.islice(f, size):
            yield json.loads(line)


def build_corpus(size: int, alpaca: Path, seed: int = 1234) -> list[str]:
    """Deterministic corpus of exactly ``size`` texts."""
    return list(iter_corpus(size, alpaca, seed))


def _peak_rss_mb() -> float:
    """Peak RSS of this process in MiB.

    VmHWM (Linux) belongs to the address space, so unlike ru_maxrss it does
    not inherit the parent's footprint across the fork+exec of "spawn".
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _breakdown(idx, corpus: list[str]) -> None:
    """``--breakdown``: the sequential filter with its query's two parts timed (CPU), printed
    for each quarter of the corpus: candidates (prefix, posting lists joined) and the exact
    LCS of the candidates, with the candidates and posting entries per query."""
    import selfinstruct.novelty as nv

    totals = dict(cand=0.0, query=0.0, n=0, post=0)
    candidates, query, shared = type(idx)._candidates, type(idx)._query_fast, nv._shared_by_at_least

    def timed_candidates(self, enc, m):
        t = time.process_time()
        out = candidates(self, enc, m)
        totals["cand"] += time.process_time() - t
        totals["n"] += len(out)
        return out

    def timed_query(self, enc):
        t = time.process_time()
        out = query(self, enc)
        totals["query"] += time.process_time() - t
        return out

    def counted_shared(lists, r):
        totals["post"] += sum(map(len, lists))
        return shared(lists, r)

    idx._candidates = timed_candidates.__get__(idx)
    idx._query_fast = timed_query.__get__(idx)
    nv._shared_by_at_least = counted_shared
    quarter = max(1, len(corpus) // 4)
    last = dict(totals, cpu=0.0)
    c0 = time.process_time()
    print(f"{'texts':>9} {'cpu s':>7} {'candidates s':>13} {'verify s':>9} {'rest s':>7} "
          f"{'cands/query':>12} {'postings/query':>15}")  # fmt: skip
    for k, text in enumerate(corpus, 1):
        idx.add_if_novel(text)
        if k % quarter == 0 or k == len(corpus):
            now = dict(totals, cpu=time.process_time() - c0)
            d = {key: now[key] - last[key] for key in now}
            n = k - (k - 1) // quarter * quarter if k == len(corpus) else quarter
            print(f"{k:>9} {d['cpu']:>7.1f} {d['cand']:>13.1f} {d['query'] - d['cand']:>9.1f} "
                  f"{d['cpu'] - d['query']:>7.1f} {d['n'] / n:>12.1f} {d['post'] / n:>15.0f}",
                  flush=True)  # fmt: skip
            last = now


def _run_size(
    size: int,
    alpaca: str,
    workers: int,
    check_hash: bool,
    conn,
    breakdown: bool = False,
    bulk: str = "",
    cache: str = "",
    threads: int = 1,
    numpy_only: bool = False,
) -> None:  # child process
    from selfinstruct.novelty import NoveltyIndex
    from selfinstruct.novelty_bulk import BulkNovelty
    from selfinstruct.novelty_parallel import novelty_stream

    t0 = time.perf_counter()
    c0 = time.process_time()
    digest = 0
    if bulk:
        # Streamed from the cache file: reading it is in "filter s".
        if cache:
            make_cache(size, Path(alpaca), Path(cache))
            corpus: Iterable[str] = cached_corpus(size, Path(cache))
        else:
            corpus = iter_corpus(size, Path(alpaca))
    elif workers:
        # Streamed: the corpus is made while it is filtered (its time is in "filter s"), and
        # the pool is dealt out to the worker processes.
        corpus: Iterable[str] = iter_corpus(size, Path(alpaca))
    else:
        corpus = build_corpus(size, Path(alpaca))
    t1 = time.perf_counter()
    rss_before = _peak_rss_mb()
    c1 = time.process_time()
    if bulk:
        index = BulkNovelty(
            0.7, exact_max=bulk == "exact", threads=threads, compiled=False if numpy_only else None
        )
        kept = 0
        for r in index.run(corpus):
            kept += r.novel
            if check_hash:
                digest = hash(
                    (digest, r.novel, -1.0 if r.novel or bulk != "exact" else r.max_score)
                )
    elif workers:
        results = novelty_stream(corpus, 0.7, workers=workers, exact_scores=False)
        kept = sum(r.novel for r in results)
    else:
        idx = NoveltyIndex(threshold=0.7, top_k=0)
        add = idx.add_if_novel
        if breakdown:
            _breakdown(idx, corpus)
        elif check_hash:
            # Every decision and max_score, hashed (floats and bools hash the same in every
            # process): two versions of the index giving the same hash gave the same results.
            for text in corpus:
                r = add(text)
                digest = hash((digest, r.novel, -1.0 if r.novel else r.max_score))
        else:
            for text in corpus:
                add(text)
        kept = len(idx)
    t2 = time.perf_counter()
    c2 = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    conn.send(
        {
            "texts": size,
            "kept": kept,
            "build_s": t1 - t0,
            "filter_s": t2 - t1,
            "filter_cpu_s": c2 - c1 + children.ru_utime + children.ru_stime,
            "build_cpu_s": c1 - c0,
            "rss_corpus_mb": rss_before,
            "peak_rss_mb": _peak_rss_mb(),
            # ru_maxrss of the largest worker (KiB on Linux); the workers' sum is at most
            # workers times this.
            "worker_rss_mb": children.ru_maxrss / 1024.0,
            "hash": digest,
        }
    )
    conn.close()


def run_size(
    size: int, alpaca: Path, workers: int = 0, check_hash: bool = False, breakdown: bool = False,
    bulk: str = "", cache: Path | None = None, threads: int = 1, numpy_only: bool = False,
) -> dict:  # fmt: skip
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    options = (workers, check_hash, child, breakdown, bulk, str(cache or ""), threads, numpy_only)
    proc = ctx.Process(target=_run_size, args=(size, str(alpaca), *options))
    proc.start()
    child.close()
    res = parent.recv()
    proc.join()
    return res


# -- brute-force check ------------------------------------------------------

_CHECK: dict = {}


def _check_init(toks, kept_flags, maxes) -> None:
    from rouge_score import rouge_scorer

    _CHECK.update(toks=toks, kept=kept_flags, maxes=maxes, score=rouge_scorer._score_lcs)


def _check_range(bounds: tuple[int, int]) -> list[str]:
    """rouge_score max F of text i against the index's kept texts before i."""
    toks, kept, maxes, score = (_CHECK[k] for k in ("toks", "kept", "maxes", "score"))
    errors = []
    kept_before = [j for j in range(bounds[0]) if kept[j]]
    for i in range(*bounds):
        # rouge_score computes target=existing, prediction=new.
        ref = max((score(toks[j], toks[i]).fmeasure for j in kept_before), default=0.0)
        ref_novel = not ref > 0.7
        if ref_novel != kept[i]:
            errors.append(f"text {i}: index novel={kept[i]} rouge_score max={ref!r}")
        elif not ref_novel and ref != maxes[i]:
            errors.append(f"text {i}: max {maxes[i]!r} != rouge_score {ref!r}")
        if kept[i]:
            kept_before.append(i)
    return errors


def check_prefix(corpus: list[str], workers: int) -> tuple[bool, float, int]:
    """Verify index decisions on ``corpus`` against rouge_score (brute force).

    Uses rouge_score's own tokenizer (tokenized once per text) and its own
    ``rouge_scorer._score_lcs`` -- the function ``RougeScorer.score`` calls.
    """
    from rouge_score import tokenizers

    from selfinstruct.novelty import NoveltyIndex

    idx = NoveltyIndex(top_k=0)
    results = [idx.add_if_novel(t) for t in corpus]
    kept = [r.novel for r in results]
    maxes = [r.max_score for r in results]
    tok = tokenizers.DefaultTokenizer(use_stemmer=False)
    toks = [tok.tokenize(t) for t in corpus]
    # Later texts compare against more kept texts: balance chunks by pairs.
    n = len(corpus)
    nchunks = max(1, workers * 8)
    bounds, start = [], 0
    for c in range(1, nchunks + 1):
        end = int(n * (c / nchunks) ** 0.5)
        if end > start:
            bounds.append((start, end))
            start = end
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(workers, _check_init, (toks, kept, maxes)) as pool:
        errors = [e for chunk in pool.map(_check_range, bounds) for e in chunk]
    for e in errors[:20]:
        print("MISMATCH", e)
    return not errors, time.perf_counter() - t0, sum(kept)


# -- naive baseline -----------------------------------------------------------


def naive_filter(corpus: list[str]) -> tuple[int, float]:
    """All-pairs baseline: same integer encoding + rapidfuzz cdist, no pruning."""
    import numpy as np
    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq

    from selfinstruct.novelty import tokenize

    t0 = time.perf_counter()
    vocab: dict[str, str] = {}
    kept: list[str] = []
    kept_len = np.zeros(len(corpus), dtype=np.float64)
    for text in corpus:
        enc = "".join(
            vocab.setdefault(t, chr(len(vocab) + 1 + (0x800 if len(vocab) + 1 >= 0xD800 else 0)))
            for t in tokenize(text)
        )
        m = len(enc)
        novel = True
        if kept and m:
            lcs = process.cdist([enc], kept, scorer=LCSseq.similarity, dtype=np.int32)[0]
            lcs = lcs.astype(np.float64)
            n = kept_len[: len(kept)]
            with np.errstate(divide="ignore", invalid="ignore"):
                p = lcs / m
                r = lcs / n
                f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
            novel = not (f > 0.7).any()
        if novel:
            kept_len[len(kept)] = m
            kept.append(enc)
    return len(kept), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="50000,100000,1000000")
    ap.add_argument("--check-prefix", type=int, default=3000, help="0 disables the check")
    ap.add_argument(
        "--check-varied",
        type=int,
        default=0,
        help="also check this many texts from the varied part of the corpus",
    )
    ap.add_argument("--compare-naive", action="store_true", help="time all-pairs rapidfuzz at 50K")
    ap.add_argument("--alpaca", type=Path, default=DEFAULT_ALPACA)
    ap.add_argument(
        "--hash",
        action="store_true",
        help="print a hash of every result (sequential filter): to compare two versions",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="time the sequential filter's candidates and verification per quarter (slower)",
    )
    ap.add_argument("--workers", type=int, default=mp.cpu_count(), help="for the checks")
    ap.add_argument(
        "--bulk",
        choices=["exact", "decisions"],
        default="",
        help="the block-at-a-time filter (selfinstruct.novelty_bulk) on the streamed corpus: "
        "'exact' also finds every rejected text's exact maximum, 'decisions' stops at the "
        "first score above the threshold",
    )
    ap.add_argument(
        "--corpus-cache",
        type=Path,
        default=None,
        help="with --bulk: the corpus as a file of JSON lines, made once, then streamed",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="with --bulk: threads settling a block against the pool at once (BulkNovelty)",
    )
    ap.add_argument(
        "--numpy",
        action="store_true",
        help="with --bulk: settle against the pool in numpy even when numba is installed",
    )
    ap.add_argument(
        "--filter-workers",
        type=int,
        default=0,
        help="0: the sequential index on a corpus built first (as before); N >= 2: the corpus "
        "streamed through novelty_stream with the pool dealt out to N worker processes",
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    ok = True

    checks = []
    if args.check_prefix:
        checks.append(("prefix", build_corpus(args.check_prefix, args.alpaca)))
    if args.check_varied:
        # The first ~21K texts are unvaried Alpaca; also check a stretch of
        # seeded variations (many near-duplicates, so many rejections).
        start = 30000
        checks.append(
            ("varied slice", build_corpus(start + args.check_varied, args.alpaca)[start:])
        )
    for name, texts in checks:
        same, secs, kept = check_prefix(texts, args.workers)
        ok &= same
        print(
            f"check vs rouge_score ({name}, {len(texts)} texts, kept {kept}): "
            f"{'IDENTICAL' if same else 'MISMATCH'} (brute force {secs:.1f}s, "
            f"{args.workers} workers)",
            flush=True,
        )

    print(
        f"{'texts':>9} {'kept':>9} {'corpus s':>9} {'filter s':>9} {'filter cpu s':>13} "
        f"{'total s':>8} {'peak RSS MB':>12} {'RSS after corpus MB':>20} {'worker RSS MB':>14} "
        f"{'load':>5}"
    )
    for size in sizes:
        r = run_size(
            size, args.alpaca, args.filter_workers, args.hash, args.breakdown, args.bulk,
            args.corpus_cache, args.threads, args.numpy,
        )  # fmt: skip
        print(
            f"{r['texts']:>9} {r['kept']:>9} {r['build_s']:>9.2f} {r['filter_s']:>9.2f} "
            f"{r['filter_cpu_s']:>13.2f} {r['build_s'] + r['filter_s']:>8.2f} "
            f"{r['peak_rss_mb']:>12.0f} {r['rss_corpus_mb']:>20.0f} {r['worker_rss_mb']:>14.0f} "
            f"{os.getloadavg()[0]:>5.1f}",
            flush=True,
        )
        if args.hash:
            print(f"results hash {r['hash']}", flush=True)

    if args.compare_naive:
        corpus = build_corpus(50000, args.alpaca)
        from selfinstruct.novelty import NoveltyIndex

        t0 = time.perf_counter()
        idx = NoveltyIndex(top_k=0)
        for t in corpus:
            idx.add_if_novel(t)
        fast = time.perf_counter() - t0
        kept, naive = naive_filter(corpus)
        same = kept == len(idx)
        ok &= same
        print(
            f"naive all-pairs rapidfuzz @50K: {naive:.1f}s (kept {kept}); index {fast:.2f}s "
            f"(kept {len(idx)}); speedup {naive / fast:.0f}x"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
