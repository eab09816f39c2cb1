"""`selfinstruct report RUN -o report.html` (issue 24): one self-contained page, checked in
headless Chromium (rendered text, every image loaded, nothing fetched)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from chromium import chromium, dump_dom, image_check, screenshot
from click.testing import CliRunner
from stub_server import StubServer, generate_command

from selfinstruct.cli import main

HOSTILE = "<b>bold</b> & <script>document.title='pwned'</script>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """A small self-instruct run (with a hostile rejected text added) and a judge run of it."""
    base = tmp_path_factory.mktemp("report")
    run, judged = base / "run", base / "judged"
    with StubServer(delay=0.0) as stub:
        command = generate_command(stub.base_url, run, 15, "--threshold", "0.5")
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        judge = [sys.executable, "-m", "selfinstruct", "judge", str(run), "--out", str(judged),
                 "--n", "10", "--rate", "--base-url", stub.base_url, "--model", "stub",
                 "--quiet"]  # fmt: skip
        done = subprocess.run(judge, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    with (run / "rejected.jsonl").open("a", encoding="utf-8") as rejected:
        record = {"id": "x1", "stage": "instruction", "reason": "too_short", "text": HOSTILE}
        rejected.write(json.dumps(record) + "\n")
    return run, judged


def write_report(folder: Path, output: Path) -> str:
    result = CliRunner().invoke(main, ["report", str(folder), "-o", str(output)])
    assert result.exit_code == 0, result.output
    return output.read_text(encoding="utf-8")


def test_report_is_self_contained_and_escaped(runs, tmp_path):
    run, _ = runs
    page = write_report(run, tmp_path / "report.html")
    assert re.findall(r"<(?:script|link|iframe)\b", page) == []
    assert re.findall(r'(?:src|href)="(?!data:)', page) == []
    assert page.count('src="data:image/png;base64,') == 2  # lengths and ROUGE-L to the seeds
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in page and HOSTILE not in page
    for heading in ("Counts", "Drop reasons", "Kept samples", "Statistics"):
        assert f"<h2>{heading}</h2>" in page
    assert "<h3>instruction: too_short</h3>" in page


def test_report_of_a_folder_without_settings_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path}: not a run folder (no settings.json)\n"
    assert not (tmp_path / "r.html").exists()


def test_report_renders_in_chromium_with_every_image_loaded(runs, tmp_path):
    binary = chromium()
    run, judged = runs
    page = tmp_path / "report.html"
    write_report(run, page)
    dom = dump_dom(binary, page, tmp_path / "profile")
    assert "<title>selfinstruct report: run</title>" in dom  # the hostile script did not run
    for text in ("Drop reasons", "Kept samples", "Statistics", "instruction: too_short",
                 "&lt;b&gt;bold&lt;/b&gt;", "ROUGE-L to closest seed"):  # fmt: skip
        assert text in dom, text
    checked = image_check(binary, page, tmp_path / "profile")
    assert checked == {"images": 2, "loaded": 2, "fetched": []}

    judge_page = tmp_path / "judge.html"
    write_report(judged, judge_page)
    dom = dump_dom(binary, judge_page, tmp_path / "profile")
    assert "<h2>Judge</h2>" in dom and "95% CI" in dom and "heuristic flag" in dom

    shot = tmp_path / "report.png"
    screenshot(binary, page, shot, tmp_path / "profile")
    if os.environ.get("SELFINSTRUCT_REPORT_EXAMPLE"):  # refresh docs/report_example.png
        Path(os.environ["SELFINSTRUCT_REPORT_EXAMPLE"]).write_bytes(shot.read_bytes())
