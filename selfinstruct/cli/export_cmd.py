"""``selfinstruct export``: write tasks in a fine-tuning format."""

from __future__ import annotations

from pathlib import Path

import click

from selfinstruct.export import FORMATS, PAIRS, ROW_SHAPES


@click.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (default: stdout); a folder for hf and parquet.",
)
@click.option("--jsonl", is_flag=True, help="alpaca: write JSONL instead of a JSON array.")
@click.option("--system", default=None, help="System message for the chat formats.")
@click.option(
    "--include-seeds",
    is_flag=True,
    help="prompt-completion: add the seed tasks (as the paper did).",
)
@click.option(
    "--seeds",
    type=click.Path(path_type=Path),
    default=None,
    help="Seed file for --include-seeds (default: the bundled seeds).",
)
@click.option(
    "--end-marker",
    default="",
    show_default=False,
    help="prompt-completion: text appended to each completion; the paper used '<|endoftext|>'.",
)
@click.option("--split", type=float, default=None, help="Train share, e.g. 0.95 (needs -o).")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option(
    "--pairs",
    type=click.Choice(PAIRS),
    default=None,
    help="preference: every ranked pair (all, the default, as GPT-4-LLM released them), the "
    "best against each other candidate, or one pair, the best against the worst.",
)
@click.option(
    "--rows",
    type=click.Choice(ROW_SHAPES),
    default=None,
    help="hf, parquet: the shape of the rows (default: messages), e.g. trl-dpo.",
)
@click.option(
    "--push-to-hub",
    metavar="OWNER/NAME",
    default=None,
    help="Upload the parquet folder and its card to this Hub dataset repo (token: HF_TOKEN).",
)
@click.option(
    "--public", is_flag=True, help="--push-to-hub: make a new repo public (default: private)."
)
def export(
    path: Path,
    fmt: str,
    output: Path | None,
    jsonl: bool,
    system: str | None,
    include_seeds: bool,
    seeds: Path | None,
    end_marker: str,
    split: float | None,
    seed: int,
    pairs: str | None,
    rows: str | None,
    push_to_hub: str | None,
    public: bool,
) -> None:
    """Convert a run folder (its tasks.jsonl) or a task/Alpaca file to a fine-tuning format.

    \b
    alpaca             instruction/input/output (JSON array; --jsonl for JSONL)
    openai             {"messages": [...]} checked against OpenAI's chat fine-tuning rules
    sharegpt           {"conversations": [{"from": "human"|"gpt", "value": ...}]}
    messages           {"messages": [{"role", "content"}]} (TRL, Axolotl)
    prompt-completion  the paper's {"prompt", "completion"}; completion = " " + output
    preference         ranked pairs {"prompt", "chosen", "rejected"} of `respond --compare`
    trl-sft            TRL conversational {"messages": [...]}
    trl-prompt-completion  TRL conversational {"prompt": [...], "completion": [...]}
    trl-dpo            TRL conversational preference pairs (from `respond --compare`)
    trl-kto            TRL conversational {"prompt", "completion", "label"} (idem)
    axolotl-chat       {"messages"} for type: chat_template (config entry on stderr)
    axolotl-alpaca     instruction/input/output for type: alpaca (config entry on stderr)
    llamafactory-alpaca    alpaca rows and their dataset_info.json entry beside -o
    llamafactory-sharegpt  {"conversations"} rows and their dataset_info.json entry
    hf                 a folder datasets.load_from_disk opens, with README.md (the card)
    parquet            FOLDER/data/<split>.parquet and README.md, as the Hub lays them out
    """
    from selfinstruct.export import describe_report
    from selfinstruct.exporting import export as run_export

    report = run_export(
        path,
        fmt,
        output=output,
        jsonl=jsonl,
        system=system,
        include_seeds=include_seeds,
        seeds=seeds,
        seed=seed,
        split=split,
        end_marker=end_marker,
        pairs=pairs,
        rows=rows,
        push_to_hub=push_to_hub,
        public=public,
    )
    for line in describe_report(report):
        click.echo(line, err=True)
