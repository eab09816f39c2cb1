"""The synthetic model's answers, one module per method, found by listing this folder.

Each module (a name not starting with an underscore) exports::

    def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str | None

returning its method's answer to ``prompt``, or None when the prompt is not its method's.
``stage`` is the request's stage when the caller knows it (the in-process ``FakeBackend``), None
for the stub server, which tells prompts apart by their wording alone; ``chat`` says whether the
prompt came as chat messages; ``seed`` is the request's seed; ``salt`` varies the answers of a
non-deterministic stub ("" otherwise).

:func:`answer` asks the modules in a fixed order, by their ``PRIORITY`` (default
:data:`DEFAULT_PRIORITY`; lower first), then by name, and returns the first answer. Modules that
tell their prompts apart by exact wording come first; the catch-alls (chat's conversation turns,
Self-Instruct's instance prompts) last. A new method (a plug-in's test, say) adds its module here
and is asked before the catch-alls, with nothing else to change.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

DEFAULT_PRIORITY = 50


@cache
def modules() -> tuple[ModuleType, ...]:
    """Every answer module in this folder, in the order they are asked."""
    found = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return tuple(
        sorted(found, key=lambda m: (getattr(m, "PRIORITY", DEFAULT_PRIORITY), m.__name__))
    )


def answer(
    prompt: str, *, chat: bool, stage: str | None = None, seed: object = None, salt: str = ""
) -> str:
    """The first answer a module gives to ``prompt``."""
    for module in modules():
        text = module.answer(prompt, chat=chat, stage=stage, seed=seed, salt=salt)
        if text is not None:
            return text
    raise LookupError(f"no module in tests/answers answers this prompt: {prompt[:80]!r}")
