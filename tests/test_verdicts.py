"""The judge's answers are parsed strictly: a label from the fixed set, or unparseable."""

from __future__ import annotations

import pytest

from selfinstruct.methods.judge.verdicts import parse_rating, parse_score, parse_yes_no, wilson


@pytest.mark.parametrize(
    ("text", "label", "reason"),
    [
        ("Yes", "Yes", ""),
        (" yes.", "Yes", ""),
        ("No\nReason: the input is missing.", "No", "the input is missing."),
        ("Answer: Yes. The task is clear.", "Yes", "The task is clear."),
        ("**Answer:** No - it needs an image.", "No", "it needs an image."),
        ("\n\nVERDICT: YES\n", "Yes", ""),
        ("Yes - no problems at all", "Yes", "no problems at all"),
    ],
)
def test_yes_no_shapes(text: str, label: str, reason: str) -> None:
    verdict = parse_yes_no(text)
    assert (verdict.label, verdict.reason, verdict.raw) == (label, reason, text)


@pytest.mark.parametrize(
    "text",
    ["", "   \n ", "Maybe", "\nThe answer is Yes.", "The output is correct and acceptable.", "Yes or No", "yes/no", "I think yes", "Nope", "Y", "The answer is No",
     "1", "Answer:"],
)  # fmt: skip
def test_yes_no_unparseable(text: str) -> None:
    verdict = parse_yes_no(text)
    assert verdict.label is None and not verdict.parsed and verdict.raw == text


@pytest.mark.parametrize(
    ("text", "label"),
    [("7", "7"), ("Score: 10/10", "10"), ("**8** - clear and correct", "8"), ("1.", "1"),
     ("score = 3\nwrong unit", "3")],
)  # fmt: skip
def test_score_shapes(text: str, label: str) -> None:
    assert parse_score(text).label == label


@pytest.mark.parametrize("text", ["0", "11", "7.5", "seven", "7 or 8", "-3", "Score: 12/10"])
def test_score_unparseable(text: str) -> None:
    assert parse_score(text).label is None


@pytest.mark.parametrize(
    ("text", "label"),
    [("A", "A"), ("b) acceptable, minor slips", "B"), ("Rating: C\nwrong year", "C"),
     ("**D**", "D")],
)  # fmt: skip
def test_rating_shapes(text: str, label: str) -> None:
    assert parse_rating(text).label == label


@pytest.mark.parametrize(
    "text",
    [
        "E",
        "A/B",
        "AB",
        "Good",
        "A or B",
        "A: 1. 1.1.\nB: 1.2.\nC: 1.3.",
        "A: Excellent.\nB: Excellent.",
    ],
)
def test_rating_unparseable(text: str) -> None:
    assert parse_rating(text).label is None


def test_wilson_interval() -> None:
    low, high = wilson(54, 100)
    assert (round(low, 4), round(high, 4)) == (0.4426, 0.6344)
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(10, 10)
    assert round(high, 6) == 1.0 and round(low, 4) == 0.7225
