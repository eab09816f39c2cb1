"""Evol-Instruct's four elimination rules on recorded answers."""

from __future__ import annotations

import pytest

from selfinstruct.methods.evolve.elimination import (
    LEAK_PHRASES,
    is_apology,
    leaked_phrase,
    only_stop_words,
    parse_judgement,
    prompt_labels,
)
from selfinstruct.prompting import load_prompt


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("Equal", "equal"),
        (" Equal.", "equal"),
        ("**Equal**", "equal"),
        ("Label: equal\nBecause both ask the same.", "equal"),
        ("Not Equal", "not_equal"),
        ("not equal.", "not_equal"),
        ("**Not Equal**", "not_equal"),
        ("  \nNot  Equal\n", "not_equal"),
        ("Not Equal to the first", None),
        ("They are equal in depth.", None),
        ("Unequal", None),
        ("", None),
        ("The two instructions are not equal.", None),
    ],
)
def test_judgement_is_an_exact_label(answer: str, label: str | None) -> None:
    assert parse_judgement(answer) == label


def test_not_equal_is_never_equal() -> None:
    # The trap: a substring test for "equal" would read "Not Equal" as equal.
    assert parse_judgement("Not Equal") != "equal"
    assert parse_judgement("NOT EQUAL") == "not_equal"


def test_apology_of_79_words_is_eliminated_and_81_is_not() -> None:
    sorry = "Sorry, I cannot do that."  # 5 words
    assert is_apology(" ".join([sorry] + ["word"] * 74))  # 79 words
    assert not is_apology(" ".join([sorry] + ["word"] * 75))  # 80 words: not under 80
    assert not is_apology(" ".join([sorry] + ["word"] * 76))  # 81 words
    assert is_apology("I'm SORRY but no.")
    assert not is_apology("I cannot help with that.")  # short, but no "sorry"


def test_only_punctuation_and_stop_words() -> None:
    assert only_stop_words("...!?")
    assert only_stop_words("")
    assert only_stop_words("It is what it is.")
    assert only_stop_words("I don't, and you won't!")
    assert not only_stop_words("It is 42.")
    assert not only_stop_words("Paris is the capital of France.")


def test_leaked_prompt_label() -> None:
    phrases = LEAK_PHRASES + tuple(prompt_labels(load_prompt("evolve/in_depth.txt")))
    assert "#Evolved Instruction#" in phrases and "Source Instruction" in phrases
    assert leaked_phrase("#Evolved Instruction#: Name three rivers.", phrases)
    assert leaked_phrase("Rewrite the given  prompt so that it rhymes.", phrases) == "given prompt"
    assert leaked_phrase("In the evolved instruction, list rivers.", phrases)
    assert leaked_phrase("Name three rivers in Peru, longest first.", phrases) is None
