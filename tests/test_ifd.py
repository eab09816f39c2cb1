"""IFD arithmetic on known log-probabilities, the llama.cpp row indexing, and the filter cut."""

from __future__ import annotations

import json
import math
from pathlib import Path

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


class FakeLlama:
    """Characters are tokens; row p of the logits predicts token p + 1 with a known p."""

    def __init__(self) -> None:
        self.evaluated: list[int] = []

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        return ([1] if add_bos else []) + [ord(c) % 8 for c in text.decode()]

    def token_bos(self) -> int:
        return 1

    def reset(self) -> None:
        self.evaluated = []

    def eval(self, tokens: list[int]) -> None:
        self.evaluated = list(tokens)

    @property
    def scores(self) -> np.ndarray:
        # Each row gives the next token (the one actually following) probability 1/2 and
        # spreads the rest uniformly over the 7 others.
        rows = np.zeros((len(self.evaluated), 8))
        for p in range(len(self.evaluated) - 1):
            rows[p] = math.log(0.5 / 7)
            rows[p, self.evaluated[p + 1]] = math.log(0.5)
        return rows


def test_llama_scorer_reads_the_row_before_each_token() -> None:
    scorer = ifd.LlamaScorer.__new__(ifd.LlamaScorer)
    scorer.llm = FakeLlama()
    scorer.n_ctx = 64
    values = scorer.logprobs("ab", "cde")
    assert scorer.llm.evaluated == [1, ord("a") % 8, ord("b") % 8] + [ord(c) % 8 for c in "cde"]
    assert values == pytest.approx([math.log(0.5)] * 3)
    assert scorer.logprobs("", "xy") == pytest.approx([math.log(0.5)] * 2)


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
