"""The pool look-up of :class:`~selfinstruct.novelty_bulk.BulkNovelty`, compiled with numba.

``BulkNovelty`` settles a block's texts against the pool in numpy: every look-up hit becomes an
array element, and a text's near copies kept before it are hit through most of its signatures
(a hit per shared pair), so the arrays grow with the pool. Here each text walks its signatures
one by one, rarest first, in compiled code:

* a hit whose shared elements fit where a match's first two common ones must (the same test as
  ``_Hits.fits``) is verified at once, unless the text already verified that candidate (a stamp
  per pool text), with a bit-parallel LCS (Hyyro's, 64 tokens a word);
* each score above the bound raises the bound, which tightens the test for the hits to come
  and shortens the prefix still to walk (signatures are ordered by their later place, so the
  walk stops at the first one past it).

Every candidate that can score above the final bound is verified (the proof is the one in
``novelty_bulk``: the bound only rises, and a test passed at a higher bound is passed at a lower
one), so a rejected text's maximum is exact, and the decision is the same. F is computed with
rouge_score's float operations in the same order (IEEE double, no fast math).

The same walk then settles a block within itself (:func:`settle_block`: each text against the
texts of its block kept before it, chained as they are kept), and :func:`merge_run` merges a
table's sealed entries into its run in place.

Optional: without numba (``pip install 'selfinstruct[scale]'``) ``BulkNovelty`` uses numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - the numpy path is tested on its own
    numba = None

__all__ = [
    "available",
    "link_chain",
    "merge_run",
    "radix_order",
    "rank_order",
    "settle_block",
    "settle_part",
]

if numba is not None:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
        """A hint to bring ``array[index]`` into the cache (LLVM's prefetch: read, keep)."""

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            arrayty, indexty = signature.args
            data = context.make_array(arrayty)(context, builder, args[0]).data
            at = context.cast(builder, args[1], indexty, types.intp)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
            ptr = builder.bitcast(builder.gep(data, [at]), i8p)
            builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(array, index), codegen
else:  # pragma: no cover

    def _prefetch(array: Any, index: Any) -> None:
        pass


#: Code points: the encoded texts' tokens, one character each.
CODE_SPACE = 0x110000


def available() -> bool:
    """Whether numba is installed."""
    return numba is not None


def _compile(function: Any, inline: str = "never") -> Any:
    if numba is None:  # pragma: no cover
        return function
    return numba.njit(cache=True, nogil=True, inline=inline)(function)


def _popcount(x: np.uint64) -> np.uint64:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


_popcount = _compile(_popcount)


def _f(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F with rouge_score's float operations (``_f_from_lcs``)."""
    if m == 0 or n == 0 or lcs == 0:
        return 0.0
    precision = lcs / m
    recall = lcs / n
    return 2 * precision * recall / (precision + recall)


_f = _compile(_f, "always")


def _fits(m: int, u: int, v_: int, n: int, u2: int, v2: int, bound: float) -> bool:
    """Whether a signature shared at places ``u <= v_`` of an ``m``-token text and ``u2 <= v2``
    of an ``n``-token one sits where a match above ``bound`` has its first two common
    elements: for ``a`` the least overlap of such a match, within the first ``m - a + 1`` and
    ``m - a + 2`` places (``n - a + 1`` and ``n - a + 2``)."""
    a = int(np.floor(bound * float(m + n) / 2.0)) + 1
    return u <= m - a and v_ <= m - a + 1 and u2 <= n - a and v2 <= n - a + 1


_fits = _compile(_fits, "always")


def _walk(
    serial: int, m: int, keys: np.ndarray, us: np.ndarray, vs: np.ndarray, lo: int, hi: int,
    pair: bool, chain: tuple[np.ndarray, ...], bucket_mask: int, run: tuple[np.ndarray, ...],
    pool: tuple[np.ndarray, np.ndarray, np.ndarray], stamp: np.ndarray, masks: np.ndarray,
    words: int, slot: np.ndarray, v: np.ndarray, state: np.ndarray, threshold: float,
    slack: float, exact_max: bool,
) -> int:  # fmt: skip
    """Walk the signatures ``lo:hi`` of one text (of ``m`` tokens) in one table: its sealed
    ``run`` (a key's entries side by side: keys, pids, places, then each run's start, shift and
    directory start, and the directories) and its ``chain`` (head, keys, pids, places, next).
    ``pool``: the pool's codes, offsets and lengths. ``state`` holds the best F and the bound.
    Returns the hits seen; -1 once the text is settled (decisions only).

    A hit (a pool text stored under the key, at ``places``: ``n << 16 | u2 << 8 | v2``, n its
    length) is verified if its places fit a match above the bound (``state[1]``) and it is not
    verified yet (the places first: they are in the entry, the stamp is not): the bit-parallel
    LCS of the query (its match masks: ``masks[slot[code] - 1]``) and the pool text, with V
    holding a 0 for each query place matched so far. A better F raises ``state``.

    All of it is one function body, and every caller inlines it: a compiled function takes a
    reference to each array it is passed, an atomic operation on memory both threads share,
    and with the verification a function of its own (called for each hit) those took a
    quarter of the merge's CPU. (The arrays come in tuples: Python compiles a call of more
    than 30 arguments as ``f(*args)``, which numba does not inline.)"""
    head, c_keys, c_pids, c_places, c_next = chain
    r_keys, r_pids, r_places, r_start, r_shift, r_dir, dirs = run
    pool_codes, pool_off, pool_lens = pool
    hits = 0
    runs = len(r_start)
    ones = ~np.uint64(0)
    # Prefetch ahead: four signatures on, the directory slot and the chain head; two on, the
    # run's first entry of the key and the chain's first entry (their reads depend on those).
    for s in range(lo, min(lo + 4, hi)):
        if runs:
            _prefetch(dirs, r_dir[0] + (np.int64(keys[s]) >> r_shift[0]))
        _prefetch(head, keys[s] & bucket_mask)
    for s in range(lo, hi):
        if s + 4 < hi:
            k2 = keys[s + 4]
            if runs:
                _prefetch(dirs, r_dir[0] + (np.int64(k2) >> r_shift[0]))
            _prefetch(head, k2 & bucket_mask)
        if s + 2 < hi:
            k1 = keys[s + 2]
            if runs:
                j1 = r_start[0] + dirs[r_dir[0] + (np.int64(k1) >> r_shift[0])]
                _prefetch(r_keys, j1)
                _prefetch(r_pids, j1)
                _prefetch(r_places, j1)
            e1 = head[k1 & bucket_mask]
            if e1 >= 0:
                _prefetch(c_keys, e1)
                _prefetch(c_next, e1)
        bound = state[1]
        reach = m - (int(np.floor(bound * m / (2.0 - bound))) + 1)
        if (vs[s] > reach + 1) if pair else (us[s] > reach):
            break
        key = keys[s]
        u = us[s]
        v_ = vs[s]
        # The key's entries: each run's (side by side, up to the first larger key), then the
        # chain's; one hit at a time.
        g = -1
        j = 0
        end = 0
        e = np.int32(-1)
        in_chain = False
        while True:
            if not in_chain:
                if j < end and r_keys[j] <= key:
                    j += 1
                    if r_keys[j - 1] != key:
                        continue
                    pid = np.int64(r_pids[j - 1])
                    places = np.int64(r_places[j - 1])
                elif g + 1 < runs:
                    g += 1
                    at = r_dir[g] + (np.int64(key) >> r_shift[g])
                    j = r_start[g] + dirs[at]
                    end = r_start[g] + dirs[at + 1]
                    continue
                else:
                    in_chain = True
                    e = head[key & bucket_mask]
                    continue
            else:
                if e < 0:
                    break
                here = e
                e = c_next[here]
                if c_keys[here] != key:
                    continue
                pid = np.int64(c_pids[here])
                places = np.int64(c_places[here])
            hits += 1
            n = places >> 16
            if n == 0xFFFF:
                n = pool_lens[pid]
            if not _fits(m, u, v_, n, (places >> 8) & 0xFF, places & 0xFF, state[1]):
                continue
            start = pool_off[pid]  # read with the stamp, not after it: both misses at once
            if stamp[pid] == serial:
                continue
            stamp[pid] = serial
            for w in range(words):
                v[w] = ones
            for t in range(n):
                row = slot[pool_codes[start + t]]
                if row == 0:
                    continue  # a token the query lacks leaves V as it is
                carry = np.uint64(0)
                for w in range(words):
                    old = v[w]
                    x = old & masks[row - 1, w]
                    y = old + x
                    c1 = np.uint64(1) if y < old else np.uint64(0)
                    y2 = y + carry
                    c2 = np.uint64(1) if y2 < y else np.uint64(0)
                    v[w] = y2 | (old - x)
                    carry = c1 | c2
            lcs = 0
            for w in range(words):
                bits = 64 if w < words - 1 or m % 64 == 0 else m % 64
                word = ~v[w]
                if bits < 64:
                    word &= (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
                lcs += int(_popcount(word))
            f = _f(lcs, m, n)
            if f > state[0]:
                state[0] = f
                state[1] = max(f, threshold) - slack
                if not exact_max and f > threshold:
                    return -1
    return hits


_walk = _compile(_walk, "always")


def _settle_part(
    lo: int, hi: int, q_codes: np.ndarray, q_off: np.ndarray, lens: np.ndarray,
    p_keys: np.ndarray, p_u: np.ndarray, p_v: np.ndarray, p_off: np.ndarray,
    s_keys: np.ndarray, s_u: np.ndarray, s_off: np.ndarray,
    ph: np.ndarray, pmask: int, pck: np.ndarray, pcp: np.ndarray, pcl: np.ndarray,
    pcn: np.ndarray, prk: np.ndarray, prp: np.ndarray, prl: np.ndarray, prs: np.ndarray,
    prh: np.ndarray, prd: np.ndarray, pdirs: np.ndarray,
    sh: np.ndarray, smask: int, sck: np.ndarray, scp: np.ndarray, scl: np.ndarray,
    scn: np.ndarray, srk: np.ndarray, srp: np.ndarray, srl: np.ndarray, srs: np.ndarray,
    srh: np.ndarray, srd: np.ndarray, sdirs: np.ndarray,
    pool_codes: np.ndarray, pool_off: np.ndarray, pool_lens: np.ndarray,
    threshold: float, slack: float, exact_max: bool, best: np.ndarray,
) -> int:  # fmt: skip
    """Texts ``lo:hi`` of the block against the pool: their best F into ``best``. Returns the
    look-up hits seen. Each table comes as its chain (head, bucket mask, keys, pids, places,
    next) and its runs (keys, pids, places, then each run's start, shift and directory start,
    and the directories); see ``novelty_table``."""
    stamp = np.zeros(max(len(pool_lens), 1), dtype=np.int32)
    slot = np.zeros(CODE_SPACE, dtype=np.int32)
    longest = 1
    for i in range(lo, hi):
        longest = max(longest, lens[i])
    words = (longest + 63) // 64
    masks = np.zeros((longest, words), dtype=np.uint64)
    v = np.empty(words, dtype=np.uint64)
    state = np.zeros(2, dtype=np.float64)
    p_chain, p_run = (ph, pck, pcp, pcl, pcn), (prk, prp, prl, prs, prh, prd, pdirs)
    s_chain, s_run = (sh, sck, scp, scl, scn), (srk, srp, srl, srs, srh, srd, sdirs)
    pool = (pool_codes, pool_off, pool_lens)
    hits = 0
    for i in range(lo, hi):
        m = lens[i]
        if m == 0:
            continue
        start = q_off[i]
        _masks(q_codes, start, m, slot, masks, words)
        state[0] = 0.0
        state[1] = threshold - slack
        serial = i + 1
        seen = _walk(serial, m, p_keys, p_u, p_v, p_off[i], p_off[i + 1], True, p_chain,
                     pmask, p_run, pool, stamp, masks, words, slot, v, state, threshold, slack,
                     exact_max)  # fmt: skip
        if seen >= 0:
            hits += seen
            seen = _walk(serial, m, s_keys, s_u, s_u, s_off[i], s_off[i + 1], False, s_chain,
                         smask, s_run, pool, stamp, masks, words, slot, v, state, threshold,
                         slack, exact_max)  # fmt: skip
            if seen >= 0:
                hits += seen
        best[i] = state[0]
        for j in range(m):
            slot[q_codes[start + j]] = 0
    return hits


settle_part = _compile(_settle_part)


def _masks(
    codes: np.ndarray, start: int, m: int, slot: np.ndarray, masks: np.ndarray, words: int
) -> None:
    """The query's match masks: ``masks[slot[code] - 1]`` has bit j set where its token j is
    ``code`` (``slot`` is 0 for the codes it lacks; :func:`_unmask` clears it again)."""
    rows = 0
    for j in range(m):
        c = codes[start + j]
        if slot[c] == 0:
            rows += 1
            slot[c] = rows
            for w in range(words):
                masks[rows - 1, w] = np.uint64(0)
        masks[slot[c] - 1, j >> 6] |= np.uint64(1) << np.uint64(j & 63)


_masks = _compile(_masks, "always")


def _chain_add(
    head: np.ndarray, mask: int, keys: np.ndarray, pids: np.ndarray, places: np.ndarray,
    nxt: np.ndarray, size: int, new_keys: np.ndarray, u: np.ndarray, v: np.ndarray, lo: int,
    hi: int, pid: int, n: int,
) -> int:  # fmt: skip
    """Chain the signatures ``lo:hi`` of text ``pid`` (``n`` tokens) as ``Chain.insert`` stores
    them; returns the chain's new size."""
    for s in range(lo, hi):
        keys[size] = new_keys[s]
        pids[size] = pid
        places[size] = (np.uint32(min(n, 0xFFFF)) << np.uint32(16)) | (
            np.uint32(min(u[s], 255)) << np.uint32(8)) | np.uint32(min(v[s], 255))  # fmt: skip
        b = new_keys[s] & mask
        nxt[size] = head[b]
        head[b] = size
        size += 1
    return size


_chain_add = _compile(_chain_add, "always")


def _settle_block(
    q_codes: np.ndarray, q_off: np.ndarray, lens: np.ndarray, p_keys: np.ndarray,
    p_u: np.ndarray, p_v: np.ndarray, p_off: np.ndarray, s_keys: np.ndarray, s_u: np.ndarray,
    s_v: np.ndarray, s_off: np.ndarray, ip_keys: np.ndarray, ip_u: np.ndarray,
    ip_v: np.ndarray, ip_off: np.ndarray, is_keys: np.ndarray, is_u: np.ndarray,
    is_v: np.ndarray, is_off: np.ndarray, threshold: float, slack: float, exact_max: bool,
    best: np.ndarray, kept: np.ndarray,
) -> None:  # fmt: skip
    """The block's texts against each other, in order, after the pool: each text walks its
    signatures (``p_*`` among pair-indexed texts, ``s_*`` among single-indexed ones) in chains
    of the texts kept before it, starting from its best F against the pool (``best``), and is
    kept (``kept``) if its best stays ``<= threshold``; then its own signatures (``ip_*`` or
    ``is_*``) join the chains."""
    count = len(lens)
    pmask = 15
    while pmask + 1 < 2 * len(ip_keys):
        pmask = 2 * pmask + 1
    smask = 15
    while smask + 1 < 2 * len(is_keys):
        smask = 2 * smask + 1
    ph = np.full(pmask + 1, -1, dtype=np.int32)
    sh = np.full(smask + 1, -1, dtype=np.int32)
    pck = np.empty(len(ip_keys), dtype=np.uint32)
    pcp = np.empty(len(ip_keys), dtype=np.int32)
    pcl = np.empty(len(ip_keys), dtype=np.uint32)
    pcn = np.empty(len(ip_keys), dtype=np.int32)
    sck = np.empty(len(is_keys), dtype=np.uint32)
    scp = np.empty(len(is_keys), dtype=np.int32)
    scl = np.empty(len(is_keys), dtype=np.uint32)
    scn = np.empty(len(is_keys), dtype=np.int32)
    p_size = 0
    s_size = 0
    no_keys = np.empty(0, dtype=np.uint32)
    no_pids = np.empty(0, dtype=np.int32)
    no_runs = np.empty(0, dtype=np.int64)
    no_run = (no_keys, no_pids, no_keys, no_runs, no_runs, no_runs, np.empty(0, dtype=np.int32))
    block = (q_codes, q_off, lens)
    p_chain, s_chain = (ph, pck, pcp, pcl, pcn), (sh, sck, scp, scl, scn)
    stamp = np.zeros(max(count, 1), dtype=np.int32)
    slot = np.zeros(CODE_SPACE, dtype=np.int32)
    longest = 1
    for i in range(count):
        longest = max(longest, lens[i])
    words = (longest + 63) // 64
    masks = np.zeros((longest, words), dtype=np.uint64)
    v = np.empty(words, dtype=np.uint64)
    state = np.zeros(2, dtype=np.float64)
    for i in range(count):
        m = lens[i]
        start = q_off[i]
        open_ = m > 0 and (p_size + s_size) > 0 and (exact_max or not best[i] > threshold)
        if open_:
            _masks(q_codes, start, m, slot, masks, words)
            state[0] = best[i]
            state[1] = max(best[i], threshold) - slack
            serial = i + 1
            seen = _walk(serial, m, p_keys, p_u, p_v, p_off[i], p_off[i + 1], True, p_chain,
                         pmask, no_run, block, stamp, masks, words, slot, v, state, threshold,
                         slack, exact_max)  # fmt: skip
            if seen >= 0:
                _walk(serial, m, s_keys, s_u, s_v, s_off[i], s_off[i + 1], False, s_chain, smask,
                      no_run, block, stamp, masks, words, slot, v, state, threshold, slack,
                      exact_max)  # fmt: skip
            best[i] = state[0]
            for j in range(m):
                slot[q_codes[start + j]] = 0
        kept[i] = not best[i] > threshold
        if kept[i]:
            p_size = _chain_add(ph, pmask, pck, pcp, pcl, pcn, p_size, ip_keys, ip_u, ip_v,
                                ip_off[i], ip_off[i + 1], i, m)  # fmt: skip
            s_size = _chain_add(sh, smask, sck, scp, scl, scn, s_size, is_keys, is_u, is_v,
                                is_off[i], is_off[i + 1], i, m)  # fmt: skip


settle_block = _compile(_settle_block)


def _merge_run(
    keys: np.ndarray, pids: np.ndarray, places: np.ndarray, old: int, new_keys: np.ndarray,
    new_pids: np.ndarray, new_places: np.ndarray,
) -> None:  # fmt: skip
    """Merge entries sorted by key (``new_*``) into the run ``keys[:old]`` (``pids``,
    ``places`` alike), in place: the arrays hold room for them after the run. From the top
    down, so no entry is overwritten before it moves; a new entry goes after the run's
    entries of its key, and the run's entries below the lowest new key stay where they are."""
    i = old - 1
    j = len(new_keys) - 1
    k = old + j
    while j >= 0:
        if i >= 0 and keys[i] > new_keys[j]:
            keys[k] = keys[i]
            pids[k] = pids[i]
            places[k] = places[i]
            i -= 1
        else:
            keys[k] = new_keys[j]
            pids[k] = new_pids[j]
            places[k] = new_places[j]
            j -= 1
        k -= 1


merge_run = _compile(_merge_run)


def _link_chain(
    head: np.ndarray, nxt: np.ndarray, keys: np.ndarray, start: int, end: int, mask: int
) -> None:
    """Chain the entries ``start:end`` (keys ``keys``) into their buckets (the low bits of the
    key, ``mask``) in order, so each bucket's newest entry is at its head."""
    for e in range(start, end):
        b = keys[e] & mask
        nxt[e] = head[b]
        head[b] = e


link_chain = _compile(_link_chain)


def _counting_pass(keys: np.ndarray, src: np.ndarray, dst: np.ndarray, shift: int) -> None:
    """Place the entries ``src`` (indices into ``keys``) into ``dst`` stably by 16 bits of
    their key from ``shift`` (one pass of a radix sort)."""
    count = np.zeros(1 << 16, dtype=np.int64)
    for i in range(len(src)):
        count[(keys[src[i]] >> shift) & 0xFFFF] += 1
    total = 0
    for b in range(1 << 16):
        c = count[b]
        count[b] = total
        total += c
    for i in range(len(src)):
        b = (keys[src[i]] >> shift) & 0xFFFF
        dst[count[b]] = src[i]
        count[b] += 1


_counting_pass = _compile(_counting_pass, "always")


def _radix_order(keys: np.ndarray) -> np.ndarray:
    """The stable order of 32-bit ``keys`` (what ``np.argsort(keys, kind="stable")`` gives),
    by two passes of 16 bits."""
    tmp = np.empty(len(keys), dtype=np.int64)
    order = np.arange(len(keys))
    _counting_pass(keys, order, tmp, 0)
    _counting_pass(keys, tmp, order, 16)
    return order


radix_order = _compile(_radix_order)


def _rank_order(rank: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """The places of a block's tokens, text by text, each text's by ``rank`` (the order of
    ``np.argsort(text * 2**24 + rank + 2**22)``, but for the order of equal ranks in a text,
    which no signature depends on): short texts by insertion, long ones by a merge sort."""
    order = np.empty(len(rank), dtype=np.int64)
    for t in range(len(starts)):
        lo = starts[t]
        n = lens[t]
        if n > 32:
            order[lo : lo + n] = lo + np.argsort(rank[lo : lo + n], kind="mergesort")
            continue
        for i in range(n):
            r = rank[lo + i]
            j = i
            while j > 0 and rank[order[lo + j - 1]] > r:
                order[lo + j] = order[lo + j - 1]
                j -= 1
            order[lo + j] = lo + i
    return order


rank_order = _compile(_rank_order)
