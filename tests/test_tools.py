"""`selfinstruct tools`: request-call pairs from a three-tool OpenAPI document, against the
synthetic model (tests/answers/tools.py): every kept call validates against its schema, every
invalid one is in rejected.jsonl with its reason, a kill -9 and resume changes no byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from grammar_check import grammar_allows
from helpers import kill_at, records
from stub_server import StubServer

import selfinstruct as si
from selfinstruct.cli import main
from selfinstruct.export import openai_problem
from selfinstruct.exporting import export
from selfinstruct.methods.tools.prompts import pairs_grammar, result_grammar
from selfinstruct.methods.tools.spec import load_tools

SPEC = Path(__file__).parent / "fixtures" / "tools" / "calendar.yaml"
NAMES = {"getWeather", "listEvents", "createEvent"}


def run_tools(out: Path, n: int = 24, model: FakeBackend | None = None, **values):
    model = model or FakeBackend()
    settings = si.settings("tools", model, spec_path=SPEC, n=n, seed=1, **values)
    return si.run(settings, model, out), model


def assert_every_call_validates(tasks: list[dict]) -> None:
    spec = {t.name: t for t in load_tools(SPEC)}
    for task in tasks:
        shown = {t["function"]["name"] for t in task["tools"]}
        assert shown <= NAMES
        for call in task["calls"]:
            assert call["name"] in shown
            jsonschema.validate(call["arguments"], spec[call["name"]].parameters)
            assert set(call["arguments"]) <= set(spec[call["name"]].parameters["properties"])
        assert json.loads(task["instances"][0]["output"]) == task["calls"]


def test_every_kept_call_validates_and_every_invalid_one_is_dropped_with_its_reason(
    tmp_path: Path,
):
    result, model = run_tools(tmp_path / "run")
    assert result.stop is si.StopKind.COMPLETE
    tasks = records(tmp_path / "run" / "tasks.jsonl")
    assert len(tasks) == 24
    assert_every_call_validates(tasks)
    assert {c["name"] for t in tasks for c in t["calls"]} == NAMES  # one tool per prompt, in turn
    rejected = records(tmp_path / "run" / "rejected.jsonl")
    reasons = {r["reason"] for r in rejected}
    assert {"unknown_tool", "invalid_arguments", "missing_required", "unquoted_value",
            "unparseable_line", "duplicate"} <= reasons  # fmt: skip
    unknown = next(r for r in rejected if r["reason"] == "unknown_tool")
    assert unknown["tool"].endswith("V2") and unknown["calls"][0]["name"] == unknown["tool"]
    # what the model was shown: our three example pairs, then one tool's documentation
    first = model.requests[0]
    assert first.stage == "requests" and first.grammar == ""
    assert first.prompt.count('\n{"request": ') == 3
    weather = load_tools(SPEC)[0].doc
    assert weather.startswith('{"name": "getWeather", "description": "The weather forecast')
    assert first.prompt.endswith(f"### Tools\n{weather}\n### Requests\n")


def test_the_call_set_is_part_of_the_duplicate_check(tmp_path: Path):
    """An identical (request, calls) pair is a duplicate; the same request with other calls
    is kept."""
    spec = tmp_path / "tools.json"
    spec.write_text(json.dumps([{"name": "ping", "parameters": {
        "type": "object", "properties": {"host": {"type": "string"}}}}]))  # fmt: skip
    request = "Check whether the office server answers before the meeting starts"
    lines = [{"request": request, "calls": [{"name": "ping", "arguments": {"host": "a"}}]},
             {"request": request, "calls": [{"name": "ping", "arguments": {"host": "b"}}]},
             {"request": request, "calls": [{"name": "ping", "arguments": {"host": "a"}}]}]  # fmt: skip

    class Scripted(FakeBackend):
        async def complete(self, request, text):  # type: ignore[no-untyped-def]
            from selfinstruct.backends.base import Completion

            self.requests.append(request)
            last = {"request": "Ping the backup host in the basement twice", "calls": [
                {"name": "ping", "arguments": {"host": "c"}}]}  # fmt: skip
            return Completion("\n".join(json.dumps(x) for x in [*lines, last]), "stop")

    model = Scripted()
    settings = si.settings("tools", model, spec_path=spec, n=3, seed=1, requests=4)
    si.run(settings, model, tmp_path / "dup")
    kept = records(tmp_path / "dup" / "tasks.jsonl")
    assert [t["calls"][0]["arguments"]["host"] for t in kept] == ["a", "b", "c"]
    assert [r["reason"] for r in records(tmp_path / "dup" / "rejected.jsonl")] == ["duplicate"]


def test_combine_prompts_with_tool_sets_of_one_group(tmp_path: Path):
    result, model = run_tools(tmp_path / "run", n=30, combine=True)
    tasks = records(tmp_path / "run" / "tasks.jsonl")
    assert_every_call_validates(tasks)
    sets = [t for t in tasks if len(t["tools"]) > 1]
    assert sets and all(t["group"] == "calendar" for t in sets)
    assert all({c["name"] for c in t["calls"]} == {"listEvents", "createEvent"} for t in sets)
    assert any(r.prompt.count('### Tools\n{"name": "listEvents"') for r in model.requests)


def test_responses_use_the_mock_and_label_simulated_results(tmp_path: Path):
    mock = tmp_path / "mock.json"
    mock.write_text(json.dumps({"getWeather": {"temperature": 21, "sky": "clear"}}))
    result, model = run_tools(tmp_path / "run", n=12, responses=True, mock_path=mock)
    tasks = records(tmp_path / "run" / "tasks.jsonl")
    assert len(tasks) == 12
    for task in tasks:
        assert task["response"].startswith("Done. I took care of it: ")
        for call, outcome in zip(task["calls"], task["results"], strict=True):
            assert outcome["name"] == call["name"]
            if call["name"] == "getWeather":
                assert outcome == {"name": "getWeather", "simulated": False,
                                   "content": '{"temperature": 21, "sky": "clear"}'}  # fmt: skip
            else:
                assert outcome["simulated"] is True
                assert json.loads(outcome["content"])["tool"] == call["name"]
    simulated = [r for r in model.requests if r.stage == "simulate"]
    assert simulated and all("getWeather" not in r.prompt.split("### Call")[1] for r in simulated)


def test_stats_shows_calls_per_tool_argument_coverage_and_drops(tmp_path: Path):
    run_tools(tmp_path / "run")
    stats = CliRunner().invoke(main, ["stats", str(tmp_path / "run"), "--no-verbs"])
    assert stats.exit_code == 0, stats.output
    block = stats.output.split("Tools\n", 1)[1]
    assert block.startswith("  pairs 24 (1 tool: 24)\n")
    assert "  getWeather" in block and "arguments used" in block
    tasks = records(tmp_path / "run" / "tasks.jsonl")
    weather = sum(c["name"] == "getWeather" for t in tasks for c in t["calls"])
    cities = sum("city" in c["arguments"] for t in tasks for c in t["calls"])
    line = next(x for x in block.splitlines() if x.startswith("  getWeather"))
    assert line.split()[1] == str(weather) and f"city {cities}," in line
    assert "  drops: " in block and "invalid_arguments" in block


def test_the_grammar_holds_lines_to_the_shown_tools():
    tools = load_tools(SPEC)[:1]
    grammar = pairs_grammar(tools, 2)
    good = '{"request": "Weather in Oslo?", "calls": [{"name": "getWeather", "arguments": {"city": "Oslo", "days": 2}}]}\n'
    assert grammar_allows(grammar, good)
    assert grammar_allows(grammar, good + good)
    assert not grammar_allows(grammar, good.replace("getWeather", "getForecast"))
    assert not grammar_allows(grammar, good * 3)
    assert grammar_allows(result_grammar(), '{"temperature": 21, "sky": ["clear"]}')


@pytest.mark.parametrize(
    ("arguments", "allowed"),
    [
        ('{"city": "Oslo"}', True),
        ('{"city": "Oslo", "unit": "celsius", "days": 2}', True),
        ('{"city": "Oslo", "days": 2}', True),
        ('{"days": 2}', False),  # a required argument left out
        ('{"city": "Oslo", "unit": "kelvin"}', False),  # not one of the enum
        ('{"city": "Oslo", "days": "two"}', False),  # not an integer
        ('{"city": "Oslo", "when": "soon"}', False),  # not an argument of the tool
        ('{"city": "Oslo", "days": 12}', False),  # days: 1 to 7, so one digit
        ('{"city": "Oslo", "days": -1}', False),  # no minus sign when the minimum is 0 or more
    ],
)
def test_the_grammar_holds_arguments_to_the_tool_schema(arguments: str, allowed: bool):
    grammar = pairs_grammar(load_tools(SPEC)[:1], 1)
    line = f'{{"request": "Weather in Oslo?", "calls": [{{"name": "getWeather", "arguments": {arguments}}}]}}\n'
    assert grammar_allows(grammar, line) is allowed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--combine"], "{spec}: --combine needs a group of two or more tools (an OpenAPI tag "
                        "or a \"group\" field); no group has two"),
        (["--examples", "{missing}"], "{missing}: no such examples file"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line_and_exit_2(tmp_path: Path, args, message):
    spec = tmp_path / "tools.json"
    spec.write_text(json.dumps([{"name": "ping", "group": "net"}, {"name": "pong"}]))
    fill = {"spec": str(spec), "missing": str(tmp_path / "none.jsonl")}
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["tools", str(spec), "--out", str(out), "--model", "m",
                                       "--base-url", "http://127.0.0.1:9/v1",
                                       *[a.format(**fill) for a in args]])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "Error: " + message.format(**fill)
    assert not out.exists()


def test_a_broken_spec_is_one_line_from_the_command_line(tmp_path: Path):
    spec = tmp_path / "api.yaml"
    spec.write_text(
        SPEC.read_text(encoding="utf-8").replace("operationId: createEvent", "summary: x")
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["tools", str(spec), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {spec}: POST /events has no operationId (each operation becomes a tool named by it)"
    )
    assert not out.exists()


def test_killed_and_resumed_equals_a_straight_run(tmp_path: Path):
    def command(base_url: str, out: Path) -> list[str]:
        return [sys.executable, "-m", "selfinstruct", "tools", str(SPEC), "--n", "40",
                "--requests", "4", "--out", str(out), "--model", "stub", "--base-url",
                base_url, "--api", "completion", "--concurrency", "3", "--seed", "5",
                "--quiet"]  # fmt: skip

    with StubServer(delay=0.02) as stub:
        straight = tmp_path / "straight"
        done = subprocess.run(command(stub.base_url, straight), capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
    with StubServer(delay=0.02) as stub:
        out = tmp_path / "killed"
        kills = kill_at(command(stub.base_url, out), out,
                        (("tasks", 5), ("rejected", 9), ("tasks", 30)))  # fmt: skip
        assert kills >= 1
        done = subprocess.run(command(stub.base_url, out), capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert (out / "tasks.jsonl").read_bytes() == (straight / "tasks.jsonl").read_bytes()
    assert len(records(out / "tasks.jsonl")) == 40
    assert_every_call_validates(records(out / "tasks.jsonl"))

    def drops(folder: Path) -> list[dict]:
        return [{**r, "request_key": None} for r in records(folder / "rejected.jsonl")]

    assert drops(out) == drops(straight)


@pytest.mark.slow
def test_the_bundled_model_writes_calls_that_validate_end_to_end(tmp_path: Path):
    """The in-process SmolLM2 (no --model), held to the schemas by the grammar. Its requests
    seldom name the values its calls use, so the quoted arguments are unmarked here."""
    spec = tmp_path / "calendar.yaml"
    spec.write_text(SPEC.read_text(encoding="utf-8").replace("x-quoted: true", "x-quoted: false"))
    out = tmp_path / "bundled"
    command = [sys.executable, "-m", "selfinstruct", "tools", str(spec), "--n", "2",
               "--requests", "2", "--responses", "--out", str(out), "--quiet"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    tasks = records(out / "tasks.jsonl")
    assert len(tasks) == 2
    assert_every_call_validates(tasks)
    for task in tasks:
        assert task["response"].strip()
        assert all(r["simulated"] is True for r in task["results"])
        assert all(isinstance(json.loads(r["content"]), dict) for r in task["results"])
    exported = tmp_path / "train.jsonl"
    export(out, "openai-tools", output=exported)
    assert [openai_problem(r) for r in records(exported)] == [None, None]
