"""Convert tasks into fine-tuning formats.

One output record per (task, instance). Formats:

* ``alpaca``: ``{"instruction", "input", "output"}``; a JSON array, or JSONL with ``jsonl=True``.
* ``openai``: ``{"messages": [...]}`` per line, checked against OpenAI's chat fine-tuning rules
  (roles system/user/assistant, non-empty string content, at least one assistant message).
* ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt"|"system", "value": ...}]}``.
* ``messages``: ``{"messages": [{"role", "content"}]}``, the generic chat shape (TRL, Axolotl).
* ``openai-tools``, ``sharegpt-tools``: the tools method's calls for function-calling trainers
  (``selfinstruct/export_tools.py``).
* ``prompt-completion``: the paper's GPT-3 fine-tuning shape ``{"prompt", "completion"}``.
  Each prompt uses a random template from ``prompts/finetune_with_input.txt`` or
  ``prompts/finetune_no_input.txt``. As in the reference, half of the inputs (one draw per
  example) are prepared: one with a single field name ("Sentence: ...", on one line or
  several) loses it, and each blank line becomes a line break. The completion is the output,
  after a space when the template ends with a label such as "Output:" (not after a template
  that ends with a line break), followed by ``end_marker`` (empty by default; the paper
  appended GPT-3's ``<|endoftext|>``). Pairs are de-duplicated and shuffled.

A record with ``turns`` (or ``messages``): a list of ``{"role", "content"}``, as the chat and
magpie methods write) becomes one multi-turn conversation in the chat formats (openai,
messages, sharegpt); the other formats use its instruction and first reply as before.

In the chat formats the user turn is the instruction, plus a blank line and the input when
the input is non-empty; the assistant turn is the output. Examples with an empty
instruction or output are skipped and counted (every format except ``alpaca``, which copies
records as they are). All randomness comes from one ``random.Random(seed)``.

``split`` (e.g. 0.95) writes ``<stem>.train<suffix>`` and ``<stem>.validation<suffix>``; the
split is by instruction, so all instances of a task land on the same side.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct import trainers
from selfinstruct.errors import UserError
from selfinstruct.jsonio import atomic_outputs, dumps, write_jsonl
from selfinstruct.records import Task, iter_tasks
from selfinstruct.resources import prompt_path
from selfinstruct.store import tasks_file

BASE_FORMATS = ("alpaca", "openai", "sharegpt", "messages", "prompt-completion", "preference")
CONTAINERS = ("hf", "parquet")
TOOL_FORMATS = ("openai-tools", "sharegpt-tools")  # the tools method's calls
FORMATS = BASE_FORMATS + trainers.SHAPES + TOOL_FORMATS + CONTAINERS
PREFERENCE_FORMATS = ("preference", *trainers.PAIR_SHAPES)
ROW_SHAPES = BASE_FORMATS + trainers.SHAPES  # what --rows may choose for hf and parquet
OPENAI_ROLES = ("system", "user", "assistant")
# A field name opening the input ("Sentence: ", "Customer review:\n"); the reference counts
# names as the words before a colon anywhere in the input.
FIELD_NAME = re.compile(r"^\w[\w ]{0,30}:\s")
NAME_BEFORE_COLON = re.compile(r"(\w+):")
PAPER_END_MARKER = "<|endoftext|>"


@dataclass
class ExportReport:
    written: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    #: Further lines for stderr (a trainer's config entry, the card, the upload).
    notes: list[str] = field(default_factory=list)


@dataclass
class _Example:
    group: str  # instruction, the unit of the train/validation split
    record: dict[str, Any]


# ---------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------


def load_tasks(path: str | Path) -> list[Task]:
    """Tasks of a run folder (its tasks.jsonl) or of a task/Alpaca file, or of stdin (``-``).

    A run folder may have been killed and not resumed yet: its torn last line is skipped with
    a warning, as resuming would drop it.
    """
    if str(path) == "-":
        return [task for _lineno, task in iter_tasks("-")]
    source = Path(path)
    if source.is_dir():
        source = tasks_file(source)
        if not source.is_file():
            raise UserError(f"{path}: not a run folder with tasks (no tasks.jsonl)")
        return [task for _lineno, task in iter_tasks(source, skip_torn_tail=True)]
    if not source.exists():
        raise UserError(f"{path}: no such file or folder")
    return [task for _lineno, task in iter_tasks(source)]


def load_templates(filename: str) -> list[str]:
    """Templates of a prompt file, separated by lines holding only ``---``. A template is its
    lines without the last one's line break, so blank lines before ``---`` are part of it: a
    template without a closing label ends with the line breaks the output follows."""
    text = prompt_path(filename).read_text(encoding="utf-8")
    text = text.removesuffix("\n")
    blocks = re.split(r"\n---[ \t]*\n", text)
    templates = [block for block in blocks if block.strip()]
    if not templates:
        raise UserError(f"{prompt_path(filename)}: holds no templates")
    return templates


# ---------------------------------------------------------------------------------------
# Per-format conversion
# ---------------------------------------------------------------------------------------


def user_content(instruction: str, input_text: str) -> str:
    instruction = instruction.strip()
    input_text = input_text.strip()
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def _tool_calls_problem(calls: Any, called: set[str]) -> str | None:
    """An assistant message's ``tool_calls``: ids, function names, arguments as JSON objects."""
    if not isinstance(calls, list) or not calls:
        return "empty tool_calls"
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not call.get("id") or not function.get("name"):
            return "bad tool call"
        try:
            arguments = json.loads(function.get("arguments", ""))
        except (TypeError, json.JSONDecodeError):
            return "tool call arguments not JSON"
        if not isinstance(arguments, dict):
            return "tool call arguments not JSON"
        called.add(call["id"])
    return None


def openai_problem(example: dict[str, Any]) -> str | None:
    """Why an example breaks OpenAI's chat fine-tuning rules, or None if it is valid. An
    assistant message may carry ``tool_calls`` instead of content; a ``tool`` message answers
    one of the calls before it."""
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return "no messages"
    called: set[str] = set()
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in (*OPENAI_ROLES, "tool"):
            return "bad role"
        if message["role"] == "assistant" and "tool_calls" in message:
            problem = _tool_calls_problem(message["tool_calls"], called)
            if problem:
                return problem
            continue
        if message["role"] == "tool" and message.get("tool_call_id") not in called:
            return "tool message without its call"
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            return "empty content"
    if not any(m["role"] == "assistant" for m in messages):
        return "no assistant message"
    return None


def _chat(
    instruction: str, input_text: str, output: str, system: str | None
) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": user_content(instruction, input_text)})
    messages.append({"role": "assistant", "content": output.strip()})
    return messages


def prepare_input(input_text: str, rng: random.Random) -> str:
    """The reference's preparation of an input, half of the time (one draw per example): an
    input whose only field name opens it ("Sentence: ...", "Code:\n...") loses that name, and
    each blank line ("\n\n") becomes one line break. A lone "name:" that does not open the
    input (a time, "7:30"; a link, "http://") is not taken for a field name."""
    text = input_text.strip()
    if rng.random() >= 0.5:
        return text
    if len(set(NAME_BEFORE_COLON.findall(text))) == 1 and FIELD_NAME.match(text):
        text = text.split(":", 1)[1].strip()
    return text.replace("\n\n", "\n")


def _convert(
    tasks: Iterable[Task],
    fmt: str,
    *,
    system: str | None,
    rng: random.Random,
    end_marker: str,
    report: ExportReport,
) -> list[_Example]:
    if fmt == "prompt-completion":
        with_input = load_templates("finetune_with_input.txt")
        no_input = load_templates("finetune_no_input.txt")
    examples: list[_Example] = []
    for task in tasks:
        instruction = task.instruction
        if fmt in MULTI_TURN_FORMATS and dialogue_turns(task) is not None:
            example = _dialogue_example(task, fmt, system, report)
            if example is not None:
                examples.append(example)
            continue
        for instance in task.instances:
            if fmt == "alpaca":
                record = {
                    "instruction": instruction,
                    "input": instance.input,
                    "output": instance.output,
                }
                examples.append(_Example(instruction, record))
                continue
            if not instruction.strip():
                report.skipped["empty instruction"] += 1
                continue
            if not instance.output.strip():
                report.skipped["empty output"] += 1
                continue
            if fmt == "openai":
                record = {"messages": _chat(instruction, instance.input, instance.output, system)}
                problem = openai_problem(record)
                if problem:
                    report.skipped[problem] += 1
                    continue
            elif fmt == "messages":
                record = {"messages": _chat(instruction, instance.input, instance.output, system)}
            elif fmt == "sharegpt":
                turns = [{"from": "system", "value": system}] if system is not None else []
                turns.append({"from": "human", "value": user_content(instruction, instance.input)})
                turns.append({"from": "gpt", "value": instance.output.strip()})
                record = {"conversations": turns}
            else:  # prompt-completion
                input_text = prepare_input(instance.input, rng)
                if input_text:
                    template = rng.choice(with_input)
                    prompt = template.format(instruction=instruction.strip(), input=input_text)
                else:
                    template = rng.choice(no_input)
                    prompt = template.format(instruction=instruction.strip())
                space = "" if prompt.endswith("\n") else " "  # after a label: " Output"
                record = {
                    "prompt": prompt,
                    "completion": space + instance.output.strip() + end_marker,
                }
            examples.append(_Example(instruction, record))
    return examples


# ---------------------------------------------------------------------------------------
# Multi-turn records (the chat and magpie methods): one conversation per record
# ---------------------------------------------------------------------------------------

MULTI_TURN_FORMATS = ("openai", "messages", "sharegpt")
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def dialogue_turns(task: Task) -> list[Any] | None:
    """A record's conversation ("turns", or "messages"), or None for a single-turn task."""
    extra = task.model_extra or {}
    for name in ("turns", "messages"):
        if name in extra:
            value = extra[name]
            return value if isinstance(value, list) else []
    return None


def _dialogue_problem(turns: list[Any]) -> str | None:
    if not turns:
        return "empty dialogue"
    for turn in turns:
        if not isinstance(turn, dict) or turn.get("role") not in OPENAI_ROLES:
            return "bad role in dialogue"
        content = turn.get("content")
        if not isinstance(content, str) or not content.strip():
            return "empty turn in dialogue"
    if not any(t["role"] == "assistant" for t in turns):
        return "no assistant message"
    return None


def _dialogue_example(
    task: Task, fmt: str, system: str | None, report: ExportReport
) -> _Example | None:
    """All turns of a dialogue as one conversation; --system is prepended unless the dialogue
    has its own system turn."""
    turns = dialogue_turns(task) or []
    problem = _dialogue_problem(turns)
    if problem:
        report.skipped[problem] += 1
        return None
    messages = [{"role": t["role"], "content": t["content"].strip()} for t in turns]
    if system is not None and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    if fmt == "sharegpt":
        record: dict[str, Any] = {
            "conversations": [
                {"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in messages
            ]
        }
    else:
        record = {"messages": messages}
    return _Example(task.instruction, record)


def _dedupe(examples: list[_Example], report: ExportReport) -> list[_Example]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for example in examples:
        key = (example.record["prompt"], example.record["completion"])
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        kept.append(example)
    return kept


def _split(examples: list[_Example], fraction: float, rng: random.Random) -> tuple[list, list]:
    groups: dict[str, list[_Example]] = {}
    for example in examples:
        groups.setdefault(example.group, []).append(example)
    keys = list(groups)
    rng.shuffle(keys)
    n_train = round(len(keys) * fraction)
    if len(keys) >= 2:
        n_train = min(max(n_train, 1), len(keys) - 1)
    train = [ex for key in keys[:n_train] for ex in groups[key]]
    validation = [ex for key in keys[n_train:] for ex in groups[key]]
    return train, validation


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------


def _array_text(records: list[dict[str, Any]]) -> str:
    return "[\n" + ",\n".join("  " + dumps(r) for r in records) + ("\n]\n" if records else "]\n")


def _write_stdout(records: list[dict[str, Any]], as_array: bool) -> int:
    if as_array:
        sys.stdout.write(_array_text(records))
        sys.stdout.flush()
        return len(records)
    return write_jsonl("-", records)


def _write_files(
    parts: list[tuple[Path, list[dict[str, Any]]]],
    as_array: bool,
    extra: list[tuple[Path, str]] | None = None,
) -> None:
    """Write each (path, records), and each (path, text) of ``extra``, beside its path; rename
    them all only when all are written."""
    extra = extra or []
    targets = [target for target, _records in parts] + [target for target, _text in extra]
    with atomic_outputs(*targets) as outputs:
        for output, (_target, records) in zip(outputs, parts, strict=False):
            if as_array:
                output.write_text(_array_text(records))
            else:
                for record in records:
                    output.write(record)
        for output, (_target, text) in zip(outputs[len(parts) :], extra, strict=True):
            output.write_text(text)


def split_paths(output: str | Path) -> tuple[Path, Path]:
    """``out.jsonl`` -> ``out.train.jsonl``, ``out.validation.jsonl``."""
    out = Path(output)
    suffix = out.suffix
    stem = out.name[: -len(suffix)] if suffix else out.name
    return out.with_name(f"{stem}.train{suffix}"), out.with_name(f"{stem}.validation{suffix}")


def check_options(
    fmt: str,
    output: str | Path | None,
    *,
    split: float | None,
    include_seeds: bool,
    system: str | None,
    pairs: str | None,
) -> None:
    """One line for an option that does not fit ``fmt`` (nothing is read or written yet)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if split is not None:
        if output is None or str(output) == "-":
            raise UserError("--split writes two files: give -o FILE")
        if not 0 < split < 1:
            raise UserError(f"--split must be between 0 and 1 (exclusive), got {split}")
    if include_seeds and fmt != "prompt-completion":
        raise UserError("--include-seeds applies to --format prompt-completion only")
    if system is not None and not system.strip():
        raise UserError("--system must not be empty")
    if system is not None and fmt in ("alpaca", "prompt-completion", "axolotl-alpaca"):
        raise UserError(f"--system applies to chat formats, not {fmt}")
    if pairs is not None and fmt not in ("preference", "trl-dpo"):
        raise UserError("--pairs applies to --format preference and trl-dpo only")


def collect(
    path: str | Path,
    fmt: str,
    *,
    system: str | None = None,
    seed_path: Path | None = None,
    seed: int = 42,
    end_marker: str = "",
    pairs: str | None = None,
    report: ExportReport,
) -> tuple[list[_Example], random.Random]:
    """The examples of ``path`` in ``fmt`` (a row shape, not hf/parquet), and the random
    generator a split goes on with."""
    rng = random.Random(seed)
    if fmt in PREFERENCE_FORMATS:
        return preference_examples(path, fmt, pairs or "all", system, report), rng
    tasks = load_tasks(path)
    if seed_path is not None:
        seed_tasks = [task for _lineno, task in iter_tasks(seed_path)]
        if not seed_tasks:
            raise UserError(f"{seed_path}: holds no seed tasks to include")
        tasks += seed_tasks
    base = trainers.base_format(fmt) if fmt in trainers.SFT_SHAPES else fmt
    examples = _convert(tasks, base, system=system, rng=rng, end_marker=end_marker, report=report)
    if fmt in trainers.SFT_SHAPES:
        shaped = trainers.shape_rows([e.record for e in examples], fmt, system, report.skipped)
        examples = [_Example(e.group, row) for e, row in zip(examples, shaped, strict=True) if row]
    if fmt == "prompt-completion":
        examples = _dedupe(examples, report)
        rng.shuffle(examples)
    return examples, rng


def describe_report(report: ExportReport) -> list[str]:
    """Lines for stderr: what was skipped, de-duplicated and written."""
    lines = []
    if report.skipped:
        detail = ", ".join(f"{reason}: {n}" for reason, n in report.skipped.most_common())
        lines.append(f"skipped {sum(report.skipped.values())} invalid examples ({detail})")
    if report.duplicates:
        lines.append(f"dropped {report.duplicates} duplicate prompt/completion pairs")
    for target, count in report.written.items():
        if target != "-":
            lines.append(f"wrote {count} records to {target}")
    return lines + report.notes


# ---------------------------------------------------------------------------------------
# Preference pairs (respond --compare)
# ---------------------------------------------------------------------------------------


PAIRS = ("all", "best-vs-each", "best-vs-worst")


def _ranked(scored: list[dict[str, Any]], pairs: str) -> list[tuple[dict, dict]]:
    """(better, worse) pairs of scored candidates, best first; equal scores make no pair."""
    order = sorted(scored, key=lambda c: -c["score"])  # stable: the first of equals first
    if pairs == "all":
        return [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
    if pairs == "best-vs-each":
        return [(order[0], b) for b in order[1:]]
    return [(order[0], order[-1])]


def _task_statement(record: dict[str, Any]) -> str:
    """The instruction the answers followed: Unnatural Instructions' ``constraints`` (what the
    output must look like) on their own line after it, as ``respond`` asked it."""
    instruction = str(record["instruction"]).strip()
    constraints = record.get("constraints")
    if isinstance(constraints, str) and constraints.strip():
        return f"{instruction}\n{constraints.strip()}"
    return instruction


def _scored(instance: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in instance.get("candidates", [])
            if isinstance(c.get("score"), int) and str(c.get("output", "")).strip()]  # fmt: skip


def preference_pairs(
    records: Iterable[dict[str, Any]], report: ExportReport, pairs: str = "all"
) -> list[_Example]:
    """Ranked pairs per scored instance, as TRL's DPO trainer reads them (``prompt``,
    ``chosen``, ``rejected``). ``all``: every pair of candidates with different scores, as
    GPT-4-LLM released its comparison data; ``best-vs-each``: the best-scored candidate against
    each other one; ``best-vs-worst``: one pair, the best against the worst. Pairs of equal
    scores (ties) are skipped and counted, and so are instances with fewer than two parsed
    scores."""
    if pairs not in PAIRS:
        raise UserError(f"unknown --pairs {pairs!r}; choose one of {', '.join(PAIRS)}")
    examples = []
    for record in records:
        for instance in record.get("instances", []):
            scored = _scored(instance)
            if len(scored) < 2:
                report.skipped["fewer_than_two_scores"] += 1
                continue
            prompt = user_content(_task_statement(record), str(instance.get("input", "")))
            for better, worse in _ranked(scored, pairs):
                if better["score"] == worse["score"]:
                    report.skipped["tie"] += 1
                    continue
                examples.append(_Example(prompt, {
                    "prompt": prompt, "chosen": better["output"], "rejected": worse["output"],
                    "chosen_model": better["model"], "rejected_model": worse["model"],
                    "chosen_score": better["score"], "rejected_score": worse["score"],
                }))  # fmt: skip
    return examples


def kto_examples(
    records: Iterable[dict[str, Any]], system: str | None, report: ExportReport
) -> list[_Example]:
    """TRL's unpaired preference rows: per scored instance, the best-scored answers are
    desirable and the others not; instances whose answers all scored alike are skipped."""
    examples = []
    for record in records:
        for instance in record.get("instances", []):
            scored = _scored(instance)
            if len(scored) < 2:
                report.skipped["fewer_than_two_scores"] += 1
                continue
            prompt = user_content(_task_statement(record), str(instance.get("input", "")))
            rows = trainers.kto_rows(prompt, scored, system)
            if not rows:
                report.skipped["all scores equal"] += 1
            examples += [_Example(prompt, row) for row in rows]
    return examples


def preference_examples(
    path: str | Path, fmt: str, pairs: str, system: str | None, report: ExportReport
) -> list[_Example]:
    """The rows of ``preference``, ``trl-dpo`` or ``trl-kto`` from ``respond --compare``
    output (a run folder, a file, or ``-``)."""
    from selfinstruct.jsonio import display_name, read_records

    source = Path(path)
    if source.is_dir():
        source = tasks_file(source)
    if str(path) != "-" and not source.is_file():
        raise UserError(f"{path}: no such file or folder")
    records = [obj for _, obj in read_records(source if str(path) != "-" else "-")]
    if not any("candidates" in i for r in records for i in r.get("instances", [])):
        raise UserError(
            f"{display_name(source)}: no scored candidates; run `selfinstruct respond --compare`"
        )
    if fmt == "trl-kto":
        return kto_examples(records, system, report)
    examples = preference_pairs(records, report, pairs)
    if fmt == "trl-dpo":
        return [_Example(e.group, trainers.dpo_row(e.record, system)) for e in examples]
    return examples
