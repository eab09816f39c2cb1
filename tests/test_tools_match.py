"""Gorilla-style AST matching of calls: the tool's name and the reference's arguments."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from selfinstruct.cli import main
from selfinstruct.methods.tools.match import MatchResult, match_calls

TOOLS = ("getWeather", "listEvents", "createEvent")
GOLD = [{"name": "getWeather", "arguments": {"city": "Porto", "days": 3}}]


def test_the_same_call_matches_whatever_the_argument_order():
    predicted = [{"name": "getWeather", "arguments": {"days": 3, "city": "Porto"}}]
    assert match_calls(predicted, GOLD, TOOLS) == MatchResult(
        correct=True, matched=1, reference=1, predicted=1, hallucinated=0
    )


def test_an_optional_argument_the_reference_leaves_out_is_allowed():
    predicted = [
        {"name": "getWeather", "arguments": '{"city": "Porto", "days": 3.0, "unit": "celsius"}'}
    ]
    assert match_calls(predicted, GOLD, TOOLS).correct


def test_a_wrong_value_a_missing_argument_or_another_tool_does_not_match():
    for arguments in ({"city": "Porto", "days": 4}, {"city": "Porto"}):
        result = match_calls([{"name": "getWeather", "arguments": arguments}], GOLD, TOOLS)
        assert (result.correct, result.matched, result.hallucinated) == (False, 0, 0)
    result = match_calls([{"name": "listEvents", "arguments": {}}], GOLD, TOOLS)
    assert (result.correct, result.hallucinated) == (False, 0)


def test_a_tool_not_in_the_api_is_counted_as_hallucinated():
    predicted = [{"name": "getForecast", "arguments": {"city": "Porto"}}, GOLD[0]]
    assert match_calls(predicted, GOLD, TOOLS) == MatchResult(
        correct=False, matched=1, reference=1, predicted=2, hallucinated=1
    )


def test_each_reference_call_needs_its_own_predicted_call():
    gold = [GOLD[0], {"name": "listEvents", "arguments": {"date": "2025-01-02"}}]
    result = match_calls([GOLD[0], GOLD[0]], gold, TOOLS)
    assert (result.correct, result.matched) == (False, 1)
    assert match_calls(list(reversed(gold)), gold, TOOLS).correct


def test_tools_eval_reports_accuracy_and_hallucinations(tmp_path: Path):
    gold = [{"id": "a", "calls": GOLD, "tools": [{"type": "function", "function": {"name": t}}
                                                  for t in TOOLS]},
            {"id": "b", "calls": [{"name": "listEvents", "arguments": {"date": "2025-01-02"}}]}]  # fmt: skip
    pred = [{"id": "b", "calls": [{"name": "getAgenda", "arguments": {}}]},
            {"id": "a", "calls": GOLD}]  # fmt: skip
    for name, data in (("gold.jsonl", gold), ("pred.jsonl", pred)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in data))
    result = CliRunner().invoke(
        main, ["tools", "eval", str(tmp_path / "pred.jsonl"), str(tmp_path / "gold.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        "examples 2: correct 1 (50.0%), with a hallucinated tool 1 (50.0%)\n"
        "calls: reference 2, predicted 2, matched 1, hallucinated 1\n"
    )


def test_tools_eval_names_a_gold_example_without_a_prediction(tmp_path: Path):
    (tmp_path / "gold.jsonl").write_text(json.dumps({"id": "a", "calls": GOLD}) + "\n")
    (tmp_path / "pred.jsonl").write_text(json.dumps({"id": "z", "calls": GOLD}) + "\n")
    result = CliRunner().invoke(
        main, ["tools", "eval", str(tmp_path / "pred.jsonl"), str(tmp_path / "gold.jsonl")]
    )
    assert result.exit_code == 2
    assert result.output.strip().endswith(f"{tmp_path / 'pred.jsonl'}: no prediction for id 'a'")
