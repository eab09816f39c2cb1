"""Rows in the shapes trainers document, and the config entries that point them at a file.

* ``trl-sft``: TRL's conversational language-modeling rows, ``{"messages": [...]}``.
* ``trl-prompt-completion``: TRL's conversational prompt-completion rows: ``prompt`` the
  messages up to the last assistant turn, ``completion`` a list holding that assistant turn.
* ``trl-dpo``: TRL's conversational preference rows: ``prompt`` a list of messages, ``chosen``
  and ``rejected`` lists of one assistant message each (from ``respond --compare``).
* ``trl-kto``: TRL's conversational unpaired-preference rows: ``prompt`` messages,
  ``completion`` one assistant message, boolean ``label``. Per compared instance, the
  best-scored answers are desirable (``True``) and every lower-scored answer undesirable.
* ``axolotl-chat``: ``{"messages": [...]}`` for axolotl's ``type: chat_template``.
* ``axolotl-alpaca``: ``{"instruction", "input", "output"}`` for axolotl's ``type: alpaca``.
* ``llamafactory-alpaca``: ``{"instruction", "input", "output"}`` (and ``system`` with
  ``--system``), with its ``dataset_info.json`` entry (columns prompt/query/response).
* ``llamafactory-sharegpt``: ``{"conversations": [{"from": "human"|"gpt", "value"}]}`` (and
  ``system``), turns alternating human/gpt as LLaMA-Factory requires.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

SFT_SHAPES = (
    "trl-sft",
    "trl-prompt-completion",
    "axolotl-chat",
    "axolotl-alpaca",
    "llamafactory-alpaca",
    "llamafactory-sharegpt",
)
PAIR_SHAPES = ("trl-dpo", "trl-kto")
SHAPES = SFT_SHAPES + PAIR_SHAPES
ALPACA_SHAPES = ("axolotl-alpaca", "llamafactory-alpaca")
LLAMAFACTORY_SHAPES = ("llamafactory-alpaca", "llamafactory-sharegpt")
DATASET_INFO = "dataset_info.json"


def base_format(shape: str) -> str:
    """The existing format a shape is converted from: ``alpaca`` or ``messages``."""
    return "alpaca" if shape in ALPACA_SHAPES else "messages"


def alpaca_row(record: dict[str, Any], shape: str, system: str | None) -> dict[str, Any] | str:
    """A checked alpaca row, or why it is skipped."""
    if not str(record["instruction"]).strip():
        return "empty instruction"
    if not str(record["output"]).strip():
        return "empty output"
    row = {
        "instruction": str(record["instruction"]).strip(),
        "input": str(record["input"]).strip(),
        "output": str(record["output"]).strip(),
    }
    if system is not None and shape == "llamafactory-alpaca":
        row["system"] = system
    return row


def chat_row(messages: list[dict[str, str]], shape: str) -> dict[str, Any] | str:
    """A ``messages`` conversation in ``shape``, or why it is skipped."""
    if shape in ("trl-sft", "axolotl-chat"):
        return {"messages": messages}
    if shape == "trl-prompt-completion":
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        if not any(m["role"] == "user" for m in messages[:last]):
            return "no user turn before the answer"
        return {"prompt": messages[:last], "completion": [messages[last]]}
    # llamafactory-sharegpt: a leading system turn becomes the system column
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    turns = messages[1:] if system is not None else messages
    expected = ["user", "assistant"] * (len(turns) // 2)
    if len(turns) % 2 or [m["role"] for m in turns] != expected:
        return "turns not alternating user/assistant"
    names = {"user": "human", "assistant": "gpt"}
    row: dict[str, Any] = {
        "conversations": [{"from": names[m["role"]], "value": m["content"]} for m in turns]
    }
    if system is not None:
        row["system"] = system
    return row


def shape_rows(
    records: list[dict[str, Any]], shape: str, system: str | None, skipped: Counter[str]
) -> list[dict[str, Any] | None]:
    """Each base record (alpaca or messages) in ``shape``; None where it is skipped (counted)."""
    rows: list[dict[str, Any] | None] = []
    for record in records:
        if shape in ALPACA_SHAPES:
            row = alpaca_row(record, shape, system)
        else:
            row = chat_row(record["messages"], shape)
        if isinstance(row, str):
            skipped[row] += 1
            rows.append(None)
        else:
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------
# Preference rows (respond --compare)
# ---------------------------------------------------------------------------------------


def _prompt(text: str, system: str | None) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system is not None else []
    return [*head, {"role": "user", "content": text}]


def _answer(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": str(text).strip()}]


def dpo_row(pair: dict[str, Any], system: str | None) -> dict[str, Any]:
    """A ``preference`` pair in TRL's conversational preference shape."""
    return {
        "prompt": _prompt(pair["prompt"], system),
        "chosen": _answer(pair["chosen"]),
        "rejected": _answer(pair["rejected"]),
    }


def kto_rows(prompt: str, scored: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """One unpaired row per scored candidate: the best-scored desirable, the others not.
    All scores equal: no rows (nothing tells good from bad)."""
    best = max(c["score"] for c in scored)
    if all(c["score"] == best for c in scored):
        return []
    return [
        {
            "prompt": _prompt(prompt, system),
            "completion": _answer(c["output"]),
            "label": c["score"] == best,
        }
        for c in scored
    ]


# ---------------------------------------------------------------------------------------
# Trainer configuration
# ---------------------------------------------------------------------------------------


def axolotl_yaml(shape: str, paths: list[Path] | None) -> str:
    """axolotl's ``datasets:`` entry for the written file (``test_datasets:`` for a split)."""
    kind = (
        "    type: chat_template\n"
        "    field_messages: messages\n"
        "    message_property_mappings:\n"
        "      role: role\n"
        "      content: content\n"
        if shape == "axolotl-chat"
        else "    type: alpaca\n"
    )
    shown = [str(p) for p in paths] if paths else ["FILE.jsonl"]
    text = f"datasets:\n  - path: {shown[0]}\n    ds_type: json\n{kind}"
    if len(shown) > 1:
        text += f"test_datasets:\n  - path: {shown[1]}\n    ds_type: json\n    split: train\n{kind}"
    return text.rstrip("\n")


def llamafactory_entry(shape: str, file_name: str, system: bool) -> dict[str, Any]:
    """LLaMA-Factory's ``dataset_info.json`` entry for one written file."""
    if shape == "llamafactory-alpaca":
        columns = {"prompt": "instruction", "query": "input", "response": "output"}
        entry: dict[str, Any] = {"file_name": file_name, "columns": columns}
    else:
        columns = {"messages": "conversations"}
        entry = {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": columns,
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
            },
        }
    if system:
        columns["system"] = "system"
    return entry
