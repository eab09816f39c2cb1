"""IFD arithmetic on known log-probabilities, the llama.cpp row indexing, and the filter cut."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selfinstruct import ifd
from selfinstruct.filtering import ifd_drops


def test_ifd_is_the_ratio_of_mean_losses() -> None:
    conditioned = [math.log(0.5), math.log(0.25)]  # loss = (ln 2 + ln 4) / 2 = 1.5 ln 2
    alone = [math.log(0.25), math.log(0.125)]  # loss = (ln 4 + ln 8) / 2 = 2.5 ln 2
    assert ifd.ifd_from_logprobs(conditioned, alone) == pytest.approx(0.6)
    assert ifd.ifd_from_logprobs([0.0], [0.0]) == math.inf
    with pytest.raises(ValueError):
        ifd.mean_loss([])


def test_log_softmax_at() -> None:
    row = [math.log(1.0), math.log(3.0)]
    assert ifd.log_softmax_at(row, 1) == pytest.approx(math.log(0.75))
    assert ifd.log_softmax_at([1000.0, 0.0], 0) == pytest.approx(0.0)  # stable at large logits


def test_token_logprobs_match_the_row_by_row_log_softmax() -> None:
    rng = np.random.default_rng(7)
    rows = (rng.normal(size=(150, 40)) * 30).astype(np.float32)  # > one float64 block
    tokens = [int(t) for t in rng.integers(0, 40, size=150)]
    expected = [ifd.log_softmax_at(row, token) for row, token in zip(rows, tokens, strict=True)]
    assert ifd.token_logprobs(rows, tokens) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    with pytest.raises(ValueError):
        ifd.token_logprobs(rows[:2], tokens[:3])


class FakeLlama:
    """Characters are tokens (mod 8); the start token is 1."""

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        return ([1] if add_bos else []) + [ord(c) % 8 for c in text.decode()]

    def token_bos(self) -> int:
        return 1


class FakeRowsScorer(ifd.LlamaScorer):
    """Row p gives the token that actually follows position p probability 1/2 and spreads the
    rest over the 7 others, so a correctly indexed row always yields log(1/2)."""

    def __init__(self) -> None:
        self.llm = FakeLlama()
        self.n_ctx = 64
        self.calls: list[tuple[list[int], int]] = []

    def next_token_logits(self, sequence: Sequence[int], first: int) -> np.ndarray:
        self.calls.append((list(sequence), first))
        rows = np.full((len(sequence) - 1 - first, 8), math.log(0.5 / 7))
        for p in range(first, len(sequence) - 1):
            rows[p - first, sequence[p + 1]] = math.log(0.5)
        return rows


def test_llama_scorer_reads_the_row_before_each_token() -> None:
    scorer = FakeRowsScorer()
    values = scorer.logprobs("ab", "cde")
    assert scorer.calls == [([1, ord("a") % 8, ord("b") % 8] + [ord(c) % 8 for c in "cde"], 2)]
    assert values == pytest.approx([math.log(0.5)] * 3)
    assert scorer.logprobs("", "xy") == pytest.approx([math.log(0.5)] * 2)
    assert scorer.calls[-1][1] == 0  # only the start token before the output


class TableScorer:
    """Known losses: the instruction text decides how much it helps."""

    def logprobs(self, prefix: str, text: str) -> list[float]:
        if not prefix:
            return [-2.0, -2.0]
        ratio = float(prefix.split("ratio ")[1].split()[0]) if "ratio " in prefix else 1.0
        return [-2.0 * ratio, -2.0 * ratio]


def test_keep_top_share_below_one(tmp_path: Path) -> None:
    records = [{"instruction": f"Task with ratio {r} here.", "input": "", "output": "ok"}
               for r in (0.2, 0.9, 0.5, 1.3, 0.7)]  # fmt: skip
    records.append({"instruction": "Empty.", "input": "", "output": " "})
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    drops = ifd_drops(str(path), 0.5, "data.jsonl", scorer=TableScorer())
    # Below 1: 0.9, 0.7, 0.5, 0.2; the top half (2 of 4) stays: lines 2 (0.9) and 5 (0.7).
    assert drops == {1: "ifd_not_top", 3: "ifd_not_top", 4: "ifd_at_least_one",
                     6: "ifd_unscorable"}  # fmt: skip


def test_filter_keep_top_ifd_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from selfinstruct.cli import main

    monkeypatch.setattr(ifd, "LlamaScorer", TableScorer)
    records = [{"instruction": f"Task with ratio {r} here.", "input": "", "output": "ok"}
               for r in (0.2, 0.9, 0.5, 0.7)]  # fmt: skip
    path = tmp_path / "data.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    out = tmp_path / "kept.jsonl"
    result = CliRunner().invoke(main, ["filter", str(path), "--keep-top-ifd", "0.25",
                                       "--no-novelty", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    kept = [json.loads(line)["instruction"] for line in out.read_text().splitlines()]
    assert kept == ["Task with ratio 0.9 here."]
    assert "ifd_not_top: 3" in result.output


@pytest.mark.slow
def test_bundled_model_ifd_is_finite_and_lower_for_an_implied_output() -> None:
    scorer = ifd.LlamaScorer()
    implied = ifd.score(scorer, "Repeat the word 'banana' three times.", "",
                        "banana banana banana")  # fmt: skip
    unrelated = ifd.score(scorer, "Repeat the word 'banana' three times.", "",
                          "The stock market closed higher on Tuesday.")  # fmt: skip
    assert 0 < implied.ifd < unrelated.ifd
    assert math.isfinite(unrelated.ifd)


def straightforward_logprobs(llm: Any, sequence: list[int], first: int) -> list[float]:
    """The plain computation: every row's logits (logits_all), one log-softmax per row."""
    llm.reset()
    llm.eval(sequence)
    return [ifd.log_softmax_at(llm.scores[p], sequence[p + 1])
            for p in range(first, len(sequence) - 1)]  # fmt: skip


@pytest.mark.slow
def test_bundled_model_fast_logprobs_equal_the_straightforward_ones() -> None:
    from llama_cpp import Llama

    from selfinstruct.backends.local import bundled_model_path

    scorer = ifd.LlamaScorer(n_ctx=256, n_threads=1, n_batch=8)  # several slices per sequence
    plain = Llama(model_path=str(bundled_model_path()), n_ctx=256, n_threads=1,
                  logits_all=True, verbose=False)  # fmt: skip
    prefix = ifd.prompt_for("Name a fruit that is yellow.", "")
    output = "A banana is yellow when it is ripe."
    start = scorer.llm.tokenize(prefix.encode(), add_bos=True, special=False)
    tokens = scorer.llm.tokenize(output.encode(), add_bos=False, special=False)
    alone = [scorer.llm.token_bos()]  # SmolLM2 adds no start token of its own to a prompt
    for head, text in ((start, prefix), (alone, "")):
        expected = straightforward_logprobs(plain, head + tokens, len(head) - 1)
        got = scorer.logprobs(text, output)
        assert len(got) == len(tokens)
        assert got == pytest.approx(expected, abs=2e-3)
