"""Is a tool call one the tools allow? Each failure is a drop with a stable reason.

A call is ``{"name": ..., "arguments": {...}}`` (``arguments`` may also be a JSON string, as the
OpenAI API writes it). In order, a call is dropped as:

- ``unparseable_call``: not an object with a string name and an arguments object;
- ``unknown_tool``: its name is not one of the tools shown (a hallucinated tool);
- ``missing_required``: an argument its schema requires is absent;
- ``unknown_argument``: an argument its schema does not define (unless the schema allows more
  with ``additionalProperties``);
- ``invalid_arguments``: the arguments fail the tool's JSON Schema (type, enum, range, pattern);
- ``unquoted_value``: an argument whose schema says ``"x-quoted": true`` has a value that does
  not appear in the request (case and runs of spaces aside): a name, a title, a city the user
  must have given, not one the model made up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from selfinstruct.gate import Rejection
from selfinstruct.methods.tools.spec import Tool


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


def as_call(raw: Any) -> Call | None:
    """A call from its JSON form, or None when it has not that shape."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    arguments = raw.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return Call(raw["name"], arguments)


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def quoted_in(value: Any, request: str) -> bool:
    """A quoted argument's value as it must appear in the request."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return True  # objects and lists are checked item by item by the schema walk
    return _plain(str(value)) in _plain(request)


def _unquoted(schema: Any, value: Any, request: str, where: str) -> str | None:
    """The path of the first quoted value not in the request (nested objects and arrays too)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("x-quoted") and not quoted_in(value, request):
        return where
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unquoted((schema.get("properties") or {}).get(key), item, request,
                              f"{where}.{key}" if where else key)  # fmt: skip
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unquoted(schema.get("items"), item, request, f"{where}[{index}]")
            if found:
                return found
    return None


def check_call(raw: Any, tools: Mapping[str, Tool], request: str) -> Call | Rejection:
    """The call, or why it is dropped."""
    call = as_call(raw)
    if call is None:
        return Rejection("unparseable_call", {"call": raw})
    tool = tools.get(call.name)
    if tool is None:
        return Rejection("unknown_tool", {"tool": call.name})
    schema = tool.parameters
    missing = [name for name in schema.get("required", []) if name not in call.arguments]
    if missing:
        return Rejection("missing_required", {"tool": call.name, "arguments": missing})
    known = schema.get("properties") or {}
    if schema.get("additionalProperties") in (None, False):
        extra = [name for name in call.arguments if name not in known]
        if extra:
            return Rejection("unknown_argument", {"tool": call.name, "arguments": extra})
    error = tool.argument_error(call.arguments)
    if error is not None:
        return Rejection("invalid_arguments", {"tool": call.name, "detail": error})
    where = _unquoted(schema, call.arguments, request, "")
    if where:
        return Rejection("unquoted_value", {"tool": call.name, "argument": where})
    return call


def check_calls(raws: Any, tools: Mapping[str, Tool], request: str) -> list[Call] | Rejection:
    """Every call of a request, or the first failure (its detail names the call, from 0)."""
    if not isinstance(raws, list):
        return Rejection("unparseable_call", {"call": raws})
    if not raws:
        return Rejection("no_calls")
    calls = []
    for index, raw in enumerate(raws):
        checked = check_call(raw, tools, request)
        if isinstance(checked, Rejection):
            return Rejection(checked.reason, {"call_index": index, **checked.detail})
        calls.append(checked)
    return calls


def call_key(calls: list[Call]) -> str:
    """The call set as one canonical text: the same calls give the same key."""
    return json.dumps([c.as_dict() for c in calls], sort_keys=True, ensure_ascii=False)
