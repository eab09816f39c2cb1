"""Decontamination: drop a text whose word n-grams overlap a benchmark item too much.

The share of the text's n-grams found in one item, maximised over items, must stay below the
threshold. A text shorter than n words counts as one n-gram (its whole word sequence). GLAN
checks each question with it; ``selfinstruct merge --decontaminate`` checks every record.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

from selfinstruct.errors import UserError
from selfinstruct.jsonio import display_name, read_records, read_text

BENCHMARK_FIELDS = ("question", "instruction", "prompt", "problem", "input", "text")
WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = words(text)
    if not tokens:
        return set()
    if len(tokens) < n:
        return {tuple(tokens)}
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def load_benchmark(path: str | Path) -> list[str]:
    """Benchmark items: JSONL/JSON objects (the first of BENCHMARK_FIELDS present) or, for a
    ``.txt`` file, one item per non-empty line."""
    name = display_name(path)
    if not Path(path).is_file():
        raise UserError(f"{name}: no such benchmark file (--decontaminate)")
    items: list[str] = []
    if Path(path).suffix.lower() == ".txt":
        lines = read_text(path).splitlines()
        items = [line.strip() for line in lines if line.strip()]
    else:
        for lineno, obj in read_records(path):
            text = next((obj[k] for k in BENCHMARK_FIELDS if isinstance(obj.get(k), str)), None)
            if text is None:
                raise UserError(
                    f"{name}:{lineno}: no text field; expected one of {', '.join(BENCHMARK_FIELDS)}"
                )
            items.append(text)
    if not items:
        raise UserError(f"{name}: the benchmark file holds no items")
    return items


class Decontaminator:
    """An inverted index from n-gram to benchmark items, for the worst overlap of a question."""

    def __init__(self, items: list[str], n: int, threshold: float) -> None:
        self.items = items
        self.n = n
        self.threshold = threshold
        self._index: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for number, item in enumerate(items):
            for gram in ngrams(item, n):
                self._index[gram].append(number)

    def overlap(self, question: str) -> tuple[float, int | None]:
        """The largest share of the question's n-grams found in one item, and that item."""
        grams = ngrams(question, self.n)
        if not grams:
            return 0.0, None
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self._index.get(gram, ()))
        if not shared:
            return 0.0, None
        item, count = min(shared.items(), key=lambda pair: (-pair[1], pair[0]))
        return count / len(grams), item

    def contaminated(self, question: str) -> tuple[float, int] | None:
        """(overlap, item) when the overlap reaches the threshold, else None."""
        score, item = self.overlap(question)
        if item is not None and score >= self.threshold:
            return score, item
        return None
