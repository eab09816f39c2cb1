"""Parsers on answers the bundled model really gave, through both APIs.

tests/fixtures/raw_smollm2.json was recorded with scripts/record_fixtures.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.filters import InstructionFilter
from selfinstruct.methods.self_instruct.parse import (
    parse_instances,
    parse_instructions,
    parse_is_classification,
)
from selfinstruct.novelty import NoveltyIndex
from selfinstruct.records import load_seed_tasks
from selfinstruct.resources import default_seed_path

RAW = json.loads((Path(__file__).parent / "fixtures" / "raw_smollm2.json").read_text("utf-8"))


def answers(api: str, stage: str) -> list[dict]:
    return [r for r in RAW if r["api"] == api and r["stage"] == stage]


def test_completion_instruction_answers_continue_item_nine():
    first, second, third = (
        parse_instructions(r["text"]) for r in answers("completion", "instructions")
    )
    assert first == ["What is the best way to make a pizza with friends?",
                     "How do you measure the size of a 3-meter cube of wood?"]  # fmt: skip
    assert len(second) == 2 and len(third) == 3
    assert third[2].startswith("The person who says")


def test_chat_instruction_answers_restart_numbering_and_echo_seeds():
    parsed = [parse_instructions(r["text"], chat=True) for r in answers("chat", "instructions")]
    assert [len(p) for p in parsed] == [8, 8, 7]  # every item the model wrote
    capped = [
        parse_instructions(r["text"], chat=True, max_items=7)
        for r in answers("chat", "instructions")
    ]
    assert [len(p) for p in capped] == [7, 7, 7]
    assert parsed[0][0] == "Is the speaker being sarcastic? Answer yes or no."
    # The small chat model mostly repeats the in-context seeds: novelty must reject those.
    index = NoveltyIndex()
    for seed in load_seed_tasks(default_seed_path()):
        index.add(seed.instruction)
    echoed = [text for items in parsed for text in items if not index.query(text, top_k=0).novel]
    assert len(echoed) >= 10
    rules = InstructionFilter()
    assert all(rules.reason(t) in (None, "too_short") for items in parsed for t in items)


def test_classification_answers():
    completion = [parse_is_classification(r["text"]) for r in answers("completion", "classify")]
    assert completion == [True, True, False]
    # The paper's rule on the cut chat answers reads them as "not classification".
    chat = answers("chat", "classify")
    assert [r["text"] for r in chat] == ["Decision:"] * 3
    assert [parse_is_classification(r["text"]) for r in chat] == [False] * 3


def test_cut_chat_classification_answer_is_unreadable():
    # Recorded with max_tokens 3 and a "Task" stop: the model wrote "Decision:" and was cut
    # before its answer. That is no answer at all, not a "No".
    chat = answers("chat", "classify")
    assert all(r["finish_reason"] == "length" for r in chat)
    assert [parse_is_classification(r["text"], chat=True) for r in chat] == [None] * 3


@pytest.mark.parametrize("api", ["completion", "chat"])
def test_instance_answers(api):
    records = answers(api, "instances")
    chat = api == "chat"
    parsed = [parse_instances(r["text"], r["is_classification"], chat=chat) for r in records]
    if api == "completion":
        labels = [i.output for i in parsed[0]]
        assert labels == ["Positive", "Negative", "Neutral"] * 2
        assert parsed[0][0].input == "Review: The movie was a great film."
        assert [(i.input, i.output) for i in parsed[1]] == [
            ("", "Lola Maria, Bella Vita, and Ela Mama")
        ]
        assert [(i.input, i.output) for i in parsed[2]] == [("Temperature: 30.2°C", "86.8°F")]
    else:
        # No "Class label:", "Example" or "Output:" in the small model's chat answers (it copied
        # a demonstration's prose): as in the reference, nothing is kept.
        assert [r["text"][:9] for r in records[1:]] == ["Lena Park"] * 2
        assert parsed == [[], [], []]
