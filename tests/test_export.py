"""`selfinstruct export`: every format on a small fixture, splits, errors and piping."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from selfinstruct.cli import main
from selfinstruct.export import (
    load_templates,
    openai_problem,
    prepare_input,
    split_paths,
)
from selfinstruct.exporting import export

FIX = Path(__file__).parent / "fixtures"
TASKS = FIX / "export_tasks.jsonl"  # 4 tasks, 7 instances, one with an empty output
SEEDS = FIX / "stats_seeds.jsonl"  # 2 seed tasks, one instance each
REPO = Path(__file__).resolve().parents[1]
SEED_11_LENGTH = 5


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["export", *args])
    stderr = result.stderr if hasattr(result, "stderr") else ""
    return result.exit_code, result.stdout, stderr


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_alpaca_array_and_jsonl():
    code, out, _ = run(str(TASKS), "--format", "alpaca")
    assert code == 0
    records = json.loads(out)
    assert len(records) == 7  # one per instance, copied as they are
    assert records[0] == {
        "instruction": "Classify the sentiment of the sentence.",
        "input": "Sentence: I love this movie.",
        "output": "positive",
    }
    code, out, _ = run(str(TASKS), "--format", "alpaca", "--jsonl")
    assert jsonl(out) == records


def test_openai_shape_and_validation():
    code, out, err = run(str(TASKS), "--format", "openai", "--system", "You are helpful.")
    assert code == 0
    records = jsonl(out)
    assert len(records) == 6  # the empty output is skipped
    assert "skipped 1 invalid examples (empty output: 1)" in err
    first = records[0]["messages"]
    assert first == [
        {"role": "system", "content": "You are helpful."},
        {
            "role": "user",
            "content": "Classify the sentiment of the sentence.\n\nSentence: I love this movie.",
        },
        {"role": "assistant", "content": "positive"},
    ]
    haiku = records[2]["messages"]
    assert haiku[1]["content"] == "Write a haiku about autumn."  # empty input: no blank line
    assert all(openai_problem(r) is None for r in records)


def test_openai_rules():
    ok = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    assert openai_problem(ok) is None
    assert openai_problem({"messages": []}) == "no messages"
    assert (
        openai_problem({"messages": [{"role": "user", "content": "a"}]}) == "no assistant message"
    )
    bad_role = {
        "messages": [{"role": "bot", "content": "a"}, {"role": "assistant", "content": "b"}]
    }
    assert openai_problem(bad_role) == "bad role"
    empty = {"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "b"}]}
    assert openai_problem(empty) == "empty content"


def test_sharegpt_and_messages():
    code, out, _ = run(str(TASKS), "--format", "sharegpt", "--system", "Sys")
    assert code == 0
    conv = jsonl(out)[2]["conversations"]
    assert [t["from"] for t in conv] == ["system", "human", "gpt"]
    assert conv[1]["value"] == "Write a haiku about autumn."
    assert conv[2]["value"].startswith("Leaves drift")
    code, out, _ = run(str(TASKS), "--format", "messages")
    records = jsonl(out)
    assert len(records) == 6
    assert [m["role"] for m in records[0]["messages"]] == ["user", "assistant"]


def test_templates_load():
    assert len(load_templates("finetune_with_input.txt")) == 7
    assert len(load_templates("finetune_no_input.txt")) == 6


def prompt_completion(*extra: str) -> list[dict]:
    code, out, _ = run(str(TASKS), "--format", "prompt-completion", *extra)
    assert code == 0
    return jsonl(out)


def test_prompt_completion_format():
    records = prompt_completion("--seed", "11")
    # 7 instances - 1 empty output = 6; the two identical "Blue" instances collapse when
    # they draw the same template, as they do with seed 11: 5 remain
    assert len(records) == SEED_11_LENGTH
    with_input = load_templates("finetune_with_input.txt")
    no_input = load_templates("finetune_no_input.txt")
    haiku = [r for r in records if "haiku" in r["prompt"]]
    assert len(haiku) == 1
    assert haiku[0]["prompt"] in {
        t.format(instruction="Write a haiku about autumn.") for t in no_input
    }
    space = "" if haiku[0]["prompt"].endswith("\n") else " "
    assert haiku[0]["completion"] == space + (
        "Leaves drift slowly down\ncold wind hums an old refrain\nthe year exhales gold"
    )
    instruction = "Classify the sentiment of the sentence."
    allowed = {
        t.format(instruction=instruction, input=text)
        for t in with_input
        for text in ("Sentence: I love this movie.", "I love this movie.")
    }
    loves = [r for r in records if "love this movie" in r["prompt"]]
    assert len(loves) == 1 and loves[0]["prompt"] in allowed
    assert loves[0]["completion"] == ("" if loves[0]["prompt"].endswith("\n") else " ") + "positive"
    for record in records:
        assert not record["completion"].startswith("  ")
    assert len({(r["prompt"], r["completion"]) for r in records}) == len(records)


def test_prompt_completion_dedup_of_identical_pairs():
    # "Name a primary color." has two identical instances: with one no-input template
    # chosen for both they collapse; over many seeds both outcomes occur, never 3 copies
    counts = set()
    for seed in range(30):
        records = prompt_completion("--seed", str(seed))
        counts.add(sum(1 for r in records if "primary color" in r["prompt"]))
    assert counts <= {1, 2} and 1 in counts


def test_prompt_completion_end_marker_and_reproducible():
    a = prompt_completion("--seed", "7", "--end-marker", "<|endoftext|>")
    b = prompt_completion("--seed", "7", "--end-marker", "<|endoftext|>")
    assert a == b
    assert all(r["completion"].endswith("<|endoftext|>") for r in a)
    orders = {tuple(r["prompt"] for r in prompt_completion("--seed", str(s))) for s in range(6)}
    assert len(orders) > 1  # the seed changes templates/order


def prepared(text: str, draws: int = 2000) -> Counter:
    rng = random.Random(0)
    return Counter(prepare_input(text, rng) for _ in range(draws))


def test_field_name_stripping_rule():
    outcomes = prepared("Sentence: I love this movie.")
    assert set(outcomes) == {"I love this movie.", "Sentence: I love this movie."}
    assert 900 < outcomes["I love this movie."] < 1100  # probability 0.5
    # Two field names, a name that is not at the start, or one too long to be a name: kept.
    for text in (
        "Sentence 1: The cat sat.\nSentence 2: The dog ran.",
        "Paragraph: Rain fell all day.\nQuestion: Did it rain?",
        "The meeting starts at 7:30 sharp.",
        "A" + "b" * 31 + ": text",
    ):
        assert set(prepared(text, 50)) == {text}, text


def test_lone_field_name_stripped_from_a_multi_line_input():
    # The reference counts the field names in the whole input: one name, even on an input of
    # several lines, is dropped half of the time.
    text = "Code:\ndef double(x):\n    return 2 * x"
    assert set(prepared(text)) == {text, "def double(x):\n    return 2 * x"}
    assert set(prepared("note: lower case", 200)) == {"note: lower case", "lower case"}


def test_blank_lines_collapsed_half_of_the_time():
    # In the same half, the reference replaces each blank line ("\n\n") with one newline.
    text = "Paragraph one.\n\nParagraph two: more details here."
    outcomes = prepared(text)
    assert set(outcomes) == {text, "Paragraph one.\nParagraph two: more details here."}
    assert 900 < outcomes[text] < 1100
    poem = "Poem:\nRoses are red.\n\nViolets are blue."
    assert set(prepared(poem)) == {poem, "Roses are red.\nViolets are blue."}


def unlabelled(templates: list[str]) -> list[str]:
    return [t for t in templates if t.endswith("\n")]


def test_some_templates_carry_no_label():
    # As the reference's: 3 of the 7 with-input and 3 of the 6 no-input templates end with the
    # input or instruction and a line break, with no label for the output.
    with_input = load_templates("finetune_with_input.txt")
    no_input = load_templates("finetune_no_input.txt")
    assert len(unlabelled(with_input)) == 3 and len(unlabelled(no_input)) == 3
    for template in with_input + no_input:
        assert template.endswith("\n") or template.endswith(":"), template


def test_completion_after_a_label_starts_with_a_space_else_not():
    seen = {True: 0, False: 0}
    for seed in range(20):
        for record in prompt_completion("--seed", str(seed)):
            label = not record["prompt"].endswith("\n")
            seen[label] += 1
            output = record["completion"].removeprefix(" " if label else "")
            assert output == output.strip() and output, record
    assert seen[True] and seen[False]


def test_include_seeds():
    base = prompt_completion("--seed", "3")
    with_seeds = prompt_completion("--seed", "3", "--include-seeds", "--seeds", str(SEEDS))
    assert len(with_seeds) == len(base) + 2
    assert any("Translate this sentence to German." in r["prompt"] for r in with_seeds)


def test_split(tmp_path):
    out = tmp_path / "data.jsonl"
    args = [str(TASKS), "--format", "messages", "-o", str(out), "--split", "0.5", "--seed", "5"]
    code, _, err = run(*args)
    assert code == 0
    train, validation = split_paths(out)
    assert train.name == "data.train.jsonl" and validation.name == "data.validation.jsonl"
    t, v = jsonl(train.read_text()), jsonl(validation.read_text())
    assert len(t) + len(v) == 6 and t and v
    users = lambda rs: {r["messages"][0]["content"].split("\n")[0] for r in rs}  # noqa: E731
    assert not users(t) & users(v)  # a task's instances stay on one side
    first = (train.read_text(), validation.read_text())
    code, _, err_again = run(*args)
    assert code == 0
    assert (train.read_text(), validation.read_text()) == first
    assert (
        err
        == err_again
        == (
            "skipped 1 invalid examples (empty output: 1)\n"
            f"wrote {len(t)} records to {train}\nwrote {len(v)} records to {validation}\n"
        )
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "data.train.jsonl",
        "data.validation.jsonl",
    ]


def test_split_alpaca_array_names(tmp_path):
    code, _, _ = run(
        str(TASKS), "--format", "alpaca", "-o", str(tmp_path / "a.json"), "--split", "0.75"
    )
    assert code == 0
    total = len(json.loads((tmp_path / "a.train.json").read_text()))
    total += len(json.loads((tmp_path / "a.validation.json").read_text()))
    assert total == 7


def test_errors(tmp_path):
    assert run("missing.jsonl", "--format", "openai") == (
        2,
        "",
        "Error: missing.jsonl: no such file or folder\n",
    )
    broken = FIX / "stats_broken.jsonl"
    assert run(str(broken), "--format", "openai") == (
        2,
        "",
        f"Error: {broken}:2: invalid JSON (Expecting value)\n",
    )
    assert run(str(TASKS), "--format", "alpaca", "--split", "0.9") == (
        2,
        "",
        "Error: --split writes two files: give -o FILE\n",
    )
    out = tmp_path / "x.jsonl"
    assert run(str(TASKS), "--format", "openai", "-o", str(out), "--split", "1.5") == (
        2,
        "",
        "Error: --split must be between 0 and 1 (exclusive), got 1.5\n",
    )
    code, stdout, stderr = run(str(TASKS), "--format", "yaml")
    assert (code, stdout) == (2, "")
    assert stderr.splitlines()[-1] == (
        "Error: Invalid value for '--format': 'yaml' is not one of "
        "'alpaca', 'openai', 'sharegpt', 'messages', 'prompt-completion', 'preference', "
        "'trl-sft', 'trl-prompt-completion', 'axolotl-chat', 'axolotl-alpaca', "
        "'llamafactory-alpaca', 'llamafactory-sharegpt', 'trl-dpo', 'trl-kto', 'openai-tools', "
        "'sharegpt-tools', 'hf', 'parquet'."
    )
    assert list(tmp_path.iterdir()) == []


def instances_in(run_dir: Path) -> int:
    return sum(len(t["instances"]) for t in jsonl((run_dir / "tasks.jsonl").read_text()))


def test_run_folder_input(real_run):
    code, out, _ = run(str(real_run), "--format", "alpaca", "--jsonl")
    assert code == 0 and len(jsonl(out)) == instances_in(real_run) > 0


def test_alpaca_input_file():
    code, out, _ = run(str(FIX / "stats_alpaca.json"), "--format", "messages")
    assert code == 0
    assert jsonl(out)[1]["messages"][0]["content"] == "Add the numbers.\n\n2 and 3"


def test_export_pipes_into_a_reader():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reader = "import sys, json; rows = [json.loads(l) for l in sys.stdin]; print(len(rows), rows[0]['messages'][-1]['role'])"
    cmd = f'{sys.executable} -m selfinstruct export {TASKS} --format openai | {sys.executable} -c "{reader}"'
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6 assistant"


@pytest.mark.parametrize(
    ("fmt", "extra", "columns"),
    [
        ("alpaca", [], {"instruction", "input", "output"}),
        ("alpaca", ["--jsonl"], {"instruction", "input", "output"}),
        ("openai", ["--system", "S"], {"messages"}),
        ("sharegpt", [], {"conversations"}),
        ("messages", [], {"messages"}),
        ("prompt-completion", [], {"prompt", "completion"}),
    ],
)
def test_round_trip_through_datasets(tmp_path, monkeypatch, fmt, extra, columns):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / ("out.json" if fmt == "alpaca" and not extra else "out.jsonl")
    report = export(TASKS, fmt, output=out, **_kwargs(extra))
    ds = datasets.load_dataset(
        "json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert set(ds.column_names) == columns
    assert len(ds) == report.written[str(out)]


def _kwargs(extra: list[str]) -> dict:
    if extra == ["--jsonl"]:
        return {"jsonl": True}
    if extra[:1] == ["--system"]:
        return {"system": extra[1]}
    return {}


# ------------------------------------------------------------------------ stdin, killed runs


def test_json_array_on_stdin():
    payload = json.dumps([{"instruction": "Say hi.", "input": "", "output": "Hi"},
                          {"instruction": "Add.", "input": "2, 3", "output": "5"}], indent=2)  # fmt: skip
    result = CliRunner().invoke(main, ["export", "-", "--format", "messages"], input=payload)
    assert result.exit_code == 0, result.output
    assert [r["messages"][0]["content"] for r in jsonl(result.stdout)] == [
        "Say hi.",
        "Add.\n\n2, 3",
    ]


def killed_run(tmp_path: Path, real_run: Path) -> Path:
    """A real run folder as a kill -9 leaves it: each log ends in a torn line."""
    run_dir = tmp_path / "run"
    shutil.copytree(real_run, run_dir)
    for name in ("tasks.jsonl", "rejected.jsonl", "machine_instructions.jsonl"):
        with open(run_dir / name, "ab") as handle:
            handle.write(b'{"id": "t9", "instruction": "Half writ')
    return run_dir


def test_killed_run_folder_is_read_as_resume_would(tmp_path, real_run):
    complete = instances_in(real_run)
    run_dir = killed_run(tmp_path, real_run)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    code, out, err = run(str(run_dir), "--format", "alpaca", "--jsonl")
    assert code == 0
    assert len(jsonl(out)) == complete  # as for the complete run
    torn_line = (run_dir / "tasks.jsonl").read_bytes().count(b"\n") + 1
    assert err == (
        f"warning: {run_dir / 'tasks.jsonl'}:{torn_line}: ignored a half-written last line "
        "(interrupted run; resuming the run removes it)\n"
    )
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


# ------------------------------------------------------------------ outputs after errors


def test_failed_export_keeps_the_previous_output(tmp_path):
    out = tmp_path / "train.jsonl"
    out.write_text("previous\n", encoding="utf-8")
    code, _, err = run(str(FIX / "stats_broken.jsonl"), "--format", "openai", "-o", str(out))
    assert (code, err) == (
        2,
        f"Error: {FIX / 'stats_broken.jsonl'}:2: invalid JSON (Expecting value)\n",
    )
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]


def test_output_in_use_by_another_process_is_refused(tmp_path):
    from lock_holder import holder

    out = tmp_path / "data.jsonl"
    with holder(out) as process:
        code, stdout, err = run(str(TASKS), "--format", "openai", "-o", str(out))
        assert (code, stdout) == (2, "")
        assert err == (
            f"Error: {out} is in use by another selfinstruct process (pid {process.pid}): "
            "wait for it to finish or choose another -o\n"
        )
        train, _validation = split_paths(out)
        with holder(train) as second:
            args = [str(TASKS), "--format", "openai", "-o", str(out), "--split", "0.5"]
            code, _, err = run(*args)
            assert code == 2
            assert err == (
                f"Error: {train} is in use by another selfinstruct process (pid {second.pid}): "
                "wait for it to finish or choose another -o\n"
            )
    assert list(tmp_path.iterdir()) == []
