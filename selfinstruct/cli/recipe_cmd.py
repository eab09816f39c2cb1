"""``selfinstruct run RECIPE`` and ``selfinstruct recipe RUN`` (docs/recipes.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from selfinstruct.cli.running import EXIT_CODES, _report


@click.command("run")
@click.argument("recipe_path", metavar="RECIPE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only one line per step.")
def run(recipe_path: Path, quiet: bool) -> None:
    """Run the steps of RECIPE.toml in order (see docs/recipes.md).

    The whole recipe is checked before anything runs. Running it again resumes it: finished
    steps are skipped, an interrupted step resumes, a filter or export step reruns only when
    its input changed or its output is missing.
    """
    from selfinstruct.recipe import load_recipe
    from selfinstruct.recipe_run import StepOutcome, run_recipe

    recipe = load_recipe(recipe_path)

    def started(step: object) -> None:
        if not quiet:
            click.echo(f"step {getattr(step, 'name', '')}: running", err=True)

    def finished(outcome: StepOutcome) -> None:
        if outcome.result is not None:
            _report(outcome.result, outcome.output)
        detail = f" ({outcome.detail})" if outcome.detail else ""
        click.echo(f"step {outcome.step.name}: {outcome.action}{detail}", err=True)

    outcomes = run_recipe(recipe, on_start=started, on_step=finished)
    last = outcomes[-1]
    if not last.complete and last.result is not None:
        click.echo(f"Stopped at step {last.step.name}: run the recipe again to resume.", err=True)
        raise SystemExit(EXIT_CODES[last.result.stop])
    click.echo(f"recipe done: {recipe.folder}", err=True)


@click.command("recipe")
@click.argument("folder", metavar="RUN", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the recipe to this file (default: stdout).",
)
def recipe(folder: Path, output: Path | None) -> None:
    """Print the recipe (TOML) that reproduces the run folder RUN from its settings.json."""
    from selfinstruct.recipe_write import recipe_for

    text = recipe_for(folder)
    if output is None:
        click.echo(text, nl=False)
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, output)
    click.echo(f"wrote {output}", err=True)
