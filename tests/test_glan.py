"""GLAN on the run engine: question sampling, decontamination, taxonomy files, the answer-model
router, levels and --until, and the command end to end against the stub server."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from helpers import lines
from stub_server import StubServer

from selfinstruct.backends.base import BackendError, Completion, Decoding, Request
from selfinstruct.backends.routing import RoutingBackend, with_answer_model
from selfinstruct.cli import main
from selfinstruct.errors import UserError
from selfinstruct.export import BASE_FORMATS, PREFERENCE_FORMATS
from selfinstruct.methods.glan.inputs import Decontaminator, load_benchmark, load_taxonomy, ngrams
from selfinstruct.methods.glan.method import pick_focus
from selfinstruct.methods.glan.parse import Session
from selfinstruct.methods.glan.settings import GlanSettings
from selfinstruct.runner import run

SESSIONS = [
    Session(1, "Markets", ("supply", "demand", "equilibrium")),
    Session(2, "Elasticity", ("price elasticity", "income elasticity")),
    Session(3, "Costs", ("fixed cost", "marginal cost", "sunk cost", "average cost")),
]


# ---------------------------------------------------------------- one/two-session sampling


def test_two_session_share_is_honoured_and_each_session_gives_a_concept():
    picks = [pick_focus(SESSIONS, random.Random(f"0:q:{k}"), 0.3, 3) for k in range(2000)]
    kinds = Counter(p.kind for p in picks)
    assert 0.27 < kinds["two_sessions"] / 2000 < 0.33
    for pick in picks:
        assert 1 <= len(pick.concepts) <= 3
        assert len(set(pick.concepts)) == len(pick.concepts)
        for session in pick.sessions:  # every chosen session contributes a concept
            assert set(pick.concepts) & set(session.concepts)
        owned = {c for s in pick.sessions for c in s.concepts}
        assert set(pick.concepts) <= owned  # and nothing comes from another session
        if pick.kind == "two_sessions":
            assert pick.sessions[0].number < pick.sessions[1].number
            assert len(pick.concepts) >= 2


def test_share_zero_gives_basic_questions_only_and_one_gives_two_sessions_only():
    rng = random.Random(1)
    assert {pick_focus(SESSIONS, rng, 0.0, 3).kind for _ in range(200)} == {"one_session"}
    assert {pick_focus(SESSIONS, rng, 1.0, 3).kind for _ in range(200)} == {"two_sessions"}
    # A syllabus of one session can only give basic questions.
    assert pick_focus(SESSIONS[:1], rng, 1.0, 3).kind == "one_session"


def test_a_two_session_question_has_two_concepts_even_when_max_concepts_is_one():
    pick = pick_focus(SESSIONS, random.Random(3), 1.0, 1)
    assert len(pick.concepts) == 2


def test_sampling_is_a_function_of_the_seed_string():
    """Question k's focus comes from its own seed string alone (so a resumed run asks the same
    questions): not from the global random state, and not the same for every string."""

    def pick(seed: str) -> tuple:
        chosen = pick_focus(SESSIONS, random.Random(seed), 0.5, 3)
        return tuple(s.number for s in chosen.sessions), chosen.concepts

    random.seed(1)
    first = pick("7:glan-question:x.q01")
    random.seed(2)
    assert (
        pick("7:glan-question:x.q01") == first == ((2,), ("income elasticity", "price elasticity"))
    )
    assert pick("8:glan-question:x.q01") == ((1, 2), ("equilibrium", "price elasticity"))
    assert pick("7:glan-question:x.q02") == ((1,), ("supply", "demand"))
    assert len({pick(f"7:glan-question:x.q{k:02d}") for k in range(20)}) > 10


# ---------------------------------------------------------------- decontamination


BENCH = [
    "A train leaves the station at 60 km/h and another follows at 80 km/h. When does the "
    "second train catch up?",
    "What is the capital of Australia?",
]


def test_overlap_is_the_share_of_the_question_ngrams_found_in_one_item():
    d = Decontaminator(BENCH, n=3, threshold=0.5)
    question = "A train leaves the station at 60 km/h; explain what friction does to it today."
    grams = ngrams(question, 3)
    shared = grams & ngrams(BENCH[0], 3)
    score, item = d.overlap(question)
    assert item == 0 and score == len(shared) / len(grams)
    assert len(shared) == 7 and len(grams) == 14  # exactly at 0.5


def test_threshold_is_inclusive_and_below_it_the_question_stays():
    question = "A train leaves the station at 60 km/h; explain what friction does to it today."
    assert Decontaminator(BENCH, n=3, threshold=0.5).contaminated(question) == (0.5, 0)
    assert Decontaminator(BENCH, n=3, threshold=0.51).contaminated(question) is None
    # Texts shorter than n words are one n-gram of all their words: compared whole.
    short = Decontaminator(BENCH, n=8, threshold=1.0)
    assert short.contaminated("What is the capital of Australia") == (1.0, 1)
    assert short.contaminated("Name the capital of Australia") is None


def test_benchmark_files(tmp_path: Path):
    jsonl = tmp_path / "bench.jsonl"
    jsonl.write_text('{"question": "Q one"}\n{"prompt": "Q two", "answer": "x"}\n')
    assert load_benchmark(jsonl) == ["Q one", "Q two"]
    txt = tmp_path / "bench.txt"
    txt.write_text("first item\n\nsecond item\n")
    assert load_benchmark(txt) == ["first item", "second item"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"answer": "no text"}\n')
    with pytest.raises(UserError) as error:
        load_benchmark(bad)
    assert str(error.value) == (
        f"{bad}:2: no text field; expected one of question, instruction, prompt, problem, "
        "input, text"
    )


# ---------------------------------------------------------------- taxonomy files

YAML = """\
Natural Sciences:
  Physics:
    - Classical Mechanics
    - Optics
  Chemistry:
    - Organic Chemistry
Humanities:
  Philosophy:
    - Ethics
"""


def test_yaml_and_jsonl_taxonomies_give_the_same_ids(tmp_path: Path):
    yaml_file = tmp_path / "t.yaml"
    yaml_file.write_text(YAML)
    from_yaml = load_taxonomy(yaml_file)
    assert [(d.id, d.discipline) for d in from_yaml] == [
        ("f01.s01.d01", "Classical Mechanics"), ("f01.s01.d02", "Optics"),
        ("f01.s02.d01", "Organic Chemistry"), ("f02.s01.d01", "Ethics"),
    ]  # fmt: skip
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(
        json.dumps({"id": "ignored", "field": d.field, "sub_field": d.sub_field,
                    "discipline": d.discipline}) + "\n"
        for d in from_yaml
    ))  # fmt: skip
    assert load_taxonomy(jsonl) == from_yaml


def test_taxonomy_file_errors_name_the_file_and_line(tmp_path: Path):
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"field": "A", "sub_field": "B", "discipline": "C"}\n{"field": "A"}\n')
    with pytest.raises(UserError) as error:
        load_taxonomy(bad)
    assert str(error.value) == f"{bad}:2: 'sub_field' must be a non-empty string"
    listless = tmp_path / "t.yaml"
    listless.write_text("Sciences:\n  Physics: Optics\n")
    with pytest.raises(UserError) as error:
        load_taxonomy(listless)
    assert str(error.value) == f"{listless}: sub-field 'Physics' must hold a list of disciplines"
    other = tmp_path / "t.csv"
    other.write_text("a,b,c\n")
    with pytest.raises(UserError) as error:
        load_taxonomy(other)
    assert str(error.value) == (
        f"{other}: a taxonomy file must end in .jsonl, .json, .yaml, .yml or .txt"
    )


TEXT_TAXONOMY = """# field, then its sub-fields two spaces in, then their disciplines four spaces in
Natural Sciences
  Physics
    Classical Mechanics
    Optics

  Chemistry
\t\tOrganic Chemistry
Humanities
\tPhilosophy
\t\tEthics
"""


def test_an_indented_text_taxonomy_reads_like_the_yaml_one(tmp_path: Path):
    yaml_file = tmp_path / "t.yaml"
    yaml_file.write_text(YAML)
    text = tmp_path / "t.txt"
    text.write_text(TEXT_TAXONOMY)
    assert load_taxonomy(text) == load_taxonomy(yaml_file)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("  Physics\n    Optics\n", "1: 'Physics' is indented, but a taxonomy starts with a "
         "field at the left margin"),
        ("Sciences\n    Optics\n", "2: 'Optics' is indented 2 levels below 'Sciences'; one "
         "level per line at most (two spaces or a tab)"),
        ("Sciences\n   Physics\n", "2: indented by 3 spaces; indent by two spaces (or one "
         "tab) per level"),
        ("Sciences\n \tPhysics\n", "2: indented with both spaces and tabs; use one or the "
         "other"),
        ("Sciences\n  Physics\n    Optics\n      Lenses\n", "4: 'Lenses' is at level 4; a "
         "taxonomy has three: field, sub-field, discipline"),
        ("Sciences\n  Physics\nArts\n  Music\n    Harmony\n", "2: sub-field 'Physics' has "
         "no disciplines"),
        ("Sciences\nArts\n  Music\n    Harmony\n", "1: field 'Sciences' has no sub-fields"),
        ("# nothing\n\n", "the taxonomy holds no disciplines"),
    ],
)  # fmt: skip
def test_indented_text_errors_name_the_line(tmp_path: Path, content: str, message: str):
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(UserError) as error:
        load_taxonomy(path)
    separator = ":" if message[0].isdigit() else ": "
    assert str(error.value) == f"{path}{separator}{message}"


# ---------------------------------------------------------------- the answer model


def test_router_sends_answers_to_the_answer_model_only():
    import asyncio

    main_model, answers = FakeBackend(), FakeBackend()
    answers.model = "cheap"
    router = RoutingBackend(main_model, answers)
    decoding = Decoding(max_tokens=5, temperature=0.0, top_p=1.0)
    asyncio.run(router.complete(Request("questions", "q", decoding), "q"))
    asyncio.run(router.complete(Request("answers", "a", decoding), "a"))
    assert [r.stage for r in main_model.requests] == ["questions"]
    assert [r.stage for r in answers.requests] == ["answers"]
    assert router.identity()["answer_model"] == "cheap"
    assert with_answer_model(main_model, None, None, 10) is main_model
    with pytest.raises(UserError) as error:
        with_answer_model(main_model, "cheap", None, 10)
    assert str(error.value) == (
        "--answer-model names a second model on the same server: it needs --model "
        "(and --base-url for a self-hosted server), not the bundled model"
    )


def test_answer_model_on_the_same_server_answers_the_questions(tmp_path: Path):
    with StubServer(delay=0.0) as stub:
        out = tmp_path / "run"
        result = CliRunner().invoke(main, [
            "glan", "--base-url", stub.base_url, "--model", "stub", "--answer-model", "small",
            "--disciplines", "1", "--subjects", "1", "--questions", "2", "--out", str(out), "-q",
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
    tasks = lines(out / "tasks.jsonl")
    assert tasks and {t["answer_model"] for t in tasks} == {"small"}
    assert json.loads((out / "settings.json").read_text())["answer_model"] == "small"


# ---------------------------------------------------------------- levels on the engine


def settings(**values) -> GlanSettings:
    base = {"n": 24, "model": "fake-model", "api": "completion", "concurrency": 4}
    return GlanSettings(**{**base, **values})


def folder_data(out: Path) -> dict[str, list[str]]:
    names = ("taxonomy", "subjects", "syllabi", "questions", "tasks", "rejected")
    return {n: sorted(json.dumps(r, sort_keys=True) for r in lines(out / f"{n}.jsonl"))
            for n in names}  # fmt: skip


def test_each_record_keeps_its_path_and_tasks_have_task_shape(tmp_path: Path):
    result = run(settings(), FakeBackend(), tmp_path / "run")
    assert result.stop.value == "complete"
    tasks = lines(tmp_path / "run" / "tasks.jsonl")
    assert len(tasks) == result.summary.tasks > 0
    taxonomy = {t["id"]: t for t in lines(tmp_path / "run" / "taxonomy.jsonl")}
    assert len(taxonomy) == 3
    for task in tasks:
        assert task["id"].startswith(task["discipline_id"] + ".c")
        node = taxonomy[task["discipline_id"]]
        assert (task["field"], task["sub_field"], task["discipline"]) == (
            node["field"], node["sub_field"], node["discipline"],
        )  # fmt: skip
        assert task["subject"] and task["level"] and task["concepts"]
        assert len(task["sessions"]) == (2 if task["question_kind"] == "two_sessions" else 1)
        assert task["instances"][0]["input"] == "" and task["instances"][0]["output"]
    assert {t["question_kind"] for t in tasks} == {"one_session", "two_sessions"}


def test_until_each_level_then_extend_equals_a_straight_run(tmp_path: Path):
    straight = tmp_path / "straight"
    run(settings(), FakeBackend(), straight)
    staged = tmp_path / "staged"
    seen = []
    for level in ("taxonomy", "subjects", "syllabus", "questions", "answers"):
        backend = FakeBackend()
        run(settings(until=level), backend, staged)
        seen.append((level, sorted({r.stage for r in backend.requests})))
        if level == "taxonomy":
            assert not (staged / "subjects.jsonl").exists()
    # Each session asks only for the new level; the earlier ones come from the cache.
    assert seen == [
        ("taxonomy", ["taxonomy"]), ("subjects", ["subjects"]), ("syllabus", ["syllabus"]),
        ("questions", ["questions"]), ("answers", ["answers"]),
    ]  # fmt: skip
    assert folder_data(staged) == folder_data(straight)


def test_more_questions_later_extends_exactly(tmp_path: Path):
    straight = tmp_path / "straight"
    run(settings(questions=6), FakeBackend(), straight)
    grown = tmp_path / "grown"
    run(settings(questions=3), FakeBackend(), grown)
    run(settings(questions=6), FakeBackend(), grown)
    assert folder_data(grown) == folder_data(straight)


def test_a_taxonomy_file_replaces_the_model_taxonomy(tmp_path: Path):
    yaml_file = tmp_path / "t.yaml"
    yaml_file.write_text(YAML)
    backend = FakeBackend()
    run(settings(taxonomy_path=str(yaml_file), disciplines=2), backend, tmp_path / "run")
    assert "taxonomy" not in {r.stage for r in backend.requests}
    rows = lines(tmp_path / "run" / "taxonomy.jsonl")
    assert [(r["discipline"], r["source"]) for r in rows] == [
        ("Classical Mechanics", "file"), ("Optics", "file"),
    ]  # fmt: skip
    subjects_prompts = [r.prompt for r in backend.requests if r.stage == "subjects"]
    assert any('"Optics" (field: Natural Sciences; sub-field: Physics)' in p
               for p in subjects_prompts)  # fmt: skip


def test_decontamination_drops_and_counts(tmp_path: Path):
    clean = tmp_path / "clean"
    run(settings(), FakeBackend(), clean)
    questions = [q["question"] for q in lines(clean / "questions.jsonl")]
    bench = tmp_path / "bench.txt"
    bench.write_text(questions[0] + "\n" + questions[3].upper() + "\n")
    out = tmp_path / "run"
    result = run(settings(decontaminate_path=str(bench)), FakeBackend(), out)
    dropped = [r for r in lines(out / "rejected.jsonl") if r["reason"] == "contaminated"]
    assert sorted(r["text"] for r in dropped) == sorted([questions[0], questions[3]])
    assert result.summary.rejected["question:contaminated"] == 2
    assert {r["overlap"] for r in dropped} == {1.0}


# ---------------------------------------------------------------- the command


def test_command_end_to_end_against_the_stub_then_export_and_stats(tmp_path: Path):
    out = tmp_path / "glan1"
    with StubServer(delay=0.0) as stub:
        command = [sys.executable, "-m", "selfinstruct", "glan", "--base-url", stub.base_url,
                   "--model", "stub", "--disciplines", "3", "--subjects", "2", "--questions",
                   "4", "--out", str(out), "--quiet"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["method"] == "glan"
    assert summary["target"] == 24 and summary["tasks"] == len(lines(out / "tasks.jsonl")) > 12
    assert set(summary["usage"]) == {"taxonomy", "subjects", "syllabus", "questions", "answers"}
    runner = CliRunner()
    # The pair formats need scored candidates (respond --compare); the containers are folders.
    for fmt in [f for f in BASE_FORMATS if f not in PREFERENCE_FORMATS]:
        target = tmp_path / f"train.{fmt}.jsonl"
        result = runner.invoke(main, ["export", str(out), "--format", fmt, "-o", str(target)])
        assert result.exit_code == 0, result.output
        assert target.stat().st_size > 0
    result = runner.invoke(main, ["stats", str(out), "--no-verbs", "--json"])
    assert result.exit_code == 0, result.output
    coverage = json.loads(result.output[result.output.index("{") :])["glan"]
    assert sum(f["disciplines"] for f in coverage["fields"].values()) == 3
    assert sum(d["tasks"] for d in coverage["disciplines"]) == summary["tasks"]
    assert all(d["subjects"] == 2 for d in coverage["disciplines"])


def test_bad_inputs_are_one_line_errors(tmp_path: Path):
    runner = CliRunner()
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(main, ["glan", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                                  "--taxonomy", str(missing), "--out", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {missing}: no such taxonomy file"
    assert not (tmp_path / "o").exists()
    result = runner.invoke(main, ["glan", "--answer-model", "x", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "--answer-model names a second model on the same server" in result.output


def test_level_decoding_overrides():
    from selfinstruct.methods.glan import Glan

    def parse(*items: str):
        return Glan.decodings(FakeBackend(), {}, items)

    got = parse("answers.max_tokens=200", "subjects.temperature=0.5")
    assert got["answer_decoding"].max_tokens == 200
    assert got["answer_decoding"].top_p == 0.95  # the rest stays the paper's
    assert got["subject_decoding"].temperature == 0.5
    with pytest.raises(UserError) as error:
        parse("instructions.top_p=0.5")
    assert str(error.value) == (
        "--decoding 'instructions.top_p=0.5': stage must be one of taxonomy, subjects, "
        "syllabus, questions, answers"
    )
    with pytest.raises(UserError) as error:
        parse("answers.top_p=2")
    assert str(error.value) == "--decoding 'answers.top_p=2': top_p must be between 0 and 1"


def test_prompts_end_on_the_opening_of_the_answer_not_a_new_line(tmp_path: Path):
    """After "1." and a line break, the bundled model on the completion API only counts
    ("2.", "3.", ...: tests/fixtures/glan/smollm2_taxonomy_3.json); ending on "1." itself, it
    writes names. Every level's prompt ends on the opening its parser expects."""
    backend = FakeBackend()
    run(settings(), backend, tmp_path / "run")
    endings = {
        "taxonomy": "1.", "subjects": "1.", "syllabus": "Session 1:", "questions": "Question:",
        "answers": "Answer:",
    }  # fmt: skip
    assert {r.stage for r in backend.requests} == set(endings)
    for request in backend.requests:
        assert request.prompt.endswith(endings[request.stage]), request.prompt[-40:]


class Refusing(FakeBackend):
    """Refuses the requests whose prompt holds ``words`` (a 400: no retry helps)."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words

    async def complete(self, request: Request, text: str) -> Completion:
        if self.words in text:
            raise BackendError("bad_request", "injected")
        return await super().complete(request, text)


@pytest.mark.parametrize(
    ("stage", "words"),
    [("taxonomy", "Taxonomy of human knowledge: fields."),
     ("subjects", "Curriculum planning: the subjects of a programme.")],
)  # fmt: skip
def test_a_level_lost_to_failed_requests_names_failures_jsonl(tmp_path: Path, stage, words):
    out = tmp_path / "run"
    result = run(settings(), Refusing(words), out)
    reason = f"no {stage}: the requests failed (see failures.jsonl)"
    assert (result.stop.value, result.summary.stop_reason) == ("failed", reason)
    assert {f["stage"] for f in lines(out / "failures.jsonl")} == {stage}
    rejected = lines(out / "rejected.jsonl") if (out / "rejected.jsonl").exists() else []
    assert stage not in {r["stage"] for r in rejected}


def test_a_server_that_is_not_there_is_named_not_the_taxonomy(tmp_path: Path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    result = CliRunner().invoke(main, ["glan", "--base-url", url, "--model", "stub", "--out",
                                       str(tmp_path / "g"), "--quiet", "--max-retries", "1"])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: cannot reach {url}: is the server running? (check --base-url)"
    )
