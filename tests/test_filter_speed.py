"""`filter`'s per-record work made cheaper (issue 25) decides and writes what it did before."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from conftest import anchor
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.filtering import FilterOptions, run_filter
from selfinstruct.filters import InstructionFilter, _words, prompt_phrases

REPO = Path(__file__).resolve().parents[1]
_PHRASE_WORDS = sorted({w for run in prompt_phrases(6) for w in run})[:40]
_PIECES = st.sampled_from(
    [*_PHRASE_WORDS, *sorted(" ".join(r) for r in prompt_phrases(6))[:30], "Write", "a",
     "program", "WRITE", "A  PROGRAM", "image", "go to", "!", "é", "İ", "\u00a0", "\n", "  "]
)  # fmt: skip


@st.composite
def _instructions(draw: st.DrawFn) -> str:
    return " ".join(draw(st.lists(_PIECES, max_size=12)))


def _echoes_by_all_runs(rules: InstructionFilter, text: str) -> bool:
    """The rule as first written: every run of n words looked up."""
    n, words = rules.echo_words, _words(text)
    return any(tuple(words[i : i + n]) in rules._echoes for i in range(len(words) - n + 1))


@given(_instructions(), st.sampled_from([0, 2, 6]), st.booleans())
@settings(max_examples=400, deadline=None)
def test_reason_is_the_first_failure(text: str, echo_words: int, any_case: bool) -> None:
    rules = InstructionFilter(echo_words=echo_words, write_a_program_any_case=any_case)
    failures = rules.failures(text)
    assert rules.reason(text) == (failures[0] if failures else None)
    if echo_words:
        assert rules._echoes_prompt(text) == _echoes_by_all_runs(rules, text)


def test_write_a_program_looks_at_the_first_words_only() -> None:
    rules = InstructionFilter()
    assert rules.reason("Write  a\tPROGRAMME that adds two numbers") == "write_a_program"
    assert rules.reason("Write a pro gram that adds two numbers") is None


def _corpus_module():  # benchmarks/filter_speed.py builds the corpus
    spec = importlib.util.spec_from_file_location(
        "filter_speed", REPO / "benchmarks" / "filter_speed.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_filter_outputs_are_byte_identical_to_before(tmp_path: Path) -> None:
    """12,000 records (the Alpaca anchor, edited copies, prompt echoes) give the very bytes the
    filter wrote before its per-record work was made cheaper (commit 378b15f)."""
    records = _corpus_module().corpus(anchor("alpaca_data_5000.json"), 12000)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out, rejects = tmp_path / "out.jsonl", tmp_path / "out.rejected.jsonl"
    report = run_filter(str(src), str(out), rejects, FilterOptions())
    assert report.reasons["prompt_echo"] == 140 and report.kept == 5212
    assert hashlib.sha256(out.read_bytes()).hexdigest() == (
        "1fb0ec74ea3f6ecf209ceea342ba7c26e7e4966b49d8e81a512d98aa1354b94d"
    )
    assert hashlib.sha256(rejects.read_bytes()).hexdigest() == (
        "083149ff3aaee6cea96bc57c5e551c0ce02953d963bb4ef15a3060641183745d"
    )
