"""GroupedNovelty: the decisions, and a rejected text's exact maximum, of one NoveltyIndex per
group, on both sides of the size at which a group gets its index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_novelty import _PROPS, _THRESHOLDS, _corpus

from selfinstruct import novelty_groups
from selfinstruct.novelty import NoveltyIndex
from selfinstruct.novelty_groups import GroupedNovelty


def _same_as_an_index_per_group(
    texts: list[str], groups: list[str], threshold: float, tokenizer: str
) -> None:
    grouped = GroupedNovelty(threshold, tokenizer)  # type: ignore[arg-type]
    indexes: dict[str, NoveltyIndex] = {}
    for text, group in zip(texts, groups, strict=True):
        index = indexes.setdefault(group, NoveltyIndex(threshold, tokenizer=tokenizer))  # type: ignore[arg-type]
        want = index.query(text, top_k=0)
        got = grouped.query(group, text)
        assert got.novel == want.novel, (text, group)
        if not want.novel:
            assert got.max_score == want.max_score  # exact, bit for bit
        if want.novel:
            index.add(text)
            grouped.add(group, text)


@_PROPS
@given(texts=_corpus(), threshold=_THRESHOLDS, tokenizer=st.sampled_from(["rouge", "unicode"]),
       data=st.data())  # fmt: skip
def test_the_same_as_an_index_per_group(
    texts: list[str], threshold: float, tokenizer: str, data: st.DataObject
) -> None:
    groups = data.draw(st.lists(st.sampled_from("ab"), min_size=len(texts), max_size=len(texts)))
    _same_as_an_index_per_group(texts, groups, threshold, tokenizer)


@pytest.mark.parametrize("index_from", [1, 2, 5])
def test_a_group_that_outgrows_the_list_keeps_its_texts(
    monkeypatch: pytest.MonkeyPatch, index_from: int
) -> None:
    """Groups pass from a list to an index mid-run: the verdicts stay the index's."""
    monkeypatch.setattr(novelty_groups, "INDEX_FROM", index_from)
    words = [
        "the",
        "city",
        "weather",
        "forecast",
        "for",
        "tomorrow",
        "in",
        "porto",
        "and",
        "lisbon",
        "please",
    ]
    texts = [" ".join(words[i % 5 : i % 5 + 4 + i % 3]) + f" {i % 4}" for i in range(60)]
    groups = ["one" if i % 3 else "two" for i in range(60)]
    _same_as_an_index_per_group(texts, groups, 0.7, "rouge")
    grouped = GroupedNovelty()
    for text in texts:
        grouped.add("g", text)
    assert grouped.query("g", texts[0]).max_score == 1.0
    assert len(grouped) == 1
