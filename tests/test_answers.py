"""The synthetic model's answers (tests/answers/): one module per method, found by listing the
folder and asked in a fixed order, so a new method's module needs no change anywhere else."""

from __future__ import annotations

import asyncio
import sys

import answers
import pytest
from fakes import FakeBackend

from selfinstruct.backends.base import Decoding, Request

PLUGIN = """
def answer(prompt, *, chat, stage, seed, salt):
    if stage in (None, "shorten") and prompt.startswith("Shorten:"):
        return "A shorter " + prompt.removeprefix("Shorten:").strip()
    return None
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A module dropped beside the built-in ones, as a plug-in method's test adds one."""
    (tmp_path / "shorten.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.setattr(answers, "__path__", [*answers.__path__, str(tmp_path)])
    answers.modules.cache_clear()
    yield
    answers.modules.cache_clear()
    sys.modules.pop("answers.shorten", None)


def names() -> list[str]:
    return [m.__name__.removeprefix("answers.") for m in answers.modules()]


def test_every_method_module_is_asked_in_a_fixed_order() -> None:
    assert names() == [
        "tools", "respond", "glan", "judge", "evolve", "magpie", "paraphrase", "templatize",
        "chat", "alpaca", "self_instruct",
    ]  # fmt: skip


def test_a_new_module_is_found_and_asked_before_the_catch_alls(plugin) -> None:
    assert names() == [
        "tools", "respond", "glan", "judge", "evolve", "magpie", "paraphrase", "shorten",
        "templatize", "chat", "alpaca", "self_instruct",
    ]  # fmt: skip
    # Without it, chat.py would take this prompt for a conversation turn.
    prompt = "Shorten: the river is wide."
    assert answers.answer(prompt, chat=True) == "A shorter the river is wide."


def test_the_fake_backend_answers_through_a_new_module(plugin) -> None:
    backend = FakeBackend(api="chat")
    request = Request(
        "shorten",
        "Shorten: a quiet bakery.",
        Decoding(max_tokens=64, temperature=0.0, top_p=1.0),
    )
    done = asyncio.run(backend.complete(request, request.prompt))
    assert done.text == "A shorter a quiet bakery."


def test_a_prompt_no_module_answers_is_an_error(monkeypatch) -> None:
    monkeypatch.setattr(answers, "modules", lambda: ())
    with pytest.raises(LookupError, match="^no module in tests/answers answers this prompt: 'Hi'$"):
        answers.answer("Hi", chat=True)
