"""``selfinstruct merge OUT RUN...``: the shards of one run (``--shard K/N``) as one folder."""

from __future__ import annotations

from pathlib import Path

import click

from selfinstruct.cli.options import FiniteFloatRange


@click.command("merge")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--decontaminate",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Benchmark items (JSONL/JSON with question/instruction/prompt/problem/input/text, or "
    ".txt one per line): drop records that overlap one too much.",
)
@click.option(
    "--decontaminate-threshold",
    type=FiniteFloatRange(min=0, max=1, min_open=True),
    default=0.5,
    show_default=True,
    help="Drop a record when this share of its word n-grams appears in one benchmark item.",
)
@click.option(
    "--decontaminate-ngram",
    type=click.IntRange(min=1, max=50),
    default=5,
    show_default=True,
    help="n of the word n-grams compared.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Threads judging ROUGE-L novelty at once (default: the usable cores, at most 4). The "
    "output is the same for any number.",
)
@click.option(
    "--similar-score",
    type=click.Choice(["max", "first"]),
    default="max",
    show_default=True,
    help="What a record dropped as too similar records in rejected.jsonl: 'max', its highest "
    "ROUGE-L F against the records kept before it (max_score); 'first', the first F above the "
    "threshold found (score). The same records are kept and dropped either way; 'first' is "
    "faster when millions of near copies are dropped.",
)
def merge(
    out: Path,
    runs: tuple[Path, ...],
    decontaminate: Path | None,
    decontaminate_threshold: float,
    decontaminate_ngram: int,
    threads: int | None,
    similar_score: str,
) -> None:
    """Join the run folders of the shards of one run (RUN...: every --shard K/N) into OUT.

    Records are taken in shard order, then file order; each passes the method's gate across
    shards (the instruction rules and ROUGE-L novelty, for methods that grow one pool), ids
    are renumbered, and every drop goes to OUT/rejected.jsonl with its reason. OUT/summary.json
    adds up the shards'. The same inputs always give the same bytes.
    """
    from selfinstruct.merge import merge_runs

    report = merge_runs(
        out, runs, decontaminate=decontaminate, ngram=decontaminate_ngram,
        threshold=decontaminate_threshold, threads=threads,
        similar_score="first" if similar_score == "first" else "max",
    )  # fmt: skip
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items()))
    click.echo(
        f"{report.kept} records from {len(runs)} shards in {out}"
        + (f" (dropped: {dropped})" if dropped else ""),
        err=True,
    )
