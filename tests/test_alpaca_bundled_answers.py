"""Alpaca's parser on the five answers the bundled model gave in the `generate --method alpaca
--n 20` measurement (completion API, reference decoding: temperature 1.0, max_tokens 3072).

They pin down why so few items survive on SmolLM2-135M: the parser reads an item exactly as the
reference does (split on ``###``, then on ``N. Instruction: / N. Input: / N. Output:``, seven
fields or the item is dropped), and the model mostly writes items that are not in that layout.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from selfinstruct.gate import Rejection
from selfinstruct.methods.alpaca.method import Item, parse_items

RAW = json.loads(
    (Path(__file__).parent / "fixtures" / "raw_alpaca20_smollm2.json").read_text("utf-8")
)


def parsed(answer: dict) -> list[str]:
    items = parse_items(answer["text"], 4, truncated=answer["finish_reason"] == "length")
    return [x.instruction if isinstance(x, Item) else x.reason for x in items]


def test_item_by_item():
    first, second, third, fourth, fifth = (parsed(answer) for answer in RAW)
    assert first == ["item_malformed", "item_truncated"]  # cut at 3,072 tokens, in a loop
    kept = ["Pick the incorrect answer.", "Choose the correct option in a list.",
            "Pick the wrong option.", "Pick the correct option."]  # fmt: skip
    # Item 4 writes four "4. Output:" fields; after item 8 the model restarts at "1.".
    assert second == ["item_malformed", *kept] + ["item_malformed"] * 18
    # Items 4 to 9 without a "###" between them: one item, the rest riding in its output, as
    # in the reference.
    assert third == ["What is the opposite of this: A. All blue people are human. B. Some "
                     "people are human. C. Some people can't be blue."]  # fmt: skip
    assert fourth == ["item_malformed"] * 17
    assert fifth == ["item_malformed"] * 16


def shape(piece: str, number: int) -> str:
    """What an item written by the model lacks, by its own labels."""
    own = [label for n, label in re.findall(r"(\d+)\.\s+(Instruction|Input|Output):", piece)
           if int(n) == number]  # fmt: skip
    if sorted(own) == ["Input", "Instruction", "Output"]:
        return "three fields"
    if any(own.count(label) > 1 for label in own):
        return "a field repeated"
    if "Instruction" in own and "Output" in own:
        return "no input field"
    if "Instruction" in own:
        return "no output field"
    return "another number or no labels"


def test_the_drops_are_the_models_layout():
    """Every dropped item (but the length-cut one) lacks a field, repeats one or is numbered
    wrongly; none is a layout the reference would have kept."""
    shapes: Counter[str] = Counter()
    for answer in RAW:
        pieces = ("4. Instruction:" + answer["text"]).split("###")
        items = parse_items(answer["text"], 4, truncated=answer["finish_reason"] == "length")
        kept = [piece for piece in pieces if piece.strip()]
        for index, (piece, item) in enumerate(zip(kept, items, strict=True)):
            if isinstance(item, Rejection) and item.reason == "item_malformed":
                shapes[shape(piece, 4 + index)] += 1
    assert shapes == {
        "no input field": 26,
        "another number or no labels": 19,
        "no output field": 7,
        "a field repeated": 1,
    }
    assert sum(answer["completion_tokens"] for answer in RAW) == 6992
