"""Method name -> :class:`~selfinstruct.methods.base.Method`: the one place methods are found.

Built-in methods are the packages under ``selfinstruct/methods/`` that export ``METHOD`` and their
command as ``COMMAND`` (found by listing the folder, so no module here names one); other packages
add theirs through the entry-point group ``selfinstruct.methods``
(``name = "package.module:MethodClass"``; its ``command()`` gives the command), and Python code
may :func:`register` a class directly. The core asks this registry and imports no method.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from selfinstruct.errors import UserError
from selfinstruct.methods.base import Method

if TYPE_CHECKING:
    import click

ENTRY_POINT_GROUP = "selfinstruct.methods"

_methods: dict[str, type[Method]] = {}
_commands: dict[str, click.Command] = {}  # a built-in package's COMMAND, by method name
_loaded = False


def register(method: type[Method]) -> type[Method]:
    """Add a method class (usable as a decorator); a second class under a taken name is refused."""
    if not (isinstance(method, type) and issubclass(method, Method)):
        raise UserError(f"{method!r} is not a selfinstruct Method subclass")
    name = getattr(method, "name", None)
    if not isinstance(name, str) or not name:
        raise UserError(f"{method.__qualname__} has no name: set the class attribute name")
    known = _methods.get(name)
    if known is not None and known is not method:
        raise UserError(f"two methods are named {name!r}: {_origin(known)} and {_origin(method)}")
    _methods[name] = method
    return method


def get(name: str) -> type[Method]:
    """The method called ``name``; an unknown name is one line listing the known ones."""
    _load()
    method = _methods.get(name)
    if method is None:
        raise UserError(f"unknown method {name!r} (known: {', '.join(names())})")
    return method


def names() -> list[str]:
    _load()
    return sorted(_methods)


def methods() -> list[type[Method]]:
    _load()
    return [_methods[name] for name in sorted(_methods)]


def command(method: type[Method]) -> click.Command | None:
    """The click command that runs ``method``: its package's ``COMMAND``, or ``command()``."""
    _load()
    return _commands.get(method.name) or method.command()


def settings_model(name: str | None) -> type[Any]:
    """The settings model a run folder of method ``name`` was written with (a folder from
    before methods existed has none, and is Self-Instruct's)."""
    return get(name or "self-instruct").Settings


def _origin(method: type[Method]) -> str:
    return f"{method.__module__}.{method.__qualname__}"


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import selfinstruct.methods as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        method = getattr(module, "METHOD", None)
        if method is not None:
            register(method)
            if getattr(module, "COMMAND", None) is not None:
                _commands[method.name] = module.COMMAND
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plug-in must not take the built-ins down
            print(
                f"warning: method plug-in {entry.name!r} ({entry.value}) failed to load: "
                f"{exc.__class__.__name__}: {exc}",
                file=sys.stderr,
            )
            continue
        register(loaded)
