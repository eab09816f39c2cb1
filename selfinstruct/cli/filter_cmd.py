"""`selfinstruct filter`: options in, one library call, a summary per reason out."""

from __future__ import annotations

from pathlib import Path

import click

from selfinstruct.cli.options import FiniteFloatRange, instruction_filter_options
from selfinstruct.filtering import FilterOptions, near_dup_settings, run_filter
from selfinstruct.judgments import load_judged
from selfinstruct.language import parse_codes


@click.command(name="filter")
@click.argument("in_path", metavar="IN.jsonl", type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--out",
    "out_path",
    default="-",
    show_default=True,
    type=click.Path(allow_dash=True),
    help="Where the kept records go ('-' for stdout).",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Side file for dropped records with their reason "
    "(default: OUT with .rejected.jsonl, or none when writing to stdout).",
)
@click.option(
    "--against",
    "against_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also reject instructions too similar to this set (e.g. the seed tasks).",
)
@instruction_filter_options
@click.option("--no-novelty", is_flag=True, help="Skip the ROUGE-L novelty check.")
@click.option(
    "--max-instances",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Instances kept per task.",
)
@click.option(
    "--judged",
    "judged_path",
    type=click.Path(exists=True),
    default=None,
    help="Verdicts from `selfinstruct judge` (its judgments.jsonl or folder): drop tasks "
    "by --keep.",
)
@click.option(
    "--keep",
    type=click.Choice(["valid", "not-invalid"]),
    default="valid",
    show_default=True,
    help="With --judged: valid keeps only tasks judged valid; not-invalid drops only tasks "
    "judged invalid.",
)
@click.option(
    "--keep-top-ifd",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Superfiltering: score IFD with the bundled model and keep this share of the hardest "
    "records (IFD below 1), e.g. 0.1. Slow: two model passes per record.",
)
@click.option(
    "--keep-longest",
    type=click.IntRange(min=1),
    default=None,
    metavar="K",
    help="After the other filters keep only the K records with the longest response "
    "(characters), as Magpie's released sets do.",
)
@click.option(
    "--near-dup",
    type=click.Choice(["minhash"]),
    default=None,
    help="Drop near-duplicates of records kept before (MinHash LSH over the instruction, "
    "inputs and outputs; needs the filters extra).",
)
@click.option(
    "--minhash-threshold",
    type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="With --near-dup: the Jaccard similarity of shingles that counts as a duplicate "
    "[default: 0.8].",
)
@click.option(
    "--shingle",
    type=click.IntRange(min=1),
    default=None,
    help="With --near-dup: words per shingle [default: 5].",
)
@click.option(
    "--num-perm",
    type=click.IntRange(min=2),
    default=None,
    help="With --near-dup: MinHash permutations [default: 128].",
)
@click.option(
    "--language",
    "language_codes",
    metavar="CODES",
    default=None,
    help="Keep records whose instruction is in one of these ISO 639-1 languages, e.g. en or "
    "en,de (lingua's offline detector; needs the filters extra).",
)
def filter(  # noqa: A001 - the command's name
    in_path: str,
    out_path: str,
    rejects_path: Path | None,
    against_path: str | None,
    threshold: float,
    tokenizer: str,
    blacklist: str,
    allow_non_ascii_start: bool,
    no_novelty: bool,
    max_instances: int,
    judged_path: str | None = None,
    keep: str = "valid",
    keep_top_ifd: float | None = None,
    keep_longest: int | None = None,
    near_dup: str | None = None,
    minhash_threshold: float | None = None,
    shingle: int | None = None,
    num_perm: int | None = None,
    language_codes: str | None = None,
) -> None:
    """Apply the Self-Instruct filters to IN.jsonl ('-' for stdin), in input order.

    Reads our task format (instruction + instances) or Alpaca's (instruction/input/output,
    JSONL or a JSON array) and writes kept records in the same shape. Instruction rules, the
    instance rules, then ROUGE-L novelty against the records kept before (and --against).
    """
    near = near_dup_settings(near_dup, minhash_threshold, shingle, num_perm)
    if rejects_path is None and out_path != "-":
        rejects_path = Path(str(out_path).removesuffix(".jsonl") + ".rejected.jsonl")
    options = FilterOptions(
        threshold=threshold, tokenizer=tokenizer, blacklist=blacklist,  # type: ignore[arg-type]
        ascii_first_char=not allow_non_ascii_start, max_instances=max_instances,
        novelty=not no_novelty,
        judged=load_judged(judged_path) if judged_path is not None else None, keep=keep,
        keep_top_ifd=keep_top_ifd, keep_longest=keep_longest, near_dup=near,
        languages=parse_codes(language_codes) if language_codes is not None else None,
    )  # fmt: skip
    report = run_filter(in_path, out_path, rejects_path, options, against_path, judged_path)
    click.echo(f"kept {report.kept} of {report.read}", err=True)
    for reason, count in report.reasons.most_common():
        click.echo(f"  {reason}: {count}", err=True)
    if rejects_path and report.reasons:
        click.echo(f"rejected records: {rejects_path}", err=True)
