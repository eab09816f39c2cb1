"""Alpaca's layout grammar: an in-process model is held to the items' layout, so every item it
writes splits into instruction, input and output. The grammar is checked with llama.cpp's own
grammar sampler (tests/grammar_check.py); the run sends it only where it is enforced."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from grammar_check import grammar_allows
from helpers import lines, run_generate

from selfinstruct.cli import main
from selfinstruct.methods.alpaca.method import Item, layout_grammar, parse_items

GRAMMAR = layout_grammar(4, 20, chat=False)


def item(n: int, instruction: str, input_text: str, output: str) -> str:
    return f"{n}. Instruction: {instruction}\n{n}. Input:\n{input_text}\n{n}. Output:\n{output}\n"


WELL_FORMED = [
    # what follows the prompt's "4. Instruction:", ended after a whole item
    " Name a river in Africa.\n4. Input:\n<noinput>\n4. Output:\nThe Nile.\n",
    " Correct the grammar.\n4. Input:\nhe go home\nshe go too\n4. Output:\nHe goes home.\n"
    "She goes too.\n###\n" + item(5, "Add the numbers.", "2 and 3", "5"),
    " List two capitals.\n4. Input:\n<noinput>\n4. Output:\n1. Paris\n2. Rome\n3.14 is pi.\n",
    # the whole list, to the start of item 20 where the stop sequences cut it
    " Say hello.\n4. Input:\n<noinput>\n4. Output:\nHello.\n###\n"
    + "###\n".join(
        item(n, f"Count to {n} in words.", "<noinput>", "One, two.") for n in range(5, 20)
    )  # fmt: skip
    + "###\n20.",
]


@pytest.mark.parametrize("text", WELL_FORMED)
def test_the_grammar_allows_well_formed_items_and_they_all_parse(text: str) -> None:
    assert grammar_allows(GRAMMAR, text)
    items = parse_items(text.removesuffix("###\n20."), 4, truncated=False)
    assert items and all(isinstance(i, Item) for i in items)


MALFORMED = {
    "no output field": " Name a river.\n4. Input:\n<noinput>\n###\n",
    "a field label misspelt": " Name a river.\n4. Input:\n<noinput>\n4. Outcome:\nNile\n",
    "an item number skipped": " Name a river.\n4. Input:\n<noinput>\n4. Output:\nNile\n###\n"
    + item(6, "Name a lake.", "<noinput>", "Victoria"),
    "a merged item (no ###)": " Name a river.\n4. Input:\n<noinput>\n4. Output:\nNile\n"
    + item(5, "Name a lake.", "<noinput>", "Victoria"),
    "### inside a line": " Name a river ### now.\n4. Input:\n<noinput>\n4. Output:\nNile\n",
    "an empty instruction": " \n4. Input:\n<noinput>\n4. Output:\nNile\n",
    "text after <noinput>": " Name a river.\n4. Input:\n<noinput> please\n4. Output:\nNile\n",
    "an output line opening an item": " Name a river.\n4. Input:\n<noinput>\n4. Output:\nNile\n"
    "5. Instruction: Name a lake.\n",
    "an output of five lines": " List rivers.\n4. Input:\n<noinput>\n4. Output:\na\nb\nc\nd\ne\n",
    "a line too long": " Repeat.\n4. Input:\n<noinput>\n4. Output:\n" + "ab " * 101 + "\n",
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_the_grammar_rules_out_what_the_parser_drops(text: str) -> None:
    assert not grammar_allows(GRAMMAR, text)


def test_a_chat_answer_must_restate_the_first_label() -> None:
    chat = layout_grammar(4, 20, chat=True)
    answer = item(4, "Name a river.", "<noinput>", "The Nile.")
    assert grammar_allows(chat, answer)
    assert not grammar_allows(chat, "Sure! Here are more tasks:\n" + answer)
    assert all(isinstance(i, Item) for i in parse_items(answer, 4, truncated=False, chat=True))


class Constraining(FakeBackend):
    constrains_answers = True


@pytest.mark.parametrize(
    ("backend", "layout", "sent"),
    [
        (Constraining(), "grammar", True),
        (Constraining(), "free", False),
        (FakeBackend(), "grammar", False),
    ],  # fmt: skip
)
def test_the_grammar_goes_only_to_a_backend_that_enforces_it(
    tmp_path: Path, backend: FakeBackend, layout: str, sent: bool
) -> None:
    run_generate(tmp_path / "run", n=5, method="alpaca", backend=backend, layout=layout)
    assert {r.grammar for r in backend.requests} == ({GRAMMAR} if sent else {""})


def test_the_grammar_is_part_of_the_cache_key(tmp_path: Path) -> None:
    free, _ = run_generate(tmp_path / "free", n=5, method="alpaca", backend=Constraining(),
                           layout="free")  # fmt: skip
    held, _ = run_generate(tmp_path / "held", n=5, method="alpaca", backend=Constraining())
    keys = [{t["request_key"] for t in lines(tmp_path / run / "machine_instructions.jsonl")}
            for run in ("free", "held")]  # fmt: skip
    assert keys[0] and keys[1] and not keys[0] & keys[1]


def test_layout_is_an_alpaca_option_saved_with_the_run(tmp_path: Path) -> None:
    refused = CliRunner().invoke(main, ["generate", "--layout", "free"])
    assert refused.exit_code == 2
    assert refused.output.splitlines()[-1] == "Error: --layout applies to --method alpaca only"
    result, _ = run_generate(tmp_path / "run", n=3, method="alpaca", layout="free")
    assert '"layout": "free"' in (tmp_path / "run" / "settings.json").read_text()


@pytest.mark.slow
def test_the_bundled_model_writes_only_items_that_parse(tmp_path: Path) -> None:
    out = tmp_path / "run"
    options = ["--n", "3", "--decoding", "instructions.max_tokens=600", "--out", str(out)]
    result = CliRunner().invoke(main, ["generate", "--method", "alpaca", *options, "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(lines(out / "tasks.jsonl")) == 3
    reasons = {r["reason"] for r in lines(out / "rejected.jsonl")}
    assert "item_malformed" not in reasons
