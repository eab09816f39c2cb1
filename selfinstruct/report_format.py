"""How numbers look in the plain-text reports (`stats`, evolve's table): one place, so every
table prints a count, a mean and a share the same way."""

from __future__ import annotations


def number(value: float | int | None, digits: int = 1) -> str:
    """``1,234`` for whole values, ``12.5`` otherwise, ``-`` when there is none."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def percent(share: float | None) -> str:
    """A share in 0..1 as ``12.5%``; ``n/a`` when it could not be computed."""
    return "n/a" if share is None else f"{100 * share:.1f}%"
