"""`export --format hf|parquet`: folders `datasets` opens, the dataset card (front matter that
huggingface_hub's DatasetCard parses), atomic writes, and `--push-to-hub` against a fake Hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import anchor
from fake_hub import FakeHub
from helpers import run_generate

from selfinstruct import hub
from selfinstruct.cli import main
from selfinstruct.errors import UserError

datasets = pytest.importorskip("datasets")
hf_hub = pytest.importorskip("huggingface_hub")

TOKEN = "hf_fakeSecretToken0123456789abcdef"
LIMITS = 'Gudibande et al. 2023, "The False Promise of Imitating Proprietary LLMs"'


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("si") / "run"
    run_generate(out, 8)
    return out


def export(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", *args])
    return result.exit_code, result.output


def card_of(folder: Path) -> hf_hub.DatasetCard:
    return hf_hub.DatasetCard.load(folder / "README.md")


@pytest.mark.parametrize("which", ["run", "anchor"])
def test_parquet_folder_loads_and_its_card_parses(which: str, fake_run: Path, tmp_path: Path):
    src = fake_run if which == "run" else anchor("alpaca_data_5000.json")
    out = tmp_path / "pq"
    code, output = export(str(src), "--format", "parquet", "-o", str(out), "--split", "0.75")
    assert code == 0, output
    card = card_of(out)
    files = card.data.configs[0]["data_files"]
    assert files == [{"split": "train", "path": "data/train.parquet"},
                     {"split": "validation", "path": "data/validation.parquet"}]  # fmt: skip
    loaded = datasets.load_dataset(
        "parquet", data_files={f["split"]: str(out / f["path"]) for f in files}
    )
    assert loaded.column_names == {"train": ["messages"], "validation": ["messages"]}
    total = sum(loaded.num_rows.values())
    assert card.data.size_categories == ["n<1K" if which == "run" else "1K<n<10K"]
    assert card.data.task_categories == ["text-generation"]
    text = (out / "README.md").read_text(encoding="utf-8")
    assert card.data.license is None and "\nlicense:  # fill in" in text
    assert LIMITS in card.text
    if which == "run":
        assert "self-instruct" in card.data.tags
        assert "Self-Instruct (Wang et al. 2022)" in card.text
        assert "`fake-model` (model)" in card.text
        assert "- instructions: max_tokens=1024, temperature=0.7, top_p=0.5" in card.text
        assert "  - instruction: blacklist " in card.text  # from rejected.jsonl
        assert "- tasks: 8" in card.text
    else:
        alpaca = json.loads(src.read_text(encoding="utf-8"))
        empty = sum(1 for r in alpaca if not r["output"].strip())
        assert total == 5000 - empty > 0 and empty > 0
        assert f"Skipped by the export: empty output {empty}." in text
        assert (
            "not a run folder: the method, model(s), decoding and drop reasons are not known"
            in card.text
        )
        assert "- Tasks: 5000, instances: 5000, with an empty input: 3057" in card.text
    assert (
        f"(train: {loaded.num_rows['train']}, validation: {loaded.num_rows['validation']})"
        in card.text
    )


@pytest.mark.parametrize("which", ["run", "anchor"])
def test_hf_folder_opens_with_load_from_disk(which: str, fake_run: Path, tmp_path: Path):
    src = fake_run if which == "run" else anchor("alpaca_data_5000.json")
    out = tmp_path / "hf"
    code, output = export(str(src), "--format", "hf", "-o", str(out), "--rows", "trl-sft")
    assert code == 0, output
    loaded = datasets.load_from_disk(str(out))
    assert list(loaded) == ["train"] and loaded["train"].column_names == ["messages"]
    assert card_of(out).data.configs[0]["data_files"] == [
        {"split": "train", "path": "train/data-*.arrow"}
    ]
    assert f"wrote the dataset card {out / 'README.md'}" in output


def test_preference_rows_as_parquet(tmp_path: Path):
    data = tmp_path / "cmp.jsonl"
    data.write_text(json.dumps({"instruction": "Name a river.", "instances": [
        {"input": "", "output": "x", "candidates": [
            {"model": "a", "output": "The Nile.", "score": 9},
            {"model": "b", "output": "Paris.", "score": 2}]}]}) + "\n")  # fmt: skip
    out = tmp_path / "pq"
    assert export(str(data), "--format", "parquet", "--rows", "trl-dpo", "-o", str(out))[0] == 0
    rows = datasets.load_dataset("parquet", data_files=str(out / "data/train.parquet"))["train"]
    assert rows[0] == {"prompt": [{"role": "user", "content": "Name a river."}],
                       "chosen": [{"role": "assistant", "content": "The Nile."}],
                       "rejected": [{"role": "assistant", "content": "Paris."}]}  # fmt: skip
    assert "dpo" in card_of(out).data.tags


def test_a_failed_write_leaves_the_old_folder_and_no_temp(
    fake_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    out = tmp_path / "pq"
    assert export(str(fake_run), "--format", "parquet", "-o", str(out))[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(folder: Path, fmt: str, sides: dict) -> list:
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "train.parquet").write_bytes(b"half")
        raise UserError("disk full")

    monkeypatch.setattr(hub, "_write_folder", broken)
    code, output = export(str(fake_run), "--format", "parquet", "-o", str(out), "--split", "0.5")
    assert (code, output.splitlines()[-1]) == (2, "Error: disk full")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pq"]


def test_folder_errors(fake_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    code, output = export(str(fake_run), "--format", "parquet", "-o", str(other))
    assert (code, output.splitlines()[-1]) == (
        2,
        f"Error: {other} exists and is not a data set written by export: choose another -o",
    )
    assert (other / "notes.txt").read_text() == "keep me"
    code, output = export(str(fake_run), "--format", "hf")
    assert output.splitlines()[-1] == "Error: --format hf writes a folder: give -o FOLDER"
    code, output = export(str(fake_run), "--format", "alpaca", "--rows", "trl-sft")
    assert output.splitlines()[-1] == "Error: --rows applies to --format hf and parquet only"
    monkeypatch.setitem(sys.modules, "datasets", None)
    code, output = export(str(fake_run), "--format", "hf", "-o", str(tmp_path / "x"))
    assert (code, output.splitlines()[-1]) == (
        2,
        "Error: --format hf needs the hub extra: pip install 'selfinstruct[hub]'",
    )


def hub_env(home: Path, url: str, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=url, HF_HOME=str(home), HF_HUB_DISABLE_XET="1",
               HF_HUB_DISABLE_TELEMETRY="1")  # fmt: skip
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def test_push_to_hub_uploads_files_and_card_without_leaking_the_token(
    fake_run: Path, tmp_path: Path
):
    out = tmp_path / "pq"
    with FakeHub() as fake:
        done = subprocess.run(
            [sys.executable, "-m", "selfinstruct", "export", str(fake_run), "--format",
             "parquet", "--split", "0.75", "-o", str(out), "--push-to-hub", "me/si-data"],
            env=hub_env(tmp_path / "home", fake.url, TOKEN), capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert fake.repos == {"me/si-data": {"name": "si-data", "organization": "me",
                                         "visibility": "private", "type": "dataset"}}  # fmt: skip
    uploaded = fake.files["me/si-data"]
    assert sorted(uploaded) == ["README.md", "data/train.parquet", "data/validation.parquet"]
    for name, data in uploaded.items():
        assert (out / name).read_bytes() == data
    assert any(r.path.endswith(".git/info/lfs/objects/batch") for r in fake.requests)
    assert "pretty_name: si-data" in uploaded["README.md"].decode()
    assert all(r.headers.get("authorization") in (f"Bearer {TOKEN}", None) for r in fake.requests)
    assert any(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake.requests)
    assert f"uploaded to {fake.url}/datasets/me/si-data (private)" in done.stderr
    assert TOKEN not in done.stdout + done.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_push_without_a_folder_and_public(fake_run: Path, tmp_path: Path):
    with FakeHub() as fake:
        done = subprocess.run(
            [sys.executable, "-m", "selfinstruct", "export", str(fake_run), "--format",
             "parquet", "--push-to-hub", "me/pub", "--public"],
            env=hub_env(tmp_path / "home", fake.url, TOKEN), capture_output=True, text=True,
            timeout=120, cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert fake.repos["me/pub"]["visibility"] == "public"
    assert sorted(fake.files["me/pub"]) == ["README.md", "data/train.parquet"]
    assert TOKEN not in done.stdout + done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == []


def test_push_errors(fake_run: Path, tmp_path: Path):
    with FakeHub() as fake:
        done = subprocess.run(
            [sys.executable, "-m", "selfinstruct", "export", str(fake_run), "--format",
             "parquet", "--push-to-hub", "me/x"],
            env=hub_env(tmp_path / "home", fake.url, None), capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "Error: --push-to-hub needs a Hugging Face write token: set HF_TOKEN or run `hf auth login`"
    )
    assert fake.repos == {}
    code, output = export(str(fake_run), "--format", "hf", "--push-to-hub", "me/x")
    assert (
        output.splitlines()[-1]
        == "Error: --push-to-hub uploads parquet files: use --format parquet"
    )
    code, output = export(str(fake_run), "--format", "parquet", "-o", "x", "--public")
    assert output.splitlines()[-1] == "Error: --public applies to --push-to-hub only"
    code, output = export(str(fake_run), "--format", "parquet", "--push-to-hub", "nope")
    assert output.splitlines()[-1] == "Error: --push-to-hub 'nope': give OWNER/NAME"


@pytest.mark.parametrize("fmt", ["hf", "parquet"])
def test_a_bundled_model_run_exports_to_hub_folders(fmt: str, tmp_path: Path):
    """The recorded Self-Instruct run of the bundled model (SmolLM2-135M), as a hub folder."""
    run = Path(__file__).parent / "fixtures" / "regression_run"
    out = tmp_path / fmt
    code, output = export(str(run), "--format", fmt, "-o", str(out))
    assert code == 0, output
    tasks = [json.loads(line) for line in (run / "tasks.jsonl").read_text().splitlines()]
    rows = sum(len(t["instances"]) for t in tasks)
    if fmt == "hf":
        loaded = datasets.load_from_disk(str(out))
    else:
        loaded = datasets.load_dataset("parquet", data_files=str(out / "data" / "train.parquet"))
    assert 0 < sum(loaded.num_rows.values()) <= rows
    assert "self-instruct" in card_of(out).data.tags
