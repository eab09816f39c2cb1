"""Tool-use data from API documentation, Self-Instruct style (Gorilla; ToolBench's tool sets).

1. Prompt k shows ``shots`` example request-call pairs (ours or the user's) and one tool's
   documentation (tool k mod the spec's size), or, with ``combine``, for a ``combine_share`` of
   prompts a set of 2 to ``set_size`` tools of one group (an OpenAPI tag or a "group" field),
   as ToolBench's multi-tool instructions; it asks for ``requests`` new pairs, one JSON object
   a line. On the in-process model a grammar holds the answer to that layout.
2. Every call is checked against the shown tools (``check.py``: the tool exists, required
   arguments are present, the arguments validate against the JSON Schema, quoted values
   appear in the request); a failure drops the pair with its reason.
3. The request passes the instruction rules, then ROUGE-L novelty against the requests kept
   with the same call set: an identical (request, calls) pair is a ``duplicate``, the same
   request with other calls is not.
4. With ``responses``, each call's result comes from the user's mock file or is simulated by
   the model (labelled ``simulated``), and the model writes the assistant's final reply.

Prompts depend only on k, so they are all independent; answers are committed in order
(``Engine.in_order``), so the kept data never depends on timing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfinstruct.backends.base import Backend, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings, file_sha256
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.jsonio import display_name, read_text
from selfinstruct.methods.base import Method
from selfinstruct.methods.tools.check import Call, call_key, check_calls
from selfinstruct.methods.tools.parse import Pair, parse_pairs
from selfinstruct.methods.tools.prompts import (
    Example,
    choose_examples,
    default_examples_path,
    load_examples,
    pairs_grammar,
    parse_result,
    request_prompt,
    response_prompt,
    result_grammar,
    simulate_prompt,
)
from selfinstruct.methods.tools.report import render_tools_report, tools_report
from selfinstruct.methods.tools.settings import ToolsSettings
from selfinstruct.methods.tools.spec import Tool, load_tools
from selfinstruct.novelty_groups import GroupedNovelty

if TYPE_CHECKING:
    pass


def load_mock(path: str | Path, tools: Sequence[Tool]) -> dict[str, Any]:
    """Canned results: a JSON object, tool name -> the result it returns (any JSON)."""
    name = display_name(path)
    if not Path(path).is_file():
        raise UserError(f"{name}: no such mock file")
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise UserError(f"{name}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise UserError(f"{name}: expected a JSON object, tool name -> its canned result")
    known = {t.name for t in tools}
    for tool in data:
        if tool not in known:
            raise UserError(f"{name}: no tool is named '{tool}' in the spec")
    return data


def as_content(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Tools(Method):
    """Request-call pairs per tool (and per tool set), every call checked against its schema."""

    name = "tools"
    Settings = ToolsSettings
    stages = {
        "requests": "request_decoding",
        "simulate": "simulate_decoding",
        "response": "response_decoding",
    }
    default_stage = "requests"
    unit = "pair"

    def __init__(
        self,
        settings: ToolsSettings,
        tools: list[Tool],
        examples: list[Example],
        mock: dict[str, Any],
        api: str,
    ) -> None:
        self.s = settings
        self.chat = api == "chat"
        self.tools = tools
        self.examples = examples
        self.mock = mock
        groups: dict[str, list[Tool]] = {}
        for tool in tools:
            if tool.group is not None:
                groups.setdefault(tool.group, []).append(tool)
        self.groups = {g: members for g, members in groups.items() if len(members) >= 2}
        if settings.combine and not self.groups:
            raise UserError(
                f"{settings.spec_path}: --combine needs a group of two or more tools (an "
                'OpenAPI tag or a "group" field); no group has two'
            )
        self.gate = InstructionGate.from_settings(
            settings.blacklist, settings.ascii_first_char, settings.tokenizer, settings.threshold
        )
        self.novelty = GroupedNovelty(settings.threshold, settings.tokenizer)
        self.kept = 0
        self.constrain = False

    # ------------------------------------------------------------------ prompts

    def tool_set(self, k: int) -> tuple[list[Tool], str | None]:
        """Prompt k's tools and their group (a function of k and the seed alone)."""
        rng = random.Random(f"{self.s.seed}:set:{k}")
        if self.s.combine and rng.random() < self.s.combine_share:
            group = rng.choice(sorted(self.groups))
            members = self.groups[group]
            size = rng.randint(2, min(self.s.set_size, len(members)))
            chosen = set(rng.sample(range(len(members)), size))
            return [m for i, m in enumerate(members) if i in chosen], group
        tool = self.tools[k % len(self.tools)]
        return [tool], tool.group

    def request(self, k: int) -> Request:
        tools, _ = self.tool_set(k)
        rng = random.Random(f"{self.s.seed}:shots:{k}")
        shown = choose_examples(self.examples, self.s.shots, rng)
        prompt = request_prompt(tools, shown, self.s.requests, self.chat)
        grammar = pairs_grammar(tools, self.s.requests) if self.constrain else ""
        return Request(
            "requests", prompt, self.s.request_decoding, seed=rng.randrange(2**31), grammar=grammar
        )

    # ------------------------------------------------------------------ the run

    async def __call__(self, engine: Engine) -> int:
        target = max(self.s.n, len(engine.known("tasks")))
        engine.progress.target = target
        self.constrain = engine.backend.constrains_answers
        done = engine.known("tasks") | engine.known("rejected")
        await engine.in_order(
            "requests",
            self.request,
            lambda k, answer: self._commit(engine, k, answer, target, done),
            wanted=lambda: self.kept < target,
            lag=lambda k: k,  # a prompt depends on k alone: every request may be in flight
            needed=lambda: target - self.kept,
        )
        return self.kept

    def _commit(
        self, engine: Engine, k: int, answer: Answer | None, target: int, done: set[str]
    ) -> bool:
        if answer is None:
            return False
        tools, group = self.tool_set(k)
        names = [t.name for t in tools]
        completion = answer.completion
        pairs = parse_pairs(completion.text, truncated=completion.finish_reason == "length")
        before = self.kept
        for j, pair in enumerate(pairs[: self.s.requests]):
            if self.kept >= target:
                break
            ident = f"r{k:06d}.{j}"
            if isinstance(pair, Rejection):
                engine.reject(ident, "pair", pair, completion.text, answer.key, tools=names)
                continue
            checked = self._check(pair, tools)
            if isinstance(checked, Rejection):
                stage = "instruction" if checked.reason not in CALL_REASONS else "calls"
                engine.reject(ident, stage, checked, pair.request, answer.key, tools=names,
                              calls=pair.calls)  # fmt: skip
                continue
            self._keep(engine, pair.request, *checked, tools, group, ident, done)
        return self.kept > before

    def _check(self, pair: Pair, tools: list[Tool]) -> tuple[list[Call], str] | Rejection:
        """The pair's calls and their key, or why it is dropped: a call, the rules, or
        novelty."""
        calls = check_calls(pair.calls, {t.name: t for t in tools}, pair.request)
        if isinstance(calls, Rejection):
            return calls
        rejection = self.gate.rule(pair.request)
        if rejection is not None:
            return rejection
        key = call_key(calls)
        verdict = self.novelty.query(key, pair.request)
        if not verdict.novel:
            reason = "duplicate" if verdict.max_score >= 1.0 else "rouge_similar"
            return Rejection(reason, {"max_score": verdict.max_score})
        return calls, key

    def _keep(
        self, engine: Engine, request: str, calls: list[Call], key: str, tools: list[Tool],
        group: str | None, source: str, done: set[str],
    ) -> None:  # fmt: skip
        self.novelty.add(key, request)
        self.kept += 1
        task_id = f"task_{self.kept:06d}"
        record = {
            "id": task_id,
            "instruction": request,
            "is_classification": None,
            "instances": [{"input": "", "output": key}],
            "calls": [c.as_dict() for c in calls],
            "tools": [t.openai() for t in tools],
            "group": group,
            "source": source,
        }
        engine.report(accepted=self.kept)
        if not self.s.responses:
            written = engine.write("tasks", record)
            engine.report(finished=1, tasks=int(written))
        elif task_id not in done:
            engine.spawn(self._respond(engine, record, calls, tools))
        else:
            engine.report(finished=1)

    # ------------------------------------------------------------------ final answers

    async def _respond(
        self, engine: Engine, record: dict[str, Any], calls: list[Call], tools: list[Tool]
    ) -> None:
        try:
            await self._results_and_reply(engine, record, calls, {t.name: t for t in tools})
        finally:
            engine.report(finished=1)

    async def _results_and_reply(
        self, engine: Engine, record: dict[str, Any], calls: list[Call], tools: dict[str, Tool]
    ) -> None:
        task_id = record["id"]
        results = []
        for call in calls:
            if engine.stopping:
                return
            if call.name in self.mock:
                results.append({"name": call.name, "content": as_content(self.mock[call.name]),
                                "simulated": False})  # fmt: skip
                continue
            grammar = result_grammar() if self.constrain else ""
            prompt = simulate_prompt(tools[call.name], call)
            answer = await engine.ask(
                Request("simulate", prompt, self.s.simulate_decoding, grammar=grammar), task_id
            )
            if answer is None:
                return
            if answer.completion.finish_reason == "length":
                engine.reject(task_id, "simulate", Rejection("result_truncated"),
                              answer.completion.text, answer.key)  # fmt: skip
                return
            content = as_content(parse_result(answer.completion.text))
            results.append({"name": call.name, "content": content, "simulated": True})
        if engine.stopping:
            return
        prompt = response_prompt(
            record["instruction"],
            [(c, r["content"]) for c, r in zip(calls, results, strict=True)],
        )
        answer = await engine.ask(Request("response", prompt, self.s.response_decoding), task_id)
        if answer is None:
            return
        reply = answer.completion.text.strip()
        if answer.completion.finish_reason == "length" or not reply:
            reason = "response_truncated" if reply else "empty_response"
            engine.reject(task_id, "response", Rejection(reason), reply, answer.key)
            return
        written = engine.write("tasks", {**record, "results": results, "response": reply})
        engine.report(tasks=int(written))

    # ------------------------------------------------------------------ building

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Tools:
        assert isinstance(settings, ToolsSettings)
        tools = load_tools(settings.spec_path)
        spec = {t.name: t for t in tools}
        examples = load_examples(settings.examples_path or default_examples_path(), spec)
        mock = load_mock(settings.mock_path, tools) if settings.mock_path else {}
        return cls(settings, tools, examples, mock, api)

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``spec_path`` is read and checked here; the spec, examples and mock are hashed, so
        a resume with other files is refused like any changed data setting."""
        spec_path = values.pop("spec_path")
        tools = load_tools(spec_path)
        examples_path = values.pop("examples_path", None)
        load_examples(examples_path or default_examples_path(), {t.name: t for t in tools})
        mock_path = values.pop("mock_path", None)
        files: dict[str, Any] = {
            "spec_path": str(spec_path),
            "spec_sha256": file_sha256(Path(spec_path)),
            "examples_path": str(examples_path) if examples_path else None,
            "examples_sha256": file_sha256(Path(examples_path or default_examples_path())),
        }
        if mock_path is not None:
            load_mock(mock_path, tools)
            files.update(mock_path=str(mock_path), mock_sha256=file_sha256(Path(mock_path)))
        return super().configure(backend, decoding=decoding, **files, **values)

    @classmethod
    def report(cls, folder: Path) -> dict[str, Any] | None:
        return tools_report(folder)

    @classmethod
    def render_report(cls, section: dict[str, Any]) -> list[str]:
        return render_tools_report(section)


CALL_REASONS = frozenset(
    {"unparseable_call", "unknown_tool", "missing_required", "unknown_argument",
     "invalid_arguments", "unquoted_value", "no_calls"}
)  # fmt: skip
