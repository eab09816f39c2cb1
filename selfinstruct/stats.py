"""Statistics of a generated data set: counts, length distributions, overlap with the seeds.

The input is a run folder written by ``selfinstruct generate`` or a single task file (our
task JSONL, or Alpaca's instruction/input/output records as JSONL or a JSON array). The
result is a plain dictionary (``StatsResult.summary``) that the CLI prints as a table or as
JSON, plus the raw per-item values (``StatsResult.raw``) that :mod:`selfinstruct.plots` draws.

ROUGE-L to the most similar seed is the exact ``rouge_score`` ROUGE-L F-measure (default
tokenizer, no stemmer), computed for all instruction/seed pairs at once by
:func:`selfinstruct.novelty.best_matches` (native LCS, rouge_score's own float formula).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfinstruct import registry
from selfinstruct.config import RunSettings
from selfinstruct.errors import UserError
from selfinstruct.jsonio import read_jsonl
from selfinstruct.methods.base import Method
from selfinstruct.novelty import best_matches
from selfinstruct.records import iter_tasks
from selfinstruct.report_format import number, percent
from selfinstruct.resources import default_seed_path
from selfinstruct.store import (
    failures_file,
    instructions_file,
    load_settings_file,
    rejected_file,
    saved_setting,
    summary_file,
    tasks_file,
)


@dataclass
class StatsResult:
    summary: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict)
    #: One-line warnings for stderr (e.g. the run's seed file is gone).
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Data:
    """What the statistics need, kept per item as small numbers where possible.

    Inputs and outputs are reduced to word counts while reading (their texts are not kept):
    on 200K tasks the texts alone were most of the memory after the ROUGE-L matrices.
    """

    instructions: list[str] = field(default_factory=list)
    input_words: list[int] = field(default_factory=list)  # non-empty inputs only
    output_words: list[int] = field(default_factory=list)
    n_instances: int = 0
    n_empty_input: int = 0
    instances_per_task: list[int] = field(default_factory=list)
    classification: list[bool | None] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def _load(path: Path) -> tuple[_Data, str, list[str]]:
    """Return the data, a description of the source and notes for the reader."""
    notes: list[str] = []
    if str(path) == "-":
        return _read_tasks(path), "stdin", notes
    if path.is_dir():
        # A run killed and not resumed yet may end in a torn line: skipped with a warning.
        tasks = tasks_file(path)
        if tasks.is_file():
            return _read_tasks(tasks, skip_torn_tail=True), "run folder", notes
        machine = instructions_file(path)
        if machine.is_file():
            notes.append(
                f"{tasks.name} is missing (interrupted run?): "
                f"instructions read from {machine.name}, no instances"
            )
            data = _Data()
            for _lineno, obj in read_jsonl(machine, skip_torn_tail=True):
                data.instructions.append(str(obj.get("instruction", "")))
                data.instances_per_task.append(0)
                data.classification.append(None)
            return data, "run folder", notes
        raise UserError(f"{path}: not a run folder (no {tasks.name} or {machine.name})")
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    return _read_tasks(path), "task file", notes


def _read_tasks(path: Path, skip_torn_tail: bool = False) -> _Data:
    data = _Data()
    for _lineno, task in iter_tasks(path, skip_torn_tail=skip_torn_tail):
        data.instructions.append(task.instruction)
        data.instances_per_task.append(len(task.instances))
        data.classification.append(task.is_classification)
        data.n_instances += len(task.instances)
        for instance in task.instances:
            if instance.input.strip():
                data.input_words.append(word_count(instance.input))
            else:
                data.n_empty_input += 1
            data.output_words.append(word_count(instance.output))
    return data


def read_instructions(path: Path) -> list[str]:
    """Instructions of a seed (or any task) file, in either accepted shape."""
    return [task.instruction for _lineno, task in iter_tasks(path)]


# ---------------------------------------------------------------------------------------
# Small statistics
# ---------------------------------------------------------------------------------------


def word_count(text: str) -> int:
    """Words are whitespace-separated runs, as in the paper's length figure."""
    return len(text.split())


def describe(values: list[float] | np.ndarray) -> dict[str, float | int] | None:
    """min / median / mean / p90 / max (numpy's linear-interpolation percentiles)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return None
    return {
        "n": int(arr.size),
        "min": float(arr.min()),
        "median": float(np.median(arr)),
        "mean": float(arr.mean()),
        "p90": float(np.percentile(arr, 90)),
        "max": float(arr.max()),
    }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ---------------------------------------------------------------------------------------
# ROUGE-L against the seeds
# ---------------------------------------------------------------------------------------


def max_rouge_l_to(texts: list[str], references: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """For each text, the best ROUGE-L F against ``references`` and the index of that reference.

    Exact rouge_score values (its tokenizer, no stemmer); an empty token list scores 0.
    """
    return best_matches(texts, references, "rouge")


# ---------------------------------------------------------------------------------------
# Run folder extras
# ---------------------------------------------------------------------------------------


def _run_seed_path(folder: Path, warnings: list[str]) -> Path:
    """The seed file the run was generated from (its settings.json), else the bundled one.

    A run made with ``--seeds`` must be compared with its own seeds, not the bundled ones; when
    that file is gone (or the settings cannot be read) the bundled seeds are used and a
    one-line warning names what was missing.
    """
    bundled = default_seed_path()
    try:
        saved = saved_setting(folder, "seeds_path")
    except UserError as exc:
        warnings.append(f"{exc}; ROUGE-L to seeds uses the bundled seeds {bundled}")
        return bundled
    if saved is None:
        return bundled
    seed_path = Path(str(saved))
    if not seed_path.is_file():
        warnings.append(
            f"the run's seed file {seed_path} no longer exists; "
            f"ROUGE-L to seeds uses the bundled seeds {bundled}"
        )
        return bundled
    return seed_path


def _run_method(folder: Path) -> tuple[type[Method], RunSettings] | None:
    """The method (from the registry) and settings a run folder was written with; None when
    they cannot be read (unreadable settings were warned about) or name no known method."""
    try:
        method = registry.get(saved_setting(folder, "method") or "self-instruct")
        settings = load_settings_file(folder, method.Settings)
    except UserError:
        return None
    return None if settings is None else (method, settings)


def _run_info(folder: Path) -> dict[str, Any]:
    info: dict[str, Any] = {}
    rejected = rejected_file(folder)
    if rejected.is_file():
        by_stage: dict[str, Counter[str]] = {}
        for _lineno, obj in read_jsonl(rejected, skip_torn_tail=True):
            stage = str(obj.get("stage") or "unknown")
            reason = str(obj.get("reason") or "unknown")
            by_stage.setdefault(stage, Counter())[reason] += 1
        info["rejected"] = {
            stage: dict(counter.most_common()) for stage, counter in sorted(by_stage.items())
        }
    machine = instructions_file(folder)
    if machine.is_file():
        info["accepted_instructions"] = sum(1 for _ in read_jsonl(machine, skip_torn_tail=True))
    failures = failures_file(folder)
    if failures.is_file():
        counter: Counter[str] = Counter(
            str(obj.get("stage") or "unknown")
            for _lineno, obj in read_jsonl(failures, skip_torn_tail=True)
        )
        info["failures"] = dict(counter.most_common())
    summary = summary_file(folder)
    if summary.is_file():
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{summary}: invalid JSON ({exc})") from None
        # The whole run folder across resumes (run_usage) when present; else this session's.
        run_usage = data.get("run_usage")
        usage = data.get("usage") or {}
        if isinstance(run_usage, dict) and isinstance(run_usage.get("by_stage"), dict):
            usage = {
                stage: {**row, "requests": row.get("responses", 0)}
                for stage, row in run_usage["by_stage"].items()
                if isinstance(row, dict)
            }
            data = {**data, "cost_usd": run_usage.get("cost_usd")}
        if isinstance(usage, dict):
            total = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
            stages = {}
            for stage, row in usage.items():
                if not isinstance(row, dict):
                    continue
                stages[stage] = {key: int(row.get(key) or 0) for key in total}
                for key in total:
                    total[key] += stages[stage][key]
            info["usage"] = {"stages": stages, "total": total}
        info["cost_usd"] = data.get("cost_usd")
    else:
        info["usage"] = None
        info["notes"] = ["summary.json is missing (interrupted run?): no token or cost totals"]
    return info


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------


def compute_stats(
    path: str | Path,
    *,
    seeds: str | Path | None = None,
    verbs: bool = True,
    top_verbs: int = 20,
    top_objects: int = 4,
) -> StatsResult:
    """All statistics of ``path``.

    ``seeds`` defaults to the run's own seed file for a run folder (``seeds_path`` in its
    settings.json) and to the bundled seed file otherwise.
    """
    path = Path(path)
    data, kind, notes = _load(path)
    n_tasks = len(data.instructions)
    n_instances = data.n_instances
    known_clf = [c for c in data.classification if c is not None]
    n_empty_input = data.n_empty_input

    instr_words = [word_count(t) for t in data.instructions]
    input_words = data.input_words
    output_words = data.output_words

    summary: dict[str, Any] = {
        "source": {"path": str(path), "kind": kind},
        "counts": {
            "tasks": n_tasks,
            "instances": n_instances,
            "instances_per_task": describe(data.instances_per_task),
            "classification_known": len(known_clf),
            "classification_share": _share(sum(known_clf), len(known_clf)),
            "empty_input_instances": n_empty_input,
            "empty_input_share": _share(n_empty_input, n_instances),
        },
        "words": {
            "instruction": describe(instr_words),
            "input_nonempty": describe(input_words),
            "output": describe(output_words),
        },
        "notes": notes,
    }
    raw: dict[str, Any] = {
        "words_instruction": instr_words,
        "words_input": input_words,
        "words_output": output_words,
    }

    # ROUGE-L to the most similar seed
    warnings: list[str] = []
    if seeds is not None:
        seed_path = Path(seeds)
    elif kind == "run folder":
        seed_path = _run_seed_path(path, warnings)
    else:
        seed_path = default_seed_path()
    if seeds is None and not seed_path.is_file():
        summary["rouge_l_to_seed"] = None
        notes.append(f"no seed file at {seed_path}: ROUGE-L to seeds skipped (use --seeds PATH)")
    else:
        own = _run_method(path) if seeds is None and kind == "run folder" else None
        references = own[0].reference_texts(own[1]) if own is not None else None
        seed_instructions = references if references is not None else read_instructions(seed_path)
        if not seed_instructions:
            raise UserError(f"{seed_path}: holds no seed instructions (--seeds)")
        scores, best = max_rouge_l_to(data.instructions, seed_instructions)
        raw["rouge_l_to_seed"] = scores.tolist()
        summary["rouge_l_to_seed"] = {
            "seeds": str(seed_path),
            "n_seeds": len(seed_instructions),
            "distribution": describe(scores),
            "share_above_0.7": _share(int((scores > 0.7).sum()), len(scores)),
        }
        if len(scores):
            top = int(scores.argmax())
            summary["rouge_l_to_seed"]["closest_pair"] = {
                "instruction": data.instructions[top],
                "seed": seed_instructions[int(best[top])],
                "score": float(scores[top]),
            }

    # Verb–object structure
    if verbs:
        from selfinstruct import verbnoun

        analysis = verbnoun.analyze(data.instructions, top_verbs=top_verbs, top_objects=top_objects)
        summary["verbs"] = analysis.summary
        raw["verb_objects"] = analysis.summary.get("top_verbs") or []
    else:
        summary["verbs"] = {"available": False, "reason": "skipped (--no-verbs)"}

    if kind == "run folder":
        summary["run"] = _run_info(path)
        own = _run_method(path)
        if own is not None:
            section = own[0].report(path)
            summary["source"]["method"] = own[0].name
            if section is not None and own[0].name not in summary:
                summary[own[0].name] = section  # the method's own section, under its name
    return StatsResult(summary=summary, raw=raw, warnings=warnings)


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


def _dist_row(label: str, dist: dict[str, Any] | None, digits: int = 1) -> str:
    if not dist:
        return f"  {label:<22}{'-':>8}"
    cells = [number(dist["n"])] + [
        number(dist[key], digits) for key in ("min", "median", "mean", "p90", "max")
    ]
    return f"  {label:<22}" + "".join(f"{c:>8}" for c in cells)


def _dist_header(title: str) -> str:
    cols = ["n", "min", "median", "mean", "p90", "max"]
    return f"{title:<24}" + "".join(f"{c:>8}" for c in cols)


def render_table(summary: dict[str, Any]) -> str:
    lines: list[str] = []
    src = summary["source"]
    counts = summary["counts"]
    lines.append(f"{src['path']}  ({src['kind']})")
    lines.append("")
    lines.append("Counts")
    ipt = counts["instances_per_task"]
    per_task = (
        "-"
        if not ipt
        else f"min {number(ipt['min'])} · median {number(ipt['median'])} · "
        f"mean {ipt['mean']:.2f} · max {number(ipt['max'])}"
    )
    clf = (
        f"{percent(counts['classification_share'])} of {counts['classification_known']:,} labelled"
        if counts["classification_known"]
        else "n/a (no is_classification field)"
    )
    rows = [
        ("tasks", f"{counts['tasks']:,}"),
        ("instances", f"{counts['instances']:,}"),
        ("instances per task", per_task),
        ("classification tasks", clf),
        (
            "instances, empty input",
            f"{counts['empty_input_instances']:,} ({percent(counts['empty_input_share'])})",
        ),
    ]
    lines += [f"  {k:<26}{v}" for k, v in rows]
    lines.append("")
    words = summary["words"]
    lines.append(_dist_header("Words per"))
    lines.append(_dist_row("instruction", words["instruction"]))
    lines.append(_dist_row("input (non-empty)", words["input_nonempty"]))
    lines.append(_dist_row("output", words["output"]))
    lines.append("")

    rouge = summary.get("rouge_l_to_seed")
    if rouge:
        lines.append(_dist_header("ROUGE-L to closest seed"))
        lines.append(_dist_row(f"vs {rouge['n_seeds']} seeds", rouge["distribution"], 3))
        lines.append(
            f"  share above 0.7: {percent(rouge['share_above_0.7'])}   seeds: {rouge['seeds']}"
        )
        lines.append("")

    verbs = summary.get("verbs") or {}
    if verbs.get("available"):
        lines.append(f"Root verbs and direct objects  (parser: {verbs['parser']})")
        n = verbs["instructions"]
        lines.append(
            f"  with a root verb {verbs['with_verb']:,} ({percent(_share(verbs['with_verb'], n))}), "
            f"with verb + object {verbs['with_pair']:,} ({percent(_share(verbs['with_pair'], n))})"
        )
        lines.append(
            f"  distinct root verbs {verbs['distinct_verbs']:,}, "
            f"distinct verb-object pairs {verbs['distinct_pairs']:,}"
        )
        lines.append(f"  top {len(verbs['top_verbs'])} verbs (count) and their top objects:")
        for row in verbs["top_verbs"]:
            objects = ", ".join(f"{o['object']} {o['count']}" for o in row["objects"]) or "-"
            lines.append(f"    {row['verb']:<14}{row['count']:>6}   {objects}")
    else:
        lines.append(f"Root verbs and direct objects: not computed ({verbs.get('reason', '?')})")
    lines.append("")

    run = summary.get("run")
    if run:
        lines.append("Run")
        if "accepted_instructions" in run:
            lines.append(f"  accepted instructions     {run['accepted_instructions']:,}")
        rejected = run.get("rejected")
        if rejected:
            lines.append("  rejected (stage / reason):")
            for stage, reasons in rejected.items():
                for reason, count in reasons.items():
                    lines.append(f"    {stage:<14}{reason:<28}{count:>8,}")
        elif rejected is None:
            lines.append("  rejected: no rejected.jsonl")
        if run.get("failures"):
            failed = ", ".join(f"{stage} {count}" for stage, count in run["failures"].items())
            lines.append(f"  failed requests: {failed}")
        usage = run.get("usage")
        if usage:
            lines.append(
                f"  {'tokens by stage':<24}{'requests':>10}{'prompt':>12}{'completion':>12}"
            )
            for stage, row in list(usage["stages"].items()) + [("total", usage["total"])]:
                lines.append(
                    f"    {stage:<22}{row['requests']:>10,}"
                    f"{row['prompt_tokens']:>12,}{row['completion_tokens']:>12,}"
                )
            cost = run.get("cost_usd")
            priced = "not priced (local or unlisted model; see generate --price)"
            lines.append(f"  cost: {priced if cost is None else f'${cost:,.4f}'}")
        for note in run.get("notes", []):
            lines.append(f"  note: {note}")
        lines.append("")
    method = summary["source"].get("method")
    if method is not None and summary.get(method):
        lines += registry.get(method).render_report(summary[method])
    for note in summary.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines).rstrip() + "\n"


def render_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, indent=2)
