"""Tool-use records (``selfinstruct tools``: ``calls``, ``tools``, with ``--responses`` also
``results`` and ``response``) in the shapes trainers take for function calling.

* ``openai-tools``: OpenAI's fine-tuning format: ``{"messages", "tools"}``, the user's request,
  the assistant's ``tool_calls`` (arguments as a JSON string, ids ``call_0``, ``call_1``...), and
  when the record has results, one ``tool`` message per call and the assistant's reply.
* ``sharegpt-tools``: ShareGPT with function calling as LLaMA-Factory reads it:
  ``{"conversations": [human, function_call, observation, gpt], "tools": "<JSON list>"}``;
  several calls are one ``function_call`` turn holding a JSON list, their results one
  ``observation`` holding a JSON list.

Keys starting with ``x-`` (``x-quoted``: the method's own check) are left out of the tools.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.export import (
    ExportReport,
    _Example,
    _split,
    _write_files,
    _write_stdout,
    openai_problem,
    split_paths,
)
from selfinstruct.jsonio import display_name, read_records
from selfinstruct.locking import exclusive_all
from selfinstruct.output_guard import check_output
from selfinstruct.store import tasks_file

TOOL_FORMATS = ("openai-tools", "sharegpt-tools")


def _plain(node: Any) -> Any:
    """A schema without the ``x-`` keys."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if not str(k).startswith("x-")}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _openai(record: dict[str, Any], system: str | None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": str(record["instruction"]).strip()})
    calls = [
        {"id": f"call_{i}", "type": "function",
         "function": {"name": c["name"], "arguments": _dumps(c.get("arguments") or {})}}
        for i, c in enumerate(record["calls"])
    ]  # fmt: skip
    messages.append({"role": "assistant", "tool_calls": calls})
    results, response = record.get("results"), record.get("response")
    if results and response:
        for call, result in zip(calls, results, strict=True):
            messages.append({"role": "tool", "tool_call_id": call["id"],
                             "content": str(result["content"])})  # fmt: skip
        messages.append({"role": "assistant", "content": str(response).strip()})
    return {"messages": messages, "tools": _plain(record.get("tools") or [])}


def _sharegpt(record: dict[str, Any], system: str | None) -> dict[str, Any]:
    calls = [{"name": c["name"], "arguments": c.get("arguments") or {}} for c in record["calls"]]
    turns = [
        {"from": "human", "value": str(record["instruction"]).strip()},
        {"from": "function_call", "value": _dumps(calls[0] if len(calls) == 1 else calls)},
    ]
    results, response = record.get("results"), record.get("response")
    if results and response:
        contents = [str(r["content"]) for r in results]
        observed = contents[0] if len(contents) == 1 else _dumps(contents)
        turns += [{"from": "observation", "value": observed},
                  {"from": "gpt", "value": str(response).strip()}]  # fmt: skip
    functions = [_plain(t.get("function", t)) for t in record.get("tools") or []]
    out: dict[str, Any] = {"conversations": turns, "tools": _dumps(functions)}
    if system:
        out["system"] = system
    return out


def tool_examples(
    records: list[dict[str, Any]], fmt: str, system: str | None, report: ExportReport
) -> list[_Example]:
    examples = []
    for record in records:
        if not record.get("calls") or not str(record.get("instruction", "")).strip():
            report.skipped["no tool calls"] += 1
            continue
        if fmt == "openai-tools":
            converted = _openai(record, system)
            problem = openai_problem(converted)
            if problem:
                report.skipped[problem] += 1
                continue
        else:
            converted = _sharegpt(record, system)
        examples.append(_Example(str(record["instruction"]), converted))
    return examples


def export_tools(
    path: str | Path,
    fmt: str,
    output: str | Path | None,
    split: float | None,
    seed: int,
    system: str | None,
) -> ExportReport:
    source = Path(path)
    if source.is_dir():
        source = tasks_file(source)
    if str(path) != "-" and not source.is_file():
        raise UserError(f"{path}: no such file or folder")
    records = [obj for _, obj in read_records(source if str(path) != "-" else "-")]
    if not any(r.get("calls") for r in records):
        raise UserError(
            f"{display_name(source if str(path) != '-' else '-')}: no tool calls to export; "
            "make them with `selfinstruct tools`"
        )
    report = ExportReport()
    examples = tool_examples(records, fmt, system, report)
    if output is None or str(output) == "-":
        report.written["-"] = _write_stdout([e.record for e in examples], False)
        return report
    targets = list(split_paths(output)) if split is not None else [Path(output)]
    for target in targets:
        check_output(target, "-o", [path])
    with exclusive_all([(target, "-o") for target in targets]):
        sides = [examples] if split is None else list(_split(examples, split, random.Random(seed)))
        parts = [(t, [e.record for e in side]) for t, side in zip(targets, sides, strict=True)]
        _write_files(parts, False)
    for target, written in parts:
        report.written[str(target)] = len(written)
    return report
