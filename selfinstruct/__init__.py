"""selfinstruct: synthetic instruction-tuning data, each method as its paper made it.

The public API (see README, "Use from Python"): :func:`backend`, :func:`settings`, :func:`run`,
:func:`filter_tasks`, :func:`export_tasks`, :func:`task_stats`; :class:`Method` and :func:`register` to add
a method of your own. Names load on first use, so ``import selfinstruct`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.3.0"

_EXPORTS = {
    "backend": "selfinstruct.api",
    "settings": "selfinstruct.api",
    "run": "selfinstruct.api",
    "filter_tasks": "selfinstruct.api",
    "export_tasks": "selfinstruct.api",
    "task_stats": "selfinstruct.api",
    "register": "selfinstruct.registry",
    "Method": "selfinstruct.methods.base",
    "Engine": "selfinstruct.engine",
    "Request": "selfinstruct.backends.base",
    "Decoding": "selfinstruct.backends.base",
    "Backend": "selfinstruct.backends.base",
    "RunSettings": "selfinstruct.config",
    "InstructionRunSettings": "selfinstruct.config",
    "RunResult": "selfinstruct.summary",
    "StopKind": "selfinstruct.summary",
    "Rejection": "selfinstruct.gate",
    "InstructionGate": "selfinstruct.gate",
    "Answer": "selfinstruct.client",
    "UserError": "selfinstruct.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'selfinstruct' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
