"""A dataset card (``README.md`` with the Hub's YAML front matter) for an exported data set.

Written from what the input holds: a run folder gives its method (asked of the registry, with
its paper), model(s), decoding per stage (settings.json), counts and drop reasons
(summary.json, rejected.jsonl) and the statistics ``selfinstruct stats`` computes
(:func:`selfinstruct.stats.compute_stats`); a bare task file gives its counts and statistics
and says that the rest is unknown.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct import registry
from selfinstruct.errors import UserError
from selfinstruct.store import settings_file, summary_file

MARKER = "<!-- written by selfinstruct export -->"
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"))  # fmt: skip
SHAPE_TAGS = {"trl-dpo": "dpo", "trl-kto": "kto", "preference": "preference"}
LIMITATIONS = (
    "This data was written by a language model, not by people, and nobody checked it row by "
    "row: answers can be wrong, outdated or unsafe, and the filters only drop malformed or "
    "near-duplicate items. Fine-tuning on imitation data copies a teacher's style much more "
    "than its factual knowledge or reasoning: a model trained on it can sound as confident as "
    'the teacher while being right less often (Gudibande et al. 2023, "The False Promise of '
    'Imitating Proprietary LLMs", https://arxiv.org/abs/2305.15717). Evaluate a model trained '
    "on it on held-out factual and reasoning benchmarks, not on how its answers read. The "
    "teacher model's terms of use may restrict what the data can be used for."
)


@dataclass
class SplitFiles:
    """One split of the written data: its name, its files (a pattern inside the folder) and
    how many rows it holds."""

    name: str
    path: str
    rows: int


def size_category(rows: int) -> str:
    for limit, label in SIZES:
        if rows < limit:
            return label
    return "n>10M"


def _method_lines(name: str) -> list[str]:
    """The method and its paper, from the registry (its package's docstring names the paper)."""
    try:
        method = registry.get(name)
    except UserError:
        return [f"- Method: `{name}` (not installed here, so not described)"]
    package = sys.modules.get(method.__module__.rpartition(".")[0])
    paper = (package.__doc__ or "").strip().splitlines() if package else []
    about = (method.__doc__ or "").strip().splitlines()
    lines = [f"- Method: `{name}`" + (f": {paper[0].strip()}" if paper else "")]
    if about:
        lines.append(f"- What it does: {about[0].strip()}")
    return lines


def _models(settings: dict[str, Any]) -> list[str]:
    found = []
    for key, value in settings.items():
        if "model" not in key or key.endswith(("_base_url", "_path")):
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and item:
                found.append(f"`{item}` ({key})")
    return found


def _decoding_lines(name: str, settings: dict[str, Any]) -> list[str]:
    try:
        stages = registry.get(name).stages
    except UserError:
        stages = {}
    lines = []
    for stage, field in stages.items():
        decoding = settings.get(field)
        if isinstance(decoding, dict):
            params = ", ".join(f"{k}={json.dumps(v)}" for k, v in decoding.items() if v is not None)
            lines.append(f"- {stage}: {params}")
    return lines


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _dist(dist: dict[str, Any] | None, digits: int = 1) -> str:
    if not dist:
        return "none"
    shown = {k: f"{dist[k]:.{digits}f}" for k in ("median", "mean", "p90", "min", "max")}
    return (
        f"median {shown['median']}, mean {shown['mean']}, p90 {shown['p90']}, "
        f"min {shown['min']}, max {shown['max']} (n={dist['n']})"
    )


def _stats_lines(stats: dict[str, Any]) -> list[str]:
    counts = stats.get("counts", {})
    words = stats.get("words", {})
    lines = [
        f"- Tasks: {counts.get('tasks')}, instances: {counts.get('instances')}, "
        f"with an empty input: {counts.get('empty_input_instances')}",
        f"- Instruction words: {_dist(words.get('instruction'))}",
        f"- Input words (non-empty inputs): {_dist(words.get('input_nonempty'))}",
        f"- Output words: {_dist(words.get('output'))}",
    ]
    if counts.get("classification_known"):
        lines.append(f"- Classification tasks: {counts['classification_share']:.1%} of known")
    rouge = stats.get("rouge_l_to_seed")
    if rouge:
        lines.append(
            f"- ROUGE-L to the most similar of {rouge['n_seeds']} seed instructions: "
            f"{_dist(rouge['distribution'], 2)}; above 0.7: {rouge['share_above_0.7']:.1%}"
        )
    return lines


def _run_lines(folder: Path, stats: dict[str, Any] | None) -> tuple[list[str], str, str]:
    """The card's run section, the method's name and the data's language."""
    settings = _read_json(settings_file(folder)) or {}
    name = str(settings.get("method") or "self-instruct")
    lines = ["## How it was made", "", *_method_lines(name)]
    models = _models(settings)
    lines.append(f"- Model(s): {', '.join(models) if models else 'not recorded'}")
    if settings.get("api"):
        lines.append(f"- API: {settings['api']}")
    decoding = _decoding_lines(name, settings)
    if decoding:
        lines += ["", "Decoding per stage:", "", *decoding]
    summary = _read_json(summary_file(folder))
    lines += ["", "## Counts and drop reasons", ""]
    if summary is None:
        lines.append("- summary.json is missing (an interrupted run?): no run totals")
    else:
        for key in ("status", "target", "accepted_instructions", "tasks", "instances"):
            if summary.get(key) is not None:
                lines.append(f"- {key.replace('_', ' ')}: {summary[key]}")
        usage = summary.get("run_usage") or {}
        if usage.get("total_tokens"):
            lines.append(f"- tokens used: {usage['total_tokens']}")
    rejected = (stats or {}).get("run", {}).get("rejected") or {}
    if rejected:
        lines.append("- dropped (rejected.jsonl), by stage and reason:")
        for stage, reasons in rejected.items():
            detail = ", ".join(f"{reason} {n}" for reason, n in reasons.items())
            lines.append(f"  - {stage}: {detail}")
    elif summary and summary.get("rejected"):
        detail = ", ".join(f"{k} {v}" for k, v in summary["rejected"].items())
        lines.append(f"- dropped: {detail}")
    translate = settings.get("translate")
    language = translate if isinstance(translate, str) and len(translate) == 2 else "en"
    return lines, name, language


def render_card(
    source: str | Path,
    *,
    shape: str,
    splits: list[SplitFiles],
    title: str,
    skipped: dict[str, int],
) -> str:
    """The card's text: front matter, then what the data is and how it was made."""
    import yaml

    folder = Path(source) if str(source) != "-" and Path(source).is_dir() else None
    stats: dict[str, Any] | None = None
    note = None
    if str(source) == "-":
        note = "The data came from standard input: no statistics."
    else:
        from selfinstruct.stats import compute_stats

        try:
            stats = compute_stats(source, verbs=False).summary
        except UserError as exc:
            note = f"Statistics unavailable: {exc}"
    if folder is not None and settings_file(folder).is_file():
        run_lines, method, language = _run_lines(folder, stats)
    else:
        method, language = None, "en"
        run_lines = [
            "## How it was made",
            "",
            f"Exported from a task file ({Path(str(source)).name}), not a run folder: the "
            "method, model(s), decoding and drop reasons are not known.",
        ]
    total = sum(split.rows for split in splits)
    tags = ["synthetic", "selfinstruct", *([method] if method else [])]
    tags.append(SHAPE_TAGS.get(shape, "instruction-tuning"))
    meta = {
        "pretty_name": title,
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s.name, "path": s.path} for s in splits],
            }
        ],
        "size_categories": [size_category(total)],
        "task_categories": ["text-generation"],
        "language": [language],
        "tags": tags,
    }
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    front += "license:  # fill in: the seed data's and the teacher model's terms apply\n"
    rows = ", ".join(f"{s.name}: {s.rows}" for s in splits)
    body = [
        f"# {title}",
        "",
        MARKER,
        "",
        f"Synthetic instruction data written by `selfinstruct`, exported as `{shape}` rows "
        f"({rows}).",
        "",
        *run_lines,
        "",
    ]
    if skipped:
        detail = ", ".join(f"{reason} {n}" for reason, n in skipped.items())
        body += [f"Skipped by the export: {detail}.", ""]
    body += ["## Statistics", "", "From `selfinstruct stats` (verb-object analysis not run)."]
    body += ["", *(_stats_lines(stats) if stats else [note or "none"]), ""]
    body += ["## Limitations", "", LIMITATIONS]
    return f"---\n{front}---\n\n" + "\n".join(body) + "\n"
