"""Tool definitions: a JSON list in the OpenAI tools format, or an OpenAPI 3 document.

OpenAI tools: ``[{"type": "function", "function": {"name", "description", "parameters"}}]``
(the bare ``{"name", "description", "parameters"}`` is read too); an optional ``"group"`` on
the item or its function groups tools for ``--combine``.

OpenAPI 3 (JSON, or YAML with PyYAML): each operation is one tool named by its
``operationId``, described by its summary and description, grouped by its first tag. Its path,
query and header parameters, and the properties of a JSON request body (or the body as
``body`` when it is not an object), become the tool's parameters; local ``$ref``s are
resolved. ``x-quoted: true`` on a parameter is carried into its schema.

Every mistake is one line naming the file and the tool: a parameters object that is not a
valid JSON Schema, two tools with one name, an operation without an ``operationId``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from selfinstruct.errors import UserError
from selfinstruct.jsonio import display_name, read_text

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI accepts as a function name
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PARAMETER_PLACES = ("path", "query", "header")
#: Schema keywords that draft 7 (what fastjsonschema compiles) and draft 2020-12 (what
#: jsonschema applies to a schema without ``$schema``) read alike. A schema using only these
#: (and annotations, ``x-`` extensions, formats, which neither asserts) gets a compiled check.
_FAST_KEYWORDS = frozenset(
    {"type", "properties", "required", "enum", "const", "minimum", "maximum",
     "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "items",
     "minItems", "maxItems", "additionalProperties", "minProperties", "maxProperties"}
)  # fmt: skip
_ANNOTATIONS = frozenset(
    {"description", "title", "default", "examples", "format", "nullable", "deprecated",
     "readOnly", "writeOnly", "$comment"}
)  # fmt: skip


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    group: str | None = None
    validator: Any = field(default=None, compare=False, repr=False)
    #: A compiled check that passes only arguments the validator passes (None: no such check).
    passes: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)
    #: Arguments already validated (canonical JSON) -> the first error's detail, or None.
    checked: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def argument_error(self, arguments: dict[str, Any]) -> str | None:
        """What is wrong with ``arguments`` under the tool's JSON Schema (the first error in
        the order of their texts, with its path), or None. Valid arguments of a plain schema
        pass the compiled check (about 2 us against 27 us for the validator's walk); the others
        are judged by the validator, and as the same arguments recur across a run (a city, a
        date), each distinct set is walked once (up to 65,536 of them)."""
        if self.passes is not None:
            try:
                self.passes(arguments)
                return None
            except Exception:  # noqa: BLE001 - any doubt goes to the validator
                pass
        key = json.dumps(arguments, sort_keys=True, ensure_ascii=False)
        if key in self.checked:
            return self.checked[key]
        error = next(iter(sorted(self.validator.iter_errors(arguments), key=str)), None)
        detail = None
        if error is not None:
            at = "/".join(str(p) for p in error.path)
            detail = f"{at}: {error.message}" if at else error.message
        if len(self.checked) < 1 << 16:
            self.checked[key] = detail
        return detail

    @cached_property
    def doc(self) -> str:
        """The tool as the prompts show it: one JSON line (made once: every prompt shows it)."""
        return json.dumps(
            {"name": self.name, "description": self.description, "parameters": self.parameters},
            ensure_ascii=False,
        )

    def openai(self) -> dict[str, Any]:
        """The tool in the OpenAI tools format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def load_tools(path: str | Path) -> list[Tool]:
    """The tools of a spec file, in file order; one line naming the mistake otherwise."""
    name = display_name(path)
    if not Path(path).is_file():
        raise UserError(f"{name}: no such tool spec file")
    text = read_text(path)
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        data = _yaml(text, name)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{name}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict) and str(data.get("openapi", "")).startswith("3"):
        tools = _openapi_tools(data, name)
    elif isinstance(data, list):
        tools = [_openai_tool(item, i, name) for i, item in enumerate(data, start=1)]
    else:
        raise UserError(
            f"{name}: expected a JSON list of tools (OpenAI tools format) or an OpenAPI 3 document"
        )
    if not tools:
        raise UserError(f"{name}: defines no tools")
    seen: dict[str, int] = {}
    for index, tool in enumerate(tools, start=1):
        if tool.name in seen:
            raise UserError(
                f"{name}: two tools are named '{tool.name}' (tools {seen[tool.name]} and {index})"
            )
        seen[tool.name] = index
    return tools


def make_tool(name: str, description: str, parameters: Any, group: str | None, where: str) -> Tool:
    """A checked tool: its name as OpenAI accepts it, its parameters a valid JSON Schema."""
    if not NAME.match(name):
        raise UserError(f"{where}: tool name '{name}' must be 1 to 64 letters, digits, _ or -")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        raise UserError(f"{where}: tool '{name}': parameters must be a JSON Schema of type object")
    kind = validator_for(parameters)
    try:
        kind.check_schema(parameters)
    except SchemaError as exc:
        at = "/".join(str(p) for p in exc.path)
        raise UserError(
            f"{where}: tool '{name}': parameters is not a valid JSON Schema"
            f"{f' at {at}' if at else ''}: {exc.message}"
        ) from None
    return Tool(name, description, parameters, group, kind(parameters), _compiled(parameters))


def _plain(schema: Any) -> bool:
    """Whether ``schema`` uses only keywords that fastjsonschema's draft 7 and jsonschema's
    draft 2020-12 read alike, all the way down."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        if key in _ANNOTATIONS or key.startswith("x-"):
            continue
        if key not in _FAST_KEYWORDS:
            return False
        if key in ("enum", "const"):
            # Python's == makes true equal to 1 (and a list to a tuple); jsonschema does not.
            values = value if key == "enum" and isinstance(value, list) else [value]
            if not all(v is None or isinstance(v, str) for v in values):
                return False
        if key == "properties":
            if not isinstance(value, dict) or not all(map(_plain, value.values())):
                return False
        elif key in ("items", "additionalProperties") and not _plain(value):
            return False  # a list of item schemas means different things in the two drafts
    return True


def _compiled(parameters: dict[str, Any]) -> Callable[[Any], Any] | None:
    """A compiled check for a plain schema (:func:`_plain`), without format checks (jsonschema
    asserts none by default); None for any other schema, which the validator alone judges."""
    if not _plain(parameters):
        return None
    try:
        return fastjsonschema.compile(
            {"$schema": "http://json-schema.org/draft-07/schema#", **parameters},
            use_formats=False,
        )
    except Exception:  # noqa: BLE001 - a schema it cannot compile is the validator's alone
        return None


def _openai_tool(item: Any, index: int, where: str) -> Tool:
    if not isinstance(item, dict):
        raise UserError(f"{where}: tool {index} is not an object")
    function = item.get("function", item)
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise UserError(f"{where}: tool {index} has no name")
    group = function.get("group", item.get("group"))
    return make_tool(
        function["name"],
        str(function.get("description") or ""),
        function.get("parameters"),
        str(group) if group is not None else None,
        where,
    )


def _yaml(text: str, where: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise UserError(f"{where}: reading YAML needs PyYAML (pip install pyyaml)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{where}{line}: not valid YAML") from None


# ------------------------------------------------------------------ OpenAPI 3


def _resolve(node: Any, document: dict[str, Any], where: str, seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points to."""
    if isinstance(node, list):
        return [_resolve(item, document, where, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#/"):
            raise UserError(f"{where}: $ref '{ref}': only references inside the document are read")
        if ref in seen:
            raise UserError(f"{where}: $ref '{ref}' refers to itself")
        target: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise UserError(f"{where}: $ref '{ref}' points to nothing")
            target = target[part]
        return _resolve(target, document, where, (*seen, ref))
    return {key: _resolve(value, document, where, seen) for key, value in node.items()}


def _openapi_tools(document: dict[str, Any], where: str) -> list[Tool]:
    tools = []
    paths = document.get("paths") or {}
    if not isinstance(paths, dict):
        raise UserError(f"{where}: 'paths' must be a mapping")
    for route, item in paths.items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for verb in HTTP_METHODS:
            operation = item.get(verb)
            if not isinstance(operation, dict):
                continue
            label = f"{verb.upper()} {route}"
            operation_id = operation.get("operationId")
            if not isinstance(operation_id, str) or not operation_id:
                raise UserError(
                    f"{where}: {label} has no operationId (each operation becomes a tool named "
                    "by it)"
                )
            parameters = _resolve([*shared, *(operation.get("parameters") or [])], document, where)
            body = _resolve(operation.get("requestBody"), document, where)
            schema = _parameters_schema(parameters, body, f"{where}: {label}")
            text = [str(operation.get(k) or "").strip() for k in ("summary", "description")]
            tags = operation.get("tags") or []
            tools.append(
                make_tool(
                    operation_id,
                    " ".join(t for t in text if t),
                    schema,
                    str(tags[0]) if tags else None,
                    where,
                )
            )
    return tools


def _parameters_schema(parameters: list[Any], body: Any, where: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in parameters:
        if not isinstance(parameter, dict) or parameter.get("in") not in PARAMETER_PLACES:
            continue
        name = parameter.get("name")
        if not isinstance(name, str):
            raise UserError(f"{where}: a parameter has no name")
        schema = dict(parameter.get("schema") or {})
        if parameter.get("description") and "description" not in schema:
            schema["description"] = parameter["description"]
        if parameter.get("x-quoted"):
            schema["x-quoted"] = True
        properties[name] = schema
        if parameter.get("required") or parameter.get("in") == "path":
            required.append(name)
    if isinstance(body, dict):
        content = body.get("content") or {}
        media = content.get("application/json") if isinstance(content, dict) else None
        schema = media.get("schema") if isinstance(media, dict) else None
        if isinstance(schema, dict):
            if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
                properties.update(schema["properties"])
                required += [r for r in schema.get("required") or [] if r not in required]
            else:
                properties["body"] = schema
                if body.get("required"):
                    required.append("body")
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    return result
