"""The judge's label set as a per-request option: sent only to a backend that can enforce it (the
in-process model, with a llama.cpp grammar), part of the cache key, and what the grammar
allows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import FakeBackend
from helpers import lines
from test_judge import write_alpaca

from selfinstruct.backends.base import Decoding, Request
from selfinstruct.backends.grammar import label_grammar
from selfinstruct.cache import ResponseCache
from selfinstruct.client import ModelClient
from selfinstruct.config import file_sha256, validated
from selfinstruct.methods.judge.settings import JudgeSettings
from selfinstruct.methods.judge.verdicts import RATINGS, SCORES, YES_NO
from selfinstruct.methods.respond.settings import RespondSettings
from selfinstruct.runner import run


class ConstrainingFake(FakeBackend):
    constrains_answers = True


def judge_settings(data: Path, backend: FakeBackend) -> JudgeSettings:
    return validated(JudgeSettings, n=3, model=backend.model, base_url=None, api=backend.api,
                     input_path=str(data), input_sha256=file_sha256(data), rate=True)  # fmt: skip


@pytest.mark.parametrize("backend", [FakeBackend(), ConstrainingFake()])
def test_judge_sends_labels_only_to_a_backend_that_enforces_them(
    tmp_path: Path, backend: FakeBackend
) -> None:
    data = write_alpaca(tmp_path / "data.json", count=3)
    run(judge_settings(data, backend), backend, tmp_path / "j")
    by_stage = {(r.stage, r.labels) for r in backend.requests}
    if backend.constrains_answers:
        assert by_stage == {("judge", YES_NO), ("rate", RATINGS)}
    else:
        assert by_stage == {("judge", ()), ("rate", ())}
    assert len(lines(tmp_path / "j" / "judgments.jsonl")) == 3


def test_respond_compare_scores_with_the_score_labels(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=3)
    backend = ConstrainingFake()
    settings = validated(RespondSettings, n=3, model=backend.model, base_url=None,
                         api=backend.api, input_path=str(data),
                         input_sha256=file_sha256(data), compare=True,
                         rating="separate")  # fmt: skip
    run(settings, backend, tmp_path / "r")
    labels = {(r.stage, r.labels) for r in backend.requests}
    assert labels == {("respond", ()), ("compare", SCORES)}


@pytest.mark.parametrize("backend", [FakeBackend(), ConstrainingFake()])
def test_side_by_side_scores_are_held_to_their_count_where_the_backend_can(
    tmp_path: Path, backend: FakeBackend
) -> None:
    from llama_cpp import LlamaGrammar

    data = write_alpaca(tmp_path / "data.json", count=3)
    settings = validated(RespondSettings, n=3, model=backend.model, base_url=None,
                         api=backend.api, input_path=str(data),
                         input_sha256=file_sha256(data), compare=True)  # fmt: skip
    run(settings, backend, tmp_path / "r")
    grammars = {r.grammar for r in backend.requests if r.stage == "compare"}
    if not backend.constrains_answers:
        assert grammars == {""}
        return
    (grammar,) = grammars  # two candidates each: the original and the teacher's
    score = " | ".join(f'"{n}"' for n in range(1, 11))
    assert grammar == f'root ::= score " " score ("\\n" [^\\n]*)?\nscore ::= {score}\n'
    LlamaGrammar.from_string(grammar, verbose=False)


def test_labels_are_part_of_the_cache_key(tmp_path: Path) -> None:
    client = ModelClient(FakeBackend(), ResponseCache(tmp_path / "c.sqlite"), concurrency=1)
    decoding = Decoding(max_tokens=8, temperature=0.0, top_p=1.0)
    plain_key, plain = client.key_for(Request("judge", "Question?", decoding))
    labelled_key, labelled = client.key_for(Request("judge", "Question?", decoding, labels=YES_NO))
    assert "labels" not in plain  # unconstrained requests keep the keys they always had
    assert labelled["labels"] == ["Yes", "No"]
    assert plain_key != labelled_key


def test_label_grammar_compiles_and_names_each_label() -> None:
    from llama_cpp import LlamaGrammar

    grammar = label_grammar(SCORES)
    assert grammar == (
        'root ::= ("1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10") ("\\n" [^\\n]*)?\n'
    )
    LlamaGrammar.from_string(grammar, verbose=False)  # valid GBNF


@pytest.mark.slow
def test_bundled_model_verdicts_parse_under_the_grammar(tmp_path: Path) -> None:
    from selfinstruct.backends.local import LocalBackend

    data = write_alpaca(tmp_path / "data.json", count=3)
    backend = LocalBackend()
    settings = validated(JudgeSettings, n=1, model=backend.model, base_url=None,
                         api=backend.api, input_path=str(data), input_sha256=file_sha256(data),
                         decoding=Decoding(max_tokens=12, temperature=0.0, top_p=1.0,
                                           stop=("\n\n",)))  # fmt: skip
    run(settings, backend, tmp_path / "j")
    (record,) = lines(tmp_path / "j" / "judgments.jsonl")
    labels = [answer["label"] for answer in record["answers"].values()]
    assert len(labels) == 3 and set(labels) <= set(YES_NO), json.dumps(record)
