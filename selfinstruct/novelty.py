"""Fast, exact ROUGE-L novelty filtering (the Self-Instruct dedup step).

Self-Instruct keeps a candidate instruction only if its ROUGE-L F-measure
(``rouge_score`` with ``use_stemmer=False``) against *every* instruction
already in the pool is ``<= 0.7``.  The reference implementation recomputes a
pure-Python LCS table against the whole pool for every candidate, which takes
hours for ~50K instructions.  This module makes the *same decisions* (bit for
bit, including pairs whose float score is ``0.7000000000000001``) in seconds:

* **Integer alphabet.**  Every distinct token gets one Unicode code point, so a
  tokenized text becomes a short ``str`` and the exact integer LCS comes from
  ``rapidfuzz.distance.LCSseq.similarity`` (native, bit-parallel).  The
  F-measure is then computed from the integer LCS with exactly the float
  operations ``rouge_score`` uses, so the float (and thus the decision) is
  identical.
* **Pruning that never changes a decision.**  For token counts ``m`` (query)
  and ``n`` (pool text), ``F = 2*LCS/(m+n)`` mathematically, and
  ``LCS <= min(m, n)`` and ``LCS <= multiset overlap``.  A length filter and
  prefix filtering (the AllPairs/PPJoin family) over a fixed global order of
  multiset *elements* restrict the exact LCS computation to the few pool
  texts that could possibly exceed the threshold.  All bounds use a slightly
  lowered threshold (``threshold - 1e-9``) so float rounding can never prune a
  true match (e.g. ``7/9`` vs ``7/11`` scores ``0.7000000000000001`` although
  it is mathematically exactly ``0.7``).
* **Full vectorized scan** (``rapidfuzz.process.cdist`` + numpy) when the
  caller asks for the top-k most similar entries or the mean score, which the
  pruning cannot provide.

See ``NoveltyIndex`` for the incremental API.
"""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import Literal

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

__all__ = [
    "NoveltyIndex",
    "NoveltyResult",
    "BEST_MATCH_CELLS",
    "best_matches",
    "Similar",
    "Tokenizer",
    "rouge_l_f",
    "tokenize",
]

Tokenizer = Literal["rouge", "unicode"]

# --------------------------------------------------------------------------
# Tokenization
# --------------------------------------------------------------------------

# rouge_score.tokenize.tokenize(text, None) does: text.lower(); replace runs of
# [^a-z0-9] with a space; split on whitespace; keep tokens matching
# ^[a-z0-9]+$.  That is exactly "the maximal runs of [a-z0-9] in text.lower()"
# (lower() must come first: e.g. KELVIN SIGN lowercases to ASCII "k").
# Equality with rouge_score is property-tested in tests/test_novelty.py.
_ROUGE_TOKEN_RE = re.compile(r"[a-z0-9]+")

# Scripts written without spaces: one token per character.  Han (incl.
# extensions and compatibility ideographs), Hiragana, Katakana (+ phonetic
# extensions and halfwidth forms), Hangul syllables and jamo, Bopomofo, Yi.
_CJK_CLASS = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3005-\u3007"  # iteration mark, closing mark, ideographic zero
    "\u3021-\u3029\u3038-\u303c"  # Hangzhou numerals etc.
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u31ff"  # Bopomofo, Hangul compat jamo, Kanbun, Katakana ext
    "\u3400-\u4dbf"  # CJK ext A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\ua000-\ua4cf"  # Yi
    "\ua960-\ua97f"  # Hangul Jamo ext A
    "\uac00-\ud7ff"  # Hangul syllables + Jamo ext B
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uffdc"  # halfwidth Katakana / Hangul
    "\U00016fe0-\U00016fff"  # ideographic symbols
    "\U0001b000-\U0001b16f"  # Kana supplement / ext
    "\U00020000-\U0003134f"  # CJK ext B..G, compat supplement
)


@lru_cache(maxsize=1)
def _unicode_token_re() -> re.Pattern[str]:
    """Compile the "unicode" tokenizer regex (lazily: building the class of
    combining marks scans the whole code space once, ~0.3 s)."""
    marks: list[str] = []
    start = -1
    for cp in range(0x110000 + 1):
        is_mark = cp < 0x110000 and unicodedata.category(chr(cp)).startswith("M")
        if is_mark and start < 0:
            start = cp
        elif not is_mark and start >= 0:
            end = cp - 1
            marks.append(
                re.escape(chr(start))
                if start == end
                else f"{re.escape(chr(start))}-{re.escape(chr(end))}"
            )
            start = -1
    mark_class = "".join(marks)
    cjk = f"[{_CJK_CLASS}]"
    # A word is an alphanumeric (not CJK) followed by alphanumerics and
    # combining marks (so e.g. Devanagari vowel signs stay inside the word);
    # each CJK character is its own token (trailing marks stay attached).
    # [^\W_] is "isalnum()" in Python's re.
    word = rf"(?:(?!{cjk})[^\W_])(?:(?!{cjk})[^\W_]|[{mark_class}])*"
    return re.compile(rf"{cjk}[{mark_class}]*|{word}")


def _tokenize_unicode(text: str) -> list[str]:
    """Script-aware tokenizer: NFKC + casefold, letters/digits of any script,
    CJK/kana/hangul one token per character, split elsewhere on
    non-alphanumerics.  Not rouge_score's tokenizer (which drops every
    non-ASCII character, so all CJK text would tokenize to nothing)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _unicode_token_re().findall(text)


def tokenize(text: str, tokenizer: Tokenizer = "rouge") -> list[str]:
    """Tokenize ``text``.

    ``"rouge"`` is exactly ``rouge_score``'s default tokenizer without
    stemming (lowercase ASCII alphanumeric runs; everything else is dropped),
    which is what the Self-Instruct reference uses.  ``"unicode"`` keeps
    letters and digits of every script (see ``_tokenize_unicode``).
    """
    if tokenizer == "rouge":
        return _ROUGE_TOKEN_RE.findall(text.lower())
    if tokenizer == "unicode":
        return _tokenize_unicode(text)
    raise ValueError(f"unknown tokenizer {tokenizer!r}; expected 'rouge' or 'unicode'")


# --------------------------------------------------------------------------
# Exact rouge_score F-measure
# --------------------------------------------------------------------------


def _f_from_lcs(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F from the LCS length, with rouge_score's exact float ops.

    ``m`` = prediction (candidate) length, ``n`` = target (pool item) length.
    Mirrors ``rouge_scorer._score_lcs`` + ``scoring.fmeasure``; the same
    operations in the same order give the same float.  (The formula is also
    bitwise symmetric in m/n: ``(2*p)*r == (2*r)*p`` since doubling is exact.)
    """
    if m == 0 or n == 0:
        return 0.0
    precision = lcs / m
    recall = lcs / n
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def _lcs_len(a: Sequence[str], b: Sequence[str]) -> int:
    """Exact LCS length of two token sequences (via a private code-point map)."""
    ids: dict[str, str] = {}
    sa = "".join(ids.setdefault(t, _id_char(len(ids) + 1)) for t in a)
    sb = "".join(ids.setdefault(t, _id_char(len(ids) + 1)) for t in b)
    return int(LCSseq.similarity(sa, sb))


def rouge_l_f(a_tokens: Sequence[str], b_tokens: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token lists, bit-identical to rouge_score.

    Argument order follows ``RougeScorer.score(target, prediction)``:
    ``a_tokens`` is the target (the pool item), ``b_tokens`` the prediction
    (the candidate).  Either list empty gives ``0.0``.
    """
    if not a_tokens or not b_tokens:
        return 0.0
    return _f_from_lcs(_lcs_len(a_tokens, b_tokens), len(b_tokens), len(a_tokens))


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Similar:
    """One pool entry similar to the query."""

    text: str
    score: float


@dataclass(frozen=True)
class NoveltyResult:
    """Outcome of one novelty query.

    ``max_score``: the maximum ROUGE-L F of the query against the pool
    (``0.0`` for an empty pool).  It is **exact** whenever the text is
    rejected (``novel`` is False), and whenever ``top_k > 0`` or
    ``with_mean=True`` (full scan).  In the fast path (``top_k == 0`` and
    ``with_mean=False``) a *novel* text gets the maximum over the pool entries
    that survived pruning: a lower bound of the true maximum, which is itself
    ``<= threshold``.  (Pruned entries provably score ``<= threshold``.)

    ``novel``: ``max_score <= threshold`` with the float computed exactly as
    rouge_score computes it -- i.e. the Self-Instruct keep decision.  An empty
    pool always gives ``novel=True`` (no entry exceeds the threshold), even
    for a negative threshold.

    ``most_similar``: the ``top_k`` best pool entries, best first, ties broken
    by insertion order (empty in the fast path).

    ``mean_score``: mean F over the whole pool if requested (``None``
    otherwise, and ``None`` for an empty pool); computed as ``numpy.mean``
    of the exact per-entry scores (pairwise summation).

    Cost: the fast path touches only a handful of candidates per query; the
    full scan (``top_k > 0`` or ``with_mean``) is O(pool size) per query.
    """

    max_score: float
    novel: bool
    most_similar: list[Similar] = field(default_factory=list)
    mean_score: float | None = None


# --------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------

# Token ids are Unicode code points; ids in the surrogate block are skipped so
# every encoded text is a valid str.  Code point 0 is reserved for query tokens
# that occur in no pool text ("unknown"): they can never be part of an LCS with
# the pool, so one shared code point is exact.
_UNK = "\x00"
_MAX_TOKENS = 0x110000 - 0x800 - 1
# Slack for pruning bounds: prune only what is provably <= threshold - 1e-9,
# far more than any float rounding in the F formula (~1e-16 relative).
_PRUNE_SLACK = 1e-9


def _id_char(token_id: int) -> str:
    """Code point for a token id (1-based), skipping UTF-16 surrogates."""
    return chr(token_id if token_id < 0xD800 else token_id + 0x800)


def _elements(enc: str) -> list[str]:
    """Multiset elements of an encoded text, as a duplicate-free list.

    The k-th copy (k >= 2) of token ``c`` is the element ``c + str(k)`` (the
    first character names the token, the rest the copy number, so elements
    never collide), so the multiset overlap of two texts equals the set
    overlap of their elements.  O(n) characters in all: spelling the k-th
    copy as ``c * k`` made a text of one word repeated n times cost O(n^3)
    (issue 8: 20,000 repeats took minutes).  Any deterministic order works
    (callers sort by rank); this is text order.
    """
    firsts = list(dict.fromkeys(enc))
    if len(firsts) == len(enc):  # common case: no repeated token
        return firsts
    counts: dict[str, int] = {}
    out: list[str] = []
    for c in enc:
        k = counts.get(c, 0) + 1
        counts[c] = k
        out.append(c if k == 1 else c + str(k))
    return out


#: Per-length constants of :meth:`NoveltyIndex._plan`, by (pruning threshold, delta).
_PLANS: dict[tuple[float, int], list[tuple[int, int, int, int]]] = {}


class NoveltyIndex:
    """Incremental ROUGE-L novelty index with rouge_score-identical decisions.

    ``add_if_novel`` over a list of texts reproduces the Self-Instruct filter:
    a text is kept iff its ROUGE-L F against every previously *kept* text is
    ``<= threshold``.  Scores use target = pool item, prediction = query, as
    ``scorer.score(existing, new)`` (the formula is symmetric anyway).

    Prefix filtering needs one global total order on multiset elements that is
    fixed while the texts it indexes are in the index.  We order elements by
    ascending document frequency (rare first -> short posting lists), frozen
    at the last *rebuild*; elements unseen at that time sort first (they are
    rare), newest first.  Because frequencies drift as the pool grows, the
    prefix index is rebuilt with fresh frequencies whenever the pool doubles
    (amortized O(total tokens)); any fixed order is correct, rarity only
    affects speed.

    Memory per pool text: the original string, its encoded string (about 2
    bytes per token), and ~half its elements as 4-byte posting entries.
    """

    #: Extended prefix filtering: candidates must share this many indexed
    #: prefix elements with the query (fewer for very short texts).  Any
    #: value >= 1 is exact; 3 was fastest on Alpaca-like text.
    prefix_delta: int = 3
    #: Pool size of the first re-ranking rebuild; the next one happens when
    #: the pool has grown by this factor.
    first_rebuild: int = 1024
    rebuild_growth: int = 4
    #: From this many candidates on, a query verifies them in one rapidfuzz call (about 9 us
    #: fixed, 0.3 us each) rather than one call each (0.8 us each): the same scores.
    batch_verify: int = 24

    def __init__(
        self, threshold: float = 0.7, tokenizer: Tokenizer = "rouge", top_k: int = 10
    ) -> None:
        if tokenizer not in ("rouge", "unicode"):
            raise ValueError(f"unknown tokenizer {tokenizer!r}")
        if top_k < 0:
            raise ValueError("top_k must be >= 0")
        self.threshold = float(threshold)
        self.tokenizer: Tokenizer = tokenizer
        self.top_k = top_k
        # Pruning threshold: a bit below the decision threshold (never prune a
        # true match); capped below 1 (F <= 1 always).  <= 0 disables pruning.
        self._tp = min(self.threshold, 1.0) - _PRUNE_SLACK
        self._vocab: dict[str, str] = {}  # token -> code point char
        self._texts: list[str] = []
        self._enc: list[str] = []
        self._scans: list[_Scan] = []  # full scans asked for with query_later, not yet run
        self._lens = np.zeros(1024, dtype=np.float64)  # token counts, as the F formula wants
        # One inverted index (element -> pool positions) per required number
        # of shared prefix elements d = 1..delta.
        self.delta = self.prefix_delta
        self._indexes: list[dict[str, array[int]]] = [{} for _ in range(self.delta)]
        self._max_len = [0] * self.delta  # longest text in each index
        self._plans: list[tuple[int, int, int, int]] = []
        self._freq: dict[str, int] = {}  # element -> document frequency
        # element -> sort key of the global order; holds every pool element.
        self._rank: dict[str, int] = {}
        self._new_key = -1  # next key for elements first seen after a rebuild
        self._last_elems: tuple[str, list[str]] = ("", [])
        self._next_rebuild = self.first_rebuild
        self._cache: dict[str, tuple[str, bool, int]] = {}
        self._cache_max = 1 << 16
        # Buffers the full scans reuse (grown, never shrunk): arrays of a few hundred KB made
        # afresh for every scan cost more in page faults than the arithmetic itself.
        self._row = np.empty(0)
        self._work = np.empty(0)

    # -- basics ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._texts)

    def tokens(self, text: str) -> list[str]:
        """Tokens of ``text`` under this index's tokenizer."""
        return tokenize(text, self.tokenizer)

    @property
    def texts(self) -> list[str]:
        """Pool texts in insertion order (do not mutate)."""
        return self._texts

    def _encode(self, text: str) -> tuple[str, bool]:
        """Encoded query string and whether it contains unknown tokens.

        Tokens never seen in the pool map to ``_UNK`` (they cannot match), so
        queries that end up rejected do not grow the vocabulary.  Cached per
        text (bounded) so ``add_if_novel`` tokenizes once.
        """
        hit = self._cache.get(text)
        if hit is not None and (not hit[1] or hit[2] == len(self._vocab)):
            return hit[0], hit[1]
        toks = tokenize(text, self.tokenizer)
        enc = "".join(map(self._vocab.get, toks, repeat(_UNK, len(toks))))
        has_unk = _UNK in enc
        if len(self._cache) >= self._cache_max:
            self._cache.clear()
        # Entries with unknown tokens are only valid until the vocabulary grows.
        self._cache[text] = (enc, has_unk, len(self._vocab))
        return enc, has_unk

    def _encode_for_add(self, text: str) -> str:
        enc, has_unk = self._encode(text)
        if not has_unk:
            return enc
        vocab = self._vocab
        chars = []
        for t in tokenize(text, self.tokenizer):
            c = vocab.get(t)
            if c is None:
                if len(vocab) >= _MAX_TOKENS:
                    raise OverflowError("more than ~1.1M distinct tokens")
                c = vocab[t] = _id_char(len(vocab) + 1)
            chars.append(c)
        enc = "".join(chars)
        self._cache.pop(text, None)
        return enc

    # -- prefix filtering --------------------------------------------------

    def _min_overlap(self, m: int) -> int:
        """Smallest multiset overlap any match of an m-token text can have.

        A match needs ``2*O/(m+n) >= 2*LCS/(m+n) > tp`` and, by the length
        bound, ``n > tp*m/(2-tp)``; so ``O > tp*m/(2-tp)``.
        """
        tp = self._tp
        return math.floor(tp * m / (2.0 - tp)) + 1

    def _plan(self, m: int) -> tuple[int, int, int, int]:
        """Per-length constants ``(alpha, d, n_lo, n_hi)`` (memoized).

        ``alpha = _min_overlap(m)``, ``d = min(delta, alpha)``; a text of
        length n can only match an m-token text if ``n_lo < n < n_hi``
        (from ``2*min(m, n)/(m+n) > tp``; bounds rounded outward).
        """
        plans = self._plans
        if len(plans) <= m:
            # Shared by every index with the same pruning threshold and delta (the tools method
            # holds one index per call set), so each length's constants are worked out once. A
            # shared list is never changed: a longer one replaces it (threads may share it).
            key = (self._tp, self.delta)
            plans = _PLANS.get(key, plans)
            if len(plans) <= m:
                tp = self._tp
                grown = list(plans)
                for k in range(len(plans), max(m + 1, 64, 2 * len(plans))):
                    a = self._min_overlap(k)
                    grown.append((
                        a,
                        min(self.delta, a),
                        math.floor(tp * k / (2.0 - tp)),
                        math.ceil(k * (2.0 - tp) / tp) if tp > 0 else 1 << 62,
                    ))  # fmt: skip
                plans = _PLANS[key] = grown
            self._plans = plans
        return plans[m]

    def _index_prefix(self, pos: int, enc: str, elems: list[str] | None = None) -> None:
        """Index the first ``n - alpha(n) + d`` elements of a pool text.

        ``d = min(delta, alpha(n))`` is the number of prefix elements a true
        match must share with it (see ``_candidates``); texts are grouped into
        one inverted index per ``d``.
        """
        n = len(enc)
        if n == 0:
            return  # an empty text scores 0.0 against anything
        if elems is None:
            elems = _elements(enc)
        a, d, _, _ = self._plan(n)
        index = self._indexes[d - 1]
        if n > self._max_len[d - 1]:
            self._max_len[d - 1] = n
        for k in sorted(elems, key=self._rank.__getitem__)[: n - a + d]:
            pl = index.get(k)
            if pl is None:
                index[k] = array("i", (pos,))
            else:
                pl.append(pos)

    def _recode(self) -> None:
        """Give the most frequent tokens the smallest codes (the LCS is the same under any
        one-to-one renaming). Codes are handed out in first-seen order, so the seeds' own words
        take the first few hundred; rapidfuzz looks a code below 256 up in a table and any
        other in a hash map, so frequent words with small codes make a full scan about twice
        as fast."""
        freq = self._freq
        tokens = sorted(self._vocab, key=lambda t: -freq.get(self._vocab[t], 0))  # stable
        renamed = {self._vocab[t]: _id_char(i + 1) for i, t in enumerate(tokens)}
        table = str.maketrans(renamed)
        self._vocab = {t: renamed[c] for t, c in self._vocab.items()}
        self._enc = [enc.translate(table) for enc in self._enc]
        # An element is a token's code followed by its copy number (digits, themselves
        # possibly codes): rename the first character only.
        self._freq = {renamed[k[0]] + k[1:]: f for k, f in freq.items()}
        self._cache.clear()
        self._last_elems = ("", [])

    def _rebuild(self) -> None:
        """Re-code tokens and re-rank elements by current frequency (rare first); re-index."""
        self._recode()
        freq = self._freq
        # Stable sort: equally frequent elements keep first-seen order.
        order = sorted(freq, key=freq.__getitem__)
        self._rank = {k: i for i, k in enumerate(order)}
        self._indexes = [{} for _ in range(self.delta)]
        self._max_len = [0] * self.delta
        for pos, enc in enumerate(self._enc):
            self._index_prefix(pos, enc)

    def _candidates(self, enc: str, m: int) -> set[int]:
        """Pool positions that may score > threshold (a superset of matches).

        Extended prefix filtering.  Let ``A = alpha(m, n)`` be the least
        multiset overlap a match of an m-token query with an n-token text
        needs; ``A >= max(alpha(m), alpha(n))``.  Take the ``d`` smallest
        common elements (global order); at least ``A - d`` common elements
        follow them, so all ``d`` lie in the first ``m - A + d`` elements of
        the query and the first ``n - A + d`` of the text.  With
        ``d = min(delta, alpha(m), alpha(n))`` those prefixes are within the
        query prefix ``m - alpha(m) + min(delta, alpha(m))`` and the indexed
        prefix, so every match shares ``>= d`` indexed elements with the query
        prefix.  Elements absent from the pool cannot be common to anything,
        so they are ordered first and only consume prefix length.
        """
        a, dq, n_lo, _ = self._plan(m)
        rank = self._rank
        all_elems = _elements(enc)
        self._last_elems = (enc, all_elems)  # reused by add() after a query
        elems = [k for k in all_elems if k in rank]
        real = m - a + dq - (m - len(elems))
        out: set[int] = set()
        if real <= 0:
            return out
        elems.sort(key=rank.__getitem__)
        del elems[real:]
        for d, index in enumerate(self._indexes, 1):
            if self._max_len[d - 1] <= n_lo:
                continue  # all texts there are too short to match
            lists = [pl for k in elems if (pl := index.get(k))]
            need = min(d, dq)
            if len(lists) >= need:
                out.update(_shared_by_at_least(lists, need))
        return out

    # -- public API ----------------------------------------------------------

    def add(self, text: str) -> int:
        """Add ``text`` to the pool unconditionally; return its position."""
        enc = self._encode_for_add(text)
        pos = len(self._texts)
        self._texts.append(text)
        self._enc.append(enc)
        if pos >= len(self._lens):
            self._lens = np.resize(self._lens, 2 * len(self._lens))
        self._lens[pos] = len(enc)
        if self._tp <= 0:
            return pos  # no pruning possible: every query is a full scan
        freq = self._freq
        rank = self._rank
        last_enc, elems = self._last_elems
        if last_enc != enc:
            elems = _elements(enc)
        for k in elems:
            f = freq.get(k)
            if f is None:
                freq[k] = 1
                # New since the last rebuild: rare, so early in the order
                # (distinct negative keys never collide with ranks >= 0).
                rank[k] = self._new_key
                self._new_key -= 1
            else:
                freq[k] = f + 1
        if pos + 1 >= self._next_rebuild:
            self._next_rebuild *= self.rebuild_growth
            self._rebuild()
        else:
            self._index_prefix(pos, enc, elems)
        return pos

    def query(self, text: str, top_k: int | None = None, with_mean: bool = False) -> NoveltyResult:
        """Score ``text`` against the pool (without adding it).

        ``top_k=None`` uses the index default.  ``top_k == 0`` and
        ``with_mean=False`` take the pruned fast path; otherwise every pool
        entry is scored (vectorized) to get exact neighbours and the mean.
        """
        k = self.top_k if top_k is None else top_k
        if k < 0:
            raise ValueError("top_k must be >= 0")
        enc, _ = self._encode(text)
        if not self._texts:
            # Nothing in the pool can exceed the threshold: always novel.
            return NoveltyResult(0.0, True, [], None)
        if k == 0 and not with_mean and self._tp > 0:
            return self._query_fast(enc)
        return self._query_full(enc, k, with_mean)

    def query_later(
        self, text: str, top_k: int | None = None, with_mean: bool = False
    ) -> Callable[[], NoveltyResult]:
        """What ``query(text, top_k, with_mean)`` returns now (a full scan), computed when the
        returned function is first called, together with every other scan still pending.

        rapidfuzz scores several short queries against the pool in one pass with SIMD, for
        little more than the cost of one (``benchmarks/alpaca_commit.py --batch``). Each scan
        sees the pool as it was when asked: the pool only grows, and a re-coding replaces the list of encoded texts
        (the scan keeps the list, and the query's encoding, of its own time).
        """
        k = self.top_k if top_k is None else top_k
        if k < 0:
            raise ValueError("top_k must be >= 0")
        enc, _ = self._encode(text)
        scan = _Scan(enc, self._enc, len(self._texts), k, with_mean)
        self._scans.append(scan)

        def result() -> NoveltyResult:
            if scan.result is None:
                self._run_scans()
            assert scan.result is not None
            return scan.result

        return result

    def _run_scans(self) -> None:
        """Every pending scan, batched by the coding of its time (nearly always one batch)."""
        scans, self._scans = self._scans, []
        batches: dict[int, list[_Scan]] = {}
        for scan in scans:
            batches.setdefault(id(scan.pool), []).append(scan)
        for batch in batches.values():
            size = max(scan.size for scan in batch)
            pool = batch[0].pool[:size]
            lcs = None
            if size and any(scan.enc for scan in batch):
                lcs = process.cdist([scan.enc for scan in batch], pool,
                                    scorer=LCSseq.similarity, dtype=np.int32, workers=1)  # fmt: skip
            for row, scan in enumerate(batch):
                if not scan.size:
                    scan.result = NoveltyResult(0.0, True, [], None)
                    continue
                lens = self._lens[: scan.size]
                if lcs is None or not scan.enc:
                    f = np.zeros(scan.size, dtype=np.float64)
                else:
                    f = _f_vectorized(lcs[row, : scan.size], float(len(scan.enc)), lens)
                scan.result = self._result(f, scan.top_k, scan.with_mean)

    def add_if_novel(
        self, text: str, top_k: int | None = None, with_mean: bool = False
    ) -> NoveltyResult:
        """Query ``text`` and add it to the pool when it is novel."""
        res = self.query(text, top_k=top_k, with_mean=with_mean)
        if res.novel:
            self.add(text)
        return res

    # -- scoring paths ---------------------------------------------------------

    def _query_fast(self, enc: str) -> NoveltyResult:
        m = len(enc)
        t = self.threshold
        best = 0.0
        if m:
            _, _, n_lo, n_hi = self._plan(m)
            pool = self._enc
            cands = [s for i in self._candidates(enc, m) if n_lo < len(s := pool[i]) < n_hi]
            if len(cands) >= self.batch_verify:
                return self._verify_batch(enc, cands)
            sim = LCSseq.similarity
            for s in cands:
                n = len(s)
                lcs = sim(enc, s)
                if lcs:
                    precision = lcs / m
                    recall = lcs / n
                    f = 2 * precision * recall / (precision + recall)
                    if f > best:
                        best = f
        return NoveltyResult(best, not best > t, [], None)

    def _verify_batch(self, enc: str, cands: list[str]) -> NoveltyResult:
        """:meth:`_query_fast`'s verification in one native call: the best F of ``enc`` against
        ``cands`` (the same float operations, so the same bits; a zero LCS scores 0.0)."""
        lcs = process.cdist([enc], cands, scorer=LCSseq.similarity, dtype=np.int32, workers=1)
        n = np.fromiter(map(len, cands), dtype=np.float64, count=len(cands))
        best = float(_f_vectorized(lcs[0], float(len(enc)), n).max())
        return NoveltyResult(best, not best > self.threshold, [], None)

    def _scores_all(self, enc: str) -> np.ndarray:
        """Exact F of ``enc`` against every pool entry (float64 array).

        numpy float64 ``/``, ``*``, ``+`` are IEEE correctly rounded like
        Python floats, and ``2 * p * r`` evaluates as ``(2*p)*r`` in both, so
        every element is bit-identical to ``_f_from_lcs`` (tested).
        """
        size = len(self._texts)
        m = len(enc)
        if m == 0:
            return np.zeros(size, dtype=np.float64)
        lcs = process.cdist([enc], self._enc, scorer=LCSseq.similarity, dtype=np.int32, workers=1)
        if len(self._row) < size:
            self._row = np.empty(max(size, 2 * len(self._row)))
        return self._f_into(lcs[0], float(m), self._lens[:size], self._row[:size])

    def _f_into(
        self, lcs: np.ndarray, m: np.ndarray | float, n: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
        """:func:`_f_vectorized` into ``out``, with the index's work buffers for the rest
        (the same float operations in the same order, so the same bits)."""
        cells = out.size
        if len(self._work) < 2 * cells:
            self._work = np.empty(max(2 * cells, 2 * len(self._work)))
        recall = self._work[:cells].reshape(out.shape)
        denom = self._work[cells : 2 * cells].reshape(out.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(lcs, m, out=out)  # precision
            np.divide(lcs, n, out=recall)
            np.add(out, recall, out=denom)
            np.multiply(out, 2, out=out)
            np.multiply(out, recall, out=out)
            np.divide(out, denom, out=out)
        # No tokens on either side (0/0): 0.0, as _f_from_lcs.
        np.copyto(out, 0.0, where=~(denom > 0))
        return out

    def _query_full(self, enc: str, k: int, with_mean: bool) -> NoveltyResult:
        return self._result(self._scores_all(enc), k, with_mean)

    def _result(self, f: np.ndarray, k: int, with_mean: bool) -> NoveltyResult:
        best = float(f.max())
        top: list[Similar] = []
        if k:
            idx = _top_k_indices(f, k)
            top = [Similar(self._texts[i], float(f[i])) for i in idx]
        mean = float(f.mean()) if with_mean else None
        return NoveltyResult(best, not best > self.threshold, top, mean)


@dataclass
class _Scan:
    """A full scan asked for and not yet computed (:meth:`NoveltyIndex.query_later`)."""

    enc: str
    pool: list[str]  # the encoded pool of the query's time: its first ``size`` entries
    size: int
    top_k: int
    with_mean: bool
    result: NoveltyResult | None = None


def _f_vectorized(lcs: np.ndarray, m: float | np.ndarray, n: np.ndarray) -> np.ndarray:
    """``_f_from_lcs`` over arrays, same float ops in the same order."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / m
        recall = lcs / n
        denom = precision + recall
        f = 2 * precision * recall / denom
    return np.where((n > 0) & (denom > 0), f, 0.0)


#: Most LCS cells ``best_matches`` holds at once (rows x references): about 8 MB per float64
#: array, so memory stays flat however many texts are scored (issue 8: 200K texts x 175
#: seeds as one matrix peaked at 2 GB).
BEST_MATCH_CELLS = 1 << 20


def best_matches(
    texts: Sequence[str], references: Sequence[str], tokenizer: Tokenizer = "rouge"
) -> tuple[np.ndarray, np.ndarray]:
    """For each text, the exact ROUGE-L F of its most similar reference (reference as target,
    text as prediction, as in :meth:`NoveltyIndex.query`) and that reference's index.

    Batched native LCS over blocks of texts (at most ``BEST_MATCH_CELLS`` pairs per block, at
    least one text), so memory is bounded by the block, not by ``len(texts)``; each row is
    computed exactly as in one big batch, so the figures do not depend on the block size.
    What ``stats`` needs for "ROUGE-L to the closest seed". With no references every score is
    0.0 and every index -1.
    """
    if not texts or not references:
        return np.zeros(len(texts)), np.full(len(texts), -1)
    vocab: dict[str, str] = {}

    def encode(text: str) -> str:
        return "".join(
            vocab.setdefault(token, _id_char(len(vocab) + 1)) for token in tokenize(text, tokenizer)
        )

    refs = [encode(text) for text in references]
    n = np.array([len(r) for r in refs], dtype=np.float64)
    scores = np.empty(len(texts), dtype=np.float64)
    index = np.empty(len(texts), dtype=np.int64)
    rows = max(1, BEST_MATCH_CELLS // len(refs))
    for start in range(0, len(texts), rows):
        queries = [encode(text) for text in texts[start : start + rows]]
        lcs = process.cdist(queries, refs, scorer=LCSseq.similarity, dtype=np.int32, workers=-1)
        m = np.array([[len(q)] for q in queries], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(m > 0, _f_vectorized(lcs.astype(np.float64), m, n), 0.0)  # type: ignore[arg-type]
        best = f.argmax(axis=1)
        scores[start : start + len(queries)] = f[np.arange(len(queries)), best]
        index[start : start + len(queries)] = best
    return scores, index


def _shared_by_at_least(lists: list[array[int]], r: int) -> Iterable[int]:
    """Positions occurring in at least ``r`` of ``lists`` (each duplicate-free).

    Posting lists are contiguous ``array('i')`` buffers, so for r >= 2 one
    memcpy join + a numpy sort finds the repeated positions without touching
    a Python int per entry (which is cache-miss bound).  May repeat a
    position (if it occurs more than ``r`` times).
    """
    if r == 1:
        out: set[int] = set()
        for pl in lists:
            out.update(pl)
        return out
    cat = np.frombuffer(b"".join(lists), dtype=np.int32)
    if len(cat) < r:
        return ()
    cat = np.sort(cat)
    head = cat[r - 1 :]
    return head[head == cat[: len(cat) - r + 1]].tolist()


def _top_k_indices(f: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest scores, best first, ties by lower index.

    Scores are never negative and mostly 0.0 (texts without a common token); a selection over
    the whole array is slow on so many equal values, so it runs on the positive scores only,
    and zeros, when needed, follow in position order.
    """
    if k <= 0:
        return []
    if k >= len(f):
        return np.argsort(-f, kind="stable").tolist()
    pos = np.flatnonzero(f > 0)  # ascending index order
    scores = f[pos]
    if len(pos) > k:
        kth = np.partition(scores, len(pos) - k)[len(pos) - k]  # k-th largest value
        keep = scores >= kth
        pos, scores = pos[keep], scores[keep]
    best = pos[np.argsort(-scores, kind="stable")[:k]].tolist()
    if len(best) < k:
        best += np.flatnonzero(f <= 0)[: k - len(best)].tolist()
    return best
