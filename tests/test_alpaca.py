"""Alpaca's one-pass method: prompt, parse, filters, and concurrency from the first request."""

from __future__ import annotations

import asyncio
import re

import pytest
from fakes import FakeBackend
from helpers import lines, run_generate

from selfinstruct.backends.base import Completion, Request
from selfinstruct.gate import Rejection
from selfinstruct.methods.alpaca.method import Alpaca, Item, parse_items
from selfinstruct.methods.alpaca.settings import ALPACA_DECODING, AlpacaSettings
from selfinstruct.prompting import load_prompt
from selfinstruct.records import load_seed_tasks
from selfinstruct.resources import default_seed_path


def test_reference_parameters_are_the_defaults():
    defaults = AlpacaSettings.model_fields
    assert defaults["prompt_instructions"].default == 3
    assert defaults["tasks_per_request"].default == 20
    assert defaults["blacklist"].default == "alpaca"
    assert (ALPACA_DECODING.temperature, ALPACA_DECODING.top_p) == (1.0, 1.0)
    assert ALPACA_DECODING.max_tokens == 3072
    assert ALPACA_DECODING.stop == ("\n20", "20.")


def test_prompt_shows_three_seed_tasks_and_opens_item_four():
    settings = Alpaca.configure(FakeBackend(), n=5)
    method = Alpaca.create(settings, "completion")
    prompt = method.request(0).prompt
    seeds = {t.instruction.strip() for t in load_seed_tasks(default_seed_path())}
    shown = [line.split("Instruction: ", 1)[1] for line in prompt.splitlines()
             if ". Instruction: " in line]  # fmt: skip
    assert len(shown) == 3 and all(s in seeds for s in shown)
    assert [p.split(".")[0] for p in prompt.split("###\n")[1:4]] == ["1", "2", "3"]
    assert prompt.endswith("###\n4. Instruction:")
    assert "List of 20 tasks:" in prompt
    assert method.request(0).prompt == prompt  # the same seed, the same prompt
    assert method.request(1).prompt != prompt


ANSWER = (
    " Suggest a name for a bakery that sells only bread.\n4. Input:\n<noinput>\n4. Output:\n"
    "Crumb & Crust.\n###\n"
    "5. Instruction: Turn the sentence into the passive voice.\n5. Input:\nThe cat chased the "
    "mouse.\n5. Output:\nThe mouse was chased by the cat.\n###\n"
    # merged: two items without a ### between them
    "6. Instruction: Name a prime number.\n6. Input:\n<noinput>\n6. Output:\n7\n"
    "7. Instruction: Name an even number.\n7. Input:\n<noinput>\n7. Output:\n4\n###\n"
    # no output field
    "7. Instruction: Give a synonym of happy.\n7. Input:\n<noinput>\n###\n"
    "8. Instruction: Write a program that adds two numbers.\n8. Input:\n<noinput>\n8. Output:\n"
    "print(1 + 2)\n###\n"
    "9. Instruction: Explain why the sky is blue in two sentences.\n9. Input:\n<noinput>\n"
    "9. Output:\nSunlight scatters off air molecu"
)


def test_parse_items_one_by_one_with_reasons():
    items = parse_items(ANSWER, first=4, truncated=True)
    assert items[0] == Item("Suggest a name for a bakery that sells only bread.", "",
                            "Crumb & Crust.")  # fmt: skip
    assert items[1] == Item("Turn the sentence into the passive voice.",
                            "The cat chased the mouse.", "The mouse was chased by the cat.")  # fmt: skip
    # Merged (no ### between two items): the reference splits on item 6's labels only, so item
    # 7 rides along in 6's output; ``merged_items="drop"`` drops it instead.
    assert items[2] == Item("Name a prime number.", "",
                            "7\n7. Instruction: Name an even number.\n7. Input:\n<noinput>\n"
                            "7. Output:\n4")  # fmt: skip
    dropped = parse_items(ANSWER, first=4, truncated=True, drop_merged=True)
    assert isinstance(dropped[2], Rejection) and dropped[2].reason == "item_merged"
    assert dropped[:2] == items[:2] and dropped[3:] == items[3:]
    assert isinstance(items[3], Rejection) and items[3].reason == "item_malformed"  # no output
    assert items[4] == Item("Write a program that adds two numbers.", "", "print(1 + 2)")
    assert items[5] == Rejection("item_truncated")  # only the last item of a cut answer
    assert len(items) == 6


def test_an_uncut_answer_keeps_its_last_item():
    items = parse_items(ANSWER, first=4, truncated=False)
    assert items[5] == Item("Explain why the sky is blue in two sentences.", "",
                            "Sunlight scatters off air molecu")  # fmt: skip


def test_chat_answers_drop_the_preamble_and_keep_the_numbering():
    chat = "Sure! Here are more tasks:\n\n" + "4. Instruction:" + ANSWER
    items = parse_items(chat, first=4, truncated=False, chat=True)
    assert items[0] == Item("Suggest a name for a bakery that sells only bread.", "",
                            "Crumb & Crust.")  # fmt: skip
    completion_mode = parse_items(chat, first=4, truncated=False)
    assert isinstance(completion_mode[0], Rejection)  # the preamble breaks item 4


def test_filters_are_alpacas(tmp_path):
    """'Write a program' is case-sensitive in Alpaca (it does not capitalise); its blacklist has
    the five extra words; one instance per task, no classification."""
    settings = Alpaca.configure(FakeBackend(), n=50)
    gate = Alpaca.create(settings, "completion").gate
    assert gate.rule("Write a program that adds two numbers.").reason == "write_a_program"
    assert gate.rule("write a program that adds two numbers.") is None
    assert gate.rule("Describe the music of the Baroque era.").reason == "blacklist"
    assert gate.rule("Name it.").reason == "too_short"


def test_run_writes_one_instance_tasks_and_drop_reasons(tmp_path):
    out = tmp_path / "run"
    result, _ = run_generate(out, n=12, method="alpaca")
    tasks = lines(out / "tasks.jsonl")
    assert len(tasks) == 12 and result.summary.method == "alpaca"
    assert all(len(t["instances"]) == 1 and t["is_classification"] is None for t in tasks)
    assert not (out / "classification.jsonl").exists()
    reasons = {r["reason"] for r in lines(out / "rejected.jsonl")}
    assert "blacklist" in reasons
    assert any(t["instances"][0]["input"] == "" for t in tasks)  # <noinput> became empty


class Gauge(FakeBackend):
    """Counts requests in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.inflight = 0
        self.peak = 0
        self.first_wave: int | None = None

    async def complete(self, request: Request, text: str) -> Completion:
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        if self.first_wave is None and self.calls == 0:
            await asyncio.sleep(0.05)  # the first answers are slow: who else is already asking?
            if self.first_wave is None:
                self.first_wave = self.inflight
        try:
            return await super().complete(request, text)
        finally:
            self.inflight -= 1


def test_alpaca_runs_at_full_concurrency_from_the_first_request(tmp_path):
    model = Gauge()
    run_generate(tmp_path / "run", n=60, method="alpaca", backend=model, concurrency=8)
    assert model.first_wave == 8


def test_method_only_options_are_refused_for_the_other_method():
    from click.testing import CliRunner

    from selfinstruct.cli import main

    lag = CliRunner().invoke(main, ["generate", "--method", "alpaca", "--pool-lag", "3"])
    assert lag.exit_code == 2
    assert lag.output.splitlines()[-1] == "Error: --pool-lag applies to --method self-instruct only"
    merged = CliRunner().invoke(main, ["generate", "--merged-items", "drop"])
    assert merged.exit_code == 2
    assert merged.output.splitlines()[-1] == "Error: --merged-items applies to --method alpaca only"


def test_a_folder_of_one_method_is_not_resumed_by_another(tmp_path):
    from selfinstruct.errors import UserError

    out = tmp_path / "run"
    run_generate(out, n=3)
    with pytest.raises(UserError) as caught:
        run_generate(out, n=3, method="alpaca")
    assert str(caught.value) == (
        f"{out} was generated with method='self-instruct', not 'alpaca': use another --out"
    )


def test_header_names_only_the_references_kinds_of_task():
    # The reference's requirements name open-ended generation, classification and editing as
    # examples of task types; they do not steer the list towards reasoning, maths or code.
    header = load_prompt("alpaca/header.txt").lower()
    assert re.search(r"\bclassification\b", header) and re.search(r"\bediting\b", header)
    assert not re.search(r"\b(reasoning|maths?|coding|code|programming)\b", header)
