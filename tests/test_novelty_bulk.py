"""The block-at-a-time novelty filter (issue 25) makes the Self-Instruct filter's decisions."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_novelty import _corpus, brute_force_filter

from selfinstruct import novelty_bulk, novelty_kernel, novelty_table
from selfinstruct.novelty import NoveltyIndex
from selfinstruct.novelty_bulk import BulkNovelty, Verdict, bulk_novelty

_PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Thresholds strictly between 0 and 1 (the only ones the bulk filter takes).
_THRESHOLDS = st.sampled_from([0.7, 0.7, 0.7, 0.5, 0.3, 0.1, 0.9, 0.95, 2 / 3, 0.75, 0.999])
# Small blocks (texts settled against earlier texts of their own block), re-ranking early and
# often, and every split between texts found through pairs and through single elements.
_OPTIONS = st.fixed_dictionaries({
    "block": st.sampled_from([1, 2, 3, 7, 64]),
    "pair_max": st.sampled_from([1, 2, 3, 5, 32]),
    "first_rerank": st.sampled_from([1, 4, 16]),
    "first_round": st.sampled_from([0, 1, 2, 5]),
    "group_verify": st.sampled_from([1, 2, 8]),
    "compiled": st.booleans(),  # the pool look-up in numpy or compiled (novelty_kernel)
})  # fmt: skip


def _check(texts: list[str], threshold: float, tokenizer: str, **options: int) -> None:
    _, maxes = brute_force_filter(texts, threshold, tokenizer)
    verdicts = list(bulk_novelty(texts, threshold, tokenizer, **options))  # type: ignore[arg-type]
    assert len(verdicts) == len(texts)
    kept_before = False
    for text, verdict, want in zip(texts, verdicts, maxes, strict=True):
        novel = not kept_before or not want > threshold
        assert verdict.novel == novel, (text, verdict, want)
        if not novel:
            assert verdict.max_score == want, (text, verdict, want)
        else:
            assert verdict.max_score <= max(want, 0.0) <= threshold
        kept_before = True


@given(_corpus(), _THRESHOLDS, _OPTIONS)
@_PROPS
def test_bulk_matches_rouge_score(texts: list[str], threshold: float, options: dict) -> None:
    _check(texts, threshold, "rouge", **options)


@given(_corpus(), _THRESHOLDS, _OPTIONS)
@_PROPS
def test_bulk_matches_rouge_score_unicode_tokens(
    texts: list[str], threshold: float, options: dict
) -> None:
    _check(texts, threshold, "unicode", **options)


def _near_copies(n: int, seed: int, vocabulary: int = 80) -> list[str]:
    """Texts of 1 to 40 words, most of them edits of an earlier one (many matches per text)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocabulary)]
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.7:
            toks = rng.choice(out).split()
            for _ in range(rng.randint(0, 4)):
                op = rng.random()
                if toks and op < 0.3:
                    toks[rng.randrange(len(toks))] = rng.choice(words)
                elif toks and op < 0.5:
                    del toks[rng.randrange(len(toks))]
                else:
                    toks.insert(rng.randint(0, len(toks)), rng.choice(words))
            out.append(" ".join(toks))
        else:
            out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 40))))
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("exact_max", [True, False])
@pytest.mark.parametrize(
    ("threads", "budget", "compiled", "seal"),
    [(1, None, False, None), (3, None, False, None), (1, 64, False, None), (2, 64, False, None),
     (1, None, True, None), (3, None, True, None), (1, None, False, 97), (2, None, True, 97)],
)  # fmt: skip
def test_bulk_equals_the_sequential_index(
    monkeypatch: pytest.MonkeyPatch, seed: int, exact_max: bool, threads: int,
    budget: int | None, compiled: bool, seal: int | None,
) -> None:  # fmt: skip
    """Thousands of texts, blocks of 256, re-ranked at 16, 64 and 256 kept texts: the same
    decisions as NoveltyIndex, and the same maximum for every rejected text (with
    ``exact_max=False``, a score above the threshold). With 3 threads each block is settled
    against the pool in 3 parts at once; with a budget of 64 look-up hits, a block is settled
    in as many parts as its hits need, one after another or two at once. Compiled, each text
    walks its signatures in compiled code (in 3 parts at once with 3 threads). With a seal of
    97 entries, the tables' entries are mostly in their sealed run, moved 5 at a time when
    new ones are merged in."""
    monkeypatch.setattr(novelty_bulk, "_MIN_PART", 16)
    if seal is not None:  # the tables seal their entries into their run early
        monkeypatch.setattr(novelty_table, "SEAL", seal)
        monkeypatch.setattr(novelty_table, "_MOVE", 5)
    if budget is not None:
        monkeypatch.setattr(novelty_bulk, "_HIT_BUDGET", budget)
        parts: list[int] = []
        settle = BulkNovelty._against_pool_part
        monkeypatch.setattr(BulkNovelty, "_against_pool_part",
                            lambda self, *a: parts.append(1) or settle(self, *a))  # fmt: skip
    texts = _near_copies(3000, seed)
    index = NoveltyIndex(0.7, top_k=0)
    options = dict(
        block=256,
        first_rerank=16,
        rerank_until=256,
        exact_max=exact_max,
        threads=threads,
        compiled=compiled,
    )
    verdicts = list(BulkNovelty(0.7, **options).run(texts))  # type: ignore[arg-type]
    rejected = 0
    for text, verdict in zip(texts, verdicts, strict=True):
        want = index.add_if_novel(text)
        assert verdict.novel == want.novel, text
        if not want.novel:
            rejected += 1
            if exact_max:
                assert verdict.max_score == want.max_score, text
            else:
                assert 0.7 < verdict.max_score <= want.max_score, text
    assert 500 < rejected < 2900  # both decisions are common here
    if budget is not None:
        assert len(parts) > 4 * len(texts) // 256  # blocks did split by their hits


def test_seeds_are_remembered_and_repeats_counted() -> None:
    bulk = BulkNovelty(0.7, block=2)
    bulk.add(["give three tips for staying healthy", "the the the the cat"])
    out = list(bulk.run([
        "Give three tips for staying healthy.", "the the the the the cat", "", "x",
        "the cat", "x", "write a poem about the sea",
    ]))  # fmt: skip
    assert [v.novel for v in out] == [False, False, True, True, True, False, True]
    assert out[0] == Verdict(False, 1.0)
    assert out[1].max_score == pytest.approx(2 * 5 / 11)  # LCS 5 of 6 and 5 tokens
    assert len(bulk) == 2 + 4


def test_thresholds_outside_the_open_interval_are_refused() -> None:
    for threshold in (0.0, 1.0, -0.5, 2.0):
        with pytest.raises(ValueError, match="0 < threshold < 1"):
            BulkNovelty(threshold)


@pytest.mark.parametrize("relink", [3, 1 << 21])
def test_table_finds_every_entry_across_growth(
    monkeypatch: pytest.MonkeyPatch, relink: int
) -> None:
    """The table grows its bucket array and chains every entry anew, a slice of ``relink``
    entries at a time; every stored (key, pid, places) must still be found, and nothing else."""
    monkeypatch.setattr(novelty_table, "_RELINK", relink)
    rng = np.random.default_rng(7)
    table = novelty_table.Chain()
    expected: dict[int, set[tuple[int, int, int]]] = {}
    pid = 0
    for size in (5, 900, 3000, 20000):  # each insert past twice the buckets grows them
        keys = rng.integers(0, 400, size=size).astype(np.uint64) * np.uint64(0x1_0000_0001)
        u = rng.integers(0, 300, size=size)
        v = rng.integers(0, 300, size=size)
        pids = np.arange(pid, pid + size)
        pid += size
        table.insert(keys, pids, u, v, rng.integers(0, 70000, size=size))
        for k, p, a, b in zip(keys.tolist(), pids.tolist(), u.tolist(), v.tolist(), strict=True):
            expected.setdefault(k & 0xFFFFFFFF, set()).add((p, min(a, 255), min(b, 255)))
    probe = np.array(sorted(expected) + [123456789], dtype=np.uint64)
    which, pids, u2, v2 = table.lookup(probe)
    got: dict[int, set[tuple[int, int, int]]] = {}
    for i, p, a, b in zip(which.tolist(), pids.tolist(), u2.tolist(), v2.tolist(), strict=True):
        got.setdefault(int(probe[i]), set()).add((p, a, b))
    assert got == expected
    assert table.bits > 12


@pytest.mark.parametrize(
    ("move", "compiled"),
    [(7, False), (1 << 20, False), (7, True)] if novelty_kernel.available() else
    [(7, False), (1 << 20, False)],
)  # fmt: skip
def test_run_and_chain_find_every_entry_in_order(
    monkeypatch: pytest.MonkeyPatch, move: int, compiled: bool
) -> None:
    """Entries sealed 97 at a time and merged into the run (in numpy, its entries moved
    ``move`` at a time; compiled, in one pass from the top down), and those still chained:
    every stored (key, pid, places) is found, nothing else, a key's entries lie in the run in
    the order they were inserted, and the directory (updated in place while the run's size
    keeps its bucket count) says where each bucket starts."""
    monkeypatch.setattr(novelty_table, "SEAL", 97)
    monkeypatch.setattr(novelty_table, "_MOVE", move)
    rng = np.random.default_rng(3)
    table = novelty_table.Table(compiled=compiled)
    expected: dict[int, set[tuple[int, int, int]]] = {}
    pid = 0
    for size in (5, 90, 300, 2000, 40, 70, 20):  # sealed at the 3rd, 4th and 6th
        keys = rng.integers(0, 300, size=size).astype(np.uint64) * np.uint64(0x1_0000_0001)
        u, v = rng.integers(0, 300, size=size), rng.integers(0, 300, size=size)
        pids = np.arange(pid, pid + size)
        pid += size
        table.insert(keys, pids, u, v, rng.integers(0, 70000, size=size))
        for k, p, a, b in zip(keys.tolist(), pids.tolist(), u.tolist(), v.tolist(), strict=True):
            expected.setdefault(k & 0xFFFFFFFF, set()).add((p, min(a, 255), min(b, 255)))
    assert len(table.runs) == 1 and table.chain.size and table.size == pid
    start, end, shift, d0 = table.runs[0]
    run = table.keys[start:end].astype(np.int64)
    assert np.all(np.diff(run) >= 0)  # sorted by key
    same = np.diff(run) == 0
    assert np.all(np.diff(table.pids[start:end].astype(np.int64))[same] > 0)  # inserted order
    for bucket in range(len(table.dirs) - 1 - d0):  # the directory: where each bucket starts
        assert table.dirs[d0 + bucket] == np.searchsorted(run, bucket << shift)
    probe = np.array(sorted(expected) + [123456789], dtype=np.uint64)
    which, pids, u2, v2 = table.lookup(probe)
    got: dict[int, set[tuple[int, int, int]]] = {}
    for i, p, a, b in zip(which.tolist(), pids.tolist(), u2.tolist(), v2.tolist(), strict=True):
        got.setdefault(int(probe[i]), set()).add((p, a, b))
    assert got == expected
