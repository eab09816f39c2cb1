"""Self-Instruct on the engine over the synthetic model: files, schema, determinism, resume."""

from __future__ import annotations

import dataclasses
import json

import pytest
from answers.self_instruct import fake_instructions
from fakes import FakeBackend
from helpers import lines, run_generate

from selfinstruct.errors import UserError


def test_run_folder_files_and_schema(tmp_path):
    result, _ = run_generate(tmp_path / "run", n=12)
    out = tmp_path / "run"
    machine = lines(out / "machine_instructions.jsonl")
    assert len(machine) == 12
    first = machine[0]
    assert set(first) >= {
        "id",
        "instruction",
        "iteration",
        "request_key",
        "most_similar",
        "avg_similarity_score",
        "max_similarity",
    }
    assert len(first["most_similar"]) == 10
    assert first["most_similar"][0]["score"] == first["max_similarity"] <= 0.7
    tasks = lines(out / "tasks.jsonl")
    assert {t["id"] for t in tasks} == {m["id"] for m in machine}
    for task in tasks:
        assert set(task) == {"id", "instruction", "is_classification", "instances"}
        assert 1 <= len(task["instances"]) <= 5
    classified = {t["id"]: t["is_classification"] for t in tasks}
    for task in tasks:
        assert classified[task["id"]] == task["instruction"].startswith("Classify")
    reasons = {r["reason"] for r in lines(out / "rejected.jsonl")}
    assert {"blacklist", "too_short"} <= reasons
    settings = json.loads((out / "settings.json").read_text())
    assert settings["instruction_decoding"]["presence_penalty"] == 2.0
    assert result.summary.accepted_instructions == 12 and result.summary.status == "complete"


def test_same_seed_same_data_regardless_of_concurrency(tmp_path):
    run_generate(tmp_path / "a", n=15, concurrency=1)
    run_generate(tmp_path / "b", n=15, concurrency=16)
    a = [m["instruction"] for m in lines(tmp_path / "a" / "machine_instructions.jsonl")]
    b = [m["instruction"] for m in lines(tmp_path / "b" / "machine_instructions.jsonl")]
    assert a == b
    ta = sorted(json.dumps(t, sort_keys=True) for t in lines(tmp_path / "a" / "tasks.jsonl"))
    tb = sorted(json.dumps(t, sort_keys=True) for t in lines(tmp_path / "b" / "tasks.jsonl"))
    assert ta == tb


def test_other_seed_other_data(tmp_path):
    run_generate(tmp_path / "a", n=5, seed=1)
    run_generate(tmp_path / "b", n=5, seed=2)
    a = [m["instruction"] for m in lines(tmp_path / "a" / "machine_instructions.jsonl")]
    b = [m["instruction"] for m in lines(tmp_path / "b" / "machine_instructions.jsonl")]
    assert a != b


def test_resume_extends_without_repeating_requests_or_lines(tmp_path):
    out = tmp_path / "run"
    run_generate(out, n=6)
    _, backend = run_generate(out, n=6)
    assert backend.calls == 0  # everything came from the cache
    run_generate(out, n=14)
    run_generate(tmp_path / "straight", n=14)
    resumed = lines(out / "machine_instructions.jsonl")
    straight = lines(tmp_path / "straight" / "machine_instructions.jsonl")
    assert [m["instruction"] for m in resumed] == [m["instruction"] for m in straight]
    ids = [t["id"] for t in lines(out / "tasks.jsonl")]
    assert len(ids) == len(set(ids)) == 14


def test_resume_refuses_changed_data_settings(tmp_path):
    out = tmp_path / "run"
    run_generate(out, n=3)
    with pytest.raises(UserError, match="threshold=0.7, not 0.5"):
        run_generate(out, n=3, threshold=0.5)


def test_failures_are_recorded_not_invented(tmp_path):
    result, _ = run_generate(tmp_path / "run", n=8, backend=FakeBackend(fail_every=5))
    failures = lines(tmp_path / "run" / "failures.jsonl")
    assert failures and all(f["kind"] == "bad_request" for f in failures)
    classified_ids = {c["id"] for c in lines(tmp_path / "run" / "classification.jsonl")}
    failed_classify = {f["id"] for f in failures if f["stage"] == "classify"}
    assert not (failed_classify & classified_ids)
    assert result.summary.failures == {"bad_request": len(failures)}


def test_half_written_line_is_repaired_on_resume(tmp_path):
    out = tmp_path / "run"
    run_generate(out, n=4)
    with open(out / "tasks.jsonl", "a") as handle:
        handle.write('{"id": "task_0000')
    run_generate(out, n=5)
    for line in (out / "tasks.jsonl").read_text().splitlines():
        json.loads(line)


def shown_items(prompt: str) -> list[str]:
    """The numbered in-context instructions of a bootstrap prompt."""
    return [line.split(". ", 1)[1] for line in prompt.splitlines()[1:] if ". " in line]


@pytest.mark.parametrize("concurrency", [1, 16])
def test_from_the_third_request_every_prompt_shows_6_seeds_and_2_machine(tmp_path, concurrency):
    from selfinstruct.prompting import clean_instruction
    from selfinstruct.records import load_seed_tasks
    from selfinstruct.resources import default_seed_path

    seeds = {clean_instruction(t.instruction) for t in load_seed_tasks(default_seed_path())}
    _, model = run_generate(tmp_path / "run", n=40, concurrency=concurrency)
    machine = {
        clean_instruction(m["instruction"])
        for m in lines(tmp_path / "run" / "machine_instructions.jsonl")
    }
    prompts = [r.prompt for r in model.requests if r.stage == "instructions"]
    assert len(prompts) >= 10
    mixes = []
    for prompt in prompts:
        items = shown_items(prompt)
        assert len(items) == 8
        mixes.append((sum(i in seeds for i in items), sum(i in machine for i in items)))
    # Only the first prompts can see fewer than 2 machine instructions: the pool is empty.
    assert mixes[2:] == [(6, 2)] * (len(mixes) - 2)
    assert all(mix in ((8, 0), (6, 2)) for mix in mixes[:2])


class TenItemAnswers(FakeBackend):
    """Every bootstrap answer holds ten items (9 to 18), as a model may write before a stop."""

    async def complete(self, request, text):
        completion = await super().complete(request, text)
        if request.stage != "instructions":
            return completion
        return dataclasses.replace(completion, text=fake_instructions(text, count=10))


def first_answer_items(out) -> int:
    accepted = [m for m in lines(out / "machine_instructions.jsonl") if m["iteration"] == 0]
    rejected = [r for r in lines(out / "rejected.jsonl") if r["id"].startswith("r000000.")]
    return len(accepted) + len(rejected)


def test_every_item_of_an_answer_is_considered_by_default(tmp_path):
    # The reference keeps every item its split yields (its stop sequences end the list).
    run_generate(tmp_path / "run", n=40, backend=TenItemAnswers(), concurrency=1)
    assert first_answer_items(tmp_path / "run") == 10
    settings = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert settings["max_instructions_per_answer"] is None


def test_max_instructions_per_answer_caps_an_answer(tmp_path):
    run_generate(
        tmp_path / "run", n=40, backend=TenItemAnswers(), concurrency=1,
        max_instructions_per_answer=7,
    )  # fmt: skip
    assert first_answer_items(tmp_path / "run") == 7
