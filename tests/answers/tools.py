"""The synthetic model's answers to the tools method's prompts (selfinstruct/methods/tools/).

Generation: the prompt's last "### Tools" block is read and its count of new lines written,
one JSON object a line, built from each tool's schema. Most lines are valid; the rest break in
the ways the checks name (a tool that does not exist, a value out of range, a required
argument left out, a quoted value not in the request, a line that is not JSON) or repeat the
line before (a duplicate). Answers are a function of the prompt, the seed and the salt.
Simulated tool results and final replies are fixed functions of their prompts."""

from __future__ import annotations

import json
import re
from typing import Any

from ._words import ADJECTIVES, NOUNS, PLACES, rng_of

PRIORITY = 3  # told by wording alone ("### Requests"): asked first
COUNT = re.compile(r"write (\d+) new requests")
OPENERS = ("Please", "Could you", "I need you to", "Quickly", "Kindly", "Help me and")


def _value(name: str, schema: dict[str, Any], rng: Any) -> Any:
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 1), schema.get("maximum", 40)
        return rng.randint(int(low), int(high))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [_value(name, schema.get("items") or {"type": "string"}, rng)]
    if kind == "object":
        return {}
    if "[0-9]{4}" in schema.get("pattern", "") or "YYYY" in schema.get("description", ""):
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if schema.get("format") == "email":
        return f"{rng.choice(NOUNS)}@example.org"
    return f"{rng.choice(ADJECTIVES).title()} {rng.choice(PLACES)}"


def _call(tool: dict[str, Any], rng: Any) -> dict[str, Any]:
    schema = tool["parameters"]
    required = schema.get("required", [])
    arguments = {}
    for name, prop in (schema.get("properties") or {}).items():
        if name in required or rng.random() < 0.5:
            arguments[name] = _value(name, prop, rng)
    return {"name": tool["name"], "arguments": arguments}


def _request(calls: list[dict[str, Any]], rng: Any) -> str:
    parts = [f"{name} {json.dumps(value) if not isinstance(value, str) else value}"
             for call in calls for name, value in call["arguments"].items()]  # fmt: skip
    about = " and ".join(parts) or "the defaults"
    return f"{rng.choice(OPENERS)} handle my {rng.choice(NOUNS)} request with {about}?"


def _break(line: dict[str, Any], tools: list[dict[str, Any]], kind: int) -> str:
    call = line["calls"][0]
    schema = next(t["parameters"] for t in tools if t["name"] == call["name"])
    properties = schema.get("properties") or {}
    if kind == 0:
        call["name"] += "V2"  # unknown_tool
    elif kind == 1:
        ranged = [n for n, p in properties.items() if "maximum" in p or "enum" in p]
        if ranged:
            prop = properties[ranged[0]]
            call["arguments"][ranged[0]] = prop.get("maximum", 0) + 10 if "maximum" in prop else "?"
        else:
            call["arguments"]["made_up"] = 1  # unknown_argument
    elif kind == 2 and schema.get("required"):
        call["arguments"].pop(schema["required"][0])  # missing_required
    elif kind == 3:
        quoted = [n for n, p in properties.items() if p.get("x-quoted") and n in call["arguments"]]
        if quoted:
            call["arguments"][quoted[0]] = "Somewhere Else Entirely"  # unquoted_value
        else:
            return json.dumps(line)[:-7]  # unparseable_line
    else:
        return json.dumps(line)[:-7]  # unparseable_line
    return json.dumps(line)


def generation(prompt: str, seed: Any, salt: str) -> str | None:
    count = COUNT.search(prompt)
    if count is None or "### Requests" not in prompt:
        return None
    block = prompt.rsplit("### Tools\n", 1)[1].split("### Requests", 1)[0]
    tools = [json.loads(line) for line in block.strip().splitlines()]
    rng = rng_of("tools", salt, seed, prompt)
    lines: list[str] = []
    broken = rng.randrange(5)  # the kinds of breakage in turn, from a random one
    for j in range(int(count.group(1))):
        if j % 6 == 4:  # after a valid line
            lines.append(lines[-1])  # duplicate
            continue
        calls = [_call(tool, rng) for tool in tools]
        line = {"request": _request(calls, rng), "calls": calls}
        if j % 3 == 2:  # every third line is broken, in one way after another
            lines.append(_break(line, tools, broken % 5))
            broken += 1
        else:
            lines.append(json.dumps(line))
    return "\n".join(lines) + "\n"


def answer(prompt: str, *, chat: bool, stage: str | None, seed: Any, salt: str) -> str | None:
    if prompt.startswith("You play the tool below."):
        call = json.loads(prompt.split("### Call\n", 1)[1].split("\n", 1)[0])
        return json.dumps({"status": "ok", "tool": call["name"], "items": len(call["arguments"])})
    if "### Calls and results" in prompt:
        request = prompt.split("### Request\n", 1)[1].split("\n", 1)[0]
        return f"Done. I took care of it: {request[:60]}"
    return generation(prompt, seed, salt)
