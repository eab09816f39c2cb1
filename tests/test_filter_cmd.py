"""`selfinstruct filter` on our task format and on Alpaca's, with reasons and side files."""

from __future__ import annotations

import json

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
    assert result.exit_code == 0, result.output
    assert [t["id"] for t in read_jsonl(out)] == ["a", "b"]
    against = tmp_path / "seeds.jsonl"
    write_jsonl(against, [{"instruction": "Summarize the following paragraph in one sentence.",
                           "input": "", "output": "x"}])  # fmt: skip
    result = CliRunner().invoke(
        main, ["filter", str(src), "-o", str(out), "--against", str(against)]
    )
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == []
    assert result.stderr == (
        f"kept 0 of 2\n  rouge_similar: 2\nrejected records: {tmp_path / 'out.rejected.jsonl'}\n"
    )


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
    done = CliRunner().invoke(main, ["filter", "-"], input=payload)
    assert done.exit_code == 0, done.output
    assert [json.loads(x)["id"] for x in done.stdout.splitlines()] == ["a", "f"]
    assert "kept 2 of 6" in done.stderr


def test_unicode_tokenizer_dedups_chinese(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    zh = {"instruction": "请把下面的句子翻译成英文。", "input": "你好", "output": "Hello"}
    write_jsonl(src, [zh, zh])

    def kept(*extra: str) -> list[dict]:
        out.unlink(missing_ok=True)  # a failed run must not pass on the previous output
        args = ["filter", str(src), "-o", str(out), "--allow-non-ascii-start", *extra]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return read_jsonl(out)

    assert kept() == []  # one whitespace "word": too short for the paper's rule
    assert kept("--no-novelty") == []
    assert kept("--tokenizer", "unicode") == [zh]


def test_bad_input_is_one_line_exit_2(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"instruction": "Fine instruction here please.", "input": "", "output": "x"}\n{"oops": 1}\n'
    )
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {src}:2: not a task: expected 'instruction' with 'instances' "
        "(selfinstruct format) or with 'input'/'output' (Alpaca format), or "
        "'messages'/'conversations' (a conversation)\n"
    )
    result = CliRunner().invoke(main, ["filter", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'missing.jsonl'}: no such file\n"


def test_refuses_to_overwrite_input(tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, TASKS)
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(src)])
    assert result.exit_code == 2
    assert result.stderr == "Error: the output would overwrite the input: choose another -o\n"
    assert len(read_jsonl(src)) == len(TASKS)


# ------------------------------------------------------------------ outputs after errors


BAD_SECOND = (
    '{"instruction": "Explain why the sky looks blue during the day.", "input": "", '
    '"output": "Rayleigh."}\n'
    '{"instruction": "Draw a picture of a cat sleeping on a sofa.", "input": "", "output": "."}\n'
    '{"oops": 1}\n'
)


def test_failed_filter_keeps_previous_outputs_and_leaves_no_temporary(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rejects = tmp_path / "out.rejected.jsonl"
    write_jsonl(src, TASKS)
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["in.jsonl", "out.jsonl", "out.rejected.jsonl"]

    src.write_text(BAD_SECOND, encoding="utf-8")  # a reject at line 2, then a broken line
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {src}:3: not a task: ")
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == {**before, "in.jsonl": BAD_SECOND.encode()}
    assert len(read_jsonl(rejects)) == 4


def test_missing_input_creates_nothing(tmp_path):
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["filter", str(tmp_path / "nope.jsonl"), "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'nope.jsonl'}: no such file\n"
    assert list(tmp_path.iterdir()) == []


def test_rejects_written_with_the_output_and_replaced_not_appended(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rejects = tmp_path / "custom.rejects.jsonl"
    write_jsonl(src, TASKS)
    for _ in range(2):
        args = ["filter", str(src), "-o", str(out), "--rejects", str(rejects)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    assert [r["record"]["id"] for r in read_jsonl(rejects)] == ["b", "c", "d", "e"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "custom.rejects.jsonl",
        "in.jsonl",
        "out.jsonl",
    ]


def test_rejects_and_output_must_differ(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, TASKS)
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out), "--rejects", str(out)])
    assert result.exit_code == 2
    assert result.stderr == "Error: --rejects and -o name the same file: choose another --rejects\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


# ------------------------------------------------------------------------------ stdin


def test_json_array_on_stdin(tmp_path):
    records = [
        {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Sleep."},
        {"instruction": "Give three tips for staying healthy!", "input": "", "output": "Dup."},
        {"instruction": "Translate the sentence into French.", "input": "Hello", "output": "Salut"},
    ]
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["filter", "-", "-o", str(out)], input=json.dumps(records))
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == [records[0], records[2]]
    rejected = read_jsonl(tmp_path / "out.rejected.jsonl")
    assert [(r["line"], r["reason"]) for r in rejected] == [(2, "rouge_similar")]


# ------------------------------------------------------------------ one writer per output


def test_output_in_use_by_another_process_is_refused(tmp_path):
    from test_locking import holder

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, TASKS)
    out.write_text("theirs\n", encoding="utf-8")
    with holder(out) as process:
        result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out)])
        assert result.exit_code == 2
        assert result.stderr == (
            f"Error: {out} is in use by another selfinstruct process (pid {process.pid}): "
            "wait for it to finish or choose another -o\n"
        )
    assert out.read_text(encoding="utf-8") == "theirs\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_keep_longest_keeps_the_k_longest_responses_after_the_other_filters(tmp_path):
    """Magpie's released sets: the filters first, then the K records with the longest response
    (characters of the first output), in input order; the others are `not_longest`."""
    answers = {"g": "A" * 30, "h": "B" * 5, "i": "C" * 50, "j": "D" * 5, "k": "E" * 80}
    tasks = [
        {"id": ident, "instruction": f"Write a short poem about the colour number {n} today.",
         "instances": [{"input": "", "output": text}], "truncated": ident == "k"}
        for n, (ident, text) in enumerate(answers.items())
    ] + [TASKS[1] | {"instances": [{"input": "", "output": "Z" * 99}]}, TASKS[2]]  # fmt: skip
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, tasks)
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out), "--no-novelty",
                                       "--keep-longest", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    kept = read_jsonl(out)
    assert [t["id"] for t in kept] == ["i", "k", "b"]  # c (blacklisted) is not ranked
    assert kept[1]["truncated"] is True  # kept as it came
    rejects = {r["record"]["id"]: r["reason"] for r in read_jsonl(tmp_path / "out.rejected.jsonl")}
    assert rejects == {"g": "not_longest", "h": "not_longest", "j": "not_longest",
                       "c": "blacklist"}  # fmt: skip
    piped = CliRunner().invoke(main, ["filter", "-", "--keep-longest", "3"], input=src.read_text())
    assert piped.exit_code == 2
    assert piped.output == "Error: --keep-longest ranks the whole input: give a file, not stdin\n"
