"""``selfinstruct report RUN -o report.html``: one self-contained page about a run folder.

The page needs nothing beside it and fetches nothing: the CSS is inline and the plots of
``stats`` are embedded as ``data:`` URIs. It shows the counts, every drop reason with a few
rejected texts, some kept samples (a dialogue's turns when the tasks are conversations), the
statistics and plots, the method's own section and, where a ``judge_report.json`` is present,
the judge's rates. Every text from the run is escaped.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

from selfinstruct import registry
from selfinstruct.errors import UserError
from selfinstruct.jsonio import read_jsonl
from selfinstruct.report_format import number, percent
from selfinstruct.stats import compute_stats, render_table
from selfinstruct.store import rejected_file, saved_setting, settings_file, summary_file, tasks_file

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 64em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc;
     margin-top: 1.8em; } .meta { color: #666; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 13px; }
.sample { border: 1px solid #ddd; border-radius: 4px; padding: .5em .8em; margin: .6em 0; }
.label { color: #666; font-size: .85em; text-transform: uppercase; letter-spacing: .03em; }
.text { white-space: pre-wrap; } img { max-width: 100%; border: 1px solid #eee; }
"""
TEXT_LIMIT = 600


def build_report(
    folder: str | Path, *, samples: int = 5, examples: int = 3, verbs: bool = False
) -> str:
    """The HTML page for the run folder ``folder``."""
    folder = Path(folder)
    if not settings_file(folder).is_file():
        raise UserError(f"{folder}: not a run folder (no settings.json)")
    method = saved_setting(folder, "method") or "self-instruct"
    summary = _json(summary_file(folder)) or {}
    settings = _json(settings_file(folder)) or {}
    stats = compute_stats(folder, verbs=verbs)
    parts = [
        f"<h1>{escape(folder.resolve().name)}</h1>",
        f'<p class="meta">method {_e(method)} · model {_e(settings.get("model"))}'
        + (f" · {_e(summary.get('status'))}" if summary else "")
        + "</p>",
        _counts(summary, stats.summary["counts"]),
        _drops(folder, examples),
        _samples(folder, samples),
        _statistics(stats, method),
        _method_section(folder, method),
        _judge(folder),
    ]
    body = "\n".join(p for p in parts if p)
    title = f"selfinstruct report: {folder.resolve().name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
        "</body></html>\n"
    )


def _e(value: Any) -> str:
    return escape("-" if value is None else str(value))


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _short(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + " …"


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(number(c))}</td>'
            if isinstance(c, int | float) and not isinstance(c, bool)
            else f"<td>{_e(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _counts(summary: dict[str, Any], counts: dict[str, Any]) -> str:
    rows: list[tuple[Any, ...]] = [("tasks", counts["tasks"]), ("instances", counts["instances"])]
    for key in ("target", "accepted_instructions", "retries"):
        if key in summary:
            rows.append((key.replace("_", " "), summary[key]))
    for stage, count in (summary.get("failures") or {}).items():
        rows.append((f"failed requests ({stage})", count))
    if summary.get("stop_reason"):
        rows.append(("stopped", summary["stop_reason"]))
    return "<h2>Counts</h2>" + _table(rows)


def _drops(folder: Path, examples: int) -> str:
    path = rejected_file(folder)
    if not path.is_file():
        return "<h2>Drop reasons</h2><p>No rejected.jsonl in this run folder.</p>"
    counts: Counter[str] = Counter()
    shown: dict[str, list[str]] = {}
    for _line, record in read_jsonl(path, skip_torn_tail=True):
        reason = str(record.get("reason", "?"))
        stage = record.get("stage")
        key = f"{stage}: {reason}" if stage else reason
        counts[key] += 1
        text = record.get("text", record.get("instruction"))
        if text is None:
            text = json.dumps(record.get("record", record), ensure_ascii=False)
        kept = shown.setdefault(key, [])
        if len(kept) < examples:
            kept.append(str(text))
    if not counts:
        return "<h2>Drop reasons</h2><p>Nothing was dropped.</p>"
    parts = ["<h2>Drop reasons</h2>", _table(counts.most_common(), ("reason", "count"))]
    for key, _count in counts.most_common():
        items = "".join(f'<li class="text">{escape(_short(t))}</li>' for t in shown[key])
        parts.append(f"<h3>{escape(key)}</h3><ul>{items}</ul>")
    return "\n".join(parts)


def _samples(folder: Path, samples: int) -> str:
    path = tasks_file(folder)
    if samples <= 0 or not path.is_file():
        return ""
    shown: list[str] = []
    for _line, record in read_jsonl(path, skip_torn_tail=True):
        if len(shown) >= samples:
            break
        shown.append(_sample(record))
    return "<h2>Kept samples</h2>" + "\n".join(shown) if shown else ""


def _field(label: str, text: Any) -> str:
    return (
        f'<div class="label">{escape(label)}</div><div class="text">{_e(_short(str(text)))}</div>'
    )


def _sample(record: dict[str, Any]) -> str:
    messages = record.get("messages")
    parts: list[str] = []
    if isinstance(messages, list) and messages:
        for message in messages:
            if isinstance(message, dict):
                parts.append(_field(str(message.get("role", "?")), message.get("content", "")))
    else:
        parts.append(_field("instruction", record.get("instruction", "")))
        instances = record.get("instances")
        if not isinstance(instances, list):
            instances = [record]  # Alpaca's shape
        for instance in instances:
            if not isinstance(instance, dict):
                continue
            if instance.get("input"):
                parts.append(_field("input", instance["input"]))
            parts.append(_field("output", instance.get("output", "")))
    return f'<div class="sample">{"".join(parts)}</div>'


def _statistics(stats: Any, method: str) -> str:
    summary = {k: v for k, v in stats.summary.items() if k != method}  # its own section below
    parts = ["<h2>Statistics</h2>", f"<pre>{escape(render_table(summary))}</pre>"]
    from selfinstruct.plots import write_plots

    with tempfile.TemporaryDirectory(prefix="selfinstruct-report-") as tmp:
        for path in write_plots(stats, tmp, "plot"):
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            alt = path.stem.removeprefix("plot_").replace("_", " ")
            parts.append(f'<p><img alt="{escape(alt)}" src="data:image/png;base64,{data}"></p>')
    return "\n".join(parts)


def _method_section(folder: Path, method: str) -> str:
    try:
        kind = registry.get(method)
    except UserError:
        return ""
    section = kind.report(folder)
    if not section:
        return ""
    lines = kind.render_report(section)
    if not lines:
        return ""
    return f"<h2>{escape(method)}</h2><pre>{escape(chr(10).join(lines))}</pre>"


def _judge(folder: Path) -> str:
    report = _json(folder / "judge_report.json")
    if report is None:
        return ""
    parts = ["<h2>Judge</h2>"]
    rows = [(name, r.get("yes"), r.get("of"), percent(r.get("rate")), _ci(r.get("ci95")),
             percent(r.get("paper")) if "paper" in r else "-")
            for name, r in (report.get("rates") or {}).items()]  # fmt: skip
    if rows:
        parts.append(_table(rows, ("question", "yes", "of", "rate", "95% CI", "paper")))
    levels = (report.get("ratings") or {}).get("levels") or {}
    if levels:
        rated = [(level, r.get("yes"), r.get("of"), percent(r.get("rate")), _ci(r.get("ci95")))
                 for level, r in levels.items()]  # fmt: skip
        parts.append(_table(rated, ("rating", "count", "of", "share", "95% CI")))
    flags = report.get("heuristics") or {}
    if flags:
        parts.append(_table(list(flags.items()), ("heuristic flag", "tasks")))
    return "\n".join(parts)


def _ci(value: Any) -> str:
    if not isinstance(value, list) or len(value) != 2:
        return "-"
    return f"{percent(value[0])} – {percent(value[1])}"
