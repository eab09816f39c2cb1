"""The signature tables of :class:`~selfinstruct.novelty_bulk.BulkNovelty`.

A table maps a signature (64-bit key; its low 32 bits are kept) to the pool texts stored under
it, with the places of the signature's elements in each. New entries go to a chained hash table
(:class:`Chain`); once it holds :data:`SEAL` entries they are sealed: sorted by key and merged,
in place, into the table's one *run* of sealed entries, which has a directory of where each
bucket of keys starts. All the entries of one key lie next to each other in the run, so a
look-up reads them in one sweep after one directory read; in a chain they are scattered over
the whole table (a cache miss each). One run rather than several of similar sizes: a look-up
pays its directory and key reads once per run, and with runs capped in size (the merge's
temporaries grew with them) the pool of a 10M-text merge held five to seven runs a table.
The in-place merge's temporaries are those of the sealed entries and a slice of the run,
whatever the run's size.
"""

from __future__ import annotations

import numpy as np

from selfinstruct import novelty_kernel

__all__ = ["SEAL", "Chain", "Table"]

#: Entries chained at a time when a chain's bucket array grows.
_RELINK = 1 << 21
#: Chained entries sealed into the run at once. A chain's entries of one key lie scattered
#: (a cache miss each), so a small chain makes look-ups cheap; each seal moves the run, which
#: costs about 3 ns an entry compiled (numba) and ten times that in numpy.
SEAL = 1 << 19 if novelty_kernel.available() else 1 << 22
#: Keys a directory bucket of the run holds on average (16 keys of 4 bytes: a cache line).
_PER_BUCKET = 16
#: Entries of the run moved at a time when sealed entries are merged into it.
_MOVE = 1 << 20


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    none = np.empty(0, dtype=np.int64)
    return none, none, none, none


def _make_room(owner: object, names: tuple[str, ...], used: int, need: int) -> None:
    """Grow the arrays ``names`` of ``owner`` (by a quarter at least) to hold ``need`` entries,
    keeping their first ``used``."""
    if need >= 1 << 31:
        raise OverflowError("more than 2**31 signatures in one novelty table")
    size = len(getattr(owner, names[0]))
    if need <= size:
        return
    cap = max(need, size * 5 // 4)
    for name in names:
        old = getattr(owner, name)
        new = np.empty(cap, dtype=old.dtype)
        new[:used] = old[:used]
        setattr(owner, name, new)


class Chain:
    """A hash multimap from 64-bit keys to (pool position, places), in numpy arrays: 16 bytes
    an entry (the newest entries of a :class:`Table`). Chained buckets: ``head[bucket]`` is the newest entry, ``nxt[entry]`` the one
    before it. An entry keeps a key's low 32 bits, and its bucket is the low ``bits`` of those,
    so two keys may meet by chance: that only adds a candidate, which verification turns down."""

    def __init__(self, compiled: bool = False) -> None:
        self.compiled = compiled
        self.bits = 12
        self.head = np.full(1 << self.bits, -1, dtype=np.int32)
        self.keys = np.empty(1024, dtype=np.uint32)
        self.pids = np.empty(1024, dtype=np.int32)
        self.places = np.empty(1024, dtype=np.uint32)  # n << 16 | u << 8 | v (see insert)
        self.nxt = np.empty(1024, dtype=np.int32)
        self.size = 0

    def _bucket(self, low: np.ndarray) -> np.ndarray:
        return (low & np.uint32((1 << self.bits) - 1)).astype(np.int64)

    def insert(
        self, keys: np.ndarray, pids: np.ndarray, u: np.ndarray, v: np.ndarray, n: np.ndarray
    ) -> None:
        """Store entries: each pool text's position, the places of the signature's elements in
        it and its length ``n`` (kept beside the places, so a look-up need not fetch it; a
        length of 65,535 or more is stored as 65,535, which means: look it up). A place above
        255 is stored as 255: the filter on places then lets through more, never less."""
        count = len(keys)
        if not count:
            return
        start = self.size
        need = start + count
        _make_room(self, ("keys", "pids", "places", "nxt"), start, need)
        low = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        self.keys[start:need] = low
        self.pids[start:need] = pids
        self.places[start:need] = (
            (np.minimum(n, 0xFFFF) << 16) | (np.minimum(u, 255) << 8) | np.minimum(v, 255)
        )
        self.size = need
        grown = need > len(self.head)
        if grown:
            # Grow the bucket array (1 entry a bucket at most: a look-up steps past fewer others)
            # and chain every entry anew.
            self.bits = min(int(need).bit_length() + 1, 32)
            self.head = np.full(1 << self.bits, -1, dtype=np.int32)
        first = 0 if grown else start
        if self.compiled:
            mask = (1 << self.bits) - 1
            novelty_kernel.link_chain(self.head, self.nxt, self.keys, first, need, mask)
            return
        # Chained a slice at a time: the sort's temporaries stay those of one slice.
        for lo in range(first, need, _RELINK):
            hi = min(lo + _RELINK, need)
            self._link(np.arange(lo, hi, dtype=np.int64), self._bucket(self.keys[lo:hi]))

    def _link(self, entries: np.ndarray, buckets: np.ndarray) -> None:
        """Chain ``entries`` (ascending) into ``buckets``, newest at the head."""
        order = np.argsort(buckets)
        b = buckets[order]
        e = entries[order].astype(np.int32)
        same = np.zeros(len(b), dtype=bool)
        same[1:] = b[1:] == b[:-1]
        prev = np.empty_like(e)
        prev[1:] = e[:-1]
        self.nxt[e] = np.where(same, prev, self.head[b])
        last = np.ones(len(b), dtype=bool)
        last[:-1] = ~same[1:]
        self.head[b[last]] = e[last]

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(i, pid, u, v)`` for every stored entry whose key matches ``keys[i]``."""
        if not self.size or not len(keys):
            return _empty()
        low = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        cur = self.head[self._bucket(low)]
        which = np.flatnonzero(cur >= 0)
        cur = cur[which]
        found_i: list[np.ndarray] = []
        found_e: list[np.ndarray] = []
        while len(cur):
            hit = self.keys[cur] == low[which]
            if hit.any():
                found_i.append(which[hit])
                found_e.append(cur[hit])
            cur = self.nxt[cur]
            live = cur >= 0
            cur, which = cur[live], which[live]
        if not found_i:
            return _empty()
        entries = np.concatenate(found_e)
        places = self.places[entries].astype(np.int64)
        return (np.concatenate(found_i), self.pids[entries].astype(np.int64),
                (places >> 8) & 0xFF, places & 0xFF)  # fmt: skip

    def clear(self) -> None:
        self.__init__(self.compiled)  # type: ignore[misc]


class Table:
    """A run of sealed entries (sorted by key, with a directory) and a :class:`Chain` of the
    newest entries. ``runs`` lists ``(start, end, shift, dir_start)`` (none before the first
    seal, then one): the run's entries are ``keys[start:end]`` (``pids``, ``places`` alike),
    and the entries of keys whose top ``32 - shift`` bits are b start at
    ``start + dirs[dir_start + b]``. Within a key, entries stay in the order they were
    inserted. ``compiled``: seal with ``novelty_kernel.merge_run`` (numba) rather than numpy."""

    def __init__(self, compiled: bool = False) -> None:
        self.compiled = compiled
        self.chain = Chain(compiled)
        self.keys = np.empty(0, dtype=np.uint32)
        self.pids = np.empty(0, dtype=np.int32)
        self.places = np.empty(0, dtype=np.uint32)
        self.dirs = np.empty(0, dtype=np.int32)
        self.runs: list[tuple[int, int, int, int]] = []
        self.sealed = 0  # entries in the run

    @property
    def size(self) -> int:
        return self.sealed + self.chain.size

    def insert(
        self, keys: np.ndarray, pids: np.ndarray, u: np.ndarray, v: np.ndarray, n: np.ndarray
    ) -> None:
        """Store entries (as :meth:`Chain.insert`)."""
        self.chain.insert(keys, pids, u, v, n)
        if self.chain.size >= SEAL:
            self.seal()

    def seal(self) -> None:
        """Sort the chained entries by key and merge them into the run, after the run's own
        entries of the same key."""
        chain = self.chain
        count = chain.size
        if not count:
            return
        if self.compiled:
            order = novelty_kernel.radix_order(chain.keys[:count])
        else:
            order = np.argsort(chain.keys[:count], kind="stable")
        keys = chain.keys[:count][order]
        pids = chain.pids[:count][order]
        places = chain.places[:count][order]
        del order
        self.chain = Chain(self.compiled)
        old = self.sealed
        total = old + count
        _make_room(self, ("keys", "pids", "places"), old, total)
        if self.compiled:
            novelty_kernel.merge_run(self.keys, self.pids, self.places, old, keys, pids, places)
        else:
            self._merge(old, keys, pids, places)
        self.sealed = total
        self._index(keys)

    def _merge(self, old: int, keys: np.ndarray, pids: np.ndarray, places: np.ndarray) -> None:
        """Merge the sorted ``keys`` (``pids``, ``places``) into the run ``[:old]`` in numpy.
        Where each new entry goes: after the run's entries of keys up to its own, and after the
        new entries before it. A run entry moves up by the new entries placed before it."""
        after = np.searchsorted(self.keys[:old], keys, side="right")  # run entries before
        hi = old
        while hi > after[0]:  # from the top down: no entry is overwritten before it moves
            lo = max(int(after[0]), hi - _MOVE)
            at = np.arange(lo, hi, dtype=np.int64)
            to = at + np.searchsorted(after, at, side="right")
            for array in (self.keys, self.pids, self.places):
                array[to] = array[lo:hi].copy()
            hi = lo
        dest = after + np.arange(len(keys), dtype=after.dtype)
        self.keys[dest] = keys
        self.pids[dest] = pids
        self.places[dest] = places

    def _index(self, new: np.ndarray) -> None:
        """The run's directory: for each bucket of keys (their top bits), where it starts.
        While the run's size keeps the number of buckets, the sealed keys ``new`` are counted
        into it; otherwise the whole run is counted anew."""
        total = self.sealed
        bits = max(1, min(31, int(max(total // _PER_BUCKET, 1)).bit_length()))
        shift = 32 - bits
        if self.runs and self.runs[0][2] == shift:
            added = np.bincount(new >> np.uint32(shift), minlength=1 << bits)
            self.dirs[1:] += np.cumsum(added).astype(np.int32)
            self.runs = [(0, total, shift, 0)]
            return
        counts = np.zeros(1 << bits, dtype=np.int64)
        for lo in range(0, total, _MOVE):
            top = self.keys[lo : min(lo + _MOVE, total)] >> np.uint32(shift)
            counts += np.bincount(top, minlength=1 << bits)
        directory = np.zeros((1 << bits) + 1, dtype=np.int32)  # the run holds < 2**31
        np.cumsum(counts, out=directory[1:])
        self.dirs = directory
        self.runs = [(0, total, shift, 0)]

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(i, pid, u, v)`` for every stored entry whose key matches ``keys[i]``."""
        parts = [self.chain.lookup(keys)]
        if self.runs and len(keys):
            low = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
            for start, end, _, _ in self.runs:
                run = self.keys[start:end]
                left = np.searchsorted(run, low, side="left")
                width = np.searchsorted(run, low, side="right") - left
                total = int(width.sum())
                if not total:
                    continue
                which = np.repeat(np.arange(len(low), dtype=np.int64), width)
                at = start + np.repeat(left - np.cumsum(width) + width, width) + np.arange(total)
                places = self.places[at].astype(np.int64)
                parts.append(
                    (which, self.pids[at].astype(np.int64), (places >> 8) & 0xFF, places & 0xFF)
                )
        parts = [p for p in parts if len(p[0])]
        if not parts:
            return _empty()
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]

    def clear(self) -> None:
        self.__init__(self.compiled)  # type: ignore[misc]
