"""Exact ROUGE-L novelty over a stream of texts on several cores (issue 25).

The Self-Instruct filter keeps text ``i`` iff its ROUGE-L F against every text kept before it is
``<= threshold``. That is a sequential rule, but most of its work splits. Texts go through in
blocks; each of ``workers`` processes holds a :class:`NoveltyIndex` of the pool of kept texts,
and:

1. the block's texts are dealt out (text ``i`` to worker ``i % workers``) and each worker scores
   its share against its pool (the pruned fast path), in parallel. The workers run one block
   ahead, so their pool holds the texts kept before the *previous* block;
2. this process settles the block in order against a small index of its own, new for every
   block, holding the previous block's kept texts and then the block's own as they are kept: a
   text is rejected when its worker's score or this index's is above the threshold;
3. the block's kept texts go to every worker with the block after next.

So every text is compared, exactly, with every text kept before it, and the decisions are those
of :meth:`NoveltyIndex.add_if_novel` over the same stream, in the same order. A rejected text's
``max_score`` is the exact maximum too (the larger of the worker's and the local one, each exact
when it exceeds the threshold); a kept text's ``max_score`` is, as in the sequential fast path,
a lower bound of a maximum that is ``<= threshold``, and may differ from the sequential one.

Dealing out the pool instead (each worker a share of the pool, every text asked of every worker)
was measured first and took twice the CPU of the sequential filter: a query's cost is mostly
its own (tokens, prefix, posting lists looked up), not the pool's size, so every worker paid
it. Here a query is paid once, an addition (a kept text, a fifth to a third of them) once per
worker, and each worker's memory is the whole pool's.
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
    """A worker: add the block's kept texts to its pool, score its share of the next block."""
    index = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, top_k=0)
    while True:
        message = conn.recv()
        if message is None:
            break
        adds, share = message
        for text in adds:
            index.add(text)
        if len(index):
            scores = array("d", (index.query(text, top_k=0).max_score for text in share))
        else:  # an empty pool rejects nothing, whatever the threshold
            scores = array("d", [float("-inf")]) * len(share)
        conn.send_bytes(scores.tobytes())
    conn.close()


def _scores(conn: Connection, procs: list[mp.process.BaseProcess]) -> array[float]:
    """A worker's scores of its share of a block; a worker that died is one clear error."""
    try:
        return array("d", conn.recv_bytes())
    except (EOFError, OSError):
        codes = [proc.exitcode for proc in procs]
        raise RuntimeError(f"a novelty worker process ended early (exit codes {codes})") from None


def novelty_stream(
    texts: Iterable[str],
    threshold: float = 0.7,
    tokenizer: Tokenizer = "rouge",
    workers: int = 2,
    block: int = BLOCK,
    exact_scores: bool = True,
) -> Iterator[NoveltyResult]:
    """One :class:`NoveltyResult` per text of ``texts``, in order, with the decisions of
    ``NoveltyIndex(threshold, tokenizer).add_if_novel`` over them (see the module's doc).
    ``workers <= 1`` runs that sequential filter in this process.

    ``exact_scores=False`` (decisions only, what a merge needs): a text its worker rejects is
    not looked up in this process's local index, so its ``max_score`` is the worker's, above
    the threshold but possibly below the exact maximum; the decisions are the same. This
    process then tokenizes only the texts the pool keeps (a fifth of them at 1M texts), not
    every text."""
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

        def send(adds: list[str]) -> list[str]:
            """The next block to the workers, with the texts to add first."""
            batch = list(islice(stream, block))
            for w, conn in enumerate(conns):
                conn.send((adds, batch[w::workers]))
            return batch

        # Pipelined: the workers score block k+1 while this process settles block k, so their
        # pool lacks block k's kept texts, and the local index holds them as well.
        queued = [send([]), send([])]
        previous: list[str] = []  # the kept texts of the block settled last
        while batch := queued.pop(0):
            parts = [_scores(conn, procs) for conn in conns]
            local = NoveltyIndex(threshold=threshold, tokenizer=tokenizer, top_k=0)
            for text in previous:
                local.add(text)
            kept: list[str] = []
            for i, text in enumerate(batch):
                # The worker's score and the local one, each exact when above the threshold:
                # both are needed for a rejected text's exact maximum.
                best = parts[i % workers][i // workers]
                if best > threshold and not exact_scores:
                    yield NoveltyResult(best, False, [], None)
                    continue
                if len(local):  # an empty pool rejects nothing, whatever the threshold
                    best = max(best, local.query(text, top_k=0).max_score)
                if best > threshold:
                    yield NoveltyResult(best, False, [], None)
                    continue
                local.add(text)
                kept.append(text)
                yield NoveltyResult(max(best, 0.0), True, [], None)
            previous = kept
            queued.append(send(kept))
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
