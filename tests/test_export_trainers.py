"""Trainer shapes of `selfinstruct export`, each checked against its trainer's documented schema
and loaded with `datasets`: TRL (SFT conversational, prompt-completion, DPO, KTO), axolotl
(chat_template, alpaca) and LLaMA-Factory (alpaca, sharegpt with dataset_info.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import anchor
from fakes import FakeBackend
from helpers import run_generate

from selfinstruct import registry
from selfinstruct.cli import main
from selfinstruct.runner import run as run_method

datasets = pytest.importorskip("datasets")

SFT = ["trl-sft", "trl-prompt-completion", "axolotl-chat", "axolotl-alpaca",
       "llamafactory-alpaca", "llamafactory-sharegpt"]  # fmt: skip
ROLES = {"system", "user", "assistant"}


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("si") / "run"
    run_generate(out, 8)
    return out


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`respond --compare` on the first six tasks of the Alpaca 5K anchor (fake model)."""
    base = tmp_path_factory.mktemp("cmp")
    records = json.loads(anchor("alpaca_data_5000.json").read_text(encoding="utf-8"))[:6]
    data = base / "six.json"
    data.write_text(json.dumps(records), encoding="utf-8")
    backend = FakeBackend(api="chat")
    settings = registry.get("respond").configure(
        backend, n=6, input_path=str(data), compare=True, n_responses=2
    )
    run_method(settings, backend, base / "run")
    return base / "run"


# A real run of the bundled model (SmolLM2-135M): the recorded Self-Instruct run the replay
# test replays.
BUNDLED_RUN = Path(__file__).parent / "fixtures" / "regression_run"


def source(which: str, fake_run: Path) -> Path:
    if which == "bundled":
        return BUNDLED_RUN
    return fake_run if which == "run" else anchor("alpaca_data_5000.json")


def export(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", *args])
    return result.exit_code, result.output


def load(*files: Path) -> datasets.DatasetDict:
    names = ["train", "validation"][: len(files)]
    return datasets.load_dataset(
        "json", data_files={n: str(f) for n, f in zip(names, files, strict=True)}
    )


def check_messages(messages: list[dict]) -> None:
    assert messages and {m["role"] for m in messages} <= ROLES
    assert all(set(m) == {"role", "content"} and m["content"].strip() for m in messages)


def check_row(shape: str, row: dict) -> None:
    """The columns and values the trainer's documentation gives for the shape."""
    if shape in ("trl-sft", "axolotl-chat"):
        assert set(row) == {"messages"}
        check_messages(row["messages"])
        assert row["messages"][-1]["role"] == "assistant"
    elif shape == "trl-prompt-completion":
        assert set(row) == {"prompt", "completion"}
        check_messages(row["prompt"])
        assert row["prompt"][-1]["role"] == "user"
        assert [m["role"] for m in row["completion"]] == ["assistant"]
    elif shape in ("axolotl-alpaca", "llamafactory-alpaca"):
        assert set(row) == {"instruction", "input", "output"}
        assert row["instruction"].strip() and row["output"].strip()
    else:  # llamafactory-sharegpt: human at odd positions, gpt at even ones
        assert set(row) == {"conversations"}
        froms = [turn["from"] for turn in row["conversations"]]
        assert froms == ["human", "gpt"] * (len(froms) // 2) and froms


@pytest.mark.parametrize("which", ["run", "anchor", "bundled"])
@pytest.mark.parametrize("shape", SFT)
def test_each_sft_shape_loads_with_datasets(
    shape: str, which: str, fake_run: Path, tmp_path: Path
) -> None:
    src = source(which, fake_run)
    out = tmp_path / f"{shape}.jsonl"
    code, output = export(str(src), "--format", shape, "-o", str(out), "--split", "0.9")
    assert code == 0, output
    train, validation = tmp_path / f"{shape}.train.jsonl", tmp_path / f"{shape}.validation.jsonl"
    loaded = load(train, validation)
    assert loaded.num_rows["train"] > loaded.num_rows["validation"] > 0
    for split in ("train", "validation"):
        for row in loaded[split]:
            check_row(shape, row)
    if which == "anchor":  # the 5K anchor: one row per task but for empty outputs
        alpaca = json.loads(src.read_text(encoding="utf-8"))
        kept = sum(1 for r in alpaca if r["instruction"].strip() and r["output"].strip())
        assert sum(loaded.num_rows.values()) == kept
    info = tmp_path / "dataset_info.json"
    assert info.is_file() == shape.startswith("llamafactory")
    if shape == "axolotl-chat":
        assert (
            "axolotl config:\ndatasets:\n"
            f"  - path: {train}\n    ds_type: json\n    type: chat_template\n"
            "    field_messages: messages\n    message_property_mappings:\n"
            "      role: role\n      content: content\n"
            f"test_datasets:\n  - path: {validation}\n    ds_type: json\n    split: train\n"
            "    type: chat_template\n"
        ) in output
    if shape == "axolotl-alpaca":
        assert f"datasets:\n  - path: {train}\n    ds_type: json\n    type: alpaca\n" in output


def test_llamafactory_dataset_info_entries(fake_run: Path, tmp_path: Path) -> None:
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"mine": {"file_name": "mine.json"}}), encoding="utf-8")
    assert export(str(fake_run), "--format", "llamafactory-alpaca", "-o",
                  str(tmp_path / "a.jsonl"), "--system", "Be brief.")[0] == 0  # fmt: skip
    assert export(str(fake_run), "--format", "llamafactory-sharegpt", "-o",
                  str(tmp_path / "s.jsonl"))[0] == 0  # fmt: skip
    assert json.loads(info.read_text(encoding="utf-8")) == {
        "mine": {"file_name": "mine.json"},
        "a": {"file_name": "a.jsonl", "columns": {"prompt": "instruction", "query": "input",
                                                   "response": "output", "system": "system"}},
        "s": {"file_name": "s.jsonl", "formatting": "sharegpt",
              "columns": {"messages": "conversations"},
              "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                       "assistant_tag": "gpt"}},
    }  # fmt: skip
    rows = load(tmp_path / "a.jsonl")["train"]
    assert set(rows.column_names) == {"instruction", "input", "output", "system"}
    assert set(rows["system"]) == {"Be brief."}


def test_llamafactory_needs_a_file(fake_run: Path) -> None:
    code, output = export(str(fake_run), "--format", "llamafactory-sharegpt")
    assert code == 2
    assert output.splitlines()[-1] == (
        "Error: --format llamafactory-sharegpt writes dataset_info.json beside the data: "
        "give -o FILE"
    )


def test_dpo_rows_are_conversational(compare_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "dpo.jsonl"
    assert export(str(compare_run), "--format", "trl-dpo", "-o", str(out))[0] == 0
    assert (
        export(str(compare_run), "--format", "preference", "-o", str(tmp_path / "p.jsonl"))[0] == 0
    )
    rows = load(out)["train"]
    pairs = load(tmp_path / "p.jsonl")["train"]
    assert set(rows.column_names) == {"prompt", "chosen", "rejected"}
    assert rows.num_rows == pairs.num_rows > 0
    for row, pair in zip(rows, pairs, strict=True):
        assert row["prompt"] == [{"role": "user", "content": pair["prompt"]}]
        assert row["chosen"] == [{"role": "assistant", "content": pair["chosen"].strip()}]
        assert row["rejected"] == [{"role": "assistant", "content": pair["rejected"].strip()}]
        assert pair["chosen_score"] > pair["rejected_score"]


def test_kto_rows_are_conversational_and_labelled(compare_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "kto.jsonl"
    code, output = export(str(compare_run), "--format", "trl-kto", "-o", str(out), "--system", "S")
    assert code == 0, output
    rows = load(out)["train"]
    assert set(rows.column_names) == {"prompt", "completion", "label"}
    assert rows.features["label"].dtype == "bool"
    assert set(rows["label"]) == {True, False}
    for row in rows:
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert [m["role"] for m in row["completion"]] == ["assistant"]
    tasks = [json.loads(line) for line in (compare_run / "tasks.jsonl").read_text().splitlines()]
    best = 0
    for task in tasks:
        for instance in task["instances"]:
            scores = [c["score"] for c in instance["candidates"] if isinstance(c["score"], int)]
            if len(scores) >= 2 and len(set(scores)) > 1:
                best += scores.count(max(scores))
    assert rows["label"].count(True) == best


def test_pairs_apply_to_dpo_not_kto(compare_run: Path) -> None:
    code, output = export(str(compare_run), "--format", "trl-kto", "--pairs", "all")
    assert code == 2
    assert (
        output.splitlines()[-1] == "Error: --pairs applies to --format preference and trl-dpo only"
    )
    code, output = export(str(compare_run), "--format", "trl-dpo", "--pairs", "best-vs-worst")
    assert code == 0
    assert len(output.splitlines()) <= 6


def test_dpo_needs_compared_answers(fake_run: Path) -> None:
    code, output = export(str(fake_run), "--format", "trl-dpo")
    assert code == 2
    assert output.splitlines()[-1] == (
        f"Error: {fake_run / 'tasks.jsonl'}: no scored candidates; "
        "run `selfinstruct respond --compare`"
    )
