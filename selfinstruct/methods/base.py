"""The one unit a method is: a :class:`Method` subclass, registered by name.

A method says what to ask and what to keep; the engine (cache, concurrency, retries, the run
folder, resume, budgets, the stall and failure rules, Ctrl-C, progress, the summary) does the
rest. Everything that is only one method's lives in its package beside this class: settings with
its paper's defaults, prompts, parsing, input readers, its report section and its command.

A subclass declares, as class attributes:

- ``name``: the method's name (``selfinstruct <name>`` unless ``command`` says otherwise),
- ``Settings``: its pydantic settings model (subclass of :class:`RunSettings`, with
  ``method: Literal["<name>"] = "<name>"``); its defaults are the reference's,
- ``stages``: ``--decoding`` stage name -> the settings field holding that stage's decoding
  (``default_stage``: the stage an override that names none changes),
- ``logs``: record kinds it writes beyond the core's (kind -> file name in the run folder),
- ``unit``: what the progress bar counts,
- ``shardable``, ``merge_log``, ``merge_renumber``: how ``--shard K/N`` splits its work (the
  method takes its part with :meth:`shard_of`) and how ``selfinstruct merge`` joins the parts,

and implements ``__call__(engine) -> int`` (how many items it accepted). ``create`` builds it
from settings and validates its inputs before the run folder is touched; ``configure`` builds
its settings (the command line and Python share it); ``report`` / ``render_report`` give its
section of ``summary.json`` and ``stats``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from selfinstruct.backends.base import Backend, Decoding
from selfinstruct.config import RunSettings, seeded, validated
from selfinstruct.decoding import parse_decoding_overrides
from selfinstruct.shards import Shard

if TYPE_CHECKING:
    import click

    from selfinstruct.engine import Engine
    from selfinstruct.gate import InstructionGate


class Method(ABC):
    """A way of making (or judging) data, run by the engine over one run folder."""

    name: ClassVar[str]
    Settings: ClassVar[type[RunSettings]]
    stages: ClassVar[Mapping[str, str]] = {}
    default_stage: ClassVar[str | None] = None
    logs: ClassVar[Mapping[str, str]] = {}
    unit: ClassVar[str] = "task"
    # Shards (issue 25): True once the method takes its part of the work with ``shard_of``.
    shardable: ClassVar[bool] = False
    merge_log: ClassVar[str] = "tasks"  # the log `merge` joins
    merge_renumber: ClassVar[bool] = False  # ids count items (task_000001): renumbered on merge

    @abstractmethod
    async def __call__(self, engine: Engine) -> int:
        """Run the method's stages on the engine; return how many items it accepted."""

    # ------------------------------------------------------------------ building

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Method:
        """The method for ``settings`` on an ``api`` ("chat" or "completion") backend. Load and
        validate inputs here (raise :class:`UserError`, one line): nothing is written yet."""
        return cls(settings)  # type: ignore[call-arg]

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """Settings for a run on ``backend``: ``values`` are settings fields, ``decoding`` the
        ``STAGE.PARAM=VALUE`` overrides. An invalid value is one line naming it."""
        values = {**cls.decodings(backend, values, decoding), **values}
        return validated(
            cls.Settings,
            method=cls.name,
            model=backend.model,
            base_url=backend.base_url,
            api=backend.api,
            **values,
        )

    @classmethod
    def base_decodings(cls, backend: Backend, values: Mapping[str, Any]) -> dict[str, Decoding]:
        """Each stage's decoding before overrides: the settings' defaults (a method whose
        decoding depends on the API or on other values says so here)."""
        return {field: cls.Settings.model_fields[field].default for field in cls.stages.values()}

    @classmethod
    def decodings(
        cls, backend: Backend, values: Mapping[str, Any], overrides: Sequence[str]
    ) -> dict[str, Decoding]:
        """The decoding fields that differ from the settings' defaults: the API's own and the
        ``--decoding`` overrides, each changing one parameter and keeping the rest."""
        base = cls.base_decodings(backend, values)
        defaults = {f: cls.Settings.model_fields[f].default for f in cls.stages.values()}
        chosen = {f: d for f, d in base.items() if d != defaults.get(f)}
        parsed = parse_decoding_overrides(overrides, cls.stages, cls.default_stage)
        for stage, params in parsed.items():
            field = cls.stages[stage]
            chosen[field] = dataclasses.replace(chosen.get(field, base[field]), **params)
        return chosen

    # ------------------------------------------------------------------ command line, reports

    @classmethod
    def command(cls) -> click.Command | None:
        """A plug-in's click command (a built-in package exports it as ``COMMAND`` instead, so
        that the method never imports its command). None: another method's command runs it."""
        return None

    @classmethod
    def report(cls, folder: Path) -> dict[str, Any] | None:
        """This method's section of ``summary.json`` and ``stats`` for a run folder."""
        return None

    @classmethod
    def render_report(cls, section: dict[str, Any]) -> list[str]:
        """Lines of the ``stats`` table for the section ``report`` returned."""
        return []

    @classmethod
    def reference_texts(cls, settings: RunSettings) -> list[str] | None:
        """The texts ``stats`` measures ROUGE-L against (None: the run's seed tasks)."""
        return None

    # ------------------------------------------------------------------ shards and merge

    @staticmethod
    def shard_of(settings: RunSettings) -> Shard:
        """The part of the work a run does: ``take`` its records, or number its requests with
        ``global_index`` (the whole run when the settings name no shard)."""
        return Shard.of(settings)

    @classmethod
    def merge_gate(cls, settings: RunSettings) -> InstructionGate | None:
        """The gate ``merge`` applies across shards, in order (None: records independent)."""
        return None

    @staticmethod
    def settings_gate(settings: Any, **options: Any) -> InstructionGate:
        """The instruction gate a run's settings describe (blacklist, first character, tokenizer,
        threshold): what a generating method's ``merge_gate`` returns."""
        from selfinstruct.gate import InstructionGate

        return InstructionGate.from_settings(
            settings.blacklist, settings.ascii_first_char, settings.tokenizer, settings.threshold,
            **options,
        )  # fmt: skip

    @classmethod
    def merge_text(cls, record: Mapping[str, Any]) -> str:
        """The text of a record that ``merge_gate`` judges."""
        return str(record.get("instruction", ""))


class SeededMethod(Method):
    """A method that starts from seed tasks (``InstructionRunSettings``): its ``seeds_path``
    defaults to the bundled seed tasks, which are read and hashed when the settings are built."""

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        return super().configure(backend, decoding=decoding, **seeded(values))
