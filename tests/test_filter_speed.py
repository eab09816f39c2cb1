"""`filter`'s per-record work made cheaper (issue 25) decides and writes what it did before."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonlines
from conftest import anchor
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.errors import UserError
from selfinstruct.filtering import FilterOptions, run_filter
from selfinstruct.filters import InstructionFilter, _words, prompt_phrases
from selfinstruct.jsonio import _jsonl_objects

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


def _by_jsonlines(lines: list[bytes], name: str) -> list[tuple[int, dict[str, Any]]]:
    """The reader as first written (commit 378b15f): jsonlines' ``read``, our messages."""
    current = 0

    def numbered() -> Iterator[bytes]:
        nonlocal current
        for lineno, raw in enumerate(lines, start=1):
            current = lineno
            yield raw

    out: list[tuple[int, dict[str, Any]]] = []
    reader = jsonlines.Reader(numbered(), loads=json.loads)
    while True:
        try:
            obj = reader.read(allow_none=True, skip_empty=True)
        except EOFError:
            return out
        except jsonlines.InvalidLineError as exc:
            cause = exc.__cause__
            if isinstance(cause, UnicodeDecodeError):
                raise UserError(f"{name}:{exc.lineno}: not valid UTF-8 ({cause.reason})") from None
            if isinstance(cause, json.JSONDecodeError):
                raise UserError(f"{name}:{exc.lineno}: invalid JSON ({cause.msg})") from None
            raise UserError(f"{name}:{exc.lineno}: invalid JSON line") from None
        if not isinstance(obj, dict):
            raise UserError(f"{name}:{current}: expected a JSON object, got {type(obj).__name__}")
        out.append((current, obj))


_LINES = st.sampled_from(
    [b'{"a": 1}\n', b'{"a": "\xc3\xa9"}\n', b"\n", b"  \t\n", b"null\n", b"[1]\n", b'"x"\n',
     b"\xef\xbb\xbf" + b'{"b": 2}\n', b'\x1e{"c": 3}\n', b"{bad\n", b"\xff\xfe\n",
     b'{"n": ' + b"9" * 5000 + b"}\n", b'{"a": 1}', b'{"a": 1} x\n']
)  # fmt: skip


@given(st.lists(_LINES, max_size=6))
@settings(max_examples=300, deadline=None)
def test_jsonl_reader_reads_as_jsonlines_did(lines: list[bytes]) -> None:
    def outcome(read: Callable[[], list[tuple[int, dict[str, Any]]]]) -> object:
        try:
            return read()
        except UserError as error:
            return str(error)

    want = outcome(lambda: _by_jsonlines(lines, "f.jsonl"))
    assert outcome(lambda: list(_jsonl_objects(lines, "f.jsonl", False))) == want
