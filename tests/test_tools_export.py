"""Tool-use runs exported for function-calling trainers: OpenAI fine-tuning (tools, assistant
tool_calls, tool messages) and ShareGPT with function_call / observation turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from helpers import records

import selfinstruct as si
from selfinstruct.cli import main
from selfinstruct.export import openai_problem
from selfinstruct.exporting import export

SPEC = Path(__file__).parent / "fixtures" / "tools" / "calendar.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tools")
    mock = base / "mock.json"
    mock.write_text(json.dumps({"getWeather": {"temperature": 21}}))
    folders = {}
    for name, values in (("plain", {}), ("answered", {"responses": True, "mock_path": mock})):
        model = FakeBackend()
        settings = si.settings("tools", model, spec_path=SPEC, n=12, seed=2, combine=True,
                               **values)  # fmt: skip
        si.run(settings, model, base / name)
        folders[name] = base / name
    return folders


def test_openai_tools_format_passes_the_openai_checks(runs: dict[str, Path], tmp_path: Path):
    for name, folder in runs.items():
        out = tmp_path / f"{name}.jsonl"
        report = export(folder, "openai-tools", output=out, system="You can call tools.")
        tasks = records(folder / "tasks.jsonl")
        exported = records(out)
        assert report.written == {str(out): len(tasks)} and len(exported) == 12
        for task, record in zip(tasks, exported, strict=True):
            assert openai_problem(record) is None
            messages = record["messages"]
            assert messages[:2] == [{"role": "system", "content": "You can call tools."},
                                    {"role": "user", "content": task["instruction"]}]  # fmt: skip
            calls = messages[2]["tool_calls"]
            assert messages[2]["role"] == "assistant" and "content" not in messages[2]
            assert [(c["function"]["name"], json.loads(c["function"]["arguments"]))
                    for c in calls] == [(c["name"], c["arguments"]) for c in task["calls"]]  # fmt: skip
            names = [t["function"]["name"] for t in record["tools"]]
            assert names == [t["function"]["name"] for t in task["tools"]]
            assert "x-quoted" not in json.dumps(record["tools"])  # our annotation stays ours
            if name == "plain":
                assert len(messages) == 3
                continue
            tool_messages = messages[3:-1]
            assert [m["tool_call_id"] for m in tool_messages] == [c["id"] for c in calls]
            assert [m["content"] for m in tool_messages] == [r["content"] for r in task["results"]]
            assert messages[-1] == {"role": "assistant", "content": task["response"]}


def test_a_tool_call_without_its_result_message_is_an_openai_problem():
    record = {"messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "tool_calls": [{"id": "call_0", "type": "function", "function": {
            "name": "getWeather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "{}"},
        {"role": "assistant", "content": "Sunny."}]}  # fmt: skip
    assert openai_problem(record) == "tool message without its call"
    record["messages"][2]["tool_call_id"] = "call_0"
    assert openai_problem(record) is None
    record["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{city: Oslo"
    assert openai_problem(record) == "tool call arguments not JSON"


def test_sharegpt_tools_has_function_call_and_observation_turns(runs: dict[str, Path],
                                                               tmp_path: Path):  # fmt: skip
    out = tmp_path / "sharegpt.jsonl"
    export(runs["answered"], "sharegpt-tools", output=out)
    task = records(runs["answered"] / "tasks.jsonl")[0]
    record = records(out)[0]
    turns = record["conversations"]
    assert [t["from"] for t in turns] == ["human", "function_call", "observation", "gpt"]
    assert turns[0]["value"] == task["instruction"]
    called = json.loads(turns[1]["value"])
    assert (called if isinstance(called, list) else [called]) == task["calls"]
    assert turns[3]["value"] == task["response"]
    assert [t["name"] for t in json.loads(record["tools"])] == [
        t["function"]["name"] for t in task["tools"]
    ]


@pytest.mark.parametrize(("fmt", "columns"), [("openai-tools", {"messages", "tools"}),
                                              ("sharegpt-tools", {"conversations", "tools"})])  # fmt: skip
def test_the_exports_load_with_datasets(runs, tmp_path, monkeypatch, fmt, columns):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name, folder in runs.items():
        out = tmp_path / f"{name}.jsonl"
        export(folder, fmt, output=out)
        ds = datasets.load_dataset("json", data_files=str(out), split="train",
                                   cache_dir=str(tmp_path / "cache"))  # fmt: skip
        assert set(ds.column_names) == columns and len(ds) == 12


def test_a_run_without_tool_calls_is_one_line(tmp_path: Path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"instruction": "Say hi.", "instances": [{"output": "Hi"}]}) + "\n")
    result = CliRunner().invoke(main, ["export", str(tasks), "--format", "openai-tools"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {tasks}: no tool calls to export; make them with `selfinstruct tools`"
    )
