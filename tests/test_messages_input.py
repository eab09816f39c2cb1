"""Files that hold only conversations: `{"messages": [...]}` (our messages/openai exports) and
ShareGPT `{"conversations": [{"from", "value"}]}`, read by filter, export and stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from selfinstruct.cli import main

DIALOGUE = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Explain how tides are caused by the moon."},
    {"role": "assistant", "content": "The moon's gravity pulls the oceans into two bulges."},
    {"role": "user", "content": "Why two bulges and not one?"},
    {"role": "assistant", "content": "The far side is pulled less than the Earth's centre."},
]
SINGLE = [
    {"role": "user", "content": "Suggest three names for a bakery that sells only bread."},
    {"role": "assistant", "content": "Crumb, Proof, The Daily Loaf."},
]
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt(messages: list[dict]) -> dict:
    return {
        "conversations": [
            {"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in messages
        ]
    }


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(params=["messages", "sharegpt"])
def conversations(request, tmp_path) -> Path:
    records = [{"messages": DIALOGUE}, {"messages": SINGLE}]
    if request.param == "sharegpt":
        records = [sharegpt(r["messages"]) for r in records]
    return write(tmp_path / f"{request.param}.jsonl", records)


def test_export_keeps_every_turn_in_the_chat_formats(conversations):
    result = invoke("export", str(conversations), "--format", "messages")
    assert result.exit_code == 0, result.output
    assert jsonl(result.stdout) == [{"messages": DIALOGUE}, {"messages": SINGLE}]
    result = invoke("export", str(conversations), "--format", "openai")
    assert jsonl(result.stdout) == [{"messages": DIALOGUE}, {"messages": SINGLE}]
    result = invoke("export", str(conversations), "--format", "sharegpt")
    assert jsonl(result.stdout) == [sharegpt(DIALOGUE), sharegpt(SINGLE)]


def test_single_turn_formats_take_the_first_exchange(conversations):
    result = invoke("export", str(conversations), "--format", "alpaca", "--jsonl")
    assert result.exit_code == 0, result.output
    assert jsonl(result.stdout) == [
        {"instruction": DIALOGUE[1]["content"], "input": "", "output": DIALOGUE[2]["content"]},
        {"instruction": SINGLE[0]["content"], "input": "", "output": SINGLE[1]["content"]},
    ]
    result = invoke("export", str(conversations), "--format", "prompt-completion")
    assert result.exit_code == 0, result.output
    # After a space when the template ends with a label, else right after its line break.
    completions = sorted(r["completion"].removeprefix(" ") for r in jsonl(result.stdout))
    assert completions == sorted(m["content"] for m in (DIALOGUE[2], SINGLE[1]))


def test_filter_reads_them_and_keeps_records_as_they_were(conversations, tmp_path):
    out = tmp_path / "kept.jsonl"
    result = invoke("filter", str(conversations), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert jsonl(out.read_text(encoding="utf-8")) == jsonl(conversations.read_text("utf-8"))


def test_stats_reads_them(conversations):
    result = invoke("stats", str(conversations))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"messages": [{"role": "tool", "content": "x"}]},
         "not a conversation: message 1 has role 'tool' (expected system, user or assistant)"),
        ({"messages": [{"role": "user", "content": 3}]},
         "not a conversation: message 1 has no text 'content'"),
        ({"messages": [{"role": "system", "content": "Hi."}]},
         "not a conversation: no user message"),
        ({"messages": "hello"}, "not a conversation: 'messages' must be a list of messages"),
        ({"conversations": [{"from": "bot", "value": "x"}]},
         "not a conversation: message 1 has from 'bot' (expected system, human or gpt)"),
        ({"conversations": [{"from": "human"}]},
         "not a conversation: message 1 has no text 'value'"),
        ({"prompt": "x"}, "not a task: expected 'instruction' with 'instances' (selfinstruct "
         "format) or with 'input'/'output' (Alpaca format), or 'messages'/'conversations' "
         "(a conversation)"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["export", "filter"])
def test_a_record_of_the_wrong_shape_is_one_line_naming_file_and_line(
    tmp_path, record, message, command
):
    path = write(tmp_path / "in.jsonl", [{"messages": SINGLE}, record])
    args = ["--format", "messages"] if command == "export" else ["-o", str(tmp_path / "o.jsonl")]
    result = invoke(command, str(path), *args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == f"Error: {path}:2: {message}"
