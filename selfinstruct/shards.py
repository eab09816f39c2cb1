"""One run split over N processes: ``--shard K/N`` and the partition every method applies.

Shard K of N (K counted from 0) owns the units of work whose index i has ``i % N == K``: the
input records of respond, judge and evolve, GLAN's disciplines, and the k-th request (or
sample, or opening) of the generating methods, whose random choices use the global index
``k * N + K`` so that no two shards draw the same stream. A generating shard makes its share of
``--n``; ``selfinstruct merge`` joins the N run folders into one (see docs/scale.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from selfinstruct.errors import UserError

T = TypeVar("T")
PATTERN = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``Shard()``: the whole run, unsharded)."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` with 0 <= K < N; anything else is one line naming the form."""
        found = PATTERN.match(text.strip())
        if found is None or not int(found[1]) < int(found[2]):
            raise UserError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/4")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of(cls, settings: Any) -> Shard:
        """The shard a run's settings name (the whole run when they name none)."""
        text = getattr(settings, "shard", None)
        return cls() if text is None else cls.parse(text)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, i: int) -> bool:
        return i % self.count == self.index

    def take(self, items: Sequence[T]) -> list[T]:
        """The items this shard owns: item i when ``i % N == K``, in their order."""
        return [item for i, item in enumerate(items) if self.owns(i)]

    def global_index(self, k: int) -> int:
        """The index, in the whole run, of this shard's k-th unit of work."""
        return k * self.count + self.index

    def share(self, n: int) -> int:
        """This shard's part of ``n`` items: the parts of all N shards add up to ``n``."""
        return n // self.count + (self.index < n % self.count)
