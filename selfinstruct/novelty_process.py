""":class:`~selfinstruct.novelty_bulk.BulkNovelty` in a process of its own (issue 25).

``merge`` reads, checks and writes JSON in one thread, and the novelty of its texts needs numpy
and Python work of its own between the compiled look-ups: in one process both hold the same
GIL, so at 10M texts the merge took about as long as the two added together. Here the pool
lives in a child process; a block's texts go to it through a pipe and its verdicts come back,
so the JSON and the novelty run on two cores. The child gets the same blocks in the same order
as a :class:`BulkNovelty` in this process would, so the verdicts are the same.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import traceback
from array import array
from multiprocessing.connection import Connection

from selfinstruct.collector import few_collections
from selfinstruct.errors import UserError
from selfinstruct.novelty import Tokenizer
from selfinstruct.novelty_bulk import BulkNovelty, Verdict

__all__ = ["NoveltyProcess"]


def _serve(
    conn: Connection, threshold: float, tokenizer: Tokenizer, threads: int, exact_max: bool,
    seeds: list[str],
) -> None:  # fmt: skip
    """The child: the pool, then for each block received, its verdicts (a failure's text)."""
    bulk = BulkNovelty(threshold, tokenizer, threads=threads, exact_max=exact_max)
    try:
        with few_collections():
            bulk.add(seeds)
            while (texts := conn.recv()) is not None:
                verdicts = bulk.decide(texts)
                conn.send_bytes(bytes(v.novel for v in verdicts))
                conn.send_bytes(array("d", (v.max_score for v in verdicts)).tobytes())
    except Exception as exc:  # its traceback here, its line to the parent, which raises it
        traceback.print_exc()
        conn.send_bytes(b"E" + f"{type(exc).__name__}: {exc}".encode())
    finally:
        bulk.close()
        conn.close()


class NoveltyProcess:
    """:meth:`decide` as :meth:`BulkNovelty.decide`, with the pool in a child process (seeded
    with ``seeds``). :meth:`close` ends the child; a child that fails or ends early raises
    :class:`UserError` here, naming why (a failure's traceback is on the child's stderr)."""

    def __init__(
        self, threshold: float, tokenizer: Tokenizer, *, threads: int = 1,
        exact_max: bool = True, seeds: list[str] | None = None,
    ) -> None:  # fmt: skip
        self.exact_max = exact_max
        self.block = BulkNovelty(threshold, tokenizer).block
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        args = (child, threshold, tokenizer, threads, exact_max, list(seeds or []))
        self._proc = ctx.Process(target=_serve, args=args, daemon=True)
        self._proc.start()
        child.close()

    def decide(self, texts: list[str]) -> list[Verdict]:
        """One verdict per text of ``texts``, in order, as one block; novel texts join the pool."""
        if not texts:
            return []
        try:
            self._conn.send(texts)
            novel = self._conn.recv_bytes()
            if novel[:1] == b"E":  # not a verdict (0 or 1): the failure's text
                raise UserError(f"the novelty process failed: {novel[1:].decode()}")
            scores = array("d", self._conn.recv_bytes())
        except (EOFError, OSError):
            self._proc.join(timeout=5)
            raise UserError(
                f"the novelty process ended early (exit code {self._proc.exitcode}; killed, "
                "perhaps for want of memory): nothing was written, run the merge again"
            ) from None
        return list(map(Verdict, map(bool, novel), scores))

    def close(self) -> None:
        """End the child (at once if it is still busy)."""
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()
