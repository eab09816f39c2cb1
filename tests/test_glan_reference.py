"""GLAN as its paper describes it: no ROUGE-L filter between questions unless asked for (ours,
a named option), and an answer cut at max_tokens kept and flagged, not dropped."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fakes import FakeBackend
from helpers import lines
from test_glan import settings

from selfinstruct.backends.base import Completion, Request
from selfinstruct.methods.glan.settings import GlanSettings
from selfinstruct.runner import run


class SameQuestion(FakeBackend):
    """Every homework question is the same text (so only a novelty filter could drop any)."""

    async def complete(self, request: Request, text: str) -> Completion:
        done = await super().complete(request, text)
        if request.stage == "questions":
            return dataclasses.replace(done, text="What is the main idea of the first session?")
        return done


def test_question_novelty_is_ours_and_off_by_default(tmp_path: Path):
    assert GlanSettings.model_fields["question_novelty"].default is False
    run(settings(), SameQuestion(), tmp_path / "plain")
    questions = lines(tmp_path / "plain" / "questions.jsonl")
    assert len(questions) == settings().n  # the paper keeps them all
    run(settings(question_novelty=True), SameQuestion(), tmp_path / "novel")
    assert len(lines(tmp_path / "novel" / "questions.jsonl")) == 1
    reasons = {r["reason"] for r in lines(tmp_path / "novel" / "rejected.jsonl")}
    assert "rouge_similar" in reasons


class CutAnswers(FakeBackend):
    async def complete(self, request: Request, text: str) -> Completion:
        done = await super().complete(request, text)
        if request.stage == "answers":
            return dataclasses.replace(done, finish_reason="length")
        return done


def test_an_answer_cut_at_max_tokens_is_kept_and_flagged(tmp_path: Path):
    run(settings(), FakeBackend(), tmp_path / "whole")
    run(settings(), CutAnswers(), tmp_path / "run")
    tasks = lines(tmp_path / "run" / "tasks.jsonl")
    whole = lines(tmp_path / "whole" / "tasks.jsonl")
    assert [t["id"] for t in tasks] == [t["id"] for t in whole]  # none dropped for the cut
    assert all(t["instances"][0]["truncated"] is False for t in whole)
    assert all(t["instances"][0]["truncated"] is True for t in tasks)
    rejected = lines(tmp_path / "run" / "rejected.jsonl")
    assert not [r for r in rejected if r["reason"] == "answer_truncated"]
