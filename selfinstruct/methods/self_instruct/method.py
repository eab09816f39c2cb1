"""Self-Instruct (Wang et al. 2022), as the reference implementation runs it.

1. Bootstrap: each prompt shows 8 instructions, min(2, pool) sampled from the machine pool and
   the rest from the seeds, shuffled and numbered; the model continues the list. A response cut
   at max_tokens is dropped whole; each new item passes the instruction gate (rules, then
   ROUGE-L novelty against the seeds and every accepted instruction) or is rejected.
2. Classification: is the new instruction a classification task? (31 demonstrations.)
3. Instances: output-first for classification tasks, input-first otherwise.
4. Instance filters; at most 5 instances, chosen at random as the reference does.

Stages 2-4 for an accepted instruction run while the bootstrap goes on. Prompt k samples the
pool as it stood after answer k-1-min(pool_lag, k//2): early prompts see early answers, later
ones leave room for ``pool_lag`` requests in flight, and the data never depends on timing.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.filters import filter_instances
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.methods.base import SeededMethod
from selfinstruct.methods.self_instruct.parse import (
    parse_instances,
    parse_instructions,
    parse_is_classification,
)
from selfinstruct.methods.self_instruct.prompts import (
    chat_message,
    classification_prompt,
    instances_prompt,
    instruction_prompt,
)
from selfinstruct.methods.self_instruct.settings import (
    CHAT_CLASSIFY_DECODING,
    CHAT_INSTRUCTION_STOP,
    INSTRUCTION_DECODING,
    SelfInstructSettings,
)
from selfinstruct.records import SeedTask, load_seed_tasks

STAGES = ("instructions", "classify", "instances")


class SelfInstruct(SeededMethod):
    """The paper's bootstrap, classification and instance stages."""

    name = "self-instruct"
    Settings = SelfInstructSettings
    stages = {
        "instructions": "instruction_decoding",
        "classify": "classify_decoding",
        "classification_instances": "classification_instance_decoding",
        "generation_instances": "generation_instance_decoding",
    }
    shardable = True  # shard K of N makes its share of --n from bootstrap requests K, K+N, ...
    merge_renumber = True

    def __init__(self, settings: SelfInstructSettings, seeds: list[SeedTask], api: str) -> None:
        self.s = settings
        self.chat = api == "chat"
        prompt_seeds = [t for t in seeds if t.is_classification or not settings.classification_only]
        if len(prompt_seeds) < settings.prompt_instructions:
            raise UserError(
                f"{settings.seeds_path}: {len(prompt_seeds)} usable seed tasks, but each prompt "
                f"shows {settings.prompt_instructions}"
            )
        self.prompt_seeds = [t.instruction for t in prompt_seeds]
        self.gate = InstructionGate.from_settings(
            settings.blacklist, settings.ascii_first_char, settings.tokenizer, settings.threshold
        )
        # Novelty is measured against the seeds the prompts are drawn from, as in the reference
        # (in classification-only mode: the classification seeds).
        self.gate.remember(self.prompt_seeds)
        self.machine: list[str] = []
        self.pool_sizes: list[int] = []  # len(machine) after committing answer k
        self.shown: dict[int, list[str]] = {}  # prompt k's instructions, until answer k is in
        self.shard = self.shard_of(settings)

    def _text(self, stage: str, prompt: str) -> str:
        return chat_message(stage, prompt) if self.chat else prompt  # type: ignore[arg-type]

    def lag(self, k: int) -> int:
        if self.s.batch_round:  # rounds: prompt k sees the pool after the previous round
            return k % self.s.batch_round
        return min(self.s.pool_lag, k // 2)

    # ----------------------------------------------------------------- stage 1

    def bootstrap_request(self, k: int) -> Request:
        rng = random.Random(f"{self.s.seed}:bootstrap:{self.shard.global_index(k)}")
        after = k - 1 - self.lag(k)
        visible = self.pool_sizes[after] if after >= 0 else 0
        n_machine = min(self.s.machine_instructions, visible)
        chosen = [self.machine[i] for i in rng.sample(range(visible), n_machine)]
        chosen += rng.sample(self.prompt_seeds, self.s.prompt_instructions - n_machine)
        rng.shuffle(chosen)
        self.shown[k] = chosen
        prompt = instruction_prompt(chosen, classification_only=self.s.classification_only)
        return Request(
            "instructions",
            self._text("instructions", prompt),
            self.s.instruction_decoding,
            seed=rng.randrange(2**31),
        )

    async def __call__(self, engine: Engine) -> int:
        target = max(self.shard.share(self.s.n), len(engine.known("instructions")))
        engine.progress.target = target
        done = engine.known("tasks") | {
            i for i in engine.known("rejected") if i.startswith("task_") and "." not in i
        }
        engine.progress.finished = len(done)

        def commit(k: int, answer: Answer | None) -> bool:
            return self._commit(engine, k, answer, target, done)

        await engine.in_order(
            "instructions",
            self.bootstrap_request,
            commit,
            wanted=lambda: len(self.machine) < target,
            lag=self.lag,
            needed=lambda: target - len(self.machine),
        )
        return len(self.machine)

    def _commit(
        self, engine: Engine, k: int, answer: Answer | None, target: int, done: set[str]
    ) -> bool:
        """Apply answer k (None: the request failed) to the pool; True when it added one."""
        try:
            rid = f"r{k:06d}"
            shown = self.shown.pop(k, [])
            if answer is None:
                return False
            completion = answer.completion
            if completion.finish_reason == "length":
                engine.reject(
                    rid, "instruction", Rejection("response_truncated"), completion.text, answer.key
                )
                return False
            before = len(self.machine)
            for j, text in enumerate(
                parse_instructions(
                    completion.text,
                    chat=self.chat,
                    max_items=self.s.max_instructions_per_answer,
                    shown=shown,
                )
            ):
                if len(self.machine) >= target:
                    break
                rejection = self.gate.check(text)
                if rejection is not None:
                    engine.reject(f"{rid}.{j}", "instruction", rejection, text, answer.key)
                    continue
                self._accept(engine, text, k, answer.key, done)
            return len(self.machine) > before
        finally:
            self.pool_sizes.append(len(self.machine))

    def _accept(self, engine: Engine, text: str, k: int, key: str, done: set[str]) -> None:
        self.machine.append(text)
        task_id = f"task_{len(self.machine):06d}"
        engine.write_later("instructions", self.gate.admit_later(task_id, text, k, key))
        engine.report(accepted=len(self.machine))
        if task_id not in done:
            engine.spawn(self._complete_task(engine, task_id, text))

    # ------------------------------------------------------------- stages 2-4

    async def _complete_task(self, engine: Engine, task_id: str, instruction: str) -> None:
        try:
            await self._classify_and_generate(engine, task_id, instruction)
        finally:
            engine.report(finished=1)

    async def _classify_and_generate(self, engine: Engine, task_id: str, instruction: str) -> None:
        if engine.stopping:
            return
        request = Request(
            "classify",
            self._text("classify", classification_prompt(instruction)),
            self.s.classify_decoding,
        )
        answer = await engine.ask(request, task_id)
        if answer is None:
            return
        is_classification = parse_is_classification(answer.completion.text, chat=self.chat)
        engine.write(
            "classification",
            {
                "id": task_id,
                "instruction": instruction,
                "is_classification": is_classification,
                "raw": answer.completion.text,
                "request_key": answer.key,
            },
        )
        if is_classification is None:
            engine.reject(
                task_id, "classify", Rejection("unparseable_answer"), answer.completion.text,
                answer.key,
            )  # fmt: skip
            return
        if engine.stopping:
            return
        decoding = (
            self.s.classification_instance_decoding
            if is_classification
            else self.s.generation_instance_decoding
        )
        prompt = instances_prompt(instruction, is_classification)
        answer = await engine.ask(
            Request("instances", self._text("instances", prompt), decoding), task_id
        )
        if answer is None:
            return
        completion = answer.completion
        parsed = parse_instances(completion.text, is_classification, chat=self.chat)
        result = filter_instances(
            parsed,
            truncated=completion.finish_reason == "length",
            max_instances=self.s.max_instances,
            rng=random.Random(f"{self.s.seed}:instances:{task_id}"),  # the reference samples 5
        )
        for j, (instance, reason) in enumerate(result.dropped):
            engine.reject(
                f"{task_id}.i{j}", "instances", Rejection(reason), instance.output, answer.key,
                input=instance.input, task_id=task_id,
            )  # fmt: skip
        if not result.kept:
            engine.reject(
                task_id, "task", Rejection("no_valid_instances"), instruction, answer.key,
                raw=completion.text,
            )  # fmt: skip
            return
        engine.write(
            "tasks",
            {
                "id": task_id,
                "instruction": instruction,
                "is_classification": is_classification,
                "instances": [{"input": i.input, "output": i.output} for i in result.kept],
            },
        )
        engine.report(tasks=1)

    @classmethod
    def merge_gate(cls, settings: RunSettings) -> InstructionGate:
        return cls.settings_gate(settings)

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> SelfInstruct:
        assert isinstance(settings, SelfInstructSettings)
        return cls(settings, load_seed_tasks(settings.seeds_path), api)

    @classmethod
    def base_decodings(cls, backend: Backend, values: Mapping[str, Any]) -> dict[str, Decoding]:
        """A chat model numbers its list items its own way: only item 16 stops it, and its
        yes/no answer gets room for "**Answer:** No"."""
        base = super().base_decodings(backend, values)
        if backend.api == "chat":
            base["instruction_decoding"] = dataclasses.replace(
                INSTRUCTION_DECODING, stop=CHAT_INSTRUCTION_STOP
            )
            base["classify_decoding"] = CHAT_CLASSIFY_DECODING
        return base
