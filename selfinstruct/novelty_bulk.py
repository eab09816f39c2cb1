"""Exact ROUGE-L novelty over millions of texts, a block of texts at a time.

The same decisions as :class:`selfinstruct.novelty.NoveltyIndex` run text by text (a text is kept
iff its ROUGE-L F against every text kept before it is ``<= threshold``), and for a rejected text
the same exact maximum, but with the work done in numpy over blocks of texts and with candidate
generation whose cost does not grow with the pool.

Why the sequential index slows down as the pool grows: its candidates come from posting lists of
single words, and the list of a word grows with every kept text that has it in its prefix. Here a
short text (2 to ``pair_max`` tokens) is found through *pairs* of its prefix elements instead:

* Elements are the multiset elements of a text (the k-th copy of a token is its own element),
  in one global order, rare first (the order is re-ranked by document frequency while the pool
  is young, then frozen: any fixed order is exact, rarity only makes it fast).
* A match of an m-token text with an n-token one needs a multiset overlap of at least
  ``a = floor(tp * (m + n) / 2) + 1`` (``F = 2 LCS / (m + n)`` and ``LCS <= overlap``), and
  ``a >= alpha(m) = floor(tp * m / (2 - tp)) + 1`` for every partner length. The first two common
  elements lie in the first ``m - a + 2`` elements of the one and ``n - a + 2`` of the other, so
  both lie in the first ``m - alpha(m) + 2`` and ``n - alpha(n) + 2``: two texts that match share
  a *pair* of their prefixes. A pair of rare words is shared by little more than a text's own
  near copies, so the lists stay short however large the pool.
* A text longer than ``pair_max`` (and a one-token text) is indexed by single prefix elements
  (prefix ``n - alpha(n) + 1``), as in the sequential index; a query looks in both indexes for
  the partner lengths it can have.
* Signatures are 64-bit hashes; a collision only adds a candidate. Every candidate is verified
  with the exact LCS (rapidfuzz, batched) and the F computed with ``rouge_score``'s float
  operations, so the decision and a rejected text's maximum are exact.

A block is settled in order: each text against the pool before the block (one batched probe and
verification), then against the texts of its block that were kept before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from selfinstruct import novelty_kernel
from selfinstruct.novelty import _PRUNE_SLACK, Tokenizer, _f_vectorized, _id_char, tokenize
from selfinstruct.novelty_table import Table

__all__ = ["BulkNovelty", "Verdict", "bulk_novelty"]

_ROUGE_TOKEN_RE = re.compile(r"[a-z0-9]+")
#: What :meth:`BulkNovelty._encode` puts between a block's texts, and finds as a token.
_CUT = "\x00"
_BLOCK_TOKEN_RE = re.compile(r"[a-z0-9]+|\x00")
_MASK = (1 << 64) - 1
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_TAG_SINGLE = np.uint64(0x165667B19E3779F9)
#: Copies of one token a text may hold (the copy number is the low bits of an element's key).
_COPY_BITS = 24
_MAX_CODES = 0x110000 - 0x800 - 1
#: The fewest texts of a block worth a thread of their own.
_MIN_PART = 256
#: About how many look-up hits a part of a block may hold at once. Their arrays take about
#: 200 bytes a hit, and the hits of a block grow with the pool (a text's near copies kept before
#: it), so a large pool settles a block in more parts, one after another (``threads`` at once).
_HIT_BUDGET = 1 << 19


class Verdict(NamedTuple):
    """One text's outcome: kept (``novel``) or not, and the best ROUGE-L F found. For a rejected
    text ``max_score`` is the exact maximum over the texts kept before it (with
    ``exact_max=False``, some score above the threshold); for a kept one it is the best among the
    candidates that were verified (a lower bound, itself ``<= threshold``)."""

    novel: bool
    max_score: float


def _mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit finalizer (splitmix64) over a uint64 array."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass
class _Sigs:
    """Signatures: the text each belongs to, its key, and the places in the text's ordered
    elements of the one or two elements it is made of (``u == v`` for a single element)."""

    text: np.ndarray
    key: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @classmethod
    def empty(cls) -> _Sigs:
        none = np.empty(0, dtype=np.int64)
        return cls(none, none.astype(np.uint64), none, none)

    def where(self, mask: np.ndarray) -> _Sigs:
        return _Sigs(self.text[mask], self.key[mask], self.u[mask], self.v[mask])

    @classmethod
    def join(cls, parts: list[_Sigs]) -> _Sigs:
        if not parts:
            return cls.empty()
        cat = np.concatenate
        return cls(*(cat([getattr(p, f) for p in parts]) for f in ("text", "key", "u", "v")))

    def packed(self, pids: np.ndarray) -> np.ndarray:
        """What the index stores: pool position and the two places, in one int64."""
        return (pids << 32) | (self.u << 16) | self.v


@dataclass
class _Hits:
    """Looked-up signatures: the text, the other text (pool position or block index), and the
    places of the shared element(s) in each (``u <= v`` in the text, ``u2 <= v2`` in the other)."""

    qs: np.ndarray
    others: np.ndarray
    u: np.ndarray
    v: np.ndarray
    u2: np.ndarray
    v2: np.ndarray

    def where(self, mask: np.ndarray) -> _Hits:
        return _Hits(*(getattr(self, f)[mask] for f in ("qs", "others", "u", "v", "u2", "v2")))

    @classmethod
    def join(cls, parts: list[_Hits]) -> _Hits:
        cat = np.concatenate
        return cls(
            *(cat([getattr(p, f) for p in parts]) for f in ("qs", "others", "u", "v", "u2", "v2"))
        )

    def fits(
        self, lens: np.ndarray, other_lens: np.ndarray, bound: float | np.ndarray
    ) -> np.ndarray:
        """Whether the shared elements sit where a match's first two common ones must: for
        lengths m and n and ``a`` the least overlap of a match scoring above ``bound``, the
        first common element within the first ``m - a + 1`` (``n - a + 1``) and the second
        within ``m - a + 2`` (``n - a + 2``) of each text's ordered elements."""
        m, n = lens[self.qs], other_lens[self.others]
        t = bound if isinstance(bound, float) else bound[self.qs]
        a = np.floor(t * (m + n).astype(np.float64) / 2.0).astype(np.int64) + 1
        return (
            (self.u <= m - a) & (self.v <= m - a + 1) & (self.u2 <= n - a) & (self.v2 <= n - a + 1)
        )

    def distinct(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct (text, other) pairs, with how many hits each had."""
        packed = np.sort(self.qs * (1 << 32) + self.others)
        if not len(packed):
            return packed, packed, packed
        start = np.flatnonzero(np.concatenate(([True], packed[1:] != packed[:-1])))
        counts = np.diff(np.append(start, len(packed)))
        pairs = packed[start]
        return pairs >> 32, pairs & 0xFFFFFFFF, counts


@dataclass
class _Block:
    """Signatures of a block of encoded texts."""

    lens: np.ndarray  # token counts
    q_single: _Sigs  # what a text looks up among single-indexed texts
    q_pair: _Sigs  # ... and among pair-indexed ones
    i_single: _Sigs  # what a kept text is stored under (one of the two, by its length)
    i_pair: _Sigs


def _walk_order(sigs: _Sigs, count: int) -> tuple[np.ndarray, ...]:
    """What the compiled look-up reads of signatures made by :meth:`BulkNovelty._signatures`
    (grouped by text, each text's by its later place): the keys' low 32 bits, the places, and
    where each of the ``count`` texts' signatures start."""
    off = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(sigs.text, minlength=count), out=off[1:])
    return (sigs.key & np.uint64(0xFFFFFFFF)).astype(np.uint32), sigs.u, sigs.v, off


class BulkNovelty:
    """The Self-Instruct novelty filter over a stream of texts, a block at a time.

    ``add(texts)`` remembers texts unconditionally (seeds); ``run(texts)`` yields one
    :class:`Verdict` per text, in order, keeping the novel ones. The threshold must lie strictly
    between 0 and 1 (outside that range nothing can be pruned: use ``NoveltyIndex``).
    ``threads``: how many threads settle a block's texts against the pool at once (the
    decisions and scores are the same for any number); :meth:`close` stops them.
    ``compiled``: the pool look-up in compiled code (``novelty_kernel``; default: when numba is
    installed). The same decisions, and the same maximum for a rejected text.
    """

    def __init__(
        self,
        threshold: float = 0.7,
        tokenizer: Tokenizer = "rouge",
        *,
        block: int = 8192,
        pair_max: int = 32,
        first_rerank: int = 1024,
        rerank_until: int = 1 << 18,
        workers: int = 1,
        threads: int = 1,
        first_round: int = 2,
        exact_max: bool = True,
        group_verify: int = 8,
        compiled: bool | None = None,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError("BulkNovelty needs 0 < threshold < 1 (use NoveltyIndex otherwise)")
        if tokenizer not in ("rouge", "unicode"):
            raise ValueError(f"unknown tokenizer {tokenizer!r}")
        self.threshold = float(threshold)
        self.tokenizer: Tokenizer = tokenizer
        self.block = block
        self.pair_max = pair_max
        self.rerank_until = rerank_until
        self.workers = workers
        self.threads = max(1, threads)
        self._executor: ThreadPoolExecutor | None = None
        self._hits_per_text = 0.0  # look-up hits a text had in the last block
        self.first_round = first_round
        self.exact_max = exact_max
        self.group_verify = group_verify
        if compiled and not novelty_kernel.available():
            raise ValueError("compiled=True needs numba: pip install 'selfinstruct[scale]'")
        #: Whether the pool look-up runs compiled (numba; see ``novelty_kernel``).
        self.compiled = novelty_kernel.available() if compiled is None else compiled
        self._pool_codes = np.zeros(1024, dtype=np.uint32)  # the pool's tokens, end to end
        self._pool_off = np.zeros(1025, dtype=np.int64)  # where each pool text starts
        self._tp = tp = self.threshold - _PRUNE_SLACK
        # The shortest text any match of which needs an overlap of 2 (pair_max + 1: none).
        self._first_pair = next(
            (n for n in range(2, pair_max + 1) if math.floor(tp * n / (2.0 - tp)) + 1 >= 2),
            pair_max + 1,
        )
        # Token -> its code point; with the rouge tokenizer also "\x00" -> "\x00", which
        # :meth:`_encode` puts between a block's texts (no token's code: codes start at 1).
        self._vocab: dict[str, str] = {_CUT: _CUT} if tokenizer == "rouge" else {}
        self._codes = 0  # tokens with a code
        self._rank = np.zeros(1024, dtype=np.int64)  # code point -> place in the order
        self._new_rank = -1
        self._freq = np.zeros(1024, dtype=np.int64)  # code point -> pool texts holding it
        self._pool: list[str] = []  # encoded pool texts, by pool position (numpy look-up only)
        self._size = 0  # pool texts
        self._pool_lens = np.zeros(1024, dtype=np.int64)
        self._pairs = Table(self.compiled)
        self._singles = Table(self.compiled)
        self._next_rerank = first_rerank
        self._alpha = np.zeros(0, dtype=np.int64)
        self._pair_q_lo = 0  # query lengths that can meet a pair-indexed text: [lo, hi]
        self._pair_q_hi = 0

    # -- encoding -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._size

    def _encode(self, texts: list[str]) -> list[str]:
        """Each text as a string of its tokens' code points."""
        if self.tokenizer == "rouge" and texts:
            joined = _CUT.join(texts)
            if joined.count(_CUT) == len(texts) - 1:  # no text holds the cut itself
                # The block at once: one lower(), one findall and one join, then cut apart
                # (lower() maps each character on its own, so the tokens are each text's).
                return self._codes_of(_BLOCK_TOKEN_RE.findall(joined.lower())).split(_CUT)
        out: list[str] = []
        findall = _ROUGE_TOKEN_RE.findall
        for text in texts:
            toks = (
                findall(text.lower())
                if self.tokenizer == "rouge"
                else tokenize(text, self.tokenizer)
            )
            out.append(self._codes_of(toks))
        return out

    def _codes_of(self, toks: list[str]) -> str:
        vocab = self._vocab
        try:
            return "".join(map(vocab.__getitem__, toks))
        except KeyError:
            for tok in toks:
                if tok not in vocab:
                    self._new_code(tok)
            return "".join(map(vocab.__getitem__, toks))

    def _new_code(self, tok: str) -> None:
        code = self._codes = self._codes + 1
        if code > _MAX_CODES:
            raise OverflowError("more than ~1.1M distinct tokens")
        char = _id_char(code)
        self._vocab[tok] = char
        point = ord(char)
        if point >= len(self._rank):
            size = max(point + 1, 2 * len(self._rank))
            self._rank = np.resize(self._rank, size)
            grown = np.zeros(size, dtype=np.int64)
            grown[: len(self._freq)] = self._freq
            self._freq = grown
        # New since the last re-ranking: rarer than all ranked ones (negative, newest first).
        self._rank[point] = self._new_rank
        self._new_rank -= 1

    # -- signatures ---------------------------------------------------------------------------

    def _alphas(self, m: int) -> np.ndarray:
        if m >= len(self._alpha):
            k = np.arange(max(m + 1, 2 * len(self._alpha), 64), dtype=np.float64)
            tp = self._tp
            self._alpha = np.floor(tp * k / (2.0 - tp)).astype(np.int64) + 1
            lo = [int(x) for x in np.floor(tp * k / (2.0 - tp))]  # n > lo
            hi = [math.ceil(x * (2.0 - tp) / tp) for x in range(len(k))]  # n < hi
            self._n_lo = np.array(lo, dtype=np.int64)
            self._n_hi = np.array(hi, dtype=np.int64)
        return self._alpha

    def _signatures(self, encs: list[str]) -> _Block:
        lens = np.fromiter(map(len, encs), dtype=np.int64, count=len(encs))
        total = int(lens.sum())
        alpha = self._alphas(int(lens.max()) if len(lens) else 0)
        if not total:
            e = _Sigs.empty()
            return _Block(lens, e, e, e, e)
        codes = np.frombuffer("".join(encs).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        text = np.repeat(np.arange(len(encs), dtype=np.int64), lens)
        starts = np.zeros(len(encs), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        # Each text's tokens by rank (one rank per token; equal ones keep their text order), so
        # the k-th copy of a token is the k-th of its run: elements in the global order.
        rank = self._rank[codes]
        if self.compiled:
            order = novelty_kernel.rank_order(rank, starts, lens)
        else:
            order = np.argsort(text * (1 << 24) + (rank + (1 << 22)))
        r_sorted = rank[order]
        idx = np.arange(total, dtype=np.int64)
        run_start = np.ones(total, dtype=bool)
        run_start[1:] = (r_sorted[1:] != r_sorted[:-1]) | (text[1:] != text[:-1])
        copy = idx - np.maximum.accumulate(np.where(run_start, idx, 0))
        if int(copy.max(initial=0)) >= 1 << _COPY_BITS:
            raise ValueError(f"a text repeats one token {1 << _COPY_BITS} times or more")
        elem = (r_sorted * (1 << _COPY_BITS) + copy).view(np.uint64)
        pos = idx - starts[text]
        m = lens[text]
        lo, hi = self._n_lo[lens], self._n_hi[lens]  # partner lengths: lo < n < hi
        pair_max = self.pair_max
        # Single elements: the first m - alpha(m) + 1.
        in_p1 = pos <= m - alpha[m]
        singles = _Sigs(text, _mix(elem ^ _TAG_SINGLE), pos, pos).where(in_p1)
        # A text is indexed by pairs when any match needs an overlap of 2 or more and it is not
        # too long: lengths first_pair..pair_max. A query meets a partner length in (lo, hi).
        first_pair = self._first_pair
        by_singles = (lens < first_pair) | (lens > pair_max)
        meets_singles = (lo + 1 < first_pair) | (hi - 1 > pair_max)
        q_single = singles.where(meets_singles[singles.text])
        i_single = singles.where(by_singles[singles.text])
        # Pairs of the first m - alpha(m) + 2 elements, for texts that meet pair-indexed ones:
        # a text's pairs side by side, by their later place, then the earlier (the order the
        # compiled look-up walks them in; singles are by text and place already).
        meets_pairs = (lens >= 2) & (np.maximum(lo + 1, first_pair) <= np.minimum(hi - 1, pair_max))
        p2 = np.where(meets_pairs, np.minimum(lens, lens - alpha[lens] + 2), 0)
        per = np.where(p2 >= 2, p2 * (p2 - 1) // 2, 0)
        off = np.zeros(len(encs) + 1, dtype=np.int64)
        np.cumsum(per, out=off[1:])
        count = int(off[-1])
        q_pair = _Sigs(
            np.repeat(np.arange(len(encs), dtype=np.int64), per),
            np.empty(count, dtype=np.uint64), np.empty(count, dtype=np.int64),
            np.empty(count, dtype=np.int64),
        )  # fmt: skip
        for p in np.unique(p2[p2 >= 2]).tolist():
            group = np.flatnonzero(p2 == p)
            prefix = elem[starts[group][:, None] + np.arange(p)]  # texts x p, in the order
            v, u = np.tril_indices(p, -1)  # by v, then u
            at = (off[group][:, None] + np.arange(len(u))).ravel()
            q_pair.key[at] = _mix((_mix(prefix[:, u]) * _M1) ^ (prefix[:, v] * _M2)).ravel()
            q_pair.u[at] = np.tile(u, len(group))
            q_pair.v[at] = np.tile(v, len(group))
        i_pair = q_pair.where(~by_singles[q_pair.text])
        return _Block(lens, q_single, q_pair, i_single, i_pair)

    # -- the filter ---------------------------------------------------------------------------

    def _verify(
        self, qs: np.ndarray, others: np.ndarray, encs: list[str], pool: list[str],
        m: np.ndarray, n: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """Exact F of each pair ``(encs[qs[i]], pool[others[i]])`` (``qs`` grouped by text).

        A text with many candidates gets one native call for all of them (about 2 us, then
        0.07 us a candidate); the others share one call over pairs (0.4 us a pair)."""
        count = len(qs)
        if not count:
            return np.empty(0, dtype=np.float64)
        lcs = np.empty(count, dtype=np.int32)
        start = np.flatnonzero(np.concatenate(([True], qs[1:] != qs[:-1])))
        end = np.append(start[1:], count)
        big = (end - start) >= self.group_verify
        small = np.ones(count, dtype=bool)
        for a, b in zip(start[big].tolist(), end[big].tolist(), strict=True):
            small[a:b] = False
            lcs[a:b] = process.cdist(
                [encs[int(qs[a])]], [pool[j] for j in others[a:b].tolist()],
                scorer=LCSseq.similarity, dtype=np.int32, workers=1,
            )[0]  # fmt: skip
        if small.any():
            lcs[small] = process.cpdist(
                [encs[i] for i in qs[small].tolist()], [pool[j] for j in others[small].tolist()],
                scorer=LCSseq.similarity, dtype=np.int32, workers=self.workers,
            )  # fmt: skip
        return _f_vectorized(lcs.astype(np.float64), m.astype(np.float64), n.astype(np.float64))

    def _candidates(
        self, sigs: _Sigs, which: np.ndarray, found: np.ndarray, lens: np.ndarray,
        other_lens: np.ndarray, bound: np.ndarray | float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The distinct ``(text, other)`` pairs among the hits ``sigs[which]`` / ``found`` (packed
        index values) whose shared elements sit where a match's first two common ones must: for
        lengths m and n and ``a`` the least overlap of a match, the first common element within
        the first ``m - a + 1`` (``n - a + 1``) and the second within ``m - a + 2`` (``n - a + 2``)
        of each text's ordered elements. ``bound``: the score each text must beat (per text, or
        one for all; the threshold by default)."""
        if not len(which):
            return which, found
        qs = sigs.text[which]
        others = found >> 32
        m, n = lens[qs], other_lens[others]
        t = self._tp if bound is None else bound if isinstance(bound, float) else bound[qs]
        a = np.floor(t * (m + n).astype(np.float64) / 2.0).astype(np.int64) + 1
        ok = (
            (sigs.u[which] <= m - a) & (sigs.v[which] <= m - a + 1)
            & (((found >> 16) & 0xFFFF) <= n - a) & ((found & 0xFFFF) <= n - a + 1)
        )  # fmt: skip
        pair = np.sort(qs[ok] * (1 << 32) + others[ok])
        if len(pair):
            pair = pair[np.concatenate(([True], pair[1:] != pair[:-1]))]
        return pair >> 32, pair & 0xFFFFFFFF

    def decide(self, texts: list[str]) -> list[Verdict]:
        """One verdict per text of ``texts``, in order, as one block; novel texts join the pool."""
        return self._settle(self._encode(texts)) if texts else []

    def _settle(self, encs: list[str]) -> list[Verdict]:
        sig = self._signatures(encs)
        if self.compiled:
            return self._settle_compiled(encs, sig)
        lens = sig.lens
        # Against the pool before this block.
        best = self._against_pool(encs, sig)
        # Within the block: pairs (i, j), j < i.
        intra_pairs: list[tuple[int, int, float]] = []
        for stored, sigs in ((sig.i_pair, sig.q_pair), (sig.i_single, sig.q_single)):
            if not len(stored.key) or not len(sigs.key):
                continue
            order = np.argsort(stored.key)
            keys, values = stored.key[order], stored.where(order).packed(stored.text[order])
            needles = np.argsort(sigs.key)
            left = np.empty(len(needles), dtype=np.int64)
            right = np.empty(len(needles), dtype=np.int64)
            left[needles] = np.searchsorted(keys, sigs.key[needles], side="left")
            right[needles] = np.searchsorted(keys, sigs.key[needles], side="right")
            width = right - left
            total = int(width.sum())
            if not total:
                continue
            which = np.repeat(np.arange(len(width), dtype=np.int64), width)
            offs = np.repeat(left - np.cumsum(width) + width, width) + np.arange(total)
            found = values[offs]
            earlier = (found >> 32) < sigs.text[which]
            qs, js = self._candidates(sigs, which[earlier], found[earlier], lens, lens)
            if len(qs):
                f = self._verify(qs, js, encs, encs, lens[qs], lens[js])
                intra_pairs.extend(zip(qs.tolist(), js.tolist(), f.tolist(), strict=True))
        threshold = self.threshold
        kept: list[bool] = []
        out: list[Verdict] = []
        scores = best.tolist()
        for i, j, score in sorted(intra_pairs):  # by text, then partner
            if len(kept) < i:  # the texts before i are settled: their pairs came first
                kept.extend(not b > threshold for b in scores[len(kept) : i])
            if kept[j] and score > scores[i]:
                scores[i] = score
        kept.extend(not b > threshold for b in scores[len(kept) :])
        out = list(map(Verdict, kept, scores))
        self._admit(encs, sig, np.array(kept, dtype=bool))
        return out

    def _against_pool(self, encs: list[str], sig: _Block) -> np.ndarray:
        """Each text's best F against the pool (see :meth:`_against_pool_part`). The block's
        texts are dealt out in contiguous parts, each settled against the pool on its own (the
        pool is only read here, so any split gives the same result): as many parts as
        ``threads`` (each in a thread of its own; the look-ups and verifications run mostly
        outside the GIL, in numpy and rapidfuzz), or more when the last block's hits say the
        look-ups of a whole part would pass :data:`_HIT_BUDGET` (the memory that grows with the
        pool); at most ``threads`` parts are settled at once."""
        count = len(encs)
        by_hits = math.ceil(self._hits_per_text * count / _HIT_BUDGET)
        parts = max(1, min(count, max(min(self.threads, count // _MIN_PART), by_hits)))
        if parts == 1:
            best, hits = self._against_pool_part(encs, sig, None)
            self._hits_per_text = hits / max(count, 1)
            return best
        cuts = [count * i // parts for i in range(parts + 1)]
        owner = np.repeat(np.arange(parts), np.diff(cuts))
        settle = lambda i: self._against_pool_part(encs, sig, owner == i)  # noqa: E731
        if self.threads > 1:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="novelty")
            results = self._executor.map(settle, range(parts))
        else:
            results = map(settle, range(parts))
        best = np.zeros(count, dtype=np.float64)
        total = 0
        for i, (part, hits) in enumerate(results):
            lo, hi = cuts[i], cuts[i + 1]
            best[lo:hi] = part[lo:hi]
            total += hits
        self._hits_per_text = total / count
        return best

    def _against_pool_part(
        self, encs: list[str], sig: _Block, mine: np.ndarray | None
    ) -> tuple[np.ndarray, int]:
        """Each text's best F against the pool: exact whenever it is above the threshold (with
        ``exact_max=False``, some F above the threshold, which settles the decision); only the
        texts ``mine`` selects (all for None) are settled, the others stay 0. Also how many
        look-up hits the part had.

        First the signatures of each text's rarest elements are looked up, where a near copy is
        nearly always found, and for each text only the candidate sharing the most of them is
        verified. A text whose best then beats the threshold only needs partners that beat that
        best: the tighter bound leaves fewer of the other candidates, and a shorter prefix of
        signatures to look up in the second round."""
        lens = sig.lens
        best = np.zeros(len(encs), dtype=np.float64)
        tp = self._tp
        first_p = sig.q_pair.v <= self.first_round
        first_s = sig.q_single.u < self.first_round
        if mine is not None:
            first_p &= mine[sig.q_pair.text]
            first_s &= mine[sig.q_single.text]
        hits = _Hits.join([
            self._lookup(self._pairs, sig.q_pair.where(first_p)),
            self._lookup(self._singles, sig.q_single.where(first_s)),
        ])  # fmt: skip
        seen = len(hits.qs)
        hits = hits.where(hits.fits(lens, self._pool_lens, tp))
        qs, pids, shared = hits.distinct()
        verified = np.empty(0, dtype=np.int64)
        if len(qs):
            # The candidate with the most shared signatures first (ties: the earliest).
            order = np.lexsort((pids, -shared, qs))
            lead = order[np.concatenate(([True], qs[order][1:] != qs[order][:-1]))]
            self._score(best, qs[lead], pids[lead], encs, lens)
            verified = qs[lead] * (1 << 32) + pids[lead]
        bound = np.maximum(best, self.threshold) - _PRUNE_SLACK
        if len(qs):
            hits = hits.where(hits.fits(lens, self._pool_lens, bound))
            if not self.exact_max:
                hits = hits.where(~(best > self.threshold)[hits.qs])
            verified = self._score_new(best, hits, verified, encs, lens)
        # The second round: the rest of each text's prefix for its bound.
        m = lens.astype(np.float64)
        reach = lens - (np.floor(bound * m / (2.0 - bound)).astype(np.int64) + 1)
        open_ = np.ones(len(encs), dtype=bool) if self.exact_max else ~(best > self.threshold)
        if mine is not None:
            open_ &= mine
        more_p = ~first_p & (sig.q_pair.v <= reach[sig.q_pair.text] + 1) & open_[sig.q_pair.text]
        more_s = ~first_s & (sig.q_single.u <= reach[sig.q_single.text]) & open_[sig.q_single.text]
        hits = _Hits.join([
            self._lookup(self._pairs, sig.q_pair.where(more_p)),
            self._lookup(self._singles, sig.q_single.where(more_s)),
        ])  # fmt: skip
        seen += len(hits.qs)
        self._score_new(best, hits.where(hits.fits(lens, self._pool_lens, bound)), verified,
                        encs, lens)  # fmt: skip
        return best, seen

    def _settle_compiled(self, encs: list[str], sig: _Block) -> list[Verdict]:
        """:meth:`_settle` in compiled code (see ``novelty_kernel``): each text walks its
        signatures in order, verifying each new candidate that fits at once, first against the
        pool (``threads`` contiguous parts at once: the compiled code runs without the GIL),
        then against the texts of its block kept before it, one text after another."""
        count = len(encs)
        lens = sig.lens
        q_off = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(lens, out=q_off[1:])
        q_codes = np.frombuffer("".join(encs).encode("utf-32-le"), dtype=np.uint32)
        block = (q_codes, q_off, lens)
        # Each text's signatures, as the signatures are made: by text, then by the later place.
        walks = (*_walk_order(sig.q_pair, count), *_walk_order(sig.q_single, count))
        best = np.zeros(count, dtype=np.float64)
        if self._size:
            self._against_pool_compiled(block, walks, best)
        kept = np.zeros(count, dtype=np.bool_)
        novelty_kernel.settle_block(
            *block, *walks, *_walk_order(sig.i_pair, count), *_walk_order(sig.i_single, count),
            self.threshold, _PRUNE_SLACK, self.exact_max, best, kept,
        )  # fmt: skip
        self._admit(encs, sig, kept)
        return list(map(Verdict, kept.tolist(), best.tolist()))

    def _against_pool_compiled(
        self, block: tuple[np.ndarray, ...], walks: tuple[np.ndarray, ...], best: np.ndarray
    ) -> None:
        """Each text's best F against the pool, into ``best``."""
        count = len(best)
        size = self._size
        pool = (self._pool_codes, self._pool_off[: size + 1], self._pool_lens[:size])
        tables: list[Any] = []
        for t in (self._pairs, self._singles):
            c, runs = t.chain, np.array(t.runs, dtype=np.int64).reshape(-1, 4)
            tables += [c.head, (1 << c.bits) - 1, c.keys[: c.size], c.pids[: c.size],
                       c.places[: c.size], c.nxt[: c.size], t.keys[: t.sealed],
                       t.pids[: t.sealed], t.places[: t.sealed], runs[:, 0].copy(),
                       runs[:, 2].copy(), runs[:, 3].copy(), t.dirs]  # fmt: skip
        p_keys, p_u, p_v, p_off, s_keys, s_u, _, s_off = walks

        def settle(part: tuple[int, int]) -> int:
            return int(novelty_kernel.settle_part(
                part[0], part[1], *block, p_keys, p_u, p_v, p_off, s_keys, s_u, s_off,
                *tables, *pool, self.threshold, _PRUNE_SLACK, self.exact_max, best,
            ))  # fmt: skip

        parts = max(1, min(self.threads, count // _MIN_PART))
        cuts = [count * i // parts for i in range(parts + 1)]
        spans = list(zip(cuts[:-1], cuts[1:], strict=True))
        if parts > 1:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="novelty")
            hits = sum(self._executor.map(settle, spans))
        else:
            hits = settle(spans[0])
        self._hits_per_text = hits / count

    def _lookup(self, table: Table, sigs: _Sigs) -> _Hits:
        which, pids, u2, v2 = table.lookup(sigs.key)
        return _Hits(sigs.text[which], pids, sigs.u[which], sigs.v[which], u2, v2)

    def _score(
        self, best: np.ndarray, qs: np.ndarray, pids: np.ndarray, encs: list[str], lens: np.ndarray
    ) -> None:
        if len(qs):
            pool_lens = self._pool_lens
            f = self._verify(qs, pids, encs, self._pool, lens[qs], pool_lens[pids])
            np.maximum.at(best, qs, f)

    def _score_new(
        self, best: np.ndarray, hits: _Hits, verified: np.ndarray, encs: list[str],
        lens: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """Verify the distinct candidates among ``hits`` not in ``verified`` (packed pairs);
        return ``verified`` with them."""
        qs, pids, _ = hits.distinct()
        packed = qs * (1 << 32) + pids
        new = ~np.isin(packed, verified)
        self._score(best, qs[new], pids[new], encs, lens)
        return np.concatenate([verified, packed[new]])

    def _admit(self, encs: list[str], sig: _Block, kept: np.ndarray) -> None:
        """Add the kept texts to the pool: as strings for the numpy look-up, as code points end
        to end for the compiled one (the strings would take about 80 bytes a text more)."""
        base = self._size
        new_pos = np.cumsum(kept) - 1 + base  # pool position of each kept text
        mine = [e for e, k in zip(encs, kept.tolist(), strict=True) if k]
        size = self._size = base + len(mine)
        if size > len(self._pool_lens):
            self._pool_lens = np.resize(self._pool_lens, max(size, 2 * len(self._pool_lens)))
        self._pool_lens[base:size] = sig.lens[kept]
        if self.compiled:
            self._keep_codes(mine, base, size)
        else:
            self._pool.extend(mine)
        if self._next_rerank:
            self._count(mine)
            if size >= self._next_rerank:
                self._rerank()
                return
        for table, stored in ((self._pairs, sig.i_pair), (self._singles, sig.i_single)):
            mine = stored.where(kept[stored.text])
            table.insert(mine.key, new_pos[mine.text], mine.u, mine.v, sig.lens[mine.text])

    def _keep_codes(self, mine: list[str], base: int, size: int) -> None:
        """Append the kept texts' tokens (code points) to the pool's, for the compiled look-up."""
        codes = np.frombuffer("".join(mine).encode("utf-32-le"), dtype=np.uint32)
        start = int(self._pool_off[base])
        end = start + len(codes)
        if end > len(self._pool_codes):
            grown = np.zeros(max(end, len(self._pool_codes) * 5 // 4), dtype=np.uint32)
            grown[:start] = self._pool_codes[:start]
            self._pool_codes = grown
        self._pool_codes[start:end] = codes
        if size + 1 > len(self._pool_off):
            self._pool_off = np.resize(self._pool_off, max(size + 1, 2 * len(self._pool_off)))
        self._pool_off[base + 1 : size + 1] = start + np.cumsum(self._pool_lens[base:size])

    def _count(self, encs: list[str]) -> None:
        """Add ``encs`` to the document frequencies of their tokens."""
        lens = np.fromiter(map(len, encs), dtype=np.int64, count=len(encs))
        if not lens.sum():
            return
        codes = np.frombuffer("".join(encs).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        owner = np.repeat(np.arange(len(encs), dtype=np.int64), lens)
        distinct = np.unique(owner * (1 << 21) + codes) & ((1 << 21) - 1)
        self._freq += np.bincount(distinct, minlength=len(self._freq))[: len(self._freq)]

    def _rerank(self) -> None:
        """Order tokens by pool document frequency (rare first) and index the pool anew."""
        size = self._size
        points = np.arange(len(self._rank))
        order = np.lexsort((self._rank_tiebreak(points), self._freq[points]))
        rank = np.empty(len(self._rank), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        self._rank = rank
        self._new_rank = -1
        self._pairs.clear()
        self._singles.clear()
        chunk = self.block  # a block at a time: the memory of one block
        for start in range(0, size, chunk):
            sig = self._signatures(self._pool_texts(start, min(start + chunk, size)))
            for table, stored in ((self._pairs, sig.i_pair), (self._singles, sig.i_single)):
                table.insert(stored.key, stored.text + start, stored.u, stored.v,
                             sig.lens[stored.text])  # fmt: skip
        nxt = self._next_rerank * 4
        self._next_rerank = nxt if nxt <= self.rerank_until else 0

    def _pool_texts(self, start: int, end: int) -> list[str]:
        """The encoded pool texts ``start:end`` (from the code points when compiled)."""
        if not self.compiled:
            return self._pool[start:end]
        off = self._pool_off
        joined = self._pool_codes[off[start] : off[end]].tobytes().decode("utf-32-le")
        cuts = (off[start : end + 1] - off[start]).tolist()
        return [joined[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def _rank_tiebreak(self, points: np.ndarray) -> np.ndarray:
        """Among equally frequent tokens, the order of the current ranks (first seen first)."""
        return self._rank[points]

    def close(self) -> None:
        """Stop the threads of ``threads`` > 1 (a later block starts them again)."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def add(self, texts: Iterable[str]) -> None:
        """Remember ``texts`` unconditionally (seeds, earlier records)."""
        batch = list(texts)
        for start in range(0, len(batch), self.block):
            encs = self._encode(batch[start : start + self.block])
            sig = self._signatures(encs)
            self._admit(encs, sig, np.ones(len(encs), dtype=bool))

    def run(self, texts: Iterable[str]) -> Iterator[Verdict]:
        """One verdict per text, in order; novel texts join the pool."""
        block: list[str] = []
        for text in texts:
            block.append(text)
            if len(block) >= self.block:
                yield from self._settle(self._encode(block))
                block = []
        if block:
            yield from self._settle(self._encode(block))


def bulk_novelty(
    texts: Iterable[str], threshold: float = 0.7, tokenizer: Tokenizer = "rouge", **options: Any
) -> Iterator[Verdict]:
    """:meth:`BulkNovelty.run` on a fresh pool."""
    return BulkNovelty(threshold, tokenizer, **options).run(texts)
