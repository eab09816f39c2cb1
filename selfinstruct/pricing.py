"""Prices per million tokens (input, output) in USD, for turning usage into cost.

Published list prices at the time of writing; a run can override them with ``--price``.
Unknown models and local servers cost nothing that we can know, so their cost is None.
"""

from __future__ import annotations

from math import isfinite

from selfinstruct.errors import UserError

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-3.5-turbo-instruct": (1.50, 2.00),
    "davinci-002": (2.00, 2.00),
    "babbage-002": (0.40, 0.40),
}


def price_for(
    model: str, override: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    if override is not None:
        return override
    return PRICES_PER_MILLION.get(model)


def cost(
    prompt_tokens: int, completion_tokens: int, price: tuple[float, float] | None
) -> float | None:
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


# The OpenAI Batch API bills input and output tokens at half the list price.
BATCH_DISCOUNT = 0.5


def batch_price(price: tuple[float, float] | None) -> tuple[float, float] | None:
    """The price per million tokens of a request answered through the Batch API."""
    if price is None:
        return None
    return price[0] * BATCH_DISCOUNT, price[1] * BATCH_DISCOUNT


def parse_price(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        prompt_price, completion_price = (float(part) for part in text.split(","))
    except ValueError:
        raise UserError(
            f"--price {text!r}: expected two numbers, IN,OUT (USD per million tokens)"
        ) from None
    # NaN passes every comparison and would reach summary.json, which is then not JSON.
    if not all(isfinite(p) and p >= 0 for p in (prompt_price, completion_price)):
        raise UserError(
            f"--price {text!r}: prices must be finite numbers, 0 or more (USD per million tokens)"
        )
    return prompt_price, completion_price
