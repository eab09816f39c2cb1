"""``selfinstruct report RUN -o report.html``: one self-contained HTML page about a run."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("report")
@click.argument("folder", metavar="RUN", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="The HTML file to write.",
)
@click.option("--samples", default=5, show_default=True, type=click.IntRange(0, 1000),
              help="Kept tasks shown.")  # fmt: skip
@click.option("--examples", default=3, show_default=True, type=click.IntRange(0, 100),
              help="Rejected texts shown per drop reason.")  # fmt: skip
@click.option("--verbs", is_flag=True, help="Add the verb analysis (needs a spaCy pipeline).")
def report(folder: Path, output: Path, samples: int, examples: int, verbs: bool) -> None:
    """Write one self-contained HTML page about the run folder RUN: counts, drop reasons with
    examples, kept samples, the statistics and plots of `stats`, the method's own section and
    the judge's rates. It loads nothing from the network."""
    from selfinstruct.errors import UserError
    from selfinstruct.html_report import build_report

    page = build_report(folder, samples=samples, examples=examples, verbs=verbs)
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"wrote {output}", err=True)
