"""`selfinstruct filter` on our task format and on Alpaca's, with reasons and side files."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from selfinstruct.cli import main


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


TASKS = [
    {"id": "a", "instruction": "Summarize the following paragraph in one sentence.", "is_classification": False,
     "instances": [{"input": "Para one.", "output": "One."}, {"input": "x", "output": "x"}]},
    {"id": "b", "instruction": "Summarize the following paragraph in a single sentence.", "is_classification": False,
     "instances": [{"input": "Para two.", "output": "Two."}]},
    {"id": "c", "instruction": "Draw a picture of a cat sleeping on a sofa.", "is_classification": False,
     "instances": [{"input": "", "output": "..."}]},
    {"id": "d", "instruction": "Name three rivers that flow through Germany.", "is_classification": False,
     "instances": [{"input": "", "output": "Rhine:"}]},
    {"id": "e", "instruction": "Is the review positive or negative?", "is_classification": True,
     "instances": [{"input": "Great!", "output": "Positive"}, {"input": "Great!", "output": "Negative"}]},
    {"id": "f", "instruction": "Explain why the sky looks blue during the day.", "is_classification": False,
     "instances": [{"input": "", "output": "Rayleigh scattering."}]},
]  # fmt: skip


def test_filter_task_format(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, TASKS)
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    kept = read_jsonl(out)
    assert [t["id"] for t in kept] == ["a", "f"]
    assert kept[0]["instances"] == [
        {"input": "Para one.", "output": "One."}
    ]  # input == output dropped
    rejects = {r["record"]["id"]: r["reason"] for r in read_jsonl(tmp_path / "out.rejected.jsonl")}
    assert rejects == {"b": "rouge_similar", "c": "blacklist", "d": "instance_ends_with_colon",
                       "e": "instance_conflicting_outputs"}  # fmt: skip
    assert "kept 2 of 6" in result.output and "rouge_similar: 1" in result.output


def test_threshold_and_against(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, TASKS[:2])
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out), "--threshold", "0.95"])
    assert [t["id"] for t in read_jsonl(out)] == ["a", "b"], result.output
    against = tmp_path / "seeds.jsonl"
    write_jsonl(against, [{"instruction": "Summarize the following paragraph in one sentence.",
                           "input": "", "output": "x"}])  # fmt: skip
    CliRunner().invoke(main, ["filter", str(src), "-o", str(out), "--against", str(against)])
    assert read_jsonl(out) == []


def test_alpaca_json_array_in_alpaca_out(tmp_path):
    src, out = tmp_path / "alpaca.json", tmp_path / "out.jsonl"
    records = [
        {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Sleep, eat, move."},
        {"instruction": "Give three tips for staying healthy!", "input": "", "output": "Dup."},
        {"instruction": "Translate the sentence into French.", "input": "Hello", "output": "Bonjour"},
    ]  # fmt: skip
    src.write_text(json.dumps(records), encoding="utf-8")
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out)])
    assert result.exit_code == 0
    assert read_jsonl(out) == [records[0], records[2]]


def test_stdin_to_stdout():
    payload = "".join(json.dumps(t) + "\n" for t in TASKS)
    done = subprocess.run([sys.executable, "-m", "selfinstruct", "filter", "-"], input=payload,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["id"] for x in done.stdout.splitlines()] == ["a", "f"]
    assert "kept 2 of 6" in done.stderr


def test_unicode_tokenizer_dedups_chinese(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    zh = {"instruction": "请把下面的句子翻译成英文。", "input": "你好", "output": "Hello"}
    write_jsonl(src, [zh, zh])
    CliRunner().invoke(main, ["filter", str(src), "-o", str(out), "--allow-non-ascii-start"])
    assert len(read_jsonl(out)) == 0  # one whitespace "word": too short for the paper's rule
    CliRunner().invoke(main, ["filter", str(src), "-o", str(out), "--allow-non-ascii-start",
                              "--no-novelty"])  # fmt: skip
    assert len(read_jsonl(out)) == 0
    CliRunner().invoke(main, ["filter", str(src), "-o", str(out), "--allow-non-ascii-start",
                              "--tokenizer", "unicode"])  # fmt: skip
    assert len(read_jsonl(out)) == 1


def test_bad_input_is_one_line_exit_2(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"instruction": "Fine instruction here please.", "input": "", "output": "x"}\n{"oops": 1}\n'
    )
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert f"{src}:2: not a task" in result.output
    result = CliRunner().invoke(main, ["filter", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "missing.jsonl: no such file" in result.output


def test_refuses_to_overwrite_input(tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, TASKS)
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(src)])
    assert result.exit_code == 2 and "overwrite the input" in result.output
    assert len(read_jsonl(src)) == len(TASKS)
