"""GLAN's parsers on recorded answers: written ones in the shapes real chat and completion
models give (tests/fixtures/glan/*.txt), and real ones from the bundled SmolLM2-135M
(tests/fixtures/glan/smollm2_*.txt, recorded with benchmarks/glan_record.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.gate import Rejection
from selfinstruct.methods.glan.parse import (
    Session,
    Subject,
    merge_subjects,
    parse_answer,
    parse_names,
    parse_question,
    parse_subjects,
    parse_syllabus,
)

FIXTURES = Path(__file__).parent / "fixtures" / "glan"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def reasons(items: list) -> list[str]:
    return [i.reason if isinstance(i, Rejection) else "ok" for i in items]


def test_names_from_a_chat_answer_with_preamble_markdown_descriptions_and_a_duplicate():
    items = parse_names(fixture("fields_chat.txt"))
    assert [i for i in items if isinstance(i, str)] == [
        "Natural Sciences", "Formal Sciences", "Social Sciences", "Humanities",
        "Engineering and Technology", "Health and Medicine",
    ]  # fmt: skip
    assert reasons(items) == ["ok"] * 6 + ["duplicate", "name_too_long"]
    assert items[6] == Rejection("duplicate", {"raw": "Natural sciences"})


def test_names_from_a_completion_continuation_stop_at_a_skipped_number():
    items = parse_names(fixture("sub_fields_completion.txt"))
    assert items == ["Physics", "Chemistry", "Biology",
                     Rejection("number_out_of_order", {"raw": "5. Geology"})]  # fmt: skip


def test_a_list_cut_at_max_tokens_loses_its_last_item():
    items = parse_names(fixture("disciplines_truncated.txt"), truncated=True)
    assert items == ["Organic Chemistry", "Inorganic Chemistry",
                     Rejection("item_truncated", {"raw": "Physical Chem"})]  # fmt: skip


def test_subjects_need_a_name_a_level_and_subtopics():
    items = parse_subjects(fixture("subjects_chat.txt"))
    assert reasons(items) == [
        "ok", "ok", "subject_malformed", "subject_no_level", "subject_no_subtopics", "ok",
    ]  # fmt: skip
    assert items[0] == Subject(
        "Introduction to Thermodynamics", "introductory",
        ("temperature and heat", "the first law", "ideal gases"),
    )  # fmt: skip
    assert items[1] == Subject(
        "Statistical Mechanics", "advanced", ("ensembles", "partition functions", "fluctuations")
    )
    assert items[5] == Subject(
        "Phase Transitions", "advanced", ("order parameters", "critical exponents")
    )
    assert items[2] == Rejection(
        "subject_malformed", {"raw": "Heat Transfer | level: intermediate"}
    )


def test_subject_lists_merge_by_name_in_request_order_up_to_the_limit():
    a = Subject("Optics", "introductory", ("lenses",))
    b = Subject("Acoustics", "advanced", ("waves",))
    a_again = Subject("optics", "advanced", ("lasers",))
    c = Subject("Relativity", "graduate", ("frames",))
    assert merge_subjects([[a, Rejection("duplicate")], [a_again, b, c]], 2) == [a, b]
    assert merge_subjects([[a], [a_again, b, c]], 10) == [a, b, c]


def test_syllabus_from_a_completion_continuation():
    items = parse_syllabus(fixture("syllabus_completion.txt"))
    assert items == [
        Session(1, "What is a market?", ("supply", "demand", "equilibrium price")),
        Session(2, "Elasticity", ("price elasticity of demand", "income elasticity",
                                  "cross elasticity")),
        Rejection("session_no_concepts", {"session": 3, "raw": "Consumer choice"}),
        Session(4, "Costs of production", ("fixed costs", "variable costs", "marginal cost")),
    ]  # fmt: skip


def test_syllabus_from_a_chat_answer_stops_at_a_skipped_session():
    items = parse_syllabus(fixture("syllabus_chat.txt"))
    assert reasons(items) == ["ok", "ok", "number_out_of_order"]
    assert items[0] == Session(
        1, "Limits and continuity",
        ("epsilon-delta definition", "one-sided limits", "continuity on intervals"),
    )  # fmt: skip


def test_syllabus_cut_at_max_tokens_loses_its_last_session():
    text = "Session 1: Sets\nConcepts: union; intersection\nSession 2: Maps\nConcepts: inj"
    assert parse_syllabus(text, truncated=True) == [
        Session(1, "Sets", ("union", "intersection")),
        Rejection("item_truncated", {"session": 2, "raw": "Maps"}),
    ]


def test_question_drops_an_answer_the_model_added():
    question = parse_question(fixture("question_completion.txt"))
    assert question == (
        "A firm's marginal cost is MC = 4 + 2q and the market price is 20. Using the idea of "
        "equilibrium price from session 1, find the profit-maximising output and explain what "
        "happens to it if demand becomes more elastic."
    )


def test_question_rejections():
    assert parse_question(fixture("question_short_chat.txt")) == Rejection(
        "question_too_short", {"raw": "Why?"}
    )
    assert parse_question("  \n") == Rejection("question_empty")
    assert parse_question("What is the derivative of x", truncated=True) == Rejection(
        "question_truncated", {"raw": "What is the derivative of x"}
    )


def test_answer_keeps_the_text_and_drops_a_restated_label():
    assert parse_answer(fixture("answer_chat.txt")) == (
        "Set price equal to marginal cost: 20 = 4 + 2q, so q = 8.\n\nIf demand becomes more "
        "elastic, a small price change causes a large change in quantity demanded, so the firm "
        "has little room to raise its price."
    )
    assert parse_answer("Answer:   ") == Rejection("answer_empty")


RECORDED = sorted(FIXTURES.glob("smollm2_*.json"))


@pytest.mark.skipif(not RECORDED, reason="no answers recorded from the bundled model")
@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_recorded_bundled_model_answers_parse_as_recorded(path: Path):
    """Each recording holds the level, the raw answer and what the parser made of it when it
    was recorded (checked by hand): the parser must still read it the same way."""
    recording = json.loads(path.read_text(encoding="utf-8"))
    parse = {
        "taxonomy": parse_names, "subjects": parse_subjects, "syllabus": parse_syllabus,
    }.get(recording["level"])  # fmt: skip
    if parse is not None:
        got = parse(recording["text"], recording["truncated"])
        assert reasons(got) == recording["expected"]
    elif recording["level"] == "questions":
        got = parse_question(recording["text"], recording["truncated"])
        assert reasons([got]) == recording["expected"]
    else:
        got = parse_answer(recording["text"], recording["truncated"])
        assert reasons([got]) == recording["expected"]


def test_a_completion_answer_that_goes_on_to_a_second_list_keeps_the_first():
    """From SmolLM2-135M on the completion API: the answer continues item 1, then the model
    starts another list at "1."; that is not a restated opening."""
    items = parse_subjects(fixture("subjects_completion_smollm2.txt"))
    assert items == [
        Subject("Mechanical Systems", "advanced", ("motion",)),
        Subject("Thermodynamics", "advanced", ("thermodynamic equilibrium", "thermodynamics")),
        Subject("Classical Mechanics", "advanced", ("thermodynamics", "thermodynamics")),
    ]


def test_a_model_that_only_counts_gives_no_names():
    """From SmolLM2-135M on the completion API (temperature 0): numbers and nothing else."""
    items = parse_names(fixture("fields_completion_smollm2.txt"), truncated=True)
    assert items == [
        Rejection("not_a_name", {"raw": "2."}),
        Rejection("number_out_of_order", {"raw": "3."}),
    ]
