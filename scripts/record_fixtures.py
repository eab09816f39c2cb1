"""Record raw answers of the bundled model, through both APIs, as parser test fixtures.

    python scripts/record_fixtures.py tests/fixtures/raw_smollm2.json

The answers are what the model really wrote (completion API: the paper's prompt continued;
chat API: the same prompt in a user message). tests/test_raw_fixtures.py parses them.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

from selfinstruct.backends.base import Request
from selfinstruct.backends.local import LocalBackend
from selfinstruct.methods.self_instruct.prompts import (
    chat_message,
    classification_prompt,
    instances_prompt,
    instruction_prompt,
)
from selfinstruct.methods.self_instruct.settings import (
    CHAT_INSTRUCTION_STOP,
    CLASSIFICATION_INSTANCE_DECODING,
    CLASSIFY_DECODING,
    GENERATION_INSTANCE_DECODING,
    INSTRUCTION_DECODING,
)
from selfinstruct.records import load_seed_tasks
from selfinstruct.resources import default_seed_path

TASKS = [
    ("Decide whether the movie review is positive or negative.", True),
    ("Suggest three names for a bakery that sells vegan pastries.", False),
    ("Convert the temperature from Celsius to Fahrenheit.", False),
]


async def record(api: str) -> list[dict[str, object]]:
    backend = LocalBackend(api=api)  # type: ignore[arg-type]
    seeds = [t.instruction for t in load_seed_tasks(default_seed_path())]
    rng = random.Random(11)
    requests = []
    for _ in range(3):
        decoding = INSTRUCTION_DECODING
        if api == "chat":
            decoding = decoding.__class__(**{**decoding.as_dict(), "stop": CHAT_INSTRUCTION_STOP})
        requests.append(
            Request("instructions", instruction_prompt(rng.sample(seeds, 8)), decoding, seed=5)
        )
    for instruction, is_cls in TASKS:
        requests.append(Request("classify", classification_prompt(instruction), CLASSIFY_DECODING))
        decoding = CLASSIFICATION_INSTANCE_DECODING if is_cls else GENERATION_INSTANCE_DECODING
        requests.append(Request("instances", instances_prompt(instruction, is_cls), decoding))
    out = []
    for request in requests:
        text = chat_message(request.stage, request.prompt) if api == "chat" else request.prompt
        completion = await backend.complete(request, text)
        last_task = (
            request.prompt.rsplit("Task: ", 1)[-1].split("\n")[0]
            if request.stage != "instructions"
            else None
        )
        out.append(
            {
                "api": api,
                "stage": request.stage,
                "task": last_task,
                "is_classification": dict(TASKS).get(last_task) if last_task else None,
                "text": completion.text,
                "finish_reason": completion.finish_reason,
            }
        )
    await backend.aclose()
    return out


def main() -> None:
    target = Path(sys.argv[1])
    records = asyncio.run(record("completion")) + asyncio.run(record("chat"))
    target.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
