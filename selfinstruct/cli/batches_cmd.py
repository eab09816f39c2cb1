"""`selfinstruct batches RUN`: the batch files of a run folder, and results made elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from selfinstruct.errors import UserError
from selfinstruct.pricing import parse_price
from selfinstruct.store import is_run_folder

if TYPE_CHECKING:
    from selfinstruct.config import RunSettings


@click.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--import",
    "import_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A result file made elsewhere (`vllm run-batch -o OUT`): save it into the run folder "
    "and continue the run with its saved settings (writing the next batch files).",
)
@click.option("--price", default=None, metavar="IN,OUT", help="USD per million tokens (list "
              "price; the batch discount is applied).")  # fmt: skip
def batches(run: Path, import_path: Path | None, price: str | None) -> None:
    """Status of a batch-mode run: each batch file (id, status, lines done and failed,
    tokens), the cost so far at the batch discount, and what is left."""
    from selfinstruct.batch.status import import_results, status_lines

    if not is_run_folder(run):
        raise UserError(f"{run} is not a run folder")
    if import_path is None:
        for line in status_lines(run, parse_price(price)):
            click.echo(line)
        return
    from selfinstruct.locking import exclusive
    from selfinstruct.store import LOCK_FILE

    settings = _saved_settings(run)  # before the import: a run that cannot go on takes none
    with exclusive(run, "--out", lock_file=run / LOCK_FILE):
        names = import_results(run, import_path)
    click.echo(f"imported {import_path} for {', '.join(names)}; continuing the run", err=True)
    _continue(run, settings)


def _saved_settings(run: Path) -> RunSettings:
    """The settings the run folder was written with, to continue it."""
    from selfinstruct import registry
    from selfinstruct.store import load_settings_file, saved_setting, settings_file

    if not settings_file(run).is_file():
        raise UserError(
            f"{run} has no settings.json: the run cannot be continued; import into the run "
            "folder that batch mode wrote"
        )
    method = saved_setting(run, "method") or "self-instruct"
    if method not in registry.names():
        known = ", ".join(registry.names())
        raise UserError(f"{settings_file(run)}: unknown method {method!r} (known: {known})")
    settings = load_settings_file(run, registry.settings_model(method))
    assert settings is not None  # the file is there
    return settings


def _continue(run: Path, settings: RunSettings) -> None:
    """Run the folder's method again with its saved settings, in file-only batch mode."""
    from selfinstruct.backends.openai_api import OpenAIBackend
    from selfinstruct.batch.backend import BatchBackend
    from selfinstruct.cli.running import run_and_report

    inner = OpenAIBackend(settings.model, base_url=settings.base_url, api_key="not-needed",
                          api=settings.api)  # fmt: skip
    backend = BatchBackend(inner, file_only=True, notify=lambda line: click.echo(line, err=True))
    run_and_report(settings, backend, run, {"quiet": True})
