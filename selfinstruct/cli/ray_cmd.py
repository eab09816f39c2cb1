"""``selfinstruct ray``: a method's command as N shards on a Ray cluster, then the merge."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm


@click.command("ray", context_settings={"ignore_unknown_options": True})
@click.option("--shards", type=click.IntRange(min=1), required=True, help="Shards (Ray tasks).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder on storage every node shares: OUT/shard-K-of-N, OUT/logs, OUT/merged.",
)
@click.option(
    "--address",
    default=None,
    help="The Ray cluster (auto: the one `ray start` joined this machine to). Default: a "
    "local Ray started for this job.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Times a killed or lost shard is started again (it resumes its run folder).",
)
@click.option(
    "--cpus-per-shard",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="CPUs Ray reserves per shard (a shard mostly waits on its model server).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def ray(
    shards: int,
    out: Path,
    address: str | None,
    retries: int,
    cpus_per_shard: float,
    quiet: bool,
    command: tuple[str, ...],
) -> None:
    """Run a method's command (after --) as SHARDS Ray tasks, then merge them into OUT/merged.

    \b
    selfinstruct ray --address auto --shards 8 --out /shared/job -- \\
        respond data.json --model m --base-url http://10.0.0.5:8000/v1

    Each shard is `selfinstruct COMMAND --shard K/N --out OUT/shard-K-of-N`; a killed shard is
    retried and resumes its folder (answers already received come from its cache). Run the
    same command again to take up a job that stopped. See docs/scale.md.
    """
    from selfinstruct.ray_launcher import check_command, launch

    check_command(command)
    bar = tqdm(total=0, unit="record", disable=quiet, dynamic_ncols=True)

    def shown(written: int, wanted: int) -> None:
        bar.total = max(wanted, written)
        bar.n = written
        bar.refresh()

    try:
        report = launch(
            command, shards, out, address=address, retries=retries,
            cpus_per_shard=cpus_per_shard, on_progress=shown,
        )  # fmt: skip
    finally:
        bar.close()
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items()))
    click.echo(
        f"{report.kept} records from {shards} shards in {report.out}"
        + (f" (dropped: {dropped})" if dropped else ""),
        err=True,
    )
