"""Tool specs (OpenAI tools list, OpenAPI 3) and the checks every generated call passes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from selfinstruct.errors import UserError
from selfinstruct.gate import Rejection
from selfinstruct.methods.tools.check import Call, call_key, check_calls
from selfinstruct.methods.tools.spec import load_tools, make_tool

SPEC = Path(__file__).parent / "fixtures" / "tools" / "calendar.yaml"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "x-quoted": True},
                           "days": {"type": "integer", "minimum": 1, "maximum": 7}},
            "required": ["city"],
        },
    },
    "group": "weather",
}  # fmt: skip


def write(tmp_path: Path, data: object, name: str = "tools.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_an_openapi_document_gives_one_tool_per_operation_named_by_its_id():
    tools = load_tools(SPEC)
    assert [t.name for t in tools] == ["getWeather", "listEvents", "createEvent"]
    assert [t.group for t in tools] == ["weather", "calendar", "calendar"]
    weather, listing, create = tools
    assert weather.description == "The weather forecast for a city."
    assert weather.parameters["required"] == ["city"]
    assert weather.parameters["properties"]["city"] == {
        "type": "string", "description": "City name, as the user wrote it.", "x-quoted": True,
    }  # fmt: skip
    # $ref resolved, the JSON body's properties are the tool's arguments
    assert listing.parameters["properties"]["date"]["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    assert create.parameters["required"] == ["title", "date"]
    assert set(create.parameters["properties"]) == {"title", "date", "attendees"}


def test_an_openai_tools_list_is_read_with_its_groups(tmp_path: Path):
    bare = {"name": "ping", "parameters": {"type": "object", "properties": {}}}
    tools = load_tools(write(tmp_path, [WEATHER, bare]))
    assert [(t.name, t.group) for t in tools] == [("get_weather", "weather"), ("ping", None)]
    assert tools[0].openai() == {k: v for k, v in WEATHER.items() if k != "group"}


def test_a_broken_schema_is_one_line_naming_the_tool(tmp_path: Path):
    broken = json.loads(json.dumps(WEATHER))
    broken["function"]["parameters"]["properties"]["days"]["type"] = "integr"
    path = write(tmp_path, [broken])
    with pytest.raises(UserError) as error:
        load_tools(path)
    assert str(error.value) == (
        f"{path}: tool 'get_weather': parameters is not a valid JSON Schema at "
        "properties/days/type: 'integr' is not valid under any of the given schemas"
    )


def test_a_duplicate_name_is_one_line(tmp_path: Path):
    path = write(tmp_path, [WEATHER, WEATHER])
    with pytest.raises(UserError) as error:
        load_tools(path)
    assert str(error.value) == f"{path}: two tools are named 'get_weather' (tools 1 and 2)"


def test_an_operation_without_an_id_is_one_line(tmp_path: Path):
    text = SPEC.read_text(encoding="utf-8").replace("      operationId: listEvents\n", "")
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as error:
        load_tools(path)
    assert str(error.value) == (
        f"{path}: GET /events has no operationId (each operation becomes a tool named by it)"
    )


def test_neither_a_list_nor_openapi_is_one_line(tmp_path: Path):
    path = write(tmp_path, {"tools": []})
    with pytest.raises(UserError) as error:
        load_tools(path)
    assert str(error.value) == (
        f"{path}: expected a JSON list of tools (OpenAI tools format) or an OpenAPI 3 document"
    )


TOOLS = {t.name: t for t in load_tools(SPEC)}
REQUEST = "What will the weather be in Porto for the next 3 days?"


@pytest.mark.parametrize(
    ("calls", "reason", "detail"),
    [
        ([{"name": "getForecast", "arguments": {}}], "unknown_tool", {"tool": "getForecast"}),
        ([{"name": "getWeather", "arguments": {"days": 3}}], "missing_required",
         {"tool": "getWeather", "arguments": ["city"]}),
        ([{"name": "getWeather", "arguments": {"city": "Porto", "days": 30}}],
         "invalid_arguments", {"tool": "getWeather", "detail": "days: 30 is greater than the maximum of 7"}),
        ([{"name": "getWeather", "arguments": {"city": "Porto", "unit": "kelvin"}}],
         "invalid_arguments", {"tool": "getWeather",
                               "detail": "unit: 'kelvin' is not one of ['celsius', 'fahrenheit']"}),
        ([{"name": "getWeather", "arguments": {"city": "Lisbon"}}], "unquoted_value",
         {"tool": "getWeather", "argument": "city"}),
        ([{"name": "getWeather", "arguments": {"city": "Porto", "when": "soon"}}],
         "unknown_argument", {"tool": "getWeather", "arguments": ["when"]}),
        (["getWeather(city='Porto')"], "unparseable_call", {"call": "getWeather(city='Porto')"}),
        ([], "no_calls", {}),
    ],
)  # fmt: skip
def test_each_failure_is_a_drop_with_its_reason(calls, reason, detail):
    result = check_calls(calls, TOOLS, REQUEST)
    expected = {"call_index": 0, **detail} if calls else detail
    assert result == Rejection(reason, expected)


def test_a_valid_call_passes_with_its_string_arguments_read():
    raw = [{"name": "getWeather", "arguments": '{"city": "porto", "days": 3}'}]
    assert check_calls(raw, TOOLS, REQUEST) == [Call("getWeather", {"city": "porto", "days": 3})]
    second = [{"name": "getWeather", "arguments": {"city": "Porto"}},
              {"name": "listEvents", "arguments": {"date": "2025-13"}}]  # fmt: skip
    assert check_calls(second, TOOLS, REQUEST) == Rejection("invalid_arguments", {
        "call_index": 1, "tool": "listEvents",
        "detail": "date: '2025-13' does not match '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'"})  # fmt: skip


def test_the_call_key_ignores_argument_order():
    a = [Call("getWeather", {"city": "Porto", "days": 3})]
    b = [Call("getWeather", {"days": 3, "city": "Porto"})]
    assert call_key(a) == call_key(b) != call_key([Call("getWeather", {"city": "Porto"})])


def test_each_distinct_set_of_arguments_is_validated_once():
    """The schema walk runs once per distinct arguments (key order aside); a repeat gets the
    same verdict, and 3, 3.5 and true stay distinct sets."""
    walked: list[object] = []

    class Counting:
        def __init__(self, validator: Any) -> None:
            self.validator = validator

        def iter_errors(self, arguments: object) -> Any:
            walked.append(arguments)
            return self.validator.iter_errors(arguments)

    first_tool = load_tools(SPEC)[0]
    # Without the compiled check, which passes valid arguments before the walk.
    tool = dataclasses.replace(first_tool, validator=Counting(first_tool.validator), passes=None)
    tools = {tool.name: tool}
    bad = {"name": "getWeather", "arguments": {"city": "Porto", "days": 30}}
    swapped = {"name": "getWeather", "arguments": {"days": 30, "city": "Porto"}}
    first = check_calls([bad], tools, REQUEST)
    assert check_calls([swapped], tools, REQUEST) == first
    assert first == Rejection("invalid_arguments", {
        "call_index": 0, "tool": "getWeather",
        "detail": "days: 30 is greater than the maximum of 7"})  # fmt: skip
    assert len(walked) == 1
    for days in (3, 3.5, True, 3):
        check_calls([{"name": "getWeather", "arguments": {"city": "Porto", "days": days}}],
                    tools, REQUEST)  # fmt: skip
    assert len(walked) == 4
    again = [{"name": "getWeather", "arguments": {"city": "Porto", "days": 3.5}}]
    assert check_calls(again, tools, REQUEST).reason == "invalid_arguments"  # type: ignore[union-attr]


def test_plain_schemas_get_a_compiled_check_and_others_do_not():
    """Every tool of the tests' spec is plain; a keyword the two drafts read differently, or
    an enum Python compares loosely (true == 1), leaves the validator alone."""
    assert all(tool.passes is not None for tool in load_tools(SPEC))
    for schema in (
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
        {"type": "object", "properties": {"a": {"prefixItems": [{"type": "string"}]}}},
        {"type": "object", "properties": {"a": {"enum": [1, 2]}}},
        {"type": "object", "properties": {"a": {"const": True}}},
        {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {}}},
    ):
        assert make_tool("t", "", schema, None, "spec").passes is None, schema
    assert make_tool("t", "", {"type": "object", "properties": {"a": {"enum": ["x", None]}}},
                     None, "spec").passes is not None  # fmt: skip


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 60) | st.floats(allow_nan=False)
    | st.sampled_from([0.0, 1.0, 7.0, 7.5, -0.0, 1e300]) | st.text(max_size=6)
    | st.sampled_from(["celsius", "2024-01-02", "Porto", "x" * 40, "2024-1-2\n"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
_SCHEMAS = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(
                [
                    "string",
                    "integer",
                    "number",
                    "boolean",
                    "null",
                    "array",
                    "object",
                    ["integer", "null"],
                    ["number", "string"],
                ]
            ),
            "minimum": st.sampled_from([0, 1, 1.5]),
            "maximum": st.sampled_from([7, 7.0, 50]),
            "exclusiveMinimum": st.sampled_from([0, 0.5]),
            "exclusiveMaximum": st.just(10),
            "minLength": st.integers(0, 3),
            "maxLength": st.integers(0, 8),
            "pattern": st.sampled_from(["^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "a", "^$"]),
            "enum": st.lists(st.sampled_from(["celsius", "fahrenheit", "", None]), min_size=1),
            "format": st.sampled_from(["date", "email"]),
            "description": st.text(max_size=3),
        },
    ),  # fmt: skip
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["object", "array"]),
            "properties": st.dictionaries(
                st.sampled_from(["", "a", "b", "city"]), inner, max_size=3
            ),
            "required": st.lists(st.sampled_from(["a", "b"]), unique=True),
            "additionalProperties": st.booleans() | inner,
            "items": inner,
            "minItems": st.integers(0, 2),
            "maxItems": st.integers(0, 3),
            "minProperties": st.integers(0, 2),
            "maxProperties": st.integers(0, 3),
        },
    ),  # fmt: skip
    max_leaves=5,
)


@settings(max_examples=400, deadline=None)
@given(schema=_SCHEMAS, arguments=st.dictionaries(st.sampled_from(["a", "b", "city", "x"]),
                                                  _VALUES, max_size=3))  # fmt: skip
def test_the_compiled_check_passes_only_what_jsonschema_passes(
    schema: dict[str, Any], arguments: dict[str, Any]
) -> None:
    """The verdict is always jsonschema's: the compiled check may only let through arguments
    the validator would find no error in (any other arguments go on to the validator)."""
    tool = make_tool("t", "", {**schema, "type": "object"}, None, "spec")
    assume(tool.passes is not None)  # a schema fastjsonschema turns down: the validator's alone
    try:
        tool.passes(arguments)
    except Exception:  # noqa: BLE001
        return
    assert next(tool.validator.iter_errors(arguments), None) is None
