"""Magpie: chat templates (from GGUF metadata, built in), special tokens that tokenise as real
tokens, the query filters and the run."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from fakes import FakeBackend
from helpers import lines

from selfinstruct.backends.local import bundled_model_path
from selfinstruct.errors import UserError
from selfinstruct.methods.chat.dialogue import not_request
from selfinstruct.methods.magpie import Magpie
from selfinstruct.runner import run
from selfinstruct.templates import builtin, from_gguf, resolve

SMOLLM2_PRE_QUERY = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n<|im_start|>user\n"
)


@pytest.fixture(scope="module")
def vocab():
    """The bundled model's tokenizer alone (no weights: a fraction of a second)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(bundled_model_path()), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def special_id(llm, text: str) -> int:
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)
    assert len(ids) == 1, f"{text} is not one token: {ids}"
    return ids[0]


def test_pre_query_templates():
    assert builtin("chatml").pre_query == "<|im_start|>user\n"
    assert builtin("chatml").end_of_turn == "<|im_end|>"
    assert builtin("llama3").pre_query == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    )
    assert builtin("llama3").end_of_turn == "<|eot_id|>"
    assert builtin("smollm2").pre_query == SMOLLM2_PRE_QUERY


def test_the_bundled_models_template_is_read_from_its_gguf_metadata():
    template = from_gguf(bundled_model_path())
    assert template is not None and template.name == "gguf:" + bundled_model_path().name
    assert template.pre_query == SMOLLM2_PRE_QUERY
    assert template.end_of_turn == "<|im_end|>"
    conversation = [("user", "Hi?"), ("assistant", "Hello."), ("user", "Why?")]
    assert template.render(conversation, True) == builtin("smollm2").render(conversation, True)
    assert resolve(None, bundled_model_path()) == template
    assert resolve("llama3", bundled_model_path()) == builtin("llama3")


def test_unknown_template_is_one_line():
    with pytest.raises(UserError) as error:
        resolve("vicuna", None)
    assert str(error.value) == (
        "--template vicuna: not a built-in template (chatml, smollm2, llama3) nor a Jinja file"
    )


def test_pre_query_special_tokens_are_real_tokens(vocab):
    """<|im_start|> and <|im_end|> become the single special ids, not text pieces."""
    pre_query = from_gguf(bundled_model_path()).pre_query
    start, end = special_id(vocab, "<|im_start|>"), special_id(vocab, "<|im_end|>")
    assert (start, end) == (vocab.token_bos(), vocab.token_eos()) == (1, 2)
    ids = vocab.tokenize(pre_query.encode(), add_bos=False, special=True)
    assert ids[0] == start and ids.count(start) == 2 and ids.count(end) == 1
    assert ids[-3:] == [start, *vocab.tokenize(b"user\n", add_bos=False, special=True)]
    # Tokenised as text, the same string has no special token at all and is longer.
    as_text = vocab.tokenize(pre_query.encode(), add_bos=False, special=False)
    assert start not in as_text and end not in as_text and len(as_text) > len(ids) + 6


def test_llama_cpp_completion_tokenises_special_tokens(vocab, monkeypatch):
    """The path LocalBackend uses (create_completion) asks for special-token parsing."""
    from llama_cpp import Llama

    seen = []
    original = Llama.tokenize

    def spy(self, text, add_bos=True, special=False):
        seen.append(special)
        return original(self, text, add_bos, special)

    monkeypatch.setattr(Llama, "tokenize", spy)
    with pytest.raises(Exception):  # noqa: B017 - a vocab-only model cannot decode
        vocab.create_completion(SMOLLM2_PRE_QUERY, max_tokens=1)
    assert seen and seen[0] is True


@pytest.mark.slow
def test_local_backend_sends_the_pre_query_as_special_tokens(vocab):
    import asyncio

    from selfinstruct.backends.base import Decoding, Request
    from selfinstruct.backends.local import LocalBackend

    backend = LocalBackend(n_ctx=512)
    request = Request("query", SMOLLM2_PRE_QUERY, Decoding(max_tokens=1, temperature=0, top_p=1))
    completion = asyncio.run(backend.complete(request, request.prompt))
    asyncio.run(backend.aclose())
    special = vocab.tokenize(SMOLLM2_PRE_QUERY.encode(), add_bos=False, special=True)
    assert completion.prompt_tokens == len(special) == 24


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Can you help me plan a charity gala?", False),
        ("I'm working on a business plan and need help with the marketing section.", False),
        ("Explain the difference between weather and climate", False),
        ("My cat keeps scratching the sofa. Any ideas?", False),
        ("Sure, here is a recipe for banana bread.", True),
        ("I'm sorry, but I cannot help with that.", True),
        ("The weather was lovely on Tuesday.", True),
        ("Paris.", True),
    ],
)
def test_not_request(text, expected):
    assert not_request(text) is expected


def magpie_run(tmp_path: Path, n: int, **options):
    backend = FakeBackend()
    settings = Magpie.configure(backend, n=n, template="chatml", seed=4, **options)
    return run(settings, backend, tmp_path / "run"), backend


def test_magpie_run_samples_from_the_pre_query_alone(tmp_path):
    result, backend = magpie_run(tmp_path, 12)
    tasks = lines(tmp_path / "run" / "tasks.jsonl")
    assert result.stop.value == "complete" and len(tasks) == 12
    queries = [r for r in backend.requests if r.stage == "query"]
    assert {r.prompt for r in queries} == {"<|im_start|>user\n"}
    assert len({r.seed for r in queries}) == len(queries)  # one seed per sample
    assert all(r.decoding.stop == ("<|im_end|>", "assistant", "\n") and r.decoding.temperature == 1.0
               for r in queries)  # fmt: skip
    responses = {r.prompt: r for r in backend.requests if r.stage == "response"}
    for task in tasks:
        prompt = f"<|im_start|>user\n{task['instruction']}<|im_end|>\n<|im_start|>assistant\n"
        assert responses[prompt].decoding.temperature == 0.0
        assert task["turns"][0] == {"role": "user", "content": task["instruction"]}
        assert task["source"] == "magpie" and task["template"] == "chatml"
    reasons = {r["reason"] for r in lines(tmp_path / "run" / "rejected.jsonl")}
    assert "empty" in reasons and "not_request" not in reasons  # Magpie keeps statements


def test_duplicates_are_dropped_by_the_novelty_gate(tmp_path):
    from selfinstruct.methods.magpie.method import Magpie
    from selfinstruct.methods.magpie.settings import MagpieSettings

    settings = MagpieSettings(n=1, model="m", api="completion", template=builtin("chatml"))
    method = Magpie(settings, builtin("chatml"))
    query = "Explain how tides are caused by the moon and the sun."
    assert method.check(query, truncated=False) is None
    method.gate.admit(query)
    assert method.check(query.replace("Explain", "Describe"), False).reason == "rouge_similar"
    assert method.check(query, truncated=True).reason == "truncated"
    assert method.check("", truncated=False).reason == "empty"


def test_magpie_refuses_a_chat_api(tmp_path):
    backend = FakeBackend(api="chat")
    with pytest.raises(UserError) as error:
        Magpie.configure(backend, n=3, template="chatml")
    assert str(error.value) == (
        "magpie needs raw completion with the chat template's special tokens: use the bundled "
        "model, --model-path, or --api completion with a server that does not re-template "
        "prompts"
    )


def test_magpie_over_a_completion_server_needs_a_template(tmp_path):
    backend = FakeBackend()
    with pytest.raises(UserError) as error:
        Magpie.configure(backend, n=3)
    assert str(error.value) == (
        "magpie needs the model's chat template: pass --template chatml|llama3|smollm2|FILE"
    )


def test_cli_refuses_a_chat_api_before_starting(tmp_path):
    from click.testing import CliRunner

    from selfinstruct.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["magpie", "--base-url", "http://127.0.0.1:9/v1",
                                       "--model", "m", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 2 and not out.exists()
    assert result.output == (
        "Error: magpie needs raw completion with the chat template's special tokens: use the "
        "bundled model, --model-path, or --api completion with a server that does not "
        "re-template prompts\n"
    )


@pytest.mark.parametrize("command", ["magpie", "chat"])
def test_builtin_names_are_listed(command):
    """--template's help names every built-in template, and each name it lists is one."""
    from click.testing import CliRunner

    from selfinstruct.cli import main

    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the help's line wrapping undone
    listed = re.search(r"Chat template for raw completion \((.*?), or a Jinja file\)", text)
    assert listed is not None, result.output
    names = listed.group(1).split(", ")
    assert names == ["chatml", "smollm2", "llama3"]
    for name in names:
        template = resolve(name, None)
        assert template is not None and template.name == name and template.end_of_turn


def test_resume_of_a_finished_run_writes_nothing_new(tmp_path):
    magpie_run(tmp_path, 5)
    before = (tmp_path / "run" / "tasks.jsonl").read_text()
    result, backend = magpie_run(tmp_path, 5)
    assert (tmp_path / "run" / "tasks.jsonl").read_text() == before
    assert backend.calls == 0 and json.loads(before.splitlines()[0])["id"] == "task_000001"


# ------------------------------------------------------------------ the reference's rules (issue 22)

PROBLEMS = [
    "Given f(x)=x^2+3x, find its derivative.",
    "In Python, write a function that reverses a string.",
    "The sum of two numbers is 15 and their difference is 3. What are the numbers",
]


class Scripted(FakeBackend):
    """The fake model with given queries (in turn) and, for responses, a given finish reason."""

    def __init__(self, queries=(), cut_every: int = 0) -> None:
        super().__init__()
        self.queries = list(queries)
        self.cut_every = cut_every
        self.responses = 0

    async def complete(self, request, text):
        completion = await super().complete(request, text)
        if request.stage == "query" and self.queries:
            return dataclasses.replace(completion, text=self.queries.pop(0))
        if request.stage == "response":
            self.responses += 1
            if self.cut_every and self.responses % self.cut_every == 0:
                return dataclasses.replace(completion, finish_reason="length")
        return completion


def magpie_settings(n: int = 1, **options):
    return Magpie.configure(FakeBackend(), n=n, template="chatml", seed=4, **options)


def test_problems_that_ask_no_question_are_kept_by_default(tmp_path):
    """Magpie keeps every sampled query: a maths or coding problem is a request too."""
    method = Magpie(magpie_settings(), builtin("chatml"))
    assert [method.check(q, truncated=False) for q in PROBLEMS] == [None, None, None]
    backend = Scripted(PROBLEMS)
    settings = Magpie.configure(backend, n=3, template="chatml", seed=4, concurrency=1)
    run(settings, backend, tmp_path / "run")
    assert [t["instruction"] for t in lines(tmp_path / "run" / "tasks.jsonl")] == PROBLEMS


def test_requests_only_is_a_named_option_off_by_default():
    assert magpie_settings().requests_only is False
    method = Magpie(magpie_settings(requests_only=True), builtin("chatml"))
    assert [method.check(q, False).reason for q in PROBLEMS] == ["not_request"] * 3
    assert method.check("Can you help me plan a charity gala?", False) is None


def test_lengths_and_stops_are_the_references():
    """Queries: temperature 1, top_p 1, 2048 tokens, stop at the end-of-turn marker, at
    "assistant" and (by default) at the first newline. Responses: greedy, 4096 tokens."""
    settings = magpie_settings()
    assert settings.stop_at_newline is True
    method = Magpie(settings, builtin("chatml"))
    query = method.query_request(0).decoding
    assert (query.max_tokens, query.temperature, query.top_p) == (2048, 1.0, 1.0)
    assert query.stop == ("<|im_end|>", "assistant", "\n")
    response = method.response_request([("user", "Why?")]).decoding
    assert (response.max_tokens, response.temperature, response.top_p) == (4096, 0.0, 1.0)
    assert response.stop == ("<|im_end|>",)
    no_newline = Magpie(magpie_settings(stop_at_newline=False), builtin("chatml"))
    assert no_newline.query_request(0).decoding.stop == ("<|im_end|>", "assistant")


def test_a_cut_response_is_kept_and_flagged(tmp_path):
    backend = Scripted(cut_every=3)
    settings = Magpie.configure(backend, n=6, template="chatml", seed=4, concurrency=1)
    run(settings, backend, tmp_path / "run")
    tasks = lines(tmp_path / "run" / "tasks.jsonl")
    assert len(tasks) == 6
    assert [t["truncated"] for t in tasks] == [False, False, True, False, False, True]
    rejected = lines(tmp_path / "run" / "rejected.jsonl")
    assert not [r for r in rejected if r["stage"] == "response"]


def test_turns_n_writes_n_turn_dialogues(tmp_path):
    """Each further user turn is sampled from the conversation so far, rendered with a
    multi-turn system prompt and continued with the opening of a user turn; it is answered
    from the conversation alone (no system prompt), as the reference's multi-turn script."""
    from selfinstruct.prompting import load_prompt

    result, backend = magpie_run(tmp_path, 5, turns=3)
    tasks = lines(tmp_path / "run" / "tasks.jsonl")
    assert result.stop.value == "complete" and len(tasks) == 5
    system = load_prompt("magpie/multi_turn.txt").strip()
    for task in tasks:
        turns = [(t["role"], t["content"]) for t in task["turns"]]
        assert [r for r, _ in turns] == ["user", "assistant"] * 3
        assert task["instruction"] == turns[0][1]
        assert task["instances"] == [{"input": "", "output": turns[1][1]}]
        for i in (2, 4):
            conversation = [("system", system), *turns[:i]]
            rendered = builtin("chatml").render(conversation, add_generation_prompt=False)
            asked = [r for r in backend.requests
                     if r.stage == "query" and r.prompt == rendered + "<|im_start|>user\n"]  # fmt: skip
            assert len(asked) == 1
            assert asked[0].decoding.stop == ("<|im_end|>", "\n")
            answer = builtin("chatml").render(turns[: i + 1], add_generation_prompt=True)
            assert [r.stage for r in backend.requests if r.prompt == answer] == ["response"]
    seeds = [r.seed for r in backend.requests if r.stage == "query"]
    assert len(seeds) == len(set(seeds))


@pytest.mark.parametrize("task", ["math", "code", "translation"])
def test_a_task_prepends_its_system_prompt_to_the_query_only(tmp_path, task):
    from selfinstruct.prompting import load_prompt

    _, backend = magpie_run(tmp_path, 2, task=task)
    system = load_prompt(f"magpie/{task}.txt").strip()
    expected = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n"
    assert {r.prompt for r in backend.requests if r.stage == "query"} == {expected}
    assert all(r.prompt.startswith("<|im_start|>user\n")
               for r in backend.requests if r.stage == "response")  # fmt: skip


def test_system_sets_the_query_system_prompt(tmp_path):
    _, backend = magpie_run(tmp_path, 2, system="You help gardeners.")
    expected = "<|im_start|>system\nYou help gardeners.<|im_end|>\n<|im_start|>user\n"
    assert {r.prompt for r in backend.requests if r.stage == "query"} == {expected}


def test_task_and_system_together_are_one_line():
    with pytest.raises(UserError) as error:
        magpie_settings(task="math", system="You help gardeners.")
    assert str(error.value) == "magpie: --task and --system both set the system prompt: give one"


def test_cli_options(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from selfinstruct.cli import main

    backend = FakeBackend()
    monkeypatch.setattr("selfinstruct.cli.running.build_backend", lambda **kw: backend)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "magpie", "--n", "2", "--template", "chatml", "--turns", "2", "--task", "code",
        "--requests-only", "--no-stop-at-newline", "--out", str(out), "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "settings.json").read_text(encoding="utf-8"))
    assert (saved["turns"], saved["task"], saved["requests_only"]) == (2, "code", True)
    assert saved["stop_at_newline"] is False
    assert all(len(t["turns"]) <= 4 for t in lines(out / "tasks.jsonl"))


def test_an_empty_further_user_turn_ends_the_conversation_there(tmp_path):
    backend = Scripted(["Why is the sky blue?", ""])
    settings = Magpie.configure(backend, n=1, template="chatml", seed=4, turns=3, concurrency=1)
    run(settings, backend, tmp_path / "run")
    [task] = lines(tmp_path / "run" / "tasks.jsonl")
    assert [t["role"] for t in task["turns"]] == ["user", "assistant"]
    [rejected] = lines(tmp_path / "run" / "rejected.jsonl")
    assert (rejected["id"], rejected["stage"], rejected["reason"]) == (
        "task_000001.q2",
        "query",
        "empty",
    )
