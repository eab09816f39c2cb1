"""`evolve` (Evol-Instruct) on the engine, with the in-process fake model."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from conftest import anchor
from fakes import FakeBackend
from helpers import lines

from selfinstruct.backends.base import BackendError, Completion, Request
from selfinstruct.errors import UserError
from selfinstruct.methods.evolve import Evolve
from selfinstruct.methods.evolve.method import load_roots
from selfinstruct.runner import run
from selfinstruct.stats import compute_stats, render_table

RULES = {
    "apology", "empty_evolution", "judgement_unparseable", "no_information_gain", "prompt_leak",
    "stop_words_only",
}  # fmt: skip


def alpaca_input(tmp_path: Path, n: int = 30) -> Path:
    path = tmp_path / "in.jsonl"
    rows = [
        {"instruction": f"Describe the {w} in three sentences.", "input": "", "output": f"A {w}."}
        for w in ("river", "forest", "harbor", "glacier", "bakery", "museum", "orchard")
    ]
    rows.append({"instruction": "Sort these numbers.", "input": "3, 1, 2", "output": "1, 2, 3"})
    rows += [
        {"instruction": f"Name {k} uses of a {w}.", "output": "Many."}
        for k in range(2, 14)
        for w in ("brick", "rope")
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:n]), encoding="utf-8")
    return path


def evolve(
    tmp_path: Path, source: Path, backend: FakeBackend | None = None, out: str = "out", **options
):
    backend = backend or FakeBackend()
    settings = Evolve.configure(backend, seeds_path=source, **options)
    return run(settings, backend, tmp_path / out), backend


def test_every_record_keeps_its_lineage_and_stats_count_rounds(tmp_path):
    result, backend = evolve(tmp_path, alpaca_input(tmp_path), rounds=2, seed=3)
    out = tmp_path / "out"
    tasks = {t["id"]: t for t in lines(out / "tasks.jsonl")}
    evolutions = lines(out / "evolutions.jsonl")
    assert len(evolutions) == 30 * 2  # every lineage evolved once per round
    roots = [t for t in tasks.values() if t["round"] == 0]
    assert len(roots) == 30 and roots[7]["instances"] == [{"input": "3, 1, 2", "output": "1, 2, 3"}]
    passed = [e for e in evolutions if e["outcome"] == "passed"]
    assert 0 < len(passed) < 60
    for record in passed:
        task = tasks[record["id"]]
        assert task["root_id"] == record["root_id"] and task["round"] == record["round"]
        assert task["parent_id"] in tasks  # the parent is the root or a passed evolution
        assert tasks[task["parent_id"]]["root_id"] == task["root_id"]
        assert task["instances"][0]["input"] == "" and task["instances"][0]["output"]
    # A round-2 evolution's parent is its lineage's latest passed instruction.
    for task in tasks.values():
        if task["round"] == 2:
            earlier = tasks.get(f"{task['root_id']}.r1")
            assert task["parent_id"] == (earlier["id"] if earlier else task["root_id"])
    rejected = lines(out / "rejected.jsonl")
    assert {r["reason"] for r in rejected} == RULES  # the stub exercises every rule
    assert all(r["stage"] == "evolve" and r["operation"] and r["round"] for r in rejected)
    summary = result.summary
    assert summary.accepted_instructions == len(passed) and summary.tasks == 30 + len(passed)
    assert set(summary.usage) == {"evolve", "respond", "judge"}
    # A leak is caught before a response is paid for; an apology before the equality check.
    assert summary.usage["respond"].requests < summary.usage["evolve"].requests
    assert summary.usage["judge"].requests < summary.usage["respond"].requests

    stats = compute_stats(out, verbs=False).summary
    report = stats["evolve"]
    assert set(report["rounds"]) == {"1", "2"}
    assert sum(r["passed"] for r in report["rounds"].values()) == len(passed)
    assert sum(r["evolved"] for r in report["operations"].values()) == 60
    eliminated = report["total"]["eliminated"]
    assert sum(eliminated.values()) == len(rejected)
    assert report["total"]["words_after"] > report["total"]["words_before"]
    table = render_table(stats)
    assert "Evolution (per round, per operation)" in table and "round 2" in table


def test_operation_draw_is_seeded_and_operations_choose_the_mix(tmp_path):
    source = alpaca_input(tmp_path, 12)
    evolve(tmp_path, source, rounds=1, seed=5, out="a")
    evolve(tmp_path, source, rounds=1, seed=5, out="b", concurrency=1)
    a, b = (lines(tmp_path / name / "evolutions.jsonl") for name in ("a", "b"))
    assert a == b  # concurrency changes nothing
    assert len({e["operation"] for e in a}) > 2
    expected = [random.Random(f"5:evolve:1:i{k:06d}") for k in range(1, 13)]
    assert [e["operation"] for e in a] == [
        rng.choice(("constraints", "deepen", "concretize", "reasoning", "complicate-input",
                    "breadth")) for rng in expected
    ]  # fmt: skip
    _, backend = evolve(tmp_path, source, rounds=1, out="c", operations=("breadth",))
    evolve_prompts = [r.prompt for r in backend.requests if r.stage == "evolve"]
    assert len(evolve_prompts) == 12
    assert all(
        p.startswith("Your job is to invent a brand-new instruction") for p in evolve_prompts
    )
    assert {e["operation"] for e in lines(tmp_path / "c" / "evolutions.jsonl")} == {"breadth"}


class JudgeOnce(FakeBackend):
    """Says "Equal" the first time it judges a given parent, "Not Equal" afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.judged: set[str] = set()
        self.rewrites: dict[str, int] = {}

    async def complete(self, request: Request, text: str) -> Completion:
        self.requests.append(request)
        if request.stage == "judge":
            parent = text.split("First instruction:\n", 1)[1].split("\n\nSecond", 1)[0]
            label = "Not Equal" if parent in self.judged else "Equal"
            self.judged.add(parent)
            return Completion(text=" " + label, finish_reason="stop")
        if request.stage == "respond":
            return Completion(text=" The answer, in full: forty two.", finish_reason="stop")
        if request.stage == "evolve":
            source = text.split("#Source Instruction#:\n", 1)[1].split("\n\n#Evolved", 1)[0]
            self.rewrites[source] = count = self.rewrites.get(source, 1) + 1
            return Completion(text=f" {source} Give {count} reasons.", finish_reason="stop")
        return await super().complete(request, text)


def test_a_failed_evolution_is_evolved_again_next_round_from_its_parent(tmp_path):
    source = alpaca_input(tmp_path, 3)
    _, backend = evolve(tmp_path, source, JudgeOnce(), rounds=2)
    out = tmp_path / "out"
    rejected = {r["id"]: r for r in lines(out / "rejected.jsonl")}
    assert set(rejected) == {"i000001.r1", "i000002.r1", "i000003.r1"}
    assert {r["reason"] for r in rejected.values()} == {"no_information_gain"}
    assert rejected["i000001.r1"]["parent_id"] == "i000001"
    tasks = {t["id"]: t for t in lines(out / "tasks.jsonl")}
    second = tasks["i000001.r2"]
    root = "Describe the river in three sentences."
    assert second["parent_id"] == "i000001" and second["round"] == 2
    assert second["instruction"] == f"{root} Give 3 reasons."
    # Round 2 showed the model the parent again, not the eliminated rewrite.
    evolve_prompts = [r.prompt for r in backend.requests if r.stage == "evolve"]
    assert sum(f"#Source Instruction#:\n{root}\n\n" in p for p in evolve_prompts) == 2


class FailFirstEvolve(FakeBackend):
    """The evolve request of the given root fails for good (a 400), once."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root
        self.failed = False

    async def complete(self, request: Request, text: str) -> Completion:
        mine = request.stage == "evolve" and f"#Source Instruction#:\n{self.root}\n" in text
        if mine and not self.failed:
            self.failed = True
            raise BackendError("bad_request", "injected")
        return await super().complete(request, text)


def test_a_failed_request_is_replayed_as_failed_on_resume(tmp_path):
    source = alpaca_input(tmp_path, 4)
    root = "Describe the forest in three sentences."
    result, _ = evolve(tmp_path, source, FailFirstEvolve(root), rounds=2, seed=1)
    out = tmp_path / "out"
    first = (out / "evolutions.jsonl").read_text()
    assert result.summary.failures == {"bad_request": 1}
    failed = [e for e in lines(out / "evolutions.jsonl") if e["outcome"] == "failed"]
    assert [e["id"] for e in failed] == ["i000002.r1"]
    second = [e for e in lines(out / "evolutions.jsonl") if e["id"] == "i000002.r2"]
    assert second[0]["parent_id"] == "i000002"  # round 2 evolved the root again
    # Resumed with a healthy model: the failure stands, nothing is asked again.
    _, backend = evolve(tmp_path, source, rounds=2, seed=1)
    assert backend.requests == []
    assert (out / "evolutions.jsonl").read_text() == first


class SamePicnic(FakeBackend):
    """Rewrites every instruction into the same picnic plan, never "Equal"."""

    async def complete(self, request: Request, text: str) -> Completion:
        self.requests.append(request)
        answer = {
            "evolve": " Plan a quiet picnic by the lake for ten friends.",
            "respond": " Bring bread, fruit, water and a blanket; leave no litter behind.",
            "judge": " Not Equal",
        }[request.stage]
        return Completion(text=answer, finish_reason="stop")


def test_novelty_gate_drops_near_copies_of_other_lineages(tmp_path):
    path = tmp_path / "two.jsonl"
    rows = [{"instruction": "Describe the river in three sentences."},
            {"instruction": "Name two uses of a rope."}]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    evolve(tmp_path, path, SamePicnic(), rounds=2, novelty=True, out="gated")
    rejected = lines(tmp_path / "gated" / "rejected.jsonl")
    # The second lineage copies the first one's rewrite; the first lineage may resemble itself.
    assert [(r["id"], r["reason"]) for r in rejected] == [
        ("i000002.r1", "rouge_similar"), ("i000002.r2", "rouge_similar"),
    ]  # fmt: skip
    assert rejected[0]["max_score"] == 1.0
    assert [t["id"] for t in lines(tmp_path / "gated" / "tasks.jsonl")] == [
        "i000001.r1", "i000001.r2",
    ]  # fmt: skip
    evolve(tmp_path, path, SamePicnic(), rounds=2, out="ungated")
    assert not lines(tmp_path / "ungated" / "rejected.jsonl")  # off by default, as in the paper


def test_alpaca_json_array_roots_carry_their_input():
    """Alpaca's JSON array: an instruction is evolved with its input."""
    alpaca = load_roots(anchor("alpaca_data_5000.json"), 2)
    assert alpaca[0].text.startswith("Are the two sentences below grammatically correct?")
    assert alpaca[0].text.endswith("Sentence 2: I goes to the store.")


def test_plain_instructions_run_folders_and_bad_input(tmp_path):
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"instruction": "Name a river."}\n{"instruction": "Name a lake."}\n')
    roots = load_roots(plain)
    assert [r.text for r in roots] == ["Name a river.", "Name a lake."]
    assert roots[0].task is None  # nothing to keep as round 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "Name a river."}\n{"text": "hello"}\n')
    with pytest.raises(UserError) as error:
        load_roots(bad)
    assert str(error.value) == f"{bad}:2: expected a non-empty 'instruction' string"
    with pytest.raises(UserError) as error:
        load_roots(tmp_path / "none.jsonl")
    assert "none.jsonl" in str(error.value)


def test_stats_of_a_run_from_bare_instructions_compare_with_its_inputs(tmp_path):
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"instruction": "Name a river."}\n{"instruction": "Name a lake in Peru."}\n')
    evolve(tmp_path, plain, rounds=1)
    summary = compute_stats(tmp_path / "out", verbs=False).summary
    assert summary["rouge_l_to_seed"]["seeds"] == str(plain)
    assert summary["rouge_l_to_seed"]["n_seeds"] == 2
    assert summary["evolve"]["total"]["evolved"] == 2


class RamblingRewrite(JudgeOnce):
    """Every rewrite is cut off at max_tokens."""

    async def complete(self, request: Request, text: str) -> Completion:
        completion = await super().complete(request, text)
        if request.stage == "evolve":
            return Completion(text=completion.text + " and so on", finish_reason="length")
        return completion


def test_a_rewrite_cut_off_at_max_tokens_is_eliminated_before_its_response(tmp_path):
    _, backend = evolve(tmp_path, alpaca_input(tmp_path, 2), RamblingRewrite(), rounds=1)
    reasons = {r["id"]: r["reason"] for r in lines(tmp_path / "out" / "rejected.jsonl")}
    assert reasons == {"i000001.r1": "evolution_truncated", "i000002.r1": "evolution_truncated"}
    assert [r.stage for r in backend.requests] == ["evolve", "evolve"]


def test_summary_json_holds_the_counts_per_round_and_operation(tmp_path):
    """Recounted from what the run wrote: passed rewrites in tasks.jsonl, eliminated ones (by
    rule) in rejected.jsonl, failed requests in failures.jsonl."""
    result, _ = evolve(tmp_path, alpaca_input(tmp_path), rounds=2, seed=3)
    out = tmp_path / "out"
    saved = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert result.summary.evolve is not None
    passed = [t for t in lines(out / "tasks.jsonl") if t["round"] >= 1]
    rejected = lines(out / "rejected.jsonl")
    assert not lines(out / "failures.jsonl")
    for section, key in (("rounds", "round"), ("operations", "operation")):
        want: dict[str, dict] = {}
        for task in passed:
            want.setdefault(str(task[key]), {"passed": 0, "eliminated": Counter()})
            want[str(task[key])]["passed"] += 1
        for record in rejected:
            want.setdefault(str(record[key]), {"passed": 0, "eliminated": Counter()})
            want[str(record[key])]["eliminated"][record["reason"]] += 1
        assert set(saved["evolve"][section]) == set(want)
        for name, row in want.items():
            got = saved["evolve"][section][name]
            evolved = row["passed"] + row["eliminated"].total()
            assert (got["evolved"], got["passed"], got["failed_requests"]) == (
                evolved, row["passed"], 0,
            ), (section, name)  # fmt: skip
            assert got["eliminated"] == dict(row["eliminated"]), (section, name)
            assert got["pass_rate"] == row["passed"] / evolved
    for round_ in ("1", "2"):
        words = [len(t["instruction"].split()) for t in passed if str(t["round"]) == round_]
        assert saved["evolve"]["rounds"][round_]["words_after"] == pytest.approx(
            sum(words) / len(words)
        )
    assert saved["evolve"]["total"]["eliminated"] == dict(Counter(r["reason"] for r in rejected))
    assert saved["evolve"]["total"]["passed"] == len(passed)
    assert set(saved["evolve"]["rounds"]) == {"1", "2"}
    total = saved["evolve"]["total"]
    assert total["evolved"] == 60
    assert (
        total["evolved"]
        == total["passed"] + sum(total["eliminated"].values()) + total["failed_requests"]
    )
    assert set(total["eliminated"]) <= RULES
    assert sum(r["evolved"] for r in saved["evolve"]["operations"].values()) == 60
    assert set(total) == {
        "evolved", "passed", "failed_requests", "eliminated", "pass_rate", "words_before",
        "words_after",
    }  # fmt: skip


def test_other_methods_summaries_have_no_evolve_section(tmp_path):
    from helpers import run_generate

    run_generate(tmp_path / "gen", 3)
    saved = json.loads((tmp_path / "gen" / "summary.json").read_text(encoding="utf-8"))
    assert "evolve" not in saved


class ConstrainingFake(FakeBackend):
    constrains_answers = True


@pytest.mark.parametrize("backend", [FakeBackend(), ConstrainingFake()])
def test_the_equality_check_carries_its_labels_only_where_they_are_enforced(tmp_path, backend):
    """The in-process model cannot keep to "Equal" / "Not Equal" unaided (every check was
    unparseable); a grammar holds it there. A server's answer is only parsed, strictly."""
    evolve(tmp_path, alpaca_input(tmp_path, n=4), backend=backend, rounds=1, seed=3)
    labels = {(r.stage, r.labels) for r in backend.requests}
    held = ("Equal", "Not Equal") if backend.constrains_answers else ()
    assert labels == {("evolve", ()), ("respond", ()), ("judge", held)}
