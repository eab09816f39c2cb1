"""The command line: a click group whose commands parse options and call the library.

Each command lives in its own module and is registered below. Library errors
(:class:`~selfinstruct.errors.UserError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

from typing import Any

import click

from selfinstruct import __version__
from selfinstruct.errors import UserError


class CliError(click.ClickException):
    exit_code = 2


class Group(click.Group):
    """The commands are added on first use, not on import: a method package's command module
    imports this package, and the registry must not be read while that package is still
    being imported (it would miss the method)."""

    _registered = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._register()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._register()
        return super().get_command(ctx, cmd_name)

    def _register(self) -> None:
        if not self._registered:
            self._registered = True
            _register(self)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise CliError(str(exc)) from None
        except BrokenPipeError:
            # A closed pipe (`selfinstruct export ... | head`) is not an error.
            ctx.exit(0)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="selfinstruct")
def main() -> None:
    """Make instruction-tuning data the Self-Instruct way.

    \b
    Typical session:
      selfinstruct generate --n 200 --out data/run1     # bundled model, no key needed
      selfinstruct stats data/run1
      selfinstruct filter data/run1/tasks.jsonl -o clean.jsonl
      selfinstruct export clean.jsonl --format openai -o train.jsonl
    """


def _register(group: click.Group) -> None:
    """Each registered method's command (built-ins and plug-ins), then the post-run tools."""
    from selfinstruct import registry
    from selfinstruct.cli.batches_cmd import batches
    from selfinstruct.cli.export_cmd import export
    from selfinstruct.cli.filter_cmd import filter as filter_command
    from selfinstruct.cli.merge_cmd import merge
    from selfinstruct.cli.ray_cmd import ray
    from selfinstruct.cli.recipe_cmd import recipe, run
    from selfinstruct.cli.report_cmd import report
    from selfinstruct.cli.stats_cmd import stats

    for method in registry.methods():
        command = registry.command(method)
        if command is not None and command.name not in group.commands:
            group.add_command(command)
    for command in (filter_command, stats, export, batches, run, recipe, report, merge, ray):
        group.add_command(command)
