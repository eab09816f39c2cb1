"""Exactness tests for selfinstruct.novelty against rouge_score itself.

The reference is ``RougeScorer(["rougeL"], use_stemmer=False).score(existing,
candidate)`` run pairwise (brute force); the index must make identical keep
decisions and report bit-identical scores wherever it promises exactness.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer, tokenizers
from rouge_score import tokenize as rouge_tokenize

from selfinstruct.novelty import (
    NoveltyIndex,
    NoveltyResult,
    Similar,
    _elements,
    _f_from_lcs,
    _f_vectorized,
    _top_k_indices,
    rouge_l_f,
    tokenize,
)


class _UnicodeTokenizer(tokenizers.Tokenizer):
    """Lets rouge_score itself score with the "unicode" tokenizer."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, "unicode")


_SCORERS = {
    "rouge": rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False),
    "unicode": rouge_scorer.RougeScorer(["rougeL"], tokenizer=_UnicodeTokenizer()),
}


def _ref(existing: str, candidate: str, tokenizer: str = "rouge") -> float:
    # Self-Instruct: scorer.score(existing_instruction, new_instruction).
    return _SCORERS[tokenizer].score(existing, candidate)["rougeL"].fmeasure


def brute_force_scores(text: str, pool: Sequence[str], tokenizer: str = "rouge") -> list[float]:
    return [float(_ref(p, text, tokenizer)) for p in pool]


def brute_force_max(text: str, pool: Sequence[str], tokenizer: str = "rouge") -> float:
    return max(brute_force_scores(text, pool, tokenizer), default=0.0)


def brute_force_filter(
    texts: Sequence[str], threshold: float, tokenizer: str = "rouge"
) -> tuple[list[str], list[float]]:
    """The Self-Instruct filter, pairwise with rouge_score."""
    kept: list[str] = []
    maxes: list[float] = []
    for t in texts:
        mx = brute_force_max(t, kept, tokenizer)
        maxes.append(mx)
        if not kept or not mx > threshold:
            kept.append(t)
    return kept, maxes


def _index(
    threshold: float = 0.7,
    tokenizer: str = "rouge",
    top_k: int = 0,
    delta: int = 3,
    rebuild: int = 1024,
) -> NoveltyIndex:
    cls = type("I", (NoveltyIndex,), {"prefix_delta": delta, "first_rebuild": rebuild})
    return cls(threshold=threshold, tokenizer=tokenizer, top_k=top_k)


# --------------------------------------------------------------------------
# Strategies: small vocabularies so overlaps and near-duplicates are common.
# --------------------------------------------------------------------------

_WORDS = [
    "a", "b", "c", "d", "e", "the", "cat", "Cat", "CAT", "x1", "2", "café",
    "Café", "cafe\u0301", "naïve", "İstanbul", "\u212a", "東京", "日本語", "한국어",
    "ñ", "Straße", "!!", "...", "-", "'", "", "données", "हिन्दी",
]  # fmt: skip
_SEPS = [" ", " ", " ", ", ", "\n", "-", "", "\t", "? "]

_word_lists = st.lists(st.sampled_from(_WORDS), min_size=0, max_size=12)


@st.composite
def _texts(draw: st.DrawFn) -> str:
    words = draw(_word_lists)
    seps = draw(st.lists(st.sampled_from(_SEPS), min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps, strict=True))


@st.composite
def _corpus(draw: st.DrawFn) -> list[str]:
    """Random texts plus near-duplicates of earlier ones (word edits)."""
    out: list[str] = []
    for _ in range(draw(st.integers(1, 24))):
        if out and draw(st.booleans()):
            words = draw(st.sampled_from(out)).split()
            for _ in range(draw(st.integers(0, 3))):
                op = draw(st.integers(0, 2))
                if op == 0 or not words:
                    words.insert(draw(st.integers(0, len(words))), draw(st.sampled_from(_WORDS)))
                elif op == 1:
                    del words[draw(st.integers(0, len(words) - 1))]
                else:
                    words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(_WORDS))
            out.append(" ".join(words))
        else:
            out.append(draw(_texts()))
    return out


_THRESHOLDS = st.sampled_from([0.7, 0.7, 0.7, 0.5, 0.3, 0.1, 0.9, 0.95, 1.0, 0.0, 2 / 3, 0.75])
_PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------

_tricky_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from("aZ09 \t\n_-.,!İKẞßǅﬁ²①٣東京é\u0301\u00a0\u2028"),
    ),
    max_size=60,
)


@given(_tricky_text)
@settings(max_examples=300, deadline=None)
def test_rouge_tokenizer_equals_rouge_score(text: str) -> None:
    expected = tokenizers.DefaultTokenizer(use_stemmer=False).tokenize(text)
    assert tokenize(text, "rouge") == expected
    assert tokenize(text, "rouge") == rouge_tokenize.tokenize(text, None)


def test_unicode_tokenizer() -> None:
    assert tokenize("我爱北京天安门", "unicode") == list("我爱北京天安门")
    assert tokenize("abc東京def 123", "unicode") == ["abc", "東", "京", "def", "123"]
    assert tokenize("Straße CAFÉ", "unicode") == ["strasse", "café"]
    assert tokenize("cafe\u0301", "unicode") == tokenize("café", "unicode")
    assert tokenize("हिन्दी भाषा", "unicode") == ["हिन्दी", "भाषा"]
    assert tokenize("ひらがなカタカナ 한국어", "unicode") == list("ひらがなカタカナ한국어")
    assert tokenize("Привет, мир!", "unicode") == ["привет", "мир"]
    assert tokenize("under_score --- !!", "unicode") == ["under", "score"]
    assert tokenize("東京", "rouge") == []  # rouge_score drops all non-ASCII


def test_unknown_tokenizer() -> None:
    with pytest.raises(ValueError):
        tokenize("x", "bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        NoveltyIndex(tokenizer="bogus")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# The F formula
# --------------------------------------------------------------------------


@given(
    st.lists(st.sampled_from("abcdef"), max_size=15),
    st.lists(st.sampled_from("abcdef"), max_size=15),
)
@settings(max_examples=400, deadline=None)
def test_rouge_l_f_equals_score_lcs(a: list[str], b: list[str]) -> None:
    ref = rouge_scorer._score_lcs(a, b).fmeasure  # target=a, prediction=b
    assert rouge_l_f(a, b) == ref
    assert type(rouge_l_f(a, b)) is float


def test_f_formula_symmetric_and_vectorized_bit_identical() -> None:
    """(2*p)*r == (2*r)*p exactly, and numpy float64 matches Python floats."""
    triples = [
        (lcs, m, n) for m in range(1, 91) for n in range(1, 91) for lcs in range(0, min(m, n) + 1)
    ]
    want = [_f_from_lcs(lcs, m, n) for lcs, m, n in triples]
    assert want == [_f_from_lcs(lcs, n, m) for lcs, m, n in triples]
    arr = np.array(triples, dtype=np.float64)
    got = _f_vectorized(arr[:, 0], arr[:, 1], arr[:, 2])  # type: ignore[arg-type]
    assert got.tolist() == want


# --------------------------------------------------------------------------
# Boundary pairs
# --------------------------------------------------------------------------

# 7 common tokens, candidate 9 tokens, pool item 11 tokens: mathematically
# F = 14/20 = 0.7 but rouge_score computes 0.7000000000000001 -> rejected.
POOL_11 = "a b c d e f g h i j k"
CAND_9 = "a b c d e f g x y"
# 7 common tokens, both 10 tokens: F == 0.7 exactly -> kept (not > 0.7).
POOL_10 = "a b c d e f g h i j"
CAND_10 = "a b c d e f g x y z"


def test_point_seven_plus_ulp_is_rejected_like_reference() -> None:
    assert _ref(POOL_11, CAND_9) == 0.7000000000000001
    idx = _index()
    idx.add(POOL_11)
    res = idx.query(CAND_9, top_k=0)
    assert res.max_score == 0.7000000000000001
    assert not res.novel
    assert not idx.add_if_novel(CAND_9).novel
    assert len(idx) == 1


def test_exactly_point_seven_is_kept() -> None:
    assert _ref(POOL_10, CAND_10) == 0.7
    idx = _index()
    idx.add(POOL_10)
    res = idx.add_if_novel(CAND_10)
    assert res.novel and res.max_score == 0.7
    assert len(idx) == 2


def test_threshold_parameter() -> None:
    idx = NoveltyIndex(threshold=0.8, top_k=0)
    idx.add(POOL_11)
    assert idx.query(CAND_9).novel
    strict = NoveltyIndex(threshold=0.2, top_k=0)
    strict.add("the cat sat on the mat")
    assert not strict.query("a cat sat on a rug today").novel
    assert strict.query("completely different words here").novel
    never = NoveltyIndex(threshold=1.0, top_k=0)
    never.add("same text")
    assert never.query("same text").novel  # 1.0 is not > 1.0
    always = NoveltyIndex(threshold=-0.5, top_k=0)
    assert always.add_if_novel("first").novel  # empty pool: nothing exceeds
    assert not always.query("unrelated").novel  # 0.0 > -0.5


def test_empty_pool_and_empty_texts() -> None:
    idx = NoveltyIndex()
    res = idx.query("anything at all", with_mean=True)
    assert res == NoveltyResult(0.0, True, [], None)
    assert len(idx) == 0
    assert idx.add("") == 0
    assert idx.add("!!! ...") == 1
    res = idx.query("", top_k=3, with_mean=True)
    assert res.max_score == 0.0 and res.novel and res.mean_score == 0.0
    assert [s.score for s in res.most_similar] == [0.0, 0.0]
    assert idx.query("", top_k=0).novel
    assert idx.add_if_novel("???").novel  # punctuation-only: no tokens, 0.0


def test_unicode_mode_dedups_identical_chinese() -> None:
    text = "请写一首关于秋天的诗。"
    uni = NoveltyIndex(tokenizer="unicode", top_k=0)
    assert uni.add_if_novel(text).novel
    res = uni.add_if_novel(text)
    assert not res.novel and res.max_score == 1.0
    assert len(uni) == 1
    # rouge_score's tokenizer sees no tokens at all in Chinese: 0.0, kept.
    rouge = NoveltyIndex(tokenizer="rouge", top_k=0)
    rouge.add_if_novel(text)
    assert rouge.add_if_novel(text).novel
    assert uni.tokens(text)[:3] == ["请", "写", "一"]


def test_top_k_ties_by_insertion_order() -> None:
    idx = NoveltyIndex(top_k=3)
    for t in ["x y", "a b c", "q r", "a b d", "a b c"]:
        idx.add(t)
    res = idx.query("a b c")
    assert res.most_similar == [
        Similar("a b c", 1.0),
        Similar("a b c", 1.0),
        Similar("a b d", _ref("a b d", "a b c")),
    ]
    assert res.max_score == 1.0 and not res.novel
    assert idx.query("a b c", top_k=10).most_similar[3:] == [
        Similar("x y", 0.0),
        Similar("q r", 0.0),
    ]


def test_tokens_and_cache_follow_vocabulary_growth() -> None:
    idx = NoveltyIndex(top_k=0)
    assert idx.tokens("Hello, World!") == ["hello", "world"]
    # "zebra" is unknown on the first query; the cached encoding must not
    # keep treating it as unknown once a pool text contains it.
    assert idx.add_if_novel("quick zebra").novel
    assert idx.query("zebra").max_score == 0.0
    idx.add("zebra")
    assert idx.query("zebra").max_score == 1.0


# --------------------------------------------------------------------------
# Property tests: incremental index vs brute-force rouge_score
# --------------------------------------------------------------------------


def _check_against_brute(
    texts: list[str],
    threshold: float,
    tokenizer: str,
    idx: NoveltyIndex,
    top_k: int,
    with_mean: bool,
) -> None:
    kept_ref, maxes_ref = brute_force_filter(texts, threshold, tokenizer)
    kept: list[str] = []
    for text, mx_ref in zip(texts, maxes_ref, strict=True):
        pool = list(kept)
        res = idx.add_if_novel(text, top_k=top_k, with_mean=with_mean)
        novel_ref = not pool or not mx_ref > threshold
        assert res.novel == novel_ref, (text, pool, res, mx_ref)
        exact = not res.novel or top_k > 0 or with_mean
        if exact:
            assert res.max_score == mx_ref
        else:
            assert res.max_score <= mx_ref <= max(threshold, 0.0)
        if top_k or with_mean:
            scores = brute_force_scores(text, pool, tokenizer)
            order = sorted(range(len(pool)), key=lambda i: (-scores[i], i))[:top_k]
            assert res.most_similar == [Similar(pool[i], scores[i]) for i in order]
            if with_mean:
                want = float(np.mean(np.array(scores))) if pool else None
                assert res.mean_score == want
        else:
            assert res.most_similar == [] and res.mean_score is None
        if res.novel:
            kept.append(text)
    assert kept == kept_ref
    assert idx.texts == kept_ref and len(idx) == len(kept_ref)


@given(_corpus(), _THRESHOLDS, st.sampled_from([1, 2, 3, 4]), st.sampled_from([2, 5, 1024]))
@_PROPS
def test_fast_path_matches_rouge_score(
    texts: list[str], threshold: float, delta: int, rebuild: int
) -> None:
    idx = _index(threshold, "rouge", 0, delta, rebuild)
    _check_against_brute(texts, threshold, "rouge", idx, 0, False)


@given(_corpus(), _THRESHOLDS, st.sampled_from([1, 3]))
@_PROPS
def test_unicode_fast_path_matches_rouge_score(
    texts: list[str], threshold: float, delta: int
) -> None:
    idx = _index(threshold, "unicode", 0, delta, 3)
    _check_against_brute(texts, threshold, "unicode", idx, 0, False)


@given(
    _corpus(), _THRESHOLDS, st.integers(0, 6), st.booleans(), st.sampled_from(["rouge", "unicode"])
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_full_scan_top_k_and_mean(
    texts: list[str], threshold: float, top_k: int, with_mean: bool, tokenizer: str
) -> None:
    idx = _index(threshold, tokenizer, top_k=10)
    _check_against_brute(texts, threshold, tokenizer, idx, top_k, with_mean)


# --------------------------------------------------------------------------
# Larger corpus: pruned fast path vs exhaustive scan (itself checked above)
# --------------------------------------------------------------------------


def _zipf_corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(400)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    base: list[list[str]] = []
    out: list[str] = []
    for _ in range(n):
        if base and rng.random() < 0.5:
            words = list(rng.choice(base))
            for _ in range(rng.randint(0, 4)):
                if words and rng.random() < 0.5:
                    words[rng.randrange(len(words))] = rng.choices(vocab, weights)[0]
                elif words and rng.random() < 0.5:
                    del words[rng.randrange(len(words))]
                else:
                    words.insert(rng.randint(0, len(words)), rng.choices(vocab, weights)[0])
        else:
            words = rng.choices(vocab, weights, k=rng.randint(0, 30))
        base.append(words)
        out.append(" ".join(words))
    return out


@pytest.mark.parametrize("threshold", [0.7, 0.5, 0.85])
def test_fast_path_equals_exhaustive_on_larger_corpus(threshold: float) -> None:
    texts = _zipf_corpus(2500, seed=int(threshold * 100))
    fast = _index(threshold, rebuild=64)
    full = _index(threshold, top_k=1)
    for t in texts:
        a = fast.add_if_novel(t)
        b = full.add_if_novel(t)
        assert a.novel == b.novel
        if not a.novel:
            assert a.max_score == b.max_score
        else:
            assert a.max_score <= b.max_score
    assert fast.texts == full.texts
    assert 0 < len(fast) < len(texts)


# --------------------------------------------------------------------------
# Long repetitive texts (issue 8: indexing was cubic in a repeated word)
# --------------------------------------------------------------------------


def test_elements_are_linear_in_repeats() -> None:
    """The multiset elements of a text take O(n) characters, not O(n^2).

    The k-th copy of a token used to be the k-fold repeated string, so 3,000
    copies of one word built ~4.5M characters (and n^2/2 hash-and-compare
    steps); 20,000 copies of "very " took minutes to add.
    """
    enc = "a" * 3000 + "b" * 5 + "a"
    elems = _elements(enc)
    assert len(elems) == len(enc) == len(set(elems))
    assert sum(map(len, elems)) <= 8 * len(enc)


def test_elements_encode_the_multiset() -> None:
    """Set overlap of elements == multiset overlap of tokens (what the prefix filter needs)."""
    rng = random.Random(7)
    for _ in range(300):
        a = "".join(rng.choice("ab1\u00e9") for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice("ab1\u00e9") for _ in range(rng.randint(0, 40)))
        multiset = sum(min(a.count(c), b.count(c)) for c in set(a))
        assert len(set(_elements(a)) & set(_elements(b))) == multiset


def test_twenty_thousand_repeats_index_and_query() -> None:
    """One seed of 20,000 repeated words: add, query and dedup stay exact and near-instant.

    Cubic growth made this take ~5 minutes; the bound is two orders of magnitude above the
    fixed cost, so it cannot flake on a slow machine but does catch any super-linear return.
    """
    import time

    start = time.perf_counter()
    idx = NoveltyIndex(top_k=0)
    long_text = "very " * 20000
    assert idx.add_if_novel(long_text).novel
    res = idx.add_if_novel(long_text)
    assert not res.novel and res.max_score == 1.0
    assert idx.add_if_novel("very " * 8000 + "good").novel  # F = 16000/28001 vs the first
    res = idx.add_if_novel("very " * 14000)  # LCS 14000 with the 20,000-word seed
    assert not res.novel and res.max_score == _f_from_lcs(14000, 14000, 20000)
    assert len(idx) == 2
    assert time.perf_counter() - start < 30


@st.composite
def _repetitive_corpus(draw: st.DrawFn) -> list[str]:
    """Texts made of a short unit repeated many times, with a few word edits."""
    out: list[str] = []
    for _ in range(draw(st.integers(1, 8))):
        unit = draw(
            st.lists(
                st.sampled_from(["very", "a", "b", "Very", "x1", "!!"]), min_size=1, max_size=3
            )
        )
        words = unit * draw(st.integers(1, 60))
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(words)))
            if draw(st.booleans()) or not words:
                words.insert(at, draw(st.sampled_from(["very", "a", "good", "b"])))
            else:
                del words[min(at, len(words) - 1)]
        out.append(" ".join(words))
    return out


@given(_repetitive_corpus(), _THRESHOLDS, st.sampled_from([1, 3]), st.sampled_from([2, 1024]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_long_repetitive_texts_match_rouge_score(
    texts: list[str], threshold: float, delta: int, rebuild: int
) -> None:
    idx = _index(threshold, "rouge", 0, delta, rebuild)
    _check_against_brute(texts, threshold, "rouge", idx, 0, False)


@given(
    st.lists(
        st.sampled_from([0.0, 0.0, 0.0, 0.25, 0.5, 0.5, 0.7000000000000001, 1.0]), max_size=40
    ),
    st.integers(0, 45),
)
@settings(max_examples=300, deadline=None)
def test_top_k_indices_is_a_stable_descending_sort(scores: list[float], k: int) -> None:
    """Best first, ties by position: mostly zeros (unrelated texts), few distinct values."""
    f = np.array(scores, dtype=np.float64)
    want = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    assert _top_k_indices(f, k) == want


def test_scans_left_for_later_equal_scans_made_at_once_across_recodings():
    """query_later scans the pool as it was when asked, whenever it is computed and however
    many are computed together (the index re-codes its tokens as it grows in between)."""
    import json

    from conftest import anchor

    texts = [d["instruction"] for d in json.loads(anchor("alpaca_data_5000.json").read_text())]
    now = NoveltyIndex(threshold=0.7)
    later = NoveltyIndex(threshold=0.7)
    now.first_rebuild = later.first_rebuild = 8  # several re-codings within the test
    now._next_rebuild = later._next_rebuild = 8
    expected, pending, codings = [], [], set()
    for i, text in enumerate(texts[:700]):
        expected.append(now.query(text, top_k=10, with_mean=True))
        now.add(text)
        pending.append(later.query_later(text, top_k=10, with_mean=True))
        later.add(text)
        codings.add(id(later._enc))  # a re-coding replaces the list of encoded texts
        if i % 37 == 0:  # computed in batches of varying size, some across a re-coding
            pending[-1]()
    got = [scan() for scan in pending]
    assert got == expected
    assert len(codings) >= 3
