"""`selfinstruct respond`: new outputs beside the originals, scores, and DPO preference pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import lines
from stub_server import StubServer
from test_judge import write_alpaca

from selfinstruct.backends.base import Decoding
from selfinstruct.cli import main
from selfinstruct.export import ExportReport, preference_pairs
from selfinstruct.methods.respond.method import respond_request
from selfinstruct.methods.respond.settings import RespondSettings
from selfinstruct.templates import builtin


def respond_command(base_url: str, data: Path, out: Path, *extra: str) -> list[str]:
    """`selfinstruct respond`'s arguments, for :func:`cli` (in process: nothing here needs a
    process of its own)."""
    return ["respond", str(data), "-o", str(out), "--model", "teacher", "--base-url", base_url,
            "--api-key", "x", "--api", "completion", "--quiet", *extra]  # fmt: skip


def cli(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def test_respond_compare_and_preference_export(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=8)
    out = tmp_path / "r"
    with StubServer(delay=0.0) as stub:
        command = respond_command(stub.base_url, data, out, "--n-responses", "2", "--compare",
                                  "--rating", "separate",
                                  "--original-model", "text-davinci-003")  # fmt: skip
        done = cli(command)
        assert done.exit_code == 0, done.output
        tasks = lines(out / "tasks.jsonl")
        # Two answers per instance, then a score per candidate (the stub ignores the seed, so
        # its two answers can be equal: equal score requests in flight together are both sent).
        distinct = sum(len({c["output"] for c in t["instances"][0]["candidates"]}) for t in tasks)
        assert 8 * 2 + distinct <= stub.hits <= 8 * 2 + 8 * 3
        hits = stub.hits
        assert cli(command).exit_code == 0
        assert stub.hits == hits  # a rerun asks nothing again
    originals = json.loads(data.read_text())
    assert [t["instruction"] for t in tasks] == [r["instruction"] for r in originals]
    for task, original in zip(tasks, originals, strict=True):
        (instance,) = task["instances"]
        assert instance["original_output"] == original["output"]
        assert instance["original_model"] == "text-davinci-003"
        assert instance["model"] == "teacher"
        assert instance["output"].startswith("A stub answer number")
        models = [c["model"] for c in instance["candidates"]]
        assert models == ["text-davinci-003", "teacher", "teacher"]
        for candidate in instance["candidates"]:
            score = candidate["score"]
            assert score is None or 1 <= score <= 10
            if score is None:
                assert candidate["raw"].strip().startswith("eleven")

    pairs = tmp_path / "pairs.jsonl"
    result = CliRunner().invoke(main, ["export", str(out), "--format", "preference",
                                       "-o", str(pairs)])  # fmt: skip
    assert result.exit_code == 0, result.output
    records = lines(pairs)
    assert records and all(r["chosen_score"] > r["rejected_score"] for r in records)
    import datasets

    loaded = datasets.load_dataset("json", data_files=str(pairs), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(loaded.column_names)
    assert loaded.num_rows == len(records)


def test_preference_pairs_skip_ties_and_unscored() -> None:
    def task(*scores: int | None) -> dict:
        candidates = [{"model": f"m{i}", "output": f"answer {i}", "score": s}
                      for i, s in enumerate(scores)]  # fmt: skip
        return {"instruction": "Name a river.", "instances": [
            {"input": "", "output": "x", "candidates": candidates}]}  # fmt: skip

    report = ExportReport()
    records = [task(3, 9, 5), task(7, 7), task(None, 8), task(2, None, 6)]
    pairs = preference_pairs(records, report, pairs="best-vs-worst")
    assert [(p.record["chosen"], p.record["rejected"]) for p in pairs] == [
        ("answer 1", "answer 0"),
        ("answer 2", "answer 0"),
    ]
    assert pairs[0].record["prompt"] == "Name a river."
    assert dict(report.skipped) == {"tie": 1, "fewer_than_two_scores": 1}


def test_export_preference_without_scores_says_what_to_run(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=3)
    result = CliRunner().invoke(main, ["export", str(data), "--format", "preference"])
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        "data.json: no scored candidates; run `selfinstruct respond --compare`"
    )


def test_system_is_a_system_message_on_the_chat_api(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=3)
    with StubServer(delay=0.0) as stub:
        command = respond_command(stub.base_url, data, tmp_path / "r", "--system", "Be brief.")
        command[command.index("completion")] = "chat"
        done = cli(command)
        assert done.exit_code == 0, done.output
        bodies = stub.state.bodies
    originals = json.loads(data.read_text())
    users = []
    for body in bodies:  # in the order they arrived, which concurrency decides
        system, user = body["messages"]
        assert system == {"role": "system", "content": "Be brief."}
        assert user["role"] == "user"
        users.append(user["content"].split("### Instruction:\n")[1].split("\n")[0])
    assert sorted(users) == sorted(r["instruction"] for r in originals)


def test_system_on_a_completion_server_is_a_prefix(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=3)
    with StubServer(delay=0.0) as stub:
        command = respond_command(stub.base_url, data, tmp_path / "r", "--system", "Be brief.")
        done = cli(command)
        assert done.exit_code == 0, done.output
        bodies = stub.state.bodies
    assert len(bodies) == 3
    assert all(b["prompt"].startswith("Be brief.\n\nBelow is an instruction that describes")
               for b in bodies)  # fmt: skip


def test_system_on_the_completion_api_goes_through_the_chat_template() -> None:
    decoding = Decoding(max_tokens=16, temperature=0.0, top_p=1.0, stop=("\n\n",))
    request = respond_request("Name a river.", "In Europe.", "Be brief.", False,
                              builtin("smollm2"), decoding, seed=3)  # fmt: skip
    assert request.prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nBelow is an instruction that describes a task, paired with an input "
        "that provides further context. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nName a river.\n\n### Input:\nIn Europe.\n\n"
        "### Response:<|im_end|>\n<|im_start|>assistant\n"
    )
    plain = respond_request("Name a river.", "In Europe.", "Be brief.", False,
                            builtin("smollm2"), decoding, seed=3, framing="plain")  # fmt: skip
    assert "<|im_start|>user\nName a river.\n\nIn Europe.<|im_end|>" in plain.prompt
    assert request.decoding.stop == ("\n\n", "<|im_end|>")
    assert not request.messages
    bare = respond_request("Name a river.", "", None, False, builtin("smollm2"), decoding, 3)
    assert bare.prompt.startswith("Below is an instruction that describes a task. Write")


def test_the_judge_model_scores_and_the_teacher_answers(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=3)
    out = tmp_path / "r"
    with StubServer(delay=0.0) as teacher, StubServer(delay=0.0, model="judge") as judge:
        command = respond_command(teacher.base_url, data, out, "--compare",
                                  "--judge-model", "judge", "--judge-base-url", judge.base_url)  # fmt: skip
        done = cli(command)
        assert done.exit_code == 0, done.output
        taught, judged = teacher.state.bodies, judge.state.bodies
    assert len(taught) == 3 and {b["model"] for b in taught} == {"teacher"}
    assert all(b["prompt"].startswith("Below is an instruction") for b in taught)
    assert len(judged) == 3 and {b["model"] for b in judged} == {"judge"}
    assert all(b["messages"][0]["content"].startswith("Several assistants answered")
               for b in judged)  # fmt: skip
    scored = [c for t in lines(out / "tasks.jsonl") for c in t["instances"][0]["candidates"]]
    assert any(c["score"] is not None for c in scored)


def test_judge_model_option_errors(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=3)
    base = ["respond", str(data), "-o", str(tmp_path / "r"), "--model", "t",
            "--base-url", "http://127.0.0.1:9/v1"]  # fmt: skip
    result = CliRunner().invoke(main, [*base, "--judge-base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        "--judge-base-url needs --judge-model: pass the judge's model name"
    )
    result = CliRunner().invoke(main, [*base, "--judge-model", "j"])
    assert result.exit_code == 2
    assert result.output.strip().endswith("--judge-model scores candidates: it needs --compare")


def test_system_with_the_bundled_model_uses_its_own_chat_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfinstruct.methods.respond import command as respond_cmd

    seen: list[RespondSettings] = []

    def record(settings: RespondSettings, *args: object, **kwargs: object) -> None:
        seen.append(settings)

    monkeypatch.setattr(respond_cmd, "run_and_report", record)
    data = write_alpaca(tmp_path / "data.json", count=3)
    result = CliRunner().invoke(main, ["respond", str(data), "-o", str(tmp_path / "r"),
                                       "--system", "Be brief."])  # fmt: skip
    assert result.exit_code == 0, result.output
    (settings,) = seen
    assert settings.api == "completion" and settings.template is not None
    assert settings.template.name == "gguf:SmolLM2-135M-Instruct.Q4_1.gguf"
    request = respond_request("Name a river.", "", settings.system, False, settings.template,
                              settings.decoding, seed=1)  # fmt: skip
    assert request.prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert request.prompt.endswith("### Instruction:\nName a river.\n\n### Response:<|im_end|>\n"
                                   "<|im_start|>assistant\n")  # fmt: skip


def test_with_judge_model_routes_only_the_compare_stage() -> None:
    from selfinstruct.backends.openai_api import OpenAIBackend
    from selfinstruct.backends.routing import RoutingBackend, with_judge_model

    teacher = OpenAIBackend(model="t", base_url="http://a/v1", api_key="x", api="completion",
                            timeout=5, max_concurrency=4)  # fmt: skip
    assert with_judge_model(teacher, None, None, "x", 5, 4) is teacher
    assert with_judge_model(teacher, "t", "http://a/v1", "x", 5, 4) is teacher
    routed = with_judge_model(teacher, "j", "http://b/v1", "x", 5, 4)
    assert isinstance(routed, RoutingBackend) and routed.answer_stage == "compare"
    assert routed.answers.model == "j" and routed.answers.base_url == "http://b/v1"
    assert routed.identity()["answer_model"] == "j"
    assert routed.identity()["answer_base_url"] == "http://b/v1"
    same_server = with_judge_model(teacher, "j", None, "x", 5, 4)
    assert "answer_base_url" not in same_server.identity()
