"""ROUGE-L novelty within groups: a text is judged only against the texts of its own group.

The tools method keeps a request unless a request kept with the same calls is too similar, so
its groups are call sets, and nearly every call set is new: most groups hold one or two texts.
An index per group paid its set-up and its bookkeeping for every text. Here a group is a plain
list of token lists, scanned text by text, until it holds :data:`INDEX_FROM` texts; then it
gets a :class:`~selfinstruct.novelty.NoveltyIndex` of its own. Both give the same decision, and
the same exact maximum for a rejected text (rouge_score's float operations either way).
"""

from __future__ import annotations

from rapidfuzz.distance import LCSseq

from selfinstruct.novelty import NoveltyIndex, NoveltyResult, Tokenizer, _f_from_lcs, tokenize

__all__ = ["INDEX_FROM", "GroupedNovelty"]

#: A group's size from which it is judged through an index rather than text by text.
INDEX_FROM = 32


class GroupedNovelty:
    """Novelty of texts within their groups (see the module's text)."""

    def __init__(self, threshold: float = 0.7, tokenizer: Tokenizer = "rouge") -> None:
        self.threshold = float(threshold)
        self.tokenizer: Tokenizer = tokenizer
        self._lists: dict[str, list[tuple[str, list[str]]]] = {}
        self._indexes: dict[str, NoveltyIndex] = {}

    def __len__(self) -> int:
        """How many groups hold a text."""
        return len(self._lists) + len(self._indexes)

    def query(self, group: str, text: str) -> NoveltyResult:
        """``text`` against the texts of ``group`` (as :meth:`NoveltyIndex.query` with
        ``top_k=0``: the maximum is exact when the text is rejected)."""
        index = self._indexes.get(group)
        if index is not None:
            return index.query(text, top_k=0)
        best = 0.0
        members = self._lists.get(group)
        if members:
            tokens = tokenize(text, self.tokenizer)
            m = len(tokens)
            similarity = LCSseq.similarity
            for _, other in members:
                score = _f_from_lcs(similarity(tokens, other), m, len(other))
                if score > best:
                    best = score
        return NoveltyResult(best, not best > self.threshold, [], None)

    def add(self, group: str, text: str) -> None:
        """Remember ``text`` in ``group`` unconditionally."""
        index = self._indexes.get(group)
        if index is not None:
            index.add(text)
            return
        members = self._lists.setdefault(group, [])
        members.append((text, tokenize(text, self.tokenizer)))
        if len(members) >= INDEX_FROM:
            index = self._indexes[group] = NoveltyIndex(self.threshold, tokenizer=self.tokenizer)
            for kept, _ in self._lists.pop(group):
                index.add(kept)
