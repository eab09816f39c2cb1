"""The compiled helpers of the novelty tables against the numpy operations they replace."""

from __future__ import annotations

import numpy as np
import pytest

from selfinstruct import novelty_kernel
from selfinstruct.novelty_table import Chain

pytestmark = pytest.mark.skipif(not novelty_kernel.available(), reason="needs numba")


@pytest.mark.parametrize("size", [0, 1, 1000, 70000])
def test_radix_order_is_numpys_stable_order(size: int) -> None:
    rng = np.random.default_rng(size)
    keys = rng.integers(0, 1 << 32, size, dtype=np.uint32)
    keys[: size // 3] = keys[size // 3 : 2 * (size // 3)]  # ties, whose order must hold
    expected = np.argsort(keys, kind="stable")
    assert np.array_equal(novelty_kernel.radix_order(keys), expected)


def test_rank_order_sorts_each_text_by_rank_alone() -> None:
    rng = np.random.default_rng(7)
    lens = np.array([0, 1, 5, 32, 33, 200, 3], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    rank = rng.integers(-50, 50, int(lens.sum())).astype(np.int64)
    text = np.repeat(np.arange(len(lens)), lens)
    order = novelty_kernel.rank_order(rank, starts, lens)
    reference = np.argsort(text * (1 << 24) + (rank + (1 << 22)), kind="stable")
    assert np.array_equal(text[order], text[reference])  # every token stays in its text
    assert np.array_equal(rank[order], rank[reference])  # in rank order there
    assert sorted(order.tolist()) == list(range(len(rank)))


@pytest.mark.parametrize("grow", [False, True])
def test_compiled_chains_link_every_entry_newest_first(grow: bool) -> None:
    rng = np.random.default_rng(3)
    chains = [Chain(compiled) for compiled in (False, True)]
    for _ in range(5 if grow else 1):
        count = 3000 if grow else 200
        keys = rng.integers(0, 1 << 40, count, dtype=np.uint64)
        keys[::7] = keys[0]  # one key many times
        pids = np.arange(count)
        zero = np.zeros(count, dtype=np.int64)
        for chain in chains:
            chain.insert(keys, pids, zero, zero, zero + 5)
    numpy_chain, compiled_chain = chains
    for bucket in range(len(compiled_chain.head)):
        entries, e = [], compiled_chain.head[bucket]
        while e >= 0:
            entries.append(int(e))
            e = compiled_chain.nxt[e]
        assert entries == sorted(entries, reverse=True)  # newest at the head
        numpy_entries, e = [], numpy_chain.head[bucket]
        while e >= 0:
            numpy_entries.append(int(e))
            e = numpy_chain.nxt[e]
        assert sorted(numpy_entries) == sorted(entries)
