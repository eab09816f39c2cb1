"""Evol-Instruct's settings as its reference code has them (WizardLM's Evol_Instruct: every call
to the model with the system message "You are a helpful assistant.", temperature 1, top_p 0.95,
max_tokens 2048), and the paper's demonstrations for the complicate-input operation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fakes import FakeBackend
from helpers import lines
from test_evolve import alpaca_input

from selfinstruct.backends.base import Completion, Request
from selfinstruct.methods.evolve import Evolve
from selfinstruct.methods.evolve.method import evolve_prompt
from selfinstruct.methods.evolve.settings import EvolveSettings
from selfinstruct.runner import run

REFERENCE_SYSTEM = "You are a helpful assistant."


def test_every_call_uses_the_reference_code_decoding():
    for field in ("evolve_decoding", "response_decoding"):
        decoding = EvolveSettings.model_fields[field].default
        assert (decoding.temperature, decoding.top_p, decoding.max_tokens) == (1.0, 0.95, 2048)
    assert EvolveSettings.model_fields["system"].default == REFERENCE_SYSTEM


def test_a_chat_api_gets_the_system_message_on_every_call(tmp_path: Path):
    backend = FakeBackend(api="chat")
    settings = Evolve.configure(backend, seeds_path=alpaca_input(tmp_path, 4), rounds=1)
    run(settings, backend, tmp_path / "out")
    assert {r.stage for r in backend.requests} == {"evolve", "respond", "judge"}
    for request in backend.requests:
        assert request.messages == (("system", REFERENCE_SYSTEM), ("user", request.prompt))


def test_no_system_message_when_asked_for_none(tmp_path: Path):
    backend = FakeBackend(api="chat")
    settings = Evolve.configure(
        backend, seeds_path=alpaca_input(tmp_path, 3), rounds=1, system=None
    )
    run(settings, backend, tmp_path / "out")
    assert all(not r.messages for r in backend.requests)


class CutResponses(FakeBackend):
    """Every response is cut off at max_tokens (finish_reason "length")."""

    async def complete(self, request: Request, text: str) -> Completion:
        done = await super().complete(request, text)
        if request.stage == "respond":
            return dataclasses.replace(done, finish_reason="length")
        return done


def test_a_response_cut_at_max_tokens_is_kept_and_flagged(tmp_path: Path):
    backend = CutResponses()
    settings = Evolve.configure(backend, seeds_path=alpaca_input(tmp_path, 8), rounds=1, seed=2)
    run(settings, backend, tmp_path / "out")
    passed = [t for t in lines(tmp_path / "out" / "tasks.jsonl") if t["round"] == 1]
    assert passed, "some evolutions pass the elimination step"
    assert all(t["instances"][0]["truncated"] is True for t in passed)
    roots = [t for t in lines(tmp_path / "out" / "tasks.jsonl") if t["round"] == 0]
    assert all("truncated" not in t["instances"][0] for t in roots)


def test_complicate_input_shows_demonstrations():
    prompt = evolve_prompt("complicate-input", "Sort the list of numbers.")
    assert prompt.count("Example instruction:") >= 2
    assert prompt.count("Example with a more complex input:") >= 2
    assert "evolve_prompt" not in prompt and "{" not in prompt.split("#Source Instruction#")[0]
    # The other operations carry none.
    assert "Example instruction:" not in evolve_prompt("deepen", "Sort the list of numbers.")


def test_a_rewrite_that_copies_the_demonstrations_labels_is_a_prompt_leak():
    from selfinstruct.methods.evolve.elimination import leaked_phrase
    from selfinstruct.methods.evolve.method import leak_phrases

    leaks = leak_phrases()
    text = "Example with a more complex input: Sort the numbers 3, 1, 2."
    assert leaked_phrase(text, leaks) is not None
    assert leaked_phrase("Sort the numbers 3, 1, 2 in the table.", leaks) is None
