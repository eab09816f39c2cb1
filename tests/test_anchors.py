"""The public anchors (../shared/anchors/: the paper's seed tasks, Alpaca's 5,000 tasks): a test
that needs them is skipped where they are missing, but fails under CI, where they must be."""

from __future__ import annotations

import conftest
import pytest
from conftest import anchor, find_anchors


def test_an_anchor_that_is_there_is_returned(tmp_path, monkeypatch):
    (tmp_path / "alpaca_data_5000.json").write_text("[]")
    monkeypatch.setattr(conftest, "ANCHORS", tmp_path)
    monkeypatch.setenv("CI", "true")
    assert anchor("alpaca_data_5000.json") == tmp_path / "alpaca_data_5000.json"


def test_a_missing_anchor_skips_outside_ci(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "ANCHORS", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        anchor("alpaca_data_5000.json")
    assert str(skipped.value) == (
        f"public anchor missing: {tmp_path / 'alpaca_data_5000.json'} "
        "(put the paper's seed tasks and alpaca_data_5000.json in ../shared/anchors/)"
    )


@pytest.mark.parametrize("value", ["true", "1"])
def test_a_missing_anchor_fails_under_ci(tmp_path, monkeypatch, value):
    monkeypatch.setattr(conftest, "ANCHORS", tmp_path)
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception) as failed:
        anchor("self_instruct_seed_tasks.jsonl")
    assert str(failed.value) == (
        f"public anchor missing: {tmp_path / 'self_instruct_seed_tasks.jsonl'} "
        "(put the paper's seed tasks and alpaca_data_5000.json in ../shared/anchors/); "
        "CI=" + value + " so this fails instead of skipping"
    )


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_ci_turned_off_still_skips(tmp_path, monkeypatch, value):
    monkeypatch.setattr(conftest, "ANCHORS", tmp_path)
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception):
        anchor("alpaca_data_5000.json")


def test_the_anchors_are_found_upwards_from_a_worktree_too(tmp_path):
    """From /work/main/tests or /work/wt/NAME/tests alike, not only beside the checkout."""
    (tmp_path / "shared" / "anchors").mkdir(parents=True)
    (tmp_path / "wt" / "tinfra" / "tests").mkdir(parents=True)
    start = tmp_path / "wt" / "tinfra" / "tests" / "conftest.py"
    assert find_anchors(start) == tmp_path / "shared" / "anchors"
    assert find_anchors(tmp_path / "elsewhere" / "tests" / "conftest.py") == (
        tmp_path / "shared" / "anchors"
    )
    assert find_anchors(tmp_path.parent / "no" / "such" / "conftest.py") is None
