"""Magpie: chat templates (from GGUF metadata, built in), special tokens that tokenise as real
tokens, the query filters and the run."""

from __future__ import annotations

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
    assert all(r.decoding.stop == ("<|im_end|>",) and r.decoding.temperature == 1.0
               for r in queries)  # fmt: skip
    responses = {r.prompt: r for r in backend.requests if r.stage == "response"}
    for task in tasks:
        prompt = f"<|im_start|>user\n{task['instruction']}<|im_end|>\n<|im_start|>assistant\n"
        assert responses[prompt].decoding.temperature == 0.0
        assert task["turns"][0] == {"role": "user", "content": task["instruction"]}
        assert task["source"] == "magpie" and task["template"] == "chatml"
    reasons = {r["reason"] for r in lines(tmp_path / "run" / "rejected.jsonl")}
    assert {"empty", "not_request"} <= reasons


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
