"""Record raw answers of the bundled model to Alpaca prompts (completion and chat APIs).

    python scripts/record_alpaca_fixtures.py tests/fixtures/raw_alpaca_smollm2.json

The answers are what the model really wrote for the prompts `--method alpaca` sends;
tests/test_alpaca.py parses them item by item.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from selfinstruct.backends.local import LocalBackend
from selfinstruct.generate import build_settings
from selfinstruct.methods.alpaca import create
from selfinstruct.resources import default_seed_path


async def record(api: str, requests: int) -> list[dict[str, object]]:
    backend = LocalBackend(api=api)  # type: ignore[arg-type]
    settings = build_settings(
        n=1, backend=backend, seeds_file=default_seed_path(), method="alpaca", seed=11
    )
    method = create(settings, api)  # type: ignore[arg-type]
    answers = []
    for k in range(requests):
        request = method.request(k)
        completion = await backend.complete(request, request.prompt)
        answers.append({"api": api, "k": k, "seed": 11, "text": completion.text,
                        "finish_reason": completion.finish_reason})  # fmt: skip
    await backend.aclose()
    return answers


def main(dest: Path) -> None:
    answers = asyncio.run(record("completion", 2)) + asyncio.run(record("chat", 2))
    dest.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
