"""`selfinstruct judge`: the paper's quality questions by a judge model, or heuristics alone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from selfinstruct.backends.local import BUNDLED_MODEL
from selfinstruct.cli.running import (
    EXIT_CODES,
    _Bar,
    _report,
    model_options,
    out_option,
    run_options,
    take_backend,
)
from selfinstruct.config import default
from selfinstruct.errors import UserError
from selfinstruct.export import load_tasks
from selfinstruct.jsonio import atomic_outputs
from selfinstruct.judgments import judgments_file
from selfinstruct.locking import exclusive
from selfinstruct.methods.judge.method import Judge, heuristic_record, sample
from selfinstruct.methods.judge.report import describe
from selfinstruct.methods.judge.settings import JudgeSettings
from selfinstruct.pricing import parse_price
from selfinstruct.runner import run
from selfinstruct.store import LOCK_FILE, describe_run
from selfinstruct.store import write_report as save_report

NOTHING_TO_ASK = "nothing to ask: pass --rate, or leave the three questions on"


def write_report(out: Path, judge: str | None) -> dict[str, Any]:
    """The report of OUT's judgments, saying which model judged (None: heuristics only)."""
    report = {"judge": judge, **(Judge.report(out) or {})}
    if judge == BUNDLED_MODEL:
        report["note"] = BUNDLED_JUDGE_NOTE.removeprefix("note: ")
    save_report(out, "judge", report)
    for line in describe(report):
        click.echo(line)
    return report


def heuristics_only(in_path: str, out: Path, n: int | None, seed: int) -> None:
    """Every task (or a sample of ``n``), no model: seconds for thousands of tasks."""
    started = time.monotonic()
    tasks = load_tasks(in_path)
    items = sample(tasks, n if n is not None else len(tasks), seed)
    target = judgments_file(out)
    if target.parent.exists() and not target.parent.is_dir():
        raise UserError(f"{out} is a file, not a folder: choose another --out")
    held = describe_run(out)
    if held is not None:
        raise UserError(
            f"{out} holds {held}: --heuristics-only would replace its records; choose another --out"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write to {out}: {exc.strerror}") from None
    with exclusive(out, "--out", lock_file=out / LOCK_FILE):  # the run folder's own lock
        with atomic_outputs(target) as (output,):
            for item in items:
                record = heuristic_record(item)
                record["valid"] = not record["heuristics"]
                output.write(record)
        write_report(out, None)
    click.echo(f"heuristics on {len(items)} tasks in {time.monotonic() - started:.1f}s", err=True)


# Measured: 17 of 18 answers "No" and every rating "A", whatever the task (README).
BUNDLED_JUDGE_NOTE = (
    "note: the bundled 135M model is no judge: its verdicts parse but say little of the data "
    "(see README, 'What the bundled model does as a judge'); use --model for a real one"
)


@click.command("judge")
@click.argument("in_path", metavar="IN", type=click.Path(exists=True, allow_dash=False))
@out_option("data/judge")
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=None,
    help=f"Tasks to judge, sampled with --seed (the paper judged 200) [default: "
    f"{default(JudgeSettings, 'n')}; --heuristics-only: all].",
)
@click.option(
    "--heuristics-only",
    is_flag=True,
    help="No model: only the deterministic checks, each a named reason (seconds).",
)
@click.option("--rate", is_flag=True, help="Also rate each output A/B/C/D (the paper's levels).")
@click.option(
    "--no-questions",
    is_flag=True,
    help="With --rate: skip the three quality questions, rate only.",
)
@model_options
@run_options
def judge(in_path: str, out: Path, n: int | None, **options: Any) -> None:
    """Judge the quality of IN (a task/Alpaca file or a run folder), as the paper did.

    Asks a judge model, per task and one sampled instance: is the instruction a valid task,
    is the input appropriate, is the output correct and acceptable (Yes/No, with a reason).
    Writes OUT/judgments.jsonl (per-task verdicts, for `filter --judged`) and
    OUT/judge_report.json (the rates with 95% intervals beside the paper's 92/79/58/54%).
    The in-process model (bundled or --model-path) is held to the label set by a grammar, so
    its answers always parse (which says nothing of their worth); a server's are parsed
    strictly and may be unparseable.
    """
    o = dict(options)
    if o.pop("heuristics_only"):
        heuristics_only(in_path, out, n, o["seed"])
        return
    parse_price(o["price"])
    rate, questions = o.pop("rate"), not o.pop("no_questions")
    if not (rate or questions):
        raise UserError(NOTHING_TO_ASK)
    backend = take_backend(o)
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    decoding = o.pop("decoding", ())
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = Judge.configure(
        backend, decoding=decoding, n=n or default(JudgeSettings, "n"), input_path=in_path,
        rate=rate, questions=questions, **chosen,
    )  # fmt: skip
    quiet = bool(operational["quiet"])
    bar = _Bar(settings.n, quiet, warn_silence=not backend.in_process)
    try:
        result = run(
            settings, backend, out, allow_changes=bool(operational["allow_setting_changes"]),
            on_progress=bar, price=parse_price(operational["price"]),
        )  # fmt: skip
    finally:
        bar.close()
    _report(result, out)
    if judgments_file(out).exists():
        write_report(out, settings.model)
    if settings.model == BUNDLED_MODEL:
        click.echo(BUNDLED_JUDGE_NOTE, err=True)
    raise SystemExit(EXIT_CODES[result.stop])
