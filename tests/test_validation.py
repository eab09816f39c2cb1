"""Numbers on the command line: NaN, infinity and negative values are refused with one line
naming the option (exit status 2), before any model is loaded or any server contacted."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from stub_server import StubServer

from selfinstruct.cli import main
from selfinstruct.cli.options import FINITE_NONNEGATIVE


def last_line(result) -> str:  # noqa: ANN001 - click's Result
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def stub():
    with StubServer(delay=0.0) as server:
        yield server


def generate(stub: StubServer, out: Path, *extra: str):
    args = ["generate", "--base-url", stub.base_url, "--model", "stub", "--n", "2"]
    return CliRunner().invoke(main, [*args, "--out", str(out), "--quiet", *extra])


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_threshold_must_be_finite_in_generate(stub, tmp_path, value):
    result = generate(stub, tmp_path / "run", "--threshold", value)
    assert result.exit_code == 2
    assert last_line(result) == (
        f"Error: Invalid value for '--threshold': {value!r} is not a finite number."
    )
    assert stub.hits == 0 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_threshold_must_be_finite_in_filter(tmp_path, value):
    source = tmp_path / "in.jsonl"
    source.write_text('{"instruction": "Name three rivers in Europe.", "instances": []}\n')
    result = CliRunner().invoke(main, ["filter", str(source), "--threshold", value])
    assert result.exit_code == 2
    assert last_line(result) == (
        f"Error: Invalid value for '--threshold': {value!r} is not a finite number."
    )


def test_threshold_range_still_checked(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"instruction": "Name three rivers in Europe.", "instances": []}\n')
    result = CliRunner().invoke(main, ["filter", str(source), "--threshold", "1.5"])
    assert result.exit_code == 2
    assert last_line(result) == (
        "Error: Invalid value for '--threshold': 1.5 is not in the range 0<=x<=1."
    )
    ok = CliRunner().invoke(main, ["filter", str(source), "--threshold", "0.5", "--no-novelty"])
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("price", ["nan,1", "1,nan", "-1,2", "2,-0.5", "inf,1"])
def test_price_must_be_finite_and_not_negative(stub, tmp_path, price):
    result = generate(stub, tmp_path / "run", "--price", price)
    assert result.exit_code == 2
    assert last_line(result) == (
        f"Error: --price {price!r}: prices must be finite numbers, 0 or more "
        "(USD per million tokens)"
    )
    assert stub.hits == 0


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("instructions.temperature=nan", "'nan' is not a finite number"),
        ("classify.top_p=inf", "'inf' is not a finite number"),
        ("instructions.presence_penalty=-inf", "'-inf' is not a finite number"),
        ("instructions.max_tokens=-5", "max_tokens must be 1 or more"),
        ("classify.max_tokens=0", "max_tokens must be 1 or more"),
        ("generation_instances.temperature=-0.1", "temperature must be 0 or more"),
        ("classify.top_p=-0.5", "top_p must be between 0 and 1"),
        ("classify.top_p=1.5", "top_p must be between 0 and 1"),
    ],
)
def test_decoding_values_are_checked(stub, tmp_path, item, message):
    result = generate(stub, tmp_path / "run", "--decoding", item)
    assert result.exit_code == 2
    assert last_line(result) == f"Error: --decoding {item!r}: {message}"
    assert stub.hits == 0 and not (tmp_path / "run").exists()


def test_sensible_decoding_and_price_still_run(stub, tmp_path):
    result = generate(
        stub, tmp_path / "run", "--price", "0,0.5", "--decoding", "classify.temperature=0",
        "--decoding", "instructions.top_p=1", "--decoding", "instructions.frequency_penalty=-1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert stub.hits > 0


@click.command()
@click.option("--amount", type=FINITE_NONNEGATIVE, default=None)
def amount_command(amount: float | None) -> None:
    click.echo(repr(amount))


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("nan", "'nan' is not a finite number."),
        ("inf", "'inf' is not a finite number."),
        ("-1", "-1.0 is not in the range x>=0."),
        ("lots", "'lots' is not a valid float."),
    ],
)
def test_finite_nonnegative_refuses(value, error):
    result = CliRunner().invoke(amount_command, ["--amount", value])
    assert result.exit_code == 2
    assert last_line(result) == f"Error: Invalid value for '--amount': {error}"


@pytest.mark.parametrize(("value", "parsed"), [("0", 0.0), ("2.5", 2.5), ("1e3", 1000.0)])
def test_finite_nonnegative_accepts(value, parsed):
    result = CliRunner().invoke(amount_command, ["--amount", value])
    assert result.exit_code == 0 and result.output == f"{parsed!r}\n"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--max-cost",
            "nan",
            "Error: Invalid value for '--max-cost': 'nan' is not a finite number.",
        ),
        (
            "--max-cost",
            "-1",
            "Error: Invalid value for '--max-cost': -1.0 is not in the range x>=0.",
        ),
        ("--timeout", "inf", "Error: Invalid value for '--timeout': 'inf' is not a finite number."),
    ],
)
def test_budget_and_timeout_must_be_finite(stub, tmp_path, option, value, message):
    result = generate(stub, tmp_path / "run", option, value)
    assert result.exit_code == 2
    assert last_line(result) == message
    assert stub.hits == 0 and not (tmp_path / "run").exists()
