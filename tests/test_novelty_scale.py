"""The novelty index's paths for large pools (issue 25) give what the plain paths give."""

from __future__ import annotations

import random
from array import array
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_novelty import _THRESHOLDS, _check_against_brute, _corpus

from selfinstruct.novelty import NoveltyIndex, _shared_by_at_least
from selfinstruct.novelty_parallel import novelty_stream

_PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _posting_lists(draw: st.DrawFn) -> list[array[int]]:
    """Ascending duplicate-free lists of very different lengths (some 50 times the others)."""
    lists = []
    for _ in range(draw(st.integers(1, 7))):
        universe = draw(st.sampled_from([8, 40, 400]))
        items = draw(st.sets(st.integers(0, universe), max_size=universe))
        lists.append(array("i", sorted(items)))
    return lists


@given(_posting_lists(), st.integers(1, 5))
@_PROPS
def test_shared_by_at_least_counts_exactly(lists: list[array[int]], r: int) -> None:
    counts = Counter(p for pl in lists for p in pl)
    want = {p for p, c in counts.items() if c >= r}
    assert set(_shared_by_at_least(lists, r)) == want


class _Plain(NoveltyIndex):
    first_rebuild = 4  # re-ranked often


class _BatchEveryQuery(_Plain):
    batch_verify = 1  # every query's candidates verified in one rapidfuzz call


@given(_corpus(), _THRESHOLDS)
@_PROPS
def test_batched_verification_matches_rouge_score(texts: list[str], threshold: float) -> None:
    idx = _BatchEveryQuery(threshold=threshold, top_k=0)
    _check_against_brute(texts, threshold, "rouge", idx, 0, False)


@given(_corpus(), _THRESHOLDS)
@_PROPS
def test_batched_verification_gives_the_same_results(texts: list[str], threshold: float) -> None:
    plain = _Plain(threshold=threshold, top_k=0)
    batched = _BatchEveryQuery(threshold=threshold, top_k=0)
    for text in texts:
        assert batched.add_if_novel(text) == plain.add_if_novel(text)


# --------------------------------------------------------------------------
# The pool dealt out to worker processes (novelty_stream): the sequential decisions
# --------------------------------------------------------------------------


def _near_duplicates(n: int, seed: int) -> list[str]:
    """Texts over a small vocabulary, half of them edits of an earlier one."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.5:
            toks = rng.choice(out).split()
            for _ in range(rng.randint(0, 3)):
                if toks and rng.random() < 0.5:
                    toks[rng.randrange(len(toks))] = rng.choice(words)
                else:
                    toks.insert(rng.randint(0, len(toks)), rng.choice(words))
        else:
            toks = rng.choices(words, k=rng.randint(0, 14))
        out.append(" ".join(toks))
    return out


def _same_as_sequential(
    texts: list[str], threshold: float, workers: int, block: int, exact: bool = True
) -> None:
    index = NoveltyIndex(threshold=threshold, top_k=0)
    want = [index.add_if_novel(text) for text in texts]
    got = list(novelty_stream(iter(texts), threshold, workers=workers, block=block,
                              exact_scores=exact))  # fmt: skip
    assert [r.novel for r in got] == [r.novel for r in want]
    for g, w in zip(got, want, strict=True):
        if not w.novel and exact:
            assert g.max_score == w.max_score  # exact when rejected
        elif not w.novel:
            assert threshold < g.max_score <= w.max_score
        else:
            assert g.max_score <= threshold or threshold < 0


@pytest.mark.parametrize(
    ("threshold", "workers", "block", "exact"),
    [(0.7, 2, 7, True), (0.7, 3, 64, True), (0.5, 2, 1, True), (0.9, 2, 1000, True),
     (0.7, 2, 7, False), (0.5, 3, 50, False)],
)  # fmt: skip
def test_stream_on_workers_decides_as_the_sequential_filter(
    threshold: float, workers: int, block: int, exact: bool
) -> None:
    texts = _near_duplicates(600, seed=workers * block)
    _same_as_sequential(texts, threshold, workers, block, exact)


@given(_corpus(), _THRESHOLDS, st.integers(1, 5))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_stream_on_workers_on_random_corpora(
    texts: list[str], threshold: float, block: int
) -> None:
    _same_as_sequential(texts, threshold, 2, block)


def test_stream_empty_pool_keeps_even_below_a_negative_threshold() -> None:
    got = list(novelty_stream(["a b", "a b", "c"], threshold=-0.5, workers=2, block=1))
    want = NoveltyIndex(threshold=-0.5, top_k=0)
    assert [r.novel for r in got] == [want.add_if_novel(t).novel for t in ["a b", "a b", "c"]]
