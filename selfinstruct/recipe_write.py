"""``selfinstruct recipe RUN``: the recipe that reproduces a run folder from its settings.json.

The recipe names the method, the model (model, base_url, api: never an API key), ``n``, the
input files (as absolute paths) and every data setting that differs from the method's
defaults; operational settings (concurrency, budgets, timeouts) are left to their defaults.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from selfinstruct import registry
from selfinstruct.errors import UserError
from selfinstruct.resources import default_seed_path
from selfinstruct.store import settings_file

MODEL_FIELDS = ("model", "base_url", "api")
SKIPPED = frozenset({"method", *MODEL_FIELDS})


def recipe_for(folder: str | Path) -> str:
    """The TOML text of a one-step recipe reproducing ``folder``."""
    folder = Path(folder)
    path = settings_file(folder)
    try:
        saved: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{folder}: not a run folder (no settings.json)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable run settings ({exc.__class__.__name__})") from None
    method = saved.get("method") or "self-instruct"
    kind = registry.get(method)
    settings = kind.Settings.model_validate(saved)  # refuses a file the method cannot read
    values = settings.model_dump(mode="json")
    fields = kind.Settings.model_fields
    step: dict[str, Any] = {"kind": method, "n": values["n"]}
    for name, value in values.items():
        if name in SKIPPED or name == "n" or name.endswith("_sha256") or value is None:
            continue
        info = fields[name]
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if not info.is_required() and _json(value) == _json(default):
            continue
        if name.endswith("_path") or name.endswith("_paths"):
            if not _bundled(value):
                step[name] = _absolute(value)
        elif name not in settings.OPERATIONAL:
            step[name] = value
    model = {k: values[k] for k in MODEL_FIELDS if values.get(k) is not None}
    lines = [
        f"# Reproduces {folder} (selfinstruct run THIS_FILE). The API key comes from",
        "# OPENAI_API_KEY; the run folder is created beside this file, named after it.",
        "",
        "[model]",
        *(f"{k} = {_value(v)}" for k, v in model.items()),
        "",
        "[[steps]]",
        *(f"{k} = {_value(v)}" for k, v in step.items()),
    ]
    return "\n".join(lines) + "\n"


def _json(value: Any) -> str:
    from pydantic import TypeAdapter

    return json.dumps(TypeAdapter(Any).dump_python(value, mode="json"), sort_keys=True)


def _bundled(value: Any) -> bool:
    return isinstance(value, str) and Path(value).resolve() == default_seed_path().resolve()


def _absolute(value: Any) -> Any:
    if isinstance(value, str):
        return str(Path(value).resolve())
    if isinstance(value, list):
        return [_absolute(v) for v in value]
    return value


def _value(value: Any) -> str:
    """A TOML value: strings, numbers, booleans, arrays and inline tables (None is left out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UserError(f"a setting holds {value}, which TOML cannot write")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string is JSON's
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise UserError(f"cannot write {value!r} in a recipe")


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)
