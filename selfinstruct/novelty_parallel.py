"""Exact ROUGE-L novelty over a stream of texts on several cores (issue 25).

The Self-Instruct filter keeps text ``i`` iff its ROUGE-L F against every text kept before it is
``<= threshold``. That is a sequential rule, but its work splits: the pool of kept texts is dealt
out to ``workers`` processes (the j-th kept text to worker ``j % workers``), each holding a
:class:`NoveltyIndex` of its share. Texts go through in blocks:

1. every worker scores the block's texts against its share of the pool as it was before the
   block (the pruned fast path), in parallel;
2. this process settles the block in order: a text is rejected when some worker scored it above
   the threshold, else it is checked against the texts of the same block kept before it (a
   small index of its own, new for every block);
3. the block's kept texts go to their workers with the next block.

So every text is compared, exactly, with every text kept before it, and the decisions are those
of :meth:`NoveltyIndex.add_if_novel` over the same stream, in the same order. A rejected text's
``max_score`` is the exact maximum too (the largest of the workers' and the block's, each exact
when it exceeds the threshold); a kept text's ``max_score`` is, as in the sequential fast path,
a lower bound of a maximum that is ``<= threshold``, and may differ from the sequential one.
Input is read one block at a time and results are yielded as each block is settled, so memory
holds the pool and about two blocks, not the stream.
"""

from __future__ import annotations

import multiprocessing as mp
from array import array
from collections.abc import Iterable, Iterator
from itertools import islice
from multiprocessing.connection import Connection

from selfinstruct.novelty import NoveltyIndex, NoveltyResult, Tokenizer

__all__ = ["novelty_stream"]

#: Texts per block: large enough that a round trip to the workers (about 0.1 ms) is nothing
#: beside the block's work, small enough that the block's own index stays small.
BLOCK = 4096


def _serve(conn: Connection, threshold: float, tokenizer: Tokenizer) -> None:
    """A worker: add the texts it is given to its share of the pool, score the block."""
    index = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, top_k=0)
    while True:
        message = conn.recv()
        if message is None:
            break
        adds, block = message
        for text in adds:
            index.add(text)
        if len(index):
            scores = array("d", (index.query(text, top_k=0).max_score for text in block))
        else:  # an empty share rejects nothing, whatever the threshold (as an empty pool)
            scores = array("d", [float("-inf")]) * len(block)
        conn.send_bytes(scores.tobytes())
    conn.close()


def novelty_stream(
    texts: Iterable[str],
    threshold: float = 0.7,
    tokenizer: Tokenizer = "rouge",
    workers: int = 2,
    block: int = BLOCK,
) -> Iterator[NoveltyResult]:
    """One :class:`NoveltyResult` per text of ``texts``, in order, with the decisions of
    ``NoveltyIndex(threshold, tokenizer).add_if_novel`` over them (see the module's doc).
    ``workers <= 1`` runs that sequential filter in this process."""
    if block < 1:
        raise ValueError("block must be >= 1")
    if workers <= 1:
        index = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, top_k=0)
        for text in texts:
            yield index.add_if_novel(text)
        return
    ctx = mp.get_context("spawn")
    conns: list[Connection] = []
    procs = []
    try:
        for _ in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, threshold, tokenizer), daemon=True)
            proc.start()
            child.close()
            conns.append(parent)
            procs.append(proc)
        stream = iter(texts)
        adds: list[list[str]] = [[] for _ in range(workers)]
        kept = 0
        while batch := list(islice(stream, block)):
            for conn, share in zip(conns, adds, strict=True):
                conn.send((share, batch))
            parts = [array("d", conn.recv_bytes()) for conn in conns]
            adds = [[] for _ in range(workers)]
            local = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, top_k=0)
            for i, text in enumerate(batch):
                best = max(part[i] for part in parts)
                if best > threshold:
                    yield NoveltyResult(best, False, [], None)
                    continue
                res = local.query(text, top_k=0)
                if not res.novel:
                    yield NoveltyResult(max(best, res.max_score), False, [], None)
                    continue
                local.add(text)
                adds[kept % workers].append(text)
                kept += 1
                yield NoveltyResult(max(best, res.max_score), True, [], None)
        for conn in conns:
            conn.send(None)
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in conns:
            conn.close()
