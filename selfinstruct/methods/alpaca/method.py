"""Alpaca's one-pass variant of Self-Instruct (Taori et al. 2023, stanford_alpaca).

One request yields whole tasks: the prompt shows 3 tasks sampled from the seeds only (machine
tasks are never shown), each as numbered Instruction / Input / Output fields separated by
``###``, and opens item 4 for the model to continue to item 20 (temperature 1.0, top_p 1.0,
max_tokens 3072). An item must split into exactly its three fields; ``<noinput>`` is an empty
input; when the answer was cut at max_tokens only its last item is dropped. Items then pass the
instruction gate (4 to 150 words, Alpaca's 18-word blacklist, "Write a program", leading
punctuation or non-ASCII, ROUGE-L > 0.7 against the seeds and every kept instruction). No
classification stage, one instance per task.

Since a prompt depends only on the seeds, every request can be in flight from the start; answers
are still committed in request order, so novelty decisions do not depend on timing.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from selfinstruct.backends.base import Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.methods.alpaca.settings import AlpacaSettings
from selfinstruct.methods.base import SeededMethod
from selfinstruct.prompting import load_prompt
from selfinstruct.records import SeedTask, load_seed_tasks

NO_INPUT = "<noinput>"


@dataclass(frozen=True)
class Item:
    instruction: str
    input: str
    output: str


def render_prompt(examples: list[SeedTask], count: int) -> str:
    """The header, the examples as items 1..3, and item 4's instruction field left open."""
    parts = [load_prompt("alpaca/header.txt").format(count=count)]
    for number, task in enumerate(examples, start=1):
        instance = task.instances[0]
        instruction = re.sub(r"\s+", " ", task.instruction).strip().rstrip(":")
        parts.append(
            f"###\n{number}. Instruction: {instruction}\n"
            f"{number}. Input:\n{instance.input or NO_INPUT}\n"
            f"{number}. Output:\n{instance.output}\n"
        )
    parts.append(f"###\n{len(examples) + 1}. Instruction:")
    return "".join(parts)


def chat_message(prompt: str, first: int, count: int) -> str:
    return load_prompt("alpaca/chat.txt").format(next=first, last=count - 1, prompt=prompt)


def parse_items(
    text: str, first: int, truncated: bool, chat: bool = False, drop_merged: bool = False
) -> list[Item | Rejection]:
    """Items ``first``, ``first``+1, ... of an answer, each parsed or rejected with a reason.

    Pieces are separated by ``###``; piece i must read "N. Instruction: .. N. Input: ..
    N. Output: .." with N = first + i, or it is dropped. A chat model restates item ``first``'s
    label, so in chat mode the text before it is a preamble, not part of the item.

    Two items written without a ``###`` between them split on the first one's labels only, so
    the second rides along in the first's output, as in the reference; ``drop_merged`` drops
    such an item instead."""
    opening = f"{first}. Instruction:"
    if chat:
        start = re.search(rf"{first}\.\s+Instruction:", text)
        text = text[start.start() :] if start else opening + text
    else:
        text = opening + text
    pieces = text.split("###")
    results: list[Item | Rejection] = []
    for index, piece in enumerate(pieces):
        if index == len(pieces) - 1 and truncated:
            results.append(Rejection("item_truncated"))
            continue
        number = first + index
        fields = re.split(rf"{number}\.\s+(Instruction|Input|Output):", piece)
        if len(fields) != 7:
            if piece.strip():
                results.append(Rejection("item_malformed", {"raw": piece.strip()}))
            continue
        input_text = fields[4].strip()
        if drop_merged and re.search(r"\d+\.\s+Instruction:", fields[6]):
            results.append(Rejection("item_merged", {"raw": piece.strip()}))
            continue
        results.append(
            Item(
                instruction=fields[2].strip(),
                input="" if input_text.lower() == NO_INPUT else input_text,
                output=fields[6].strip(),
            )
        )
    return results


# The layout grammar's bounds: a line of at most this many characters, and the lines an input
# and an output may take (Alpaca's prompt asks for inputs and outputs of about 100 words).
LINE_CHARS = 300
INPUT_LINES = 2
OUTPUT_LINES = 4


def layout_grammar(first: int, count: int, chat: bool) -> str:
    """A GBNF grammar for the rest of the list in the prompt's layout: items ``first`` to
    ``count``-1, each an instruction line, an input (``<noinput>`` or lines of text) and an
    output, with ``###`` between items; the answer may end after any whole item, and item
    ``count``'s number is where the stop sequences end it. No line holds ``#`` or opens with
    another item's label, so none can start an item or a separator. A chat answer
    restates item ``first``'s label; a completion continues right after it."""
    last = count - 1
    opening = f'"{first}. Instruction:" ' if chat else ""
    rules = [f"root ::= {opening}item{first}"]
    for n in range(first, last + 1):
        rest = f'"###\\n{n + 1}. Instruction:" item{n + 1}' if n < last else f'"###\\n{count}."'
        rules.append(
            f'item{n} ::= " " line "\\n{n}. Input:\\n" input "\\n{n}. Output:\\n" output '
            f'"\\n" ({rest})?'
        )
    rules += [
        # A line may open with a number ("5", "3.14", "1. Paris"), never with another item's
        # label ("5. Instruction:"): after "N. " comes no I or O.
        "line ::= [^\\n#0-9< ] rest | [0-9]+ ([^.\\n#0-9] rest)? "
        '| [0-9]+ "." ([^ \\n#] rest | " " [^IO \\n#] rest)',
        f"rest ::= [^\\n#]{{0,{LINE_CHARS - 2}}}",
        f'input ::= "{NO_INPUT}" | line ("\\n" line){{0,{INPUT_LINES - 1}}}',
        f'output ::= line ("\\n" line){{0,{OUTPUT_LINES - 1}}}',
    ]
    return "\n".join(rules) + "\n"


class Alpaca(SeededMethod):
    """Stanford Alpaca's one pass: whole tasks in one request, shown seed tasks only."""

    name = "alpaca"
    Settings = AlpacaSettings
    stages = {"instructions": "decoding"}
    shardable = True  # shard K of N makes its share of --n from requests K, K+N, ...
    merge_renumber = True

    def __init__(self, settings: AlpacaSettings, seeds: list[SeedTask], api: str) -> None:
        self.s = settings
        self.chat = api == "chat"
        if len(seeds) < settings.prompt_instructions:
            raise UserError(
                f"{settings.seeds_path}: {len(seeds)} seed tasks, but each prompt shows "
                f"{settings.prompt_instructions}"
            )
        self.seeds = seeds
        self.gate = InstructionGate.from_settings(
            settings.blacklist, settings.ascii_first_char, settings.tokenizer, settings.threshold,
            write_a_program_any_case=False,  # Alpaca checks the text as the model wrote it
        )  # fmt: skip
        self.gate.remember(t.instruction for t in seeds)
        self.kept = 0
        self.grammar = ""  # the layout grammar, when the backend can hold answers to it
        self.shard = self.shard_of(settings)

    @property
    def first(self) -> int:
        return self.s.prompt_instructions + 1

    def request(self, k: int) -> Request:
        rng = random.Random(f"{self.s.seed}:alpaca:{self.shard.global_index(k)}")
        examples = rng.sample(self.seeds, self.s.prompt_instructions)
        prompt = render_prompt(examples, self.s.tasks_per_request)
        if self.chat:
            prompt = chat_message(prompt, self.first, self.s.tasks_per_request)
        return Request(
            "instructions", prompt, self.s.decoding, seed=rng.randrange(2**31), grammar=self.grammar
        )

    async def __call__(self, engine: Engine) -> int:
        target = max(self.shard.share(self.s.n), len(engine.known("tasks")))
        engine.progress.target = target
        if engine.backend.constrains_answers and self.s.layout == "grammar":
            self.grammar = layout_grammar(self.first, self.s.tasks_per_request, self.chat)
        await engine.in_order(
            "instructions",
            self.request,
            lambda k, answer: self._commit(engine, k, answer, target),
            wanted=lambda: self.kept < target,
            lag=lambda k: k,  # a prompt sees only the seeds: no answer needs to come first
            needed=lambda: target - self.kept,
        )
        return self.kept

    def _commit(self, engine: Engine, k: int, answer: Answer | None, target: int) -> bool:
        if answer is None:
            return False  # the request failed: nothing to add
        completion = answer.completion
        items = parse_items(
            completion.text,
            self.first,
            truncated=completion.finish_reason == "length",
            chat=self.chat,
            drop_merged=self.s.merged_items == "drop",
        )
        before = self.kept
        for j, item in enumerate(items):
            rid = f"r{k:06d}.{j}"
            if isinstance(item, Rejection):
                engine.reject(rid, "task", item, completion.text, answer.key)
                continue
            if self.kept >= target:
                break
            rejection = self.gate.check(item.instruction)
            if rejection is not None:
                engine.reject(rid, "instruction", rejection, item.instruction, answer.key)
                continue
            self._keep(engine, item, k, answer.key)
        return self.kept > before

    def _keep(self, engine: Engine, item: Item, k: int, key: str) -> None:
        self.kept += 1
        task_id = f"task_{self.kept:06d}"
        engine.write_later("instructions", self.gate.admit_later(task_id, item.instruction, k, key))
        written = engine.write(
            "tasks",
            {
                "id": task_id,
                "instruction": item.instruction,
                "is_classification": None,
                "instances": [{"input": item.input, "output": item.output}],
            },
        )
        engine.report(accepted=self.kept, finished=1, tasks=int(written))

    @classmethod
    def merge_gate(cls, settings: RunSettings) -> InstructionGate:
        return cls.settings_gate(settings, write_a_program_any_case=False)

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Alpaca:
        assert isinstance(settings, AlpacaSettings)
        return cls(settings, load_seed_tasks(settings.seeds_path), api)
