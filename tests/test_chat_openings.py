"""The chat method's openings at scale (UltraChat's sectors): World questions expanded into
related ones, Writing requests mostly rewritten with more detail, more pages when a list runs
dry, questions from user-given entities, and material joined to its requests by templates."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from helpers import lines

from selfinstruct.cli import main
from selfinstruct.methods.chat import Chat
from selfinstruct.runner import run

PROMPTS = Path(__file__).resolve().parent.parent / "prompts" / "chat"


def big_run(tmp_path: Path, n: int, **options):
    backend = FakeBackend(api="chat")
    settings = Chat.configure(backend, n=n, seed=3, concurrency=64, turns_min=1, turns_max=1,
                              **options)  # fmt: skip
    result = run(settings, backend, tmp_path / "run")
    tasks = lines(tmp_path / "run" / "tasks.jsonl")
    rejected = lines(tmp_path / "run" / "rejected.jsonl")
    return result, backend, tasks, rejected


def assert_reached(result, tasks, rejected, n: int) -> None:
    """The run kept n openings: each is a dialogue, or a dialogue lost to a refused first
    reply (the fake refuses one reply in 25)."""
    assert result.stop.value == "complete", result.summary.stop_reason
    assert result.summary.accepted_instructions == n
    lost = [r for r in rejected if r["stage"] == "dialogue"]
    assert len(tasks) + len(lost) == n
    assert len(tasks) > 0.9 * n


def test_writing_reaches_a_thousand_openings_with_more_pages(tmp_path):
    """20 types of writing x one list each stopped at 160 openings; pages of requests go on,
    each page shown the requests already listed."""
    result, backend, tasks, rejected = big_run(tmp_path, 1000, sources=("writing",))
    assert_reached(result, tasks, rejected, 1000)
    pages = Counter(t["origin"]["page"] for t in tasks)
    assert pages[0] and pages[1] and pages[2]
    lists = [r for r in backend.requests if r.stage == "writing"]
    later = [r for r in lists if "already listed" in r.prompt]
    assert later and len(later) < len(lists)
    first_pages = {r.prompt for r in lists if "already listed" not in r.prompt}
    assert len(first_pages) == 20  # one first page per type of writing
    # A second page shows the first page's requests.
    page_one = [t for t in tasks if t["origin"]["page"] == 0]
    shown = "\n".join(r.prompt for r in later)
    assert sum(
        t["origin"].get("detailed_from", t["instruction"]) in shown for t in page_one
    ) > 0.9 * len(page_one)


def test_world_reaches_five_thousand_openings_with_related_questions(tmp_path):
    """30 meta-topics x 15 subtopics x 8 questions stopped at 3,600 candidates; each question
    now brings related questions, and more pages of subtopics follow."""
    result, backend, tasks, rejected = big_run(tmp_path, 5000, sources=("world",))
    assert_reached(result, tasks, rejected, 5000)
    related = [t for t in tasks if "related_to" in t["origin"]]
    assert related
    prompts = {r.prompt for r in backend.requests if r.stage == "related"}
    for task in related[:50]:
        assert any(task["origin"]["related_to"] in p for p in prompts)
    questions = {t["instruction"] for t in tasks if "related_to" not in t["origin"]}
    # Related to questions that were candidates themselves (kept, or dropped by the gate or
    # with their dialogue).
    assert {t["origin"]["related_to"] for t in related} <= questions | {r["text"] for r in rejected}


def test_most_writing_requests_are_rewritten_with_more_detail(tmp_path):
    result, backend, tasks, rejected = big_run(tmp_path, 200, sources=("writing",))
    assert_reached(result, tasks, rejected, 200)
    detailed = [t for t in tasks if "detailed_from" in t["origin"]]
    assert 0.7 < len(detailed) / len(tasks) < 0.9  # the paper's 80%
    rewrites = [r for r in backend.requests if r.stage == "detail"]
    for task in detailed:
        original = task["origin"]["detailed_from"]
        assert task["instruction"] != original
        assert any(f"Request: {original}\n" in r.prompt for r in rewrites)


def test_entities_give_meta_specific_and_general_questions(tmp_path):
    entities = tmp_path / "entities.txt"
    entities.write_text("Marie Curie\nDanube\n\nEiffel Tower\nDanube\n")
    result, backend, tasks, rejected = big_run(tmp_path, 150, entities=entities,
                                               sources=("entities",))  # fmt: skip
    assert_reached(result, tasks, rejected, 150)
    kinds = Counter(t["origin"]["kind"] for t in tasks)
    assert set(kinds) == {"meta", "specific", "general"}
    assert {t["origin"]["entity"] for t in tasks} == {"Marie Curie", "Danube", "Eiffel Tower"}
    meta = [r.prompt for r in backend.requests if r.stage == "entity"]
    assert len(meta) == 3 and all("Write 5 broad questions" in p for p in meta)
    for task in tasks:
        if task["origin"]["kind"] != "meta":
            stage = task["origin"]["kind"]
            assert any(task["origin"]["meta_question"] in r.prompt
                       and task["origin"]["entity"] in r.prompt
                       for r in backend.requests if r.stage == stage)  # fmt: skip


def test_entities_source_needs_its_file(tmp_path):
    result = CliRunner().invoke(main, ["chat", "--source", "entities", "--model", "m",
                                       "--base-url", "http://127.0.0.1:9/v1",
                                       "--out", str(tmp_path / "x")])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == "Error: source 'entities' needs --entities FILE"
    assert not (tmp_path / "x").exists()


def material_templates() -> list[str]:
    text = (PROMPTS / "material_templates.txt").read_text(encoding="utf-8")
    return text.rstrip("\n").split("\n---\n")


def test_material_templates_are_several_and_complete():
    templates = material_templates()
    assert len(templates) >= 5
    for template in templates:
        assert template.count("{passage}") == 1 and template.count("{request}") == 1
        assert template.format(passage="P", request="R")


def test_material_openings_join_passage_and_request_by_templates(tmp_path):
    material = tmp_path / "notes.txt"
    material.write_text("\n\n".join(f"Paragraph {p} about harbours and tides. " * 12
                                    for p in range(8)))  # fmt: skip
    result, backend, tasks, rejected = big_run(tmp_path, 12, material=material, passage_words=40,
                                               sources=("material",))  # fmt: skip
    assert_reached(result, tasks, rejected, 12)
    templates = material_templates()
    used = Counter(t["origin"]["template"] for t in tasks)
    assert len(used) >= 3
    lists = {r.prompt: r for r in backend.requests if r.stage == "material"}
    for task in tasks:
        template = templates[task["origin"]["template"] - 1]
        head, _, tail = template.partition("{passage}")
        assert task["instruction"].startswith(head.split("{request}")[0])
        assert "Paragraph" in task["instruction"]
    assert len(lists) <= 8


@pytest.mark.parametrize("source", ["world", "writing"])
def test_openings_do_not_depend_on_concurrency(tmp_path, source):
    def data(concurrency: int, where: str) -> list[str]:
        backend = FakeBackend(api="chat")
        settings = Chat.configure(backend, n=40, seed=4, concurrency=concurrency,
                                  turns_min=1, turns_max=1, sources=(source,))  # fmt: skip
        run(settings, backend, tmp_path / where)
        return [json.dumps(t) for t in lines(tmp_path / where / "tasks.jsonl")]

    assert data(1, "one") == data(16, "many")
