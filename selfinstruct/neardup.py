"""Near-duplicates by MinHash LSH, in input order, in bounded memory.

A text's shingles are its runs of ``shingle`` consecutive words (the ``unicode`` tokenizer of
:mod:`selfinstruct.novelty`: any script, CJK one token per character; a text shorter than
that is one shingle). rensa computes the MinHash signature (``num_perm`` values, fixed
``seed``). The signature is cut into ``bands`` bands of ``rows`` values chosen for the Jaccard
``threshold``; a text is a near-duplicate of the earliest kept text it shares a band with.

The index holds no text and no signature: one 64-bit key per band of each kept text, with its
line. Recent keys sit in a dict; every ``flush`` keys they become a sorted numpy run (8 + 4
bytes a key), and runs of similar size are merged, so a lookup searches a few sorted arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from selfinstruct.errors import UserError
from selfinstruct.novelty import tokenize

MISSING = "--near-dup minhash needs rensa: pip install 'selfinstruct[filters]'"
MAX_LINE = 2**32 - 1
MAX_RUN = 1 << 25


@dataclass(frozen=True)
class MinHashSettings:
    threshold: float = 0.8
    shingle: int = 5
    num_perm: int = 128
    seed: int = 1


@cache
def band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows per band (bands * rows <= num_perm) whose S-curve 1 - (1 - s^rows)^bands
    best separates Jaccard ``threshold``: the least area of false positives below it plus
    false negatives above it, equally weighted."""
    steps = 1000
    below = (np.arange(steps) + 0.5) * (threshold / steps)  # midpoints of each side
    above = threshold + (np.arange(steps) + 0.5) * ((1 - threshold) / steps)
    best: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        false_positive = (1 - (1 - below**rows) ** bands).mean() * threshold
        false_negative = ((1 - above**rows) ** bands).mean() * (1 - threshold)
        error = float(false_positive + false_negative)
        if best is None or error < best[0]:
            best = (error, bands, rows)
    assert best is not None
    return best[1], best[2]


def require() -> None:
    """Fail with one line when rensa is not installed."""
    _rensa()


def _rensa() -> Any:
    try:
        import rensa
    except ImportError:
        raise UserError(MISSING) from None
    return rensa


def words(text: str) -> list[str]:
    """The ``unicode`` tokenizer's tokens; on ASCII text that is lower-cased ``[a-z0-9]+``
    runs, which the ``rouge`` tokenizer finds ten times faster."""
    return tokenize(text, "rouge" if text.isascii() else "unicode")


def shingles(text: str, size: int) -> list[str]:
    tokens = words(text)
    if len(tokens) <= size:
        return [" ".join(tokens)]
    return list(map(" ".join, zip(*(tokens[i:] for i in range(size)), strict=False)))


class NearDupIndex:
    """Keys of the kept texts' bands; :meth:`find` the earliest kept line sharing one."""

    def __init__(self, settings: MinHashSettings, flush: int = 1 << 18) -> None:
        self.settings = settings
        self._minhash = _rensa().RMinHash
        self.bands, self.rows = band_params(settings.threshold, settings.num_perm)
        self._flush = flush
        self._recent: dict[int, int] = {}
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, their lines)

    @property
    def size(self) -> int:
        return len(self._recent) + sum(len(keys) for keys, _ in self._runs)

    def keys(self, text: str) -> list[int]:
        """One key per band of ``text``'s signature (a hash of the band number and its rows)."""
        minhash = self._minhash(self.settings.num_perm, self.settings.seed)
        minhash.update(shingles(text, self.settings.shingle))
        digest = minhash.digest()
        rows = self.rows
        return [
            hash((band, *digest[band * rows : band * rows + rows])) for band in range(self.bands)
        ]

    def find(self, keys: list[int]) -> int | None:
        """The earliest kept line that shares a band key with ``keys``, or None."""
        found = [self._recent[key] for key in keys if key in self._recent]
        if self._runs:
            query = np.array(keys, dtype=np.int64)
            for run_keys, run_lines in self._runs:
                at = np.minimum(run_keys.searchsorted(query), len(run_keys) - 1)
                hit = run_keys[at] == query
                if hit.any():
                    found.extend(int(line) for line in run_lines[at[hit]])
        return min(found) if found else None

    def add(self, keys: list[int], line: int) -> None:
        """Remember a kept text's keys with its line (the first line keeps a shared key)."""
        if line > MAX_LINE:
            raise UserError(f"--near-dup minhash indexes at most {MAX_LINE} lines")
        for key in keys:
            self._recent.setdefault(key, line)
        if len(self._recent) >= self._flush:
            self._spill()

    def _spill(self) -> None:
        keys = np.fromiter(self._recent.keys(), dtype=np.int64, count=len(self._recent))
        lines = np.fromiter(self._recent.values(), dtype=np.uint32, count=len(self._recent))
        self._recent = {}
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], lines[order]))
        # Merge while the newest run is at least half the one before (O(log n) runs), up to
        # MAX_RUN keys a run: a merge needs 8 bytes a key more for a moment.
        while len(self._runs) > 1:
            (old_keys, old_lines), (new_keys, new_lines) = self._runs[-2:]
            merged = len(old_keys) + len(new_keys)
            if 2 * len(new_keys) < len(old_keys) or merged > MAX_RUN:
                break
            # Sorted runs merged without sorting; on equal keys the older run's comes first.
            at = old_keys.searchsorted(new_keys, side="right")
            self._runs[-2:] = [
                (np.insert(old_keys, at, new_keys), np.insert(old_lines, at, new_lines))
            ]
            del old_keys, old_lines, new_keys, new_lines, at
