"""`selfinstruct respond` against GPT-4-LLM's rules (Peng et al. 2023): Alpaca's framing, a stop
sequence on the completion API, cut answers flagged, Unnatural Instructions' constraints kept,
side-by-side ratings of several models' answers, every ranked pair exported, and the translated
(Chinese) data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from helpers import lines
from stub_server import Fault, StubServer

from selfinstruct.cli import main
from selfinstruct.export import ExportReport, preference_pairs
from selfinstruct.methods.respond.rating import parse_scores

ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"
)
ALPACA_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)


def write_records(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


RECORDS = [
    {"instruction": "Describe a river to a child in two sentences.", "input": "",
     "output": "A river is water that flows."},
    {"instruction": "Summarize the paragraph below in one sentence.",
     "input": "Rivers carry water from the hills to the sea.", "output": "Rivers flow down."},
    {"instruction": "Name three uses of a volcano for a geography class.", "input": "",
     "output": "Heat, soil and tourism."},
]  # fmt: skip


def respond(base_url: str, data: Path, out: Path, *extra: str, model: str = "teacher",
            api: str = "completion") -> subprocess.CompletedProcess[str]:  # fmt: skip
    command = [sys.executable, "-m", "selfinstruct", "respond", str(data), "-o", str(out),
               "--model", model, "--base-url", base_url, "--api-key", "x", "--api", api,
               "--quiet", *extra]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- item 6: Alpaca's framing


def test_the_teacher_sees_alpacas_prompts_with_and_without_input(tmp_path: Path) -> None:
    data = write_records(tmp_path / "data.json", RECORDS)
    with StubServer(delay=0.0) as stub:
        done = respond(stub.base_url, data, tmp_path / "r", api="chat")
        assert done.returncode == 0, done.stderr
        users = sorted(b["messages"][-1]["content"] for b in stub.state.bodies)
    expected = sorted(
        ALPACA_INPUT.format(**r) if r["input"] else ALPACA_NO_INPUT.format(**r) for r in RECORDS
    )
    assert users == expected


def test_a_completion_model_stops_before_a_new_instruction_block(tmp_path: Path) -> None:
    data = write_records(tmp_path / "data.json", RECORDS)
    with StubServer(delay=0.0) as stub:
        done = respond(stub.base_url, data, tmp_path / "r")
        assert done.returncode == 0, done.stderr
        prompts = sorted(b["prompt"] for b in stub.state.bodies)
        stops = [b.get("stop") for b in stub.state.bodies]
    assert ALPACA_NO_INPUT.format(**RECORDS[0]) in prompts
    assert all(stop and "\n### Instruction:" in stop for stop in stops)
    for task in lines(tmp_path / "r" / "tasks.jsonl"):
        (instance,) = task["instances"]
        assert instance["output"].startswith("A stub answer")
        assert "###" not in instance["output"]  # the stub runs on into a new block unless stopped


def test_a_teacher_answer_cut_at_max_tokens_is_flagged(tmp_path: Path) -> None:
    data = write_records(tmp_path / "data.json", RECORDS)
    cut = Fault("length", match="Name three uses of a volcano")
    with StubServer(delay=0.0, faults=[cut]) as stub:
        done = respond(stub.base_url, data, tmp_path / "r")
        assert done.returncode == 0, done.stderr
    flags = {t["instruction"]: t["instances"][0]["truncated"]
             for t in lines(tmp_path / "r" / "tasks.jsonl")}  # fmt: skip
    assert flags == {RECORDS[0]["instruction"]: False, RECORDS[1]["instruction"]: False,
                     RECORDS[2]["instruction"]: True}  # fmt: skip


# ---------------------------------------------------------------- item 13: constraints


def test_unnatural_instructions_constraints_stay_in_the_prompt_and_the_record(
    tmp_path: Path,
) -> None:
    record = {"instruction": "You are given a sentence. Decide whether it is a question.",
              "input": "Is the river deep?", "constraints": "The output should be 'Yes' or 'No'.",
              "output": "Yes"}  # fmt: skip
    data = write_records(tmp_path / "unnatural.json", [record])
    with StubServer(delay=0.0) as stub:
        done = respond(stub.base_url, data, tmp_path / "r")
        assert done.returncode == 0, done.stderr
        (body,) = stub.state.bodies
    instruction = f"{record['instruction']}\n{record['constraints']}"
    assert body["prompt"] == ALPACA_INPUT.format(instruction=instruction, input=record["input"])
    (task,) = lines(tmp_path / "r" / "tasks.jsonl")
    assert task["instruction"] == record["instruction"]
    assert task["constraints"] == record["constraints"]


def test_a_preference_prompt_carries_the_constraints_the_answers_followed() -> None:
    candidates = [
        {"model": "a", "output": "Yes", "score": 9},
        {"model": "b", "output": "Maybe", "score": 2},
    ]
    record = {"instruction": "Decide whether the sentence is a question.",
              "constraints": "The output should be 'Yes' or 'No'.",
              "instances": [{"input": "Is it deep?", "output": "Yes", "candidates": candidates}]}  # fmt: skip
    (pair,) = preference_pairs([record], ExportReport())
    assert pair.record["prompt"] == (
        "Decide whether the sentence is a question.\nThe output should be 'Yes' or 'No'.\n\n"
        "Is it deep?"
    )


# ---------------------------------------------------------------- item 7: side by side


def test_scores_are_parsed_strictly() -> None:
    assert parse_scores(" 7 9 3\nThe second is best.", 3) == ([7, 9, 3], "The second is best.")
    assert parse_scores("Scores: 7, 9, 3", 3) == ([7, 9, 3], "")
    assert parse_scores("**8 10**\nok", 2) == ([8, 10], "ok")
    for bad in ("7 9", "7 9 3 4", "7 eleven 3", "7 11 3", "0 5 5", "7.5 9 3", "", "I rate 7 9 3"):
        assert parse_scores(bad, 3) == (None, ""), bad


def test_three_models_are_rated_side_by_side_and_every_ranked_pair_exported(
    tmp_path: Path,
) -> None:
    data = write_records(tmp_path / "data.json", RECORDS)
    with StubServer(delay=0.0) as stub:
        first = respond(stub.base_url, data, tmp_path / "opt", model="opt-iml")
        assert first.returncode == 0, first.stderr
        before = len(stub.state.bodies)
        done = respond(stub.base_url, data, tmp_path / "gpt4", "--candidates", str(tmp_path / "opt"),
                       "--compare", "--original-model", "text-davinci-003", model="gpt-4")  # fmt: skip
        assert done.returncode == 0, done.stderr
        asked = stub.state.bodies[before:]
        hits = stub.hits
        again = respond(stub.base_url, data, tmp_path / "gpt4", "--candidates", str(tmp_path / "opt"),
                        "--compare", "--original-model", "text-davinci-003", model="gpt-4")  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert stub.hits == hits  # a rerun asks nothing again
    rated = [b["prompt"] for b in asked if b["prompt"].startswith("Several assistants")]
    assert len(rated) == len(RECORDS)  # one rating request per instance, all candidates in it
    assert all("[Response 3]" in p and "[Response 4]" not in p for p in rated)
    tasks = lines(tmp_path / "gpt4" / "tasks.jsonl")
    pairs_expected = 0
    for task in tasks:
        (instance,) = task["instances"]
        models = [c["model"] for c in instance["candidates"]]
        assert models == ["text-davinci-003", "gpt-4", "opt-iml"]
        assert instance["rating"]["mode"] == "side-by-side"
        scores = [c["score"] for c in instance["candidates"]]
        if instance["rating"]["parsed"]:
            assert all(isinstance(s, int) and 1 <= s <= 10 for s in scores)
            pairs_expected += sum(a > b for a in scores for b in scores)
        else:
            assert scores == [None, None, None]
    opt = {
        t["instruction"]: t["instances"][0]["output"]
        for t in lines(tmp_path / "opt" / "tasks.jsonl")
    }
    assert all(t["instances"][0]["candidates"][2]["output"] == opt[t["instruction"]] for t in tasks)

    out = tmp_path / "pairs.jsonl"
    result = CliRunner().invoke(main, ["export", str(tmp_path / "gpt4"), "--format", "preference",
                                       "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    pairs = lines(out)
    assert len(pairs) == pairs_expected > 0
    assert all(p["chosen_score"] > p["rejected_score"] for p in pairs)


def test_a_candidates_run_without_the_instance_is_one_line(tmp_path: Path) -> None:
    data = write_records(tmp_path / "data.json", RECORDS)
    other = write_records(tmp_path / "other.json", RECORDS[:1])
    result = CliRunner().invoke(main, ["respond", str(data), "-o", str(tmp_path / "r"), "--model",
                                       "t", "--base-url", "http://127.0.0.1:9/v1", "--compare",
                                       "--candidates", str(other)])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        f"--candidates {other}: has no answer to 2 of the 3 instances (first: "
        f"'{RECORDS[1]['instruction']}'); pass a run made from the same data"
    )


def test_preference_pairs_every_ranked_pair_or_best_against_each() -> None:
    def task(*scores: int | None) -> dict:
        candidates = [{"model": f"m{i}", "output": f"answer {i}", "score": s}
                      for i, s in enumerate(scores)]  # fmt: skip
        return {"instruction": "Name a river.", "instances": [
            {"input": "", "output": "x", "candidates": candidates}]}  # fmt: skip

    records = [task(3, 9, 5), task(7, 7, 2), task(None, 8)]
    report = ExportReport()
    every = [(p.record["chosen"], p.record["rejected"]) for p in preference_pairs(records, report)]
    assert every == [("answer 1", "answer 2"), ("answer 1", "answer 0"), ("answer 2", "answer 0"),
                     ("answer 0", "answer 2"), ("answer 1", "answer 2")]  # fmt: skip
    assert dict(report.skipped) == {"tie": 1, "fewer_than_two_scores": 1}
    report = ExportReport()
    best = preference_pairs(records, report, pairs="best-vs-each")
    assert [(p.record["chosen"], p.record["rejected"]) for p in best] == [
        ("answer 1", "answer 2"), ("answer 1", "answer 0"), ("answer 0", "answer 2"),
    ]  # fmt: skip
    assert dict(report.skipped) == {"tie": 1, "fewer_than_two_scores": 1}


def test_export_pairs_option(tmp_path: Path) -> None:
    candidates = [{"model": f"m{i}", "output": f"answer {i}", "score": s}
                  for i, s in enumerate((3, 9, 5))]  # fmt: skip
    data = tmp_path / "scored.jsonl"
    data.write_text(json.dumps({"instruction": "Name a river.", "instances": [
        {"input": "", "output": "x", "candidates": candidates}]}) + "\n")  # fmt: skip
    counts = {}
    for mode in ("all", "best-vs-each", "best-vs-worst"):
        out = tmp_path / f"{mode}.jsonl"
        result = CliRunner().invoke(main, ["export", str(data), "--format", "preference",
                                           "--pairs", mode, "-o", str(out)])  # fmt: skip
        assert result.exit_code == 0, result.output
        counts[mode] = len(lines(out))
    assert counts == {"all": 3, "best-vs-each": 2, "best-vs-worst": 1}
    result = CliRunner().invoke(main, ["export", str(data), "--format", "alpaca", "--pairs", "all"])
    assert result.exit_code == 2
    assert result.output.strip().endswith("--pairs applies to --format preference and trl-dpo only")


# ---------------------------------------------------------------- the Chinese data


NEAR = [
    {"instruction": "Describe the river budget for a small village in two sentences.",
     "input": "The village has one bridge.", "output": "It is small."},
    {"instruction": "Describe the river budget for a small town in two sentences.",
     "input": "", "output": "It is modest."},
    {"instruction": "Compose a sonnet about a volcano and a glacier meeting at dawn.",
     "input": "", "output": "Fire met ice."},
]  # fmt: skip


def test_a_translated_run_answers_in_the_target_language_and_keeps_the_original(
    tmp_path: Path,
) -> None:
    data = write_records(tmp_path / "data.json", NEAR)
    out = tmp_path / "zh"
    with StubServer(delay=0.0) as teacher, StubServer(delay=0.0, model="translator") as tr:
        done = respond(teacher.base_url, data, out, "--translate", "zh", "--translate-model",
                       "translator", "--translate-base-url", tr.base_url)  # fmt: skip
        assert done.returncode == 0, done.stderr
        translated = [b["messages"][-1]["content"] for b in tr.state.bodies]  # a chat model
        taught = [b["prompt"] for b in teacher.state.bodies]
        hits = (teacher.hits, tr.hits)
        again = respond(teacher.base_url, data, out, "--translate", "zh", "--translate-model",
                        "translator", "--translate-base-url", tr.base_url)  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert (teacher.hits, tr.hits) == hits  # a rerun asks nothing again
    assert len(translated) == 4 and all("into Chinese" in p for p in translated)
    assert len(taught) == 3 and all("Write the response in Chinese." in p for p in taught)
    tasks = lines(out / "tasks.jsonl")
    assert [t["original_instruction"] for t in tasks] == [r["instruction"] for r in NEAR]
    for task, record in zip(tasks, NEAR, strict=True):
        assert task["language"] == "zh"
        assert is_chinese(task["instruction"])
        (instance,) = task["instances"]
        assert instance["original_input"] == record["input"]
        assert is_chinese(instance["input"]) if record["input"] else instance["input"] == ""
        assert is_chinese(instance["output"])
        assert instance["original_output"] == record["output"]
    assert tasks[0]["instances"][0]["input"] in taught[0] + taught[1] + taught[2]

    # Filters and novelty work on the translated text: the two near-duplicates are one.
    kept = tmp_path / "kept.jsonl"
    result = CliRunner().invoke(main, ["filter", str(out / "tasks.jsonl"), "-o", str(kept),
                                       "--tokenizer", "unicode", "--allow-non-ascii-start"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [t["original_instruction"] for t in lines(kept)] == [NEAR[0]["instruction"],
                                                                NEAR[2]["instruction"]]  # fmt: skip
    (rejected,) = lines(tmp_path / "kept.rejected.jsonl")
    assert rejected["reason"] == "rouge_similar"


def test_translate_option_errors(tmp_path: Path) -> None:
    data = write_records(tmp_path / "data.json", NEAR)
    base = ["respond", str(data), "-o", str(tmp_path / "r"), "--model", "t",
            "--base-url", "http://127.0.0.1:9/v1"]  # fmt: skip
    result = CliRunner().invoke(main, [*base, "--translate-model", "m"])
    assert result.exit_code == 2
    assert result.output.strip().endswith("--translate-model needs --translate LANGUAGE")
    result = CliRunner().invoke(
        main, [*base, "--translate", "zh", "--translate-base-url", "http://x/v1"]
    )
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        "--translate-base-url needs --translate-model: pass the model's name"
    )
    result = CliRunner().invoke(main, [*base, "--candidates", str(data)])
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        "--candidates are rated beside the teacher's answers: add --compare"
    )
    result = CliRunner().invoke(main, [*base, "--translate", "xq"])
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        "--translate xq: unknown language code; give the language's name, e.g. --translate Swahili"
    )


def is_chinese(text: str) -> bool:
    han = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    return han >= max(2, len(text.replace(" ", "")) // 2)


def test_the_fake_model_translates_and_rates_side_by_side(tmp_path: Path) -> None:
    from fakes import FakeBackend

    from selfinstruct.config import file_sha256, validated
    from selfinstruct.methods.respond.settings import RespondSettings
    from selfinstruct.runner import run

    data = write_records(tmp_path / "data.json", NEAR)
    backend = FakeBackend(api="chat")
    settings = validated(RespondSettings, n=3, model=backend.model, base_url=None, api="chat",
                         input_path=str(data), input_sha256=file_sha256(data), translate="zh",
                         compare=True, n_responses=2)  # fmt: skip
    run(settings, backend, tmp_path / "r")
    stages = [r.stage for r in backend.requests]
    assert stages.count("translate") == 4 and stages.count("compare") == 3
    for task in lines(tmp_path / "r" / "tasks.jsonl"):
        assert is_chinese(task["instruction"])
        (instance,) = task["instances"]
        assert [c["model"] for c in instance["candidates"]] == ["fake-model", "fake-model"]
        assert instance["rating"]["mode"] == "side-by-side"
