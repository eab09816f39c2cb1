"""Recipes: a TOML file that chains steps (methods, ``filter``, ``export``) under one folder.

:func:`load_recipe` reads and checks the whole recipe before anything runs: every step's kind,
every option against the method's settings model (or the filter/export options), and every
input (a file that exists, or the name of an earlier step). A problem is one line naming the
file, the step and the key. :mod:`selfinstruct.recipe_run` runs a loaded recipe. The shape is
documented in docs/recipes.md.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from selfinstruct import registry
from selfinstruct.errors import UserError
from selfinstruct.export import check_options
from selfinstruct.exporting import export as _export
from selfinstruct.filtering import FilterOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the backport, same interface
    import tomli as tomllib

TOP_KEYS = ("folder", "model", "steps")
# What ``selfinstruct.api.backend`` takes (an API key is never written in a recipe: the
# OPENAI_API_KEY environment variable gives it).
MODEL_KEYS = ("model", "base_url", "api", "model_path")
STEP_KEYS = ("name", "kind", "input")
TOOLS = ("filter", "export")
# Settings a method step never sets itself: the recipe's [model] and values derived from files.
DERIVED = frozenset({"method", "model", "base_url", "api"})
# A filter step's options (FilterOptions fields the command line sets) and an export step's.
FILTER_KEYS = ("threshold", "tokenizer", "blacklist", "ascii_first_char", "max_instances",
               "novelty", "instance_rules", "keep_top_ifd", "against")  # fmt: skip
EXPORT_SKIPPED = frozenset({"path", "fmt", "push_to_hub", "public"})
STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Step:
    """One step: ``kind`` is a method name, ``filter`` or ``export``; ``source`` is the earlier
    step it reads (None: ``input`` is a file, or there is no input)."""

    number: int
    name: str
    kind: str
    options: dict[str, Any]
    input: Path | None = None
    source: str | None = None
    against: Path | None = None
    against_source: str | None = None

    @property
    def label(self) -> str:
        return f"step {self.name!r} ({self.kind})"


@dataclass(frozen=True)
class Recipe:
    path: Path
    folder: Path
    model: dict[str, Any]
    steps: list[Step] = field(default_factory=list)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def load_recipe(path: str | Path) -> Recipe:
    """The recipe at ``path`` (TOML; ``.yaml``/``.yml`` with PyYAML installed), checked."""
    path = Path(path)
    data = _read(path)
    where = str(path)
    _known(data, TOP_KEYS, f"{where}: unknown key {{!r}} (known: {', '.join(TOP_KEYS)})")
    base = path.resolve().parent
    folder_value = data.get("folder", path.stem)
    if not isinstance(folder_value, str) or not folder_value.strip():
        raise UserError(f'{where}: folder must name a folder, e.g. folder = "data/recipe1"')
    model = data.get("model", {})
    if not isinstance(model, dict):
        raise UserError(f'{where}: [model] must be a table, e.g. [model] model = "gpt-4o-mini"')
    _known(model, MODEL_KEYS, f"{where}: [model]: unknown key {{!r}} (known: "
           f"{', '.join(MODEL_KEYS)}; the API key comes from OPENAI_API_KEY)")  # fmt: skip
    if isinstance(model.get("model_path"), str):
        model = {**model, "model_path": _resolve(base, model["model_path"])}
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise UserError(f"{where}: no steps: add [[steps]] tables, each with a kind")
    steps: list[Step] = []
    for number, raw in enumerate(raw_steps, 1):
        steps.append(_step(where, base, number, raw, steps))
    return Recipe(path=path, folder=_resolve(base, folder_value), model=model, steps=steps)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such recipe file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the recipe ({exc.__class__.__name__})") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise UserError(f"{path}: YAML recipes need PyYAML (pip install pyyaml)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UserError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: a recipe is a mapping with steps")
        return data
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None


def _known(table: dict[str, Any], known: tuple[str, ...] | frozenset[str], message: str) -> None:
    for key in table:
        if key not in known:
            raise UserError(message.format(key))


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _step(where: str, base: Path, number: int, raw: Any, earlier: list[Step]) -> Step:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: step {number} must be a table ([[steps]])")
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind:
        raise UserError(f"{where}: step {number}: no kind (a method name, filter or export)")
    name = raw.get("name", kind)
    label = f"{where}: step {name!r}"
    if kind not in TOOLS and kind not in registry.names():
        known = ", ".join([*registry.names(), *TOOLS])
        raise UserError(f"{label}: unknown kind {kind!r} (known: {known})")
    label = f"{where}: step {name!r} ({kind})"
    if not isinstance(name, str) or not STEP_NAME.match(name):
        raise UserError(f"{where}: step {number}: name {name!r} must be letters, digits, . _ -")
    taken = next((s for s in earlier if s.name == name), None)
    if taken is not None:
        raise UserError(
            f"{label}: name {name!r} is taken by step {taken.number}: give this one a name"
        )
    options = {k: v for k, v in raw.items() if k not in STEP_KEYS}
    allowed = _allowed(kind)
    for key in options:
        if key not in allowed:
            raise UserError(f"{label}: unknown option {key!r}")
    for key, value in options.items():
        _check_value(label, kind, key, value)
    source_input = _input(label, base, raw.get("input"), earlier, "input")
    against = _input(label, base, options.pop("against", None), earlier, "against")
    for key, value in list(options.items()):
        if key.endswith("_path") and isinstance(value, str):
            options[key] = str(_existing(label, base, value, key))
    step = Step(
        number=number, name=name, kind=kind, options=options,
        input=source_input[0], source=source_input[1],
        against=against[0], against_source=against[1],
    )  # fmt: skip
    _check_step(label, step)
    return step


def _allowed(kind: str) -> frozenset[str]:
    if kind == "filter":
        return frozenset(FILTER_KEYS)
    if kind == "export":
        names = inspect.signature(_export).parameters
        return frozenset({"format", *(n for n in names if n not in EXPORT_SKIPPED)})
    fields = registry.get(kind).Settings.model_fields
    own = {name for name in fields if name not in DERIVED and not name.endswith("_sha256")}
    return frozenset({*own, "decoding_overrides"})


def _check_value(label: str, kind: str, key: str, value: Any) -> None:
    """The value's type (and range) as the settings model or the tool checks it."""
    if key in ("against", "output", "format", "decoding_overrides"):
        expected: Any = str if key != "decoding_overrides" else list[str]
    elif kind == "filter":
        expected = typing.get_type_hints(FilterOptions)[key]
    elif kind == "export":
        expected = typing.get_type_hints(_export)[key]
    else:
        info = registry.get(kind).Settings.model_fields[key]
        expected = Annotated[info.annotation, info]
    try:
        TypeAdapter(expected).validate_python(value)
    except ValidationError as exc:
        raise UserError(f"{label}: invalid {key}={value!r}: {exc.errors()[0]['msg']}") from None


def _input(
    label: str, base: Path, value: Any, earlier: list[Step], key: str
) -> tuple[Path | None, str | None]:
    """An input: an earlier step's name (its output), or a file (relative to the recipe)."""
    if value is None:
        return None, None
    if not isinstance(value, str) or not value:
        raise UserError(f"{label}: {key} must be an earlier step's name or a file")
    if any(s.name == value for s in earlier):
        return None, value
    return _existing(label, base, value, key), None


def _existing(label: str, base: Path, value: str, key: str) -> Path:
    path = _resolve(base, value)
    if not path.exists():
        raise UserError(f"{label}: {key} {value!r}: no such file, and no earlier step is so named")
    return path


def _check_step(label: str, step: Step) -> None:
    has_input = step.input is not None or step.source is not None
    if step.kind in TOOLS:
        if not has_input:
            raise UserError(f"{label}: needs input (an earlier step's name or a file)")
        if step.kind == "export":
            options = step.options
            if "format" not in options:
                raise UserError(f'{label}: needs format (e.g. format = "alpaca")')
            try:
                check_options(
                    options["format"], options.get("output", "out"), split=options.get("split"),
                    include_seeds=bool(options.get("include_seeds")),
                    system=options.get("system"), pairs=options.get("pairs"),
                )  # fmt: skip
            except UserError as exc:
                raise UserError(f"{label}: {exc}") from None
        return
    if has_input:
        if input_setting(step.kind) is None:
            raise UserError(f"{label}: input: {step.kind} takes no input")
        if input_setting(step.kind) in step.options:
            raise UserError(f"{label}: give input or {input_setting(step.kind)}, not both")
    elif _required_input(step.kind) and input_setting(step.kind) not in step.options:
        raise UserError(f"{label}: needs input (an earlier step's name or a file)")


def input_setting(kind: str) -> str | None:
    """The settings field a method step's ``input`` fills: its tasks, or its seed tasks."""
    fields = registry.get(kind).Settings.model_fields
    return next((name for name in ("input_path", "seeds_path") if name in fields), None)


def _required_input(kind: str) -> bool:
    fields = registry.get(kind).Settings.model_fields
    return "input_path" in fields and fields["input_path"].is_required()
