"""The tools method's prompts (``prompts/tools/``), its example pairs, and the answer grammar.

A generation prompt is Self-Instruct's: a header, then example blocks (tools as JSON lines,
then their request-call pairs as JSON lines), then the target tools and an open list for the
model to continue. Examples are ours (``prompts/tools/examples.jsonl``) or the user's: one
JSON object a line, ``{"request", "calls", "tools"}``, where ``tools`` (OpenAI tools format)
may be left out when the calls use the spec's own tools.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.gate import Rejection
from selfinstruct.jsonio import display_name, read_records
from selfinstruct.methods.tools.check import Call, check_calls
from selfinstruct.methods.tools.spec import Tool, make_tool
from selfinstruct.prompting import load_prompt
from selfinstruct.resources import prompt_path


@dataclass(frozen=True)
class Example:
    tools: tuple[Tool, ...]
    request: str
    calls: tuple[Call, ...]


def default_examples_path() -> Path:
    return prompt_path("tools/examples.jsonl")


def load_examples(path: str | Path, spec: Mapping[str, Tool]) -> list[Example]:
    """Example pairs, each call checked against its tools as a generated one would be."""
    name = display_name(path)
    if not Path(path).is_file():
        raise UserError(f"{name}: no such examples file")
    examples = []
    for lineno, record in read_records(path):
        where = f"{name}:{lineno}"
        request = record.get("request")
        if not isinstance(request, str) or not request.strip():
            raise UserError(f"{where}: 'request' must be a non-empty string")
        if "tools" in record:
            items = record["tools"] if isinstance(record["tools"], list) else [None]
            tools = []
            for item in items:
                function = item.get("function", item) if isinstance(item, dict) else None
                if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                    raise UserError(f"{where}: each of 'tools' needs a name")
                tools.append(make_tool(function["name"], str(function.get("description") or ""),
                                       function.get("parameters"), None, where))  # fmt: skip
        else:
            raws = record.get("calls") if isinstance(record.get("calls"), list) else []
            names = {c.get("name") for c in raws if isinstance(c, dict)}
            tools = [spec[n] for n in spec if n in names]
        checked = check_calls(record.get("calls"), {t.name: t for t in tools}, request)
        if isinstance(checked, Rejection):
            detail = ", ".join(f"{k} {v}" for k, v in checked.detail.items())
            raise UserError(f"{where}: the example's calls fail: {checked.reason} ({detail})")
        examples.append(Example(tuple(tools), request.strip(), tuple(checked)))
    if not examples:
        raise UserError(f"{name}: holds no examples")
    return examples


def pair_line(request: str, calls: Sequence[Call]) -> str:
    return json.dumps(
        {"request": request, "calls": [c.as_dict() for c in calls]}, ensure_ascii=False
    )


def choose_examples(examples: Sequence[Example], shots: int, rng: random.Random) -> list[Example]:
    """``shots`` examples, whole sets first: the example sets (examples that share their tools)
    in a random order, each set's pairs together, as Gorilla shows one hub's examples."""
    sets: dict[tuple[str, ...], list[Example]] = {}
    for example in examples:
        sets.setdefault(tuple(t.doc for t in example.tools), []).append(example)
    order = list(sets.values())
    rng.shuffle(order)
    return [e for group in order for e in group][:shots]


def request_prompt(tools: Sequence[Tool], shown: Sequence[Example], count: int, chat: bool) -> str:
    parts = [load_prompt("tools/header.txt").strip().replace("{count}", str(count)), ""]
    previous: tuple[Tool, ...] | None = None
    for example in shown:
        if example.tools != previous:
            parts += ["### Tools", *(t.doc for t in example.tools), "### Requests"]
            previous = example.tools
        parts.append(pair_line(example.request, example.calls))
    parts += ["### Tools", *(t.doc for t in tools), "### Requests", ""]
    prompt = "\n".join(parts)
    if chat:
        return load_prompt("tools/chat.txt").format(prompt=prompt.rstrip("\n"), count=count)
    return prompt


def simulate_prompt(tool: Tool, call: Call) -> str:
    return load_prompt("tools/simulate.txt").format(
        tool=tool.doc, call=json.dumps(call.as_dict(), ensure_ascii=False)
    )


def response_prompt(request: str, results: Sequence[tuple[Call, str]]) -> str:
    lines = [f"{json.dumps(c.as_dict(), ensure_ascii=False)} -> {r}" for c, r in results]
    return load_prompt("tools/response.txt").format(request=request, results="\n".join(lines))


# ------------------------------------------------------------------ the answers' grammar

# A string of at most this many characters (a request, an argument value).
STRING_CHARS = 300
_JSON_RULES = [
    'string ::= "\\"" char{0,' + str(STRING_CHARS) + '} "\\""',
    'char ::= [^"\\\\\\n] | "\\\\" ["\\\\/bfnrt]',
    'number ::= "-"? [0-9]{1,12} ("." [0-9]{1,6})?',
    'integer ::= "-"? [0-9]{1,12}',
    'value ::= string | number | "true" | "false" | "null" | object | array',
    'object ::= "{" ( string ": " value (", " string ": " value){0,15} )? "}"',
    'array ::= "[" ( value (", " value){0,15} )? "]"',
]


class _SchemaRules:
    """GBNF rules for values of JSON Schemas: an object's keys are its properties (the required
    ones always, in schema order, then any of the optional ones), an enum one of its values, a
    string, integer, number, boolean or array of its type; anything else any JSON value."""

    def __init__(self) -> None:
        self.rules: list[str] = []

    def value(self, schema: Any) -> str:
        if not isinstance(schema, dict):
            return "value"
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._rule(" | ".join(json.dumps(json.dumps(v)) for v in schema["enum"]))
        kind = schema.get("type")
        if kind == "object" and isinstance(schema.get("properties"), dict):
            return self._rule(self._object(schema))
        if kind == "array":
            item = self.value(schema.get("items"))
            return self._rule(f'"[" ( {item} (", " {item}){{0,15}} )? "]"')
        if kind == "integer":
            return self._integer(schema)
        simple = {"string": "string", "number": "number",
                  "boolean": '("true" | "false")'}  # fmt: skip
        return simple.get(kind, "value") if isinstance(kind, str) else "value"

    def _object(self, schema: dict[str, Any]) -> str:
        required = [k for k in schema["properties"] if k in schema.get("required", [])]
        optional = [k for k in schema["properties"] if k not in required]
        pair = {k: f"{json.dumps(json.dumps(k) + ': ')} {self.value(schema['properties'][k])}"
                for k in schema["properties"]}  # fmt: skip
        if required:
            body = ' ", " '.join(pair[k] for k in required)
            body += "".join(f' (", " {pair[k]})?' for k in optional)
            return f'"{{" {body} "}}"'
        starts = [" ".join([pair[k], *(f'(", " {pair[o]})?' for o in optional[i + 1 :])])
                  for i, k in enumerate(optional)]  # fmt: skip
        return f'"{{" ( {" | ".join(starts)} )? "}}"' if starts else '"{" "}"'

    def _integer(self, schema: dict[str, Any]) -> str:
        """An integer with no more digits than its maximum has, and no sign when its minimum
        is 0 or more (the exact range is the checks')."""
        low, high = schema.get("minimum"), schema.get("maximum")
        if not isinstance(low, int | float) or not isinstance(high, int | float) or low < 0:
            return "integer"
        return self._rule(f"[0-9]{{1,{len(str(int(high)))}}}")

    def _rule(self, body: str) -> str:
        name = f"s{len(self.rules)}"
        self.rules.append(f"{name} ::= {body}")
        return name


def pairs_grammar(tools: Sequence[Tool], count: int) -> str:
    """A GBNF grammar for 1 to ``count`` lines ``{"request": ..., "calls": [...]}``, each call
    naming one of ``tools`` with arguments shaped by its schema (keys, required ones, enums,
    types): every line parses as JSON; ranges, patterns and quoted values are left to the
    checks."""
    schemas = _SchemaRules()
    alternatives = []
    for tool in tools:
        head = json.dumps('{"name": ' + json.dumps(tool.name) + ', "arguments": ')
        alternatives.append(f'{head} {schemas.value(tool.parameters)} "}}"')
    rules = [
        f"root ::= line{{1,{count}}}",
        'line ::= "{\\"request\\": " string ", \\"calls\\": [" call (", " call){0,3} "]}\\n"',
        f"call ::= {' | '.join(alternatives)}",
        *schemas.rules,
        *_JSON_RULES,
    ]
    return "\n".join(rules) + "\n"


def result_grammar() -> str:
    """A GBNF grammar for a simulated tool result: one JSON object on one line."""
    return "\n".join(["root ::= object", *_JSON_RULES]) + "\n"


def parse_result(text: str) -> Any:
    """A simulated result: the first line that parses as JSON (else the text itself)."""
    for line in text.strip().splitlines():
        try:
            return json.loads(line.strip())
        except json.JSONDecodeError:
            continue
    return text.strip()
