"""`selfinstruct judge`: the paper's three questions against the stub server, heuristics alone,
the report's rates, `filter --judged`, and a resume that asks nothing already answered."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import lines, run_until
from stub_server import StubServer

from selfinstruct.cli import main

TOPICS = ["river", "budget", "poem", "galaxy", "garden", "volcano", "tennis", "recipe",
          "contract", "guitar", "bakery", "climate", "vaccine", "invoice"]  # fmt: skip


def write_alpaca(path: Path, count: int = 14) -> Path:
    records = [
        {"instruction": f"Describe a {topic} to a child in two sentences.", "input": "",
         "output": f"A {topic} is something people know well. It can be fun to learn about."}
        for topic in TOPICS[:count]
    ]  # fmt: skip
    records[1]["output"] = "<nooutput>"
    records[2]["input"] = "https://example.com/page"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def judge_command(base_url: str, data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "selfinstruct", "judge", str(data), "--out", str(out),
            "--model", "stub", "--base-url", base_url, "--api-key", "x", "--api", "completion",
            "--quiet", *extra]  # fmt: skip


def test_heuristics_only_counts_reasons(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json")
    result = CliRunner().invoke(
        main, ["judge", str(data), "--heuristics-only", "--out", str(tmp_path / "j")]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        "14 tasks, 2 flagged by heuristics",
        "  empty_output: 0",
        "  placeholder_output: 1",
    ]
    records = lines(tmp_path / "j" / "judgments.jsonl")
    flagged = {r["input"] or r["output"]: r["heuristics"][0]["reason"] for r in records
               if r["heuristics"]}  # fmt: skip
    assert flagged == {"<nooutput>": "placeholder_output",
                       "https://example.com/page": "input_only_url"}  # fmt: skip
    report = json.loads((tmp_path / "j" / "judge_report.json").read_text())
    assert report["heuristics"]["input_only_url"] == 1 and "rates" not in report
    assert report["judge"] is None and "note" not in report  # no model was asked


def test_judge_against_stub_then_filter(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json")
    out = tmp_path / "j"
    with StubServer(delay=0.0) as stub:
        done = subprocess.run(judge_command(stub.base_url, data, out, "--n", "10", "--rate"),
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert stub.hits == 10 * 4  # three questions and a rating per task
    records = lines(out / "judgments.jsonl")
    assert len(records) == 10 and len({r["key"] for r in records}) == 10
    for record in records:
        labels = [record["answers"][q]["label"] for q in ("instruction", "input", "output")]
        assert set(labels) <= {"Yes", "No", None}
        assert record["valid"] == (False if "No" in labels else
                                   True if labels == ["Yes"] * 3 else None)  # fmt: skip
        unparsed = [record["answers"][q] for q in ("instruction", "input", "output")
                    if record["answers"][q]["label"] is None]  # fmt: skip
        assert all(a["raw"] == " Maybe, it depends." for a in unparsed)
        assert record["rating"]["label"] in {"A", "B", "C", "D"}
    report = json.loads((out / "judge_report.json").read_text())
    rates = report["rates"]
    for question in ("instruction", "input", "output"):
        yes = sum(r["answers"][question]["label"] == "Yes" for r in records)
        parsed = sum(r["answers"][question]["label"] is not None for r in records)
        assert (rates[question]["yes"], rates[question]["of"]) == (yes, parsed)
        assert report["unparseable"][question] == 10 - parsed
    assert rates["all"]["paper"] == 0.54
    assert report["judge"] == "stub" and "note" not in report
    assert "valid instruction" in done.stdout and "| 92%" in done.stdout

    kept = tmp_path / "kept.jsonl"
    result = CliRunner().invoke(main, ["filter", str(data), "--judged", str(out),
                                       "--no-novelty", "-o", str(kept)])  # fmt: skip
    assert result.exit_code == 0, result.output
    valid = {r["instruction"] for r in records if r["valid"] is True}
    assert {r["instruction"] for r in lines(kept)} == valid
    reasons = [r["reason"] for r in lines(tmp_path / "kept.rejected.jsonl")]
    assert reasons.count("not_judged") == 4
    assert reasons.count("judged_invalid") == sum(r["valid"] is False for r in records)


def test_kill_and_resume_asks_nothing_already_answered(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json")
    straight, out = tmp_path / "straight", tmp_path / "killed"
    with StubServer(delay=0.02) as stub:
        subprocess.run(judge_command(stub.base_url, data, straight, "--concurrency", "2"),
                       check=True, capture_output=True)  # fmt: skip
        total = stub.hits
        assert total == 14 * 3
    with StubServer(delay=0.02) as stub:
        command = judge_command(stub.base_url, data, out, "--concurrency", "2")
        run_until(command, out, "judgments", 4, signal.SIGKILL)
        first = stub.hits
        answered = _cached(out)
        subprocess.run(command, check=True, capture_output=True)
        # Only what the killed session never received is asked again (at most the 2 in flight).
        assert stub.hits - first == total - answered
        assert first - answered <= 2
        again = stub.hits
        subprocess.run(command, check=True, capture_output=True)
        assert stub.hits == again  # a finished run asks nothing
    assert lines(out / "judgments.jsonl") == lines(straight / "judgments.jsonl")


def _cached(out: Path) -> int:
    import sqlite3

    with sqlite3.connect(out / "cache.sqlite") as db:
        return int(db.execute("select count(*) from responses").fetchone()[0])


def test_judge_refuses_bad_choice(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json")
    result = CliRunner().invoke(main, ["judge", str(data), "--no-questions", "--model", "m",
                                       "--base-url", "http://127.0.0.1:9/v1", "--api-key", "x",
                                       "--out", str(tmp_path / "j")])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: nothing to ask: pass --rate, or leave the three questions on"
    )


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "big-judge"])
def test_the_bundled_model_as_judge_is_named_for_what_it_is(tmp_path, monkeypatch, model):
    """Its verdicts parse (a grammar holds them) but say little: the report says so."""
    from fakes import FakeBackend

    backend = FakeBackend()
    backend.model = model
    monkeypatch.setattr("selfinstruct.cli.running.build_backend", lambda **kw: backend)
    data = write_alpaca(tmp_path / "data.json", count=4)
    result = CliRunner().invoke(main, ["judge", str(data), "--n", "2", "--out",
                                       str(tmp_path / "j"), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    warning = (
        "note: the bundled 135M model is no judge: its verdicts parse but say little of the "
        "data (see README, 'What the bundled model does as a judge'); use --model for a real one"
    )
    assert (warning in result.output.splitlines()) == (model == "smollm2-135m-instruct")


def test_a_report_by_the_bundled_model_says_its_verdicts_say_little(tmp_path: Path) -> None:
    """The note the bundled judge prints goes into judge_report.json too: a report read later,
    or by a script, must not pass for a real judge's."""
    from selfinstruct.backends.local import BUNDLED_MODEL
    from selfinstruct.methods.judge.command import write_report

    out = tmp_path / "j"
    out.mkdir()
    (out / "judgments.jsonl").write_text(json.dumps({"id": "t1", "heuristics": []}) + "\n")
    report = write_report(out, BUNDLED_MODEL)
    saved = json.loads((out / "judge_report.json").read_text())
    assert saved == report
    assert saved["judge"] == BUNDLED_MODEL and "say little" in saved["note"]


def test_a_judge_run_from_python_has_the_rates_in_its_summary(tmp_path):
    """The paper's rates are the judge's section of summary.json (so a run from Python or a
    recipe has them, not only the command's judge_report.json)."""
    from fakes import FakeBackend

    import selfinstruct as si

    data = write_alpaca(tmp_path / "data.json", count=6)
    model = FakeBackend()
    result = si.run(si.settings("judge", model, input_path=data, n=6), model, tmp_path / "j")
    section = result.summary.section("judge")
    assert section is not None and section["tasks"] == 6
    assert set(section["rates"]) >= {"instruction", "input", "output"}
