"""The chat method (UltraChat): dialogue rules on recorded turns, turn counts, the run itself,
multi-turn export, and the command line."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from helpers import lines

from selfinstruct.backends.base import Decoding
from selfinstruct.cli import main
from selfinstruct.errors import UserError
from selfinstruct.exporting import export
from selfinstruct.methods.chat import Chat
from selfinstruct.methods.chat.dialogue import (
    clean_user_turn,
    draw_rounds,
    is_refusal,
    parse_list,
    parse_turns,
    passages,
    role_confusion,
)
from selfinstruct.runner import run

FIXTURES = Path(__file__).parent / "fixtures"


def recorded_turns() -> list[dict]:
    return lines(FIXTURES / "chat_user_turns.jsonl")


@pytest.mark.parametrize("row", recorded_turns(), ids=lambda row: row["text"][:40])
def test_role_confusion_on_recorded_user_turns(row):
    assert role_confusion(clean_user_turn(row["text"])) == row["expected"]


@pytest.mark.parametrize(
    ("turn", "reason"),
    [
        ("Could you give an example with a glacier in Oslo?", None),
        ("Human: Could you shorten it to three sentences?", None),  # a harmless label, dropped
        ("Thanks.\nAssistant: Sure, here is more about the glacier.", "assistant_label"),
        ("**AI:** Here you go.", "assistant_label"),
        ("Could you shorten it?\nUser: And make it funny.", "writes_both_sides"),
        ("Sure, here is a shorter version of the poem.", "assistant_voice"),
        ("As an AI, I would suggest the coastal route.", "assistant_voice"),
        ("What is a glacier?\nAnswer: a river of ice.", "answers_own_question"),
        # Checked in this order: a label for the assistant outranks the rest.
        ("Sure, here is one.\nUser: thanks\nAssistant: welcome", "assistant_label"),
        ("Sure, here is one.\nUser: thanks", "writes_both_sides"),
    ],
)
def test_each_kind_of_role_confusion_is_named(turn, reason):
    assert role_confusion(clean_user_turn(turn)) == reason


def test_recorded_dialogues_from_the_bundled_model():
    """User turns the bundled model wrote as the user simulator, labelled by hand. Two are
    known misses (narration about both roles; the model naming itself): they must stay
    visible here, so a better rule has to update this list."""
    rows = lines(FIXTURES / "chat_bundled_turns.jsonl")
    assert {row["expected"] for row in rows} >= {None, "assistant_voice", "answers_own_question"}
    for row in rows:
        found = role_confusion(clean_user_turn(row["text"]))
        if row.get("known_miss"):
            assert found is None and row["expected"] is not None, row["text"]
        else:
            assert found == row["expected"], row["text"]
    caught = sum(1 for r in rows if r["expected"] and not r.get("known_miss"))
    assert (caught, sum(1 for r in rows if r["expected"])) == (3, 5)


def test_refusals():
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("As an AI language model, I cannot browse the internet.")
    assert not is_refusal("I'm sorry to hear that. Here are three ways to fix the leak.")
    assert not is_refusal("You cannot mix those two paints without a primer.")


def test_parse_list_takes_numbered_and_bulleted_items_only():
    text = "Here are some:\n1. Tides and currents\n2) **Coral reefs**\n- Deep-sea vents\nThanks!"
    assert parse_list(text) == ["Tides and currents", "Coral reefs", "Deep-sea vents"]


def test_parse_turns():
    assert parse_turns("3-7") == (3, 7)
    assert parse_turns("4") == (4, 4)
    with pytest.raises(UserError) as error:
        parse_turns("7-3")
    assert str(error.value) == "--turns '7-3': need 1 <= MIN <= MAX <= 50"
    with pytest.raises(UserError) as error:
        parse_turns("three")
    assert str(error.value) == "--turns 'three': expected a number or a range such as 3-7"


def test_turn_counts_are_seeded_per_dialogue_and_cover_the_range():
    drawn = [draw_rounds(0, f"task_{i:06d}", 3, 7) for i in range(1, 2001)]
    assert drawn == [draw_rounds(0, f"task_{i:06d}", 3, 7) for i in range(1, 2001)]
    counts = Counter(drawn)
    assert set(counts) == {3, 4, 5, 6, 7}
    assert all(330 < c < 470 for c in counts.values())  # uniform: 400 each
    assert drawn != [draw_rounds(1, f"task_{i:06d}", 3, 7) for i in range(1, 2001)]
    assert draw_rounds(5, "task_000009", 2, 2) == 2


def test_passages_cut_at_paragraphs():
    sizes = (30, 30, 30, 30, 30, 30, 10, 40)
    text = "\n\n".join(" ".join(f"w{p}_{i}" for i in range(size)) for p, size in enumerate(sizes))
    found = passages(text, 60)
    assert [len(p.split()) for p in found] == [60, 60, 60, 50]
    assert [len(p.split()) for p in passages(text + "\n\nend of it", 60)] == [60, 60, 60, 53]


def chat_run(tmp_path: Path, n: int = 6, api: str = "chat", **options):
    backend = FakeBackend(api=api)
    settings = Chat.configure(backend, n=n, seed=3, concurrency=4, **options)
    result = run(settings, backend, tmp_path / "run")
    return result, backend, lines(tmp_path / "run" / "tasks.jsonl")


def test_dialogues_alternate_and_follow_the_drawn_turn_counts(tmp_path):
    result, backend, tasks = chat_run(tmp_path, turns_min=2, turns_max=4)
    lost = [r for r in lines(tmp_path / "run" / "rejected.jsonl") if r["stage"] == "dialogue"]
    assert result.stop.value == "complete" and len(tasks) + len(lost) == 6 and len(tasks) >= 4
    for task in tasks:
        roles = [t["role"] for t in task["turns"]]
        assert roles == ["user", "assistant"] * task["rounds"]
        drawn = draw_rounds(3, task["id"], 2, 4)
        assert task["rounds_drawn"] == drawn
        assert (task["rounds"] == drawn) == (task["ended_early"] is None)
        assert task["instruction"] == task["turns"][0]["content"]
        assert task["instances"] == [{"input": "", "output": task["turns"][1]["content"]}]
        assert task["models"] == {"user": "fake-model", "assistant": "fake-model"}
        assert task["source"] in ("world", "writing")
    # The assistant sees the whole conversation as messages; the simulator sees a transcript.
    assistant = [r for r in backend.requests if r.stage == "assistant"]
    assert any(len(r.messages) >= 3 for r in assistant)
    assert all(r.messages[-1][0] == "user" for r in assistant)
    user = [r for r in backend.requests if r.stage == "user"]
    assert user and all("Human: " in r.prompt and "Assistant: " in r.prompt for r in user)


def test_a_confused_user_turn_is_asked_once_more_with_another_seed(tmp_path):
    _, backend, tasks = chat_run(tmp_path, n=12, turns_min=3, turns_max=3)
    rejected = lines(tmp_path / "run" / "rejected.jsonl")
    confused = [r for r in rejected if r["stage"] == "user"]
    assert confused  # the stub speaks as the assistant one time in six
    seeds: dict[str, set[int]] = {}
    for request in backend.requests:
        if request.stage == "user":
            seeds.setdefault(request.prompt, set()).add(request.seed)
    for r in confused:
        assert r["id"].endswith((".0", ".1")) and r["reason"] == role_confusion(r["text"])
        first = r["id"][:-2] + ".0"
        if r["id"].endswith(".1"):  # the second try failed too: the dialogue ended there
            assert any(x["id"] == first for x in confused)
            task = next(t for t in tasks if t["id"] == r["dialogue_id"])
            assert task["ended_early"] == r["reason"]
    assert any(len(s) == 2 for s in seeds.values())


def test_without_regeneration_the_first_confusion_ends_the_dialogue(tmp_path):
    _, _, tasks = chat_run(tmp_path, n=12, turns_min=3, turns_max=3, regenerate_confused=False)
    rejected = lines(tmp_path / "run" / "rejected.jsonl")
    assert not any(r["id"].endswith(".1") for r in rejected if r["stage"] == "user")
    ended = {t["ended_early"] for t in tasks} - {None}
    assert ended & {"assistant_label", "answers_own_question"}


def test_openings_pass_the_novelty_gate_in_order(tmp_path):
    _, _, tasks = chat_run(tmp_path, n=60, turns_min=1, turns_max=1)
    rejected = lines(tmp_path / "run" / "rejected.jsonl")
    assert any(r["reason"] == "rouge_similar" for r in rejected if r["stage"] == "opening")
    from selfinstruct.novelty import NoveltyIndex

    index = NoveltyIndex(threshold=0.7)
    for task in sorted(tasks, key=lambda t: t["id"]):
        assert index.query(task["instruction"], top_k=0).novel
        index.add(task["instruction"])


def test_material_and_openings_sources(tmp_path):
    material = tmp_path / "notes.txt"
    material.write_text("\n\n".join(f"Paragraph {p} about harbours and tides. " * 12
                                    for p in range(6)))  # fmt: skip
    openings = tmp_path / "tasks.jsonl"
    openings.write_text(
        "\n".join(json.dumps({"instruction": w, "input": "", "output": "x"}) for w in (
            "Plan a weekend trip for two people.", "Explain how vaccines train the immune system.",
            "Suggest names for a bakery in Porto.", "Compare renting and buying a flat."))
    )  # fmt: skip
    _, _, tasks = chat_run(tmp_path, n=6, material=material, openings=openings,
                           sources=("material", "openings"), turns_min=1, turns_max=1)  # fmt: skip
    by_source = Counter(t["source"] for t in tasks)
    assert by_source == {"material": 3, "openings": 3}
    for task in tasks:
        if task["source"] == "material":
            assert "Paragraph" in task["instruction"] and "passage" in task["origin"]
        else:
            assert task["instruction"] in openings.read_text()


def test_completion_api_renders_the_chat_template(tmp_path):
    _, backend, tasks = chat_run(tmp_path, n=2, api="completion", template="chatml",
                                 turns_min=2, turns_max=2)  # fmt: skip
    assert tasks
    assistant = [r for r in backend.requests if r.stage == "assistant"]
    assert all(r.prompt.endswith("<|im_start|>assistant\n") for r in assistant)
    assert all(r.prompt.startswith("<|im_start|>user\n") for r in assistant)
    assert all("<|im_end|>" in r.decoding.stop for r in backend.requests)


def test_completion_api_without_a_template_is_refused(tmp_path):
    with pytest.raises(UserError) as error:
        chat_run(tmp_path, api="completion")
    assert str(error.value) == (
        "chat over a completion API needs the model's chat template: pass --template "
        "chatml|llama3|smollm2|FILE, or use --api chat"
    )
    assert not (tmp_path / "run").exists()


def test_a_second_run_replays_the_first_exactly(tmp_path):
    _, _, first = chat_run(tmp_path, n=5, turns_min=2, turns_max=3)
    backend = FakeBackend(api="chat")
    settings = Chat.configure(backend, n=5, seed=3, concurrency=1, turns_min=2, turns_max=3)
    run(settings, backend, tmp_path / "again")
    again = lines(tmp_path / "again" / "tasks.jsonl")  # another concurrency: same dialogues
    assert len(first) >= 4
    assert again == first  # in the same order: dialogues are written in opening order


# ------------------------------------------------------------------ export


def test_export_writes_whole_dialogues(tmp_path):
    _, _, tasks = chat_run(tmp_path, n=4, turns_min=2, turns_max=3)
    folder = tmp_path / "run"
    for fmt in ("messages", "openai", "sharegpt"):
        out = tmp_path / f"{fmt}.jsonl"
        report = export(folder, fmt, output=out, system="Be brief.")
        records = lines(out)
        assert report.written[str(out)] == len(tasks) == len(records)
        for task, record in zip(tasks, records, strict=True):
            turns = task["turns"]
            if fmt == "sharegpt":
                conversation = record["conversations"]
                assert conversation[0] == {"from": "system", "value": "Be brief."}
                assert [c["from"] for c in conversation[1:]] == ["human", "gpt"] * task["rounds"]
                assert [c["value"] for c in conversation[1:]] == [t["content"] for t in turns]
            else:
                assert record["messages"] == [{"role": "system", "content": "Be brief."}, *turns]


def test_export_single_turn_records_are_unchanged(tmp_path):
    source = tmp_path / "single.jsonl"
    source.write_text(
        json.dumps({"instruction": "Add 2 and 2.", "input": "", "output": "4"}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    export(source, "messages", output=out)
    assert lines(out) == [{"messages": [{"role": "user", "content": "Add 2 and 2."},
                                        {"role": "assistant", "content": "4"}]}]  # fmt: skip


def test_export_skips_a_broken_dialogue_with_a_reason(tmp_path):
    source = tmp_path / "d.jsonl"
    good = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    bad = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "  "}]
    source.write_text("\n".join(json.dumps({"instruction": "Hi?", "instances": [], "turns": t})
                                for t in (good, bad)) + "\n")  # fmt: skip
    out = tmp_path / "out.jsonl"
    report = export(source, "openai", output=out)
    assert lines(out) == [{"messages": good}]
    assert report.skipped == {"empty turn in dialogue": 1}


# ------------------------------------------------------------------ command line


def test_cli_rejects_a_bad_turn_range(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "chat",
            "--turns",
            "5-2",
            "--model",
            "m",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--out",
            str(tmp_path / "x"),
        ],  # fmt: skip
    )
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --turns '5-2': need 1 <= MIN <= MAX <= 50"


def test_cli_material_source_needs_a_file(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "chat",
            "--source",
            "material",
            "--model",
            "m",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--out",
            str(tmp_path / "x"),
        ],  # fmt: skip
    )
    assert result.exit_code == 2
    assert result.output.strip() == "Error: source 'material' needs --material FILE"
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ rounds, replies, order


def test_rounds_follow_each_sources_range_unless_turns_is_given(tmp_path):
    """The paper: 3-7 rounds for World, 2-4 for Writing and for Materials."""
    _, _, tasks = chat_run(tmp_path, n=40)
    drawn: dict[str, set[int]] = {}
    for task in tasks:
        low, high = {"world": (3, 7), "writing": (2, 4)}[task["source"]]
        assert task["rounds_drawn"] == draw_rounds(3, task["id"], low, high)
        drawn.setdefault(task["source"], set()).add(task["rounds_drawn"])
    assert drawn["world"] >= {5, 6, 7} and drawn["writing"] == {2, 3, 4}
    _, _, tasks = chat_run(tmp_path / "given", n=10, turns_min=5, turns_max=5)
    assert {t["rounds_drawn"] for t in tasks} == {5}


def test_the_assistant_decodes_as_chatgpt_at_its_defaults(tmp_path):
    settings = Chat.configure(FakeBackend(api="chat"), n=1)
    assert settings.assistant_decoding == Decoding(max_tokens=4096, temperature=1.0, top_p=1.0)
    _, backend, _ = chat_run(tmp_path, n=2, turns_min=1, turns_max=1)
    sent = [r.decoding for r in backend.requests if r.stage == "assistant"]
    assert sent and all((d.temperature, d.top_p, d.max_tokens) == (1.0, 1.0, 4096) for d in sent)


class CutFirstReply(FakeBackend):
    """Every first reply of a dialogue stops at max_tokens."""

    async def complete(self, request, text):
        completion = await super().complete(request, text)
        if request.stage == "assistant" and len(request.messages) == 1:
            return dataclasses.replace(completion, finish_reason="length")
        return completion


def test_a_reply_cut_at_max_tokens_is_kept_and_flagged(tmp_path):
    backend = CutFirstReply(api="chat")
    settings = Chat.configure(backend, n=6, seed=3, concurrency=4, turns_min=2, turns_max=2)
    result = run(settings, backend, tmp_path / "run")
    tasks = lines(tmp_path / "run" / "tasks.jsonl")
    rejected = lines(tmp_path / "run" / "rejected.jsonl")
    assert result.stop.value == "complete" and len(tasks) >= 4
    assert not [r for r in rejected if r["reason"] == "reply_truncated"]
    for task in tasks:
        assert task["truncated"] is True
        assert task["turns"][1]["truncated"] is True and task["turns"][1]["role"] == "assistant"
        assert all("truncated" not in turn for turn in task["turns"][2:])
        assert task["turns"][1]["content"] == task["instances"][0]["output"]


def test_dialogues_are_written_in_opening_order(tmp_path):
    """Each dialogue runs in its opening's unit of work: tasks.jsonl is in id order whatever
    order the dialogues end in."""
    backend = FakeBackend(api="chat")
    settings = Chat.configure(backend, n=30, seed=2, concurrency=16, turns_min=1, turns_max=6)
    run(settings, backend, tmp_path / "run")
    ids = [t["id"] for t in lines(tmp_path / "run" / "tasks.jsonl")]
    assert len(ids) >= 25 and ids == sorted(ids)
