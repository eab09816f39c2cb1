"""CPU of Alpaca's answer handling alone: parse, rules, novelty, records (no HTTP, no files).

The throughput benchmark's figures mix this with the HTTP client's cost and, on a shared
machine, with everyone else's load. This replays the stub server's answers to the first
``--answers`` Alpaca prompts through the parser and the instruction gate exactly as a run
commits them, and reports the CPU seconds (the best of ``--repeat`` passes).

    python benchmarks/alpaca_commit.py [--answers 1400] [--n 4000] [--repeat 3] [--batch 32]

``--batch``: records built together, as the engine builds them (``WRITE_BATCH``); 1 builds each
task's record (its full ROUGE-L scan) on its own, as before 0.2's batched scans.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from stub_server import alpaca_answer  # noqa: E402

from selfinstruct.engine import WRITE_BATCH  # noqa: E402
from selfinstruct.gate import InstructionGate  # noqa: E402
from selfinstruct.methods.alpaca.method import Alpaca, Item, parse_items  # noqa: E402
from selfinstruct.methods.alpaca.settings import AlpacaSettings  # noqa: E402
from selfinstruct.records import load_seed_tasks  # noqa: E402
from selfinstruct.resources import default_seed_path  # noqa: E402


def build(pending: list[Callable[[], dict[str, Any]]]) -> None:
    for record in pending:
        record()
    pending.clear()


def replay(settings: AlpacaSettings, answers: list[str], batch: int) -> tuple[float, int]:
    seeds = load_seed_tasks(settings.seeds_path)
    gate = InstructionGate.from_settings(
        settings.blacklist, settings.ascii_first_char, settings.tokenizer, settings.threshold,
        write_a_program_any_case=False,
    )  # fmt: skip
    gate.remember(seed.instruction for seed in seeds)
    kept = 0
    pending: list[Callable[[], dict[str, Any]]] = []
    started = time.process_time()
    for k, text in enumerate(answers):
        items = parse_items(text, settings.prompt_instructions + 1, truncated=False, chat=True)
        for item in items:
            if not isinstance(item, Item) or kept >= settings.n:
                continue
            if gate.check(item.instruction) is None:
                kept += 1
                pending.append(gate.admit_later(f"task_{kept:06d}", item.instruction, k, ""))
                if len(pending) >= batch:
                    build(pending)
    build(pending)
    return time.process_time() - started, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1400)
    parser.add_argument("--n", type=int, default=4000, help="tasks to keep, as generate --n")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=WRITE_BATCH, help="records built together")
    args = parser.parse_args()
    settings = AlpacaSettings(
        n=args.n, model="stub", api="chat", seeds_path=str(default_seed_path()), seeds_sha256=""
    )
    method = Alpaca(settings, load_seed_tasks(settings.seeds_path), "chat")
    answers = [alpaca_answer(method.request(k).prompt, chat=True) for k in range(args.answers)]
    runs = [replay(settings, answers, max(1, args.batch)) for _ in range(args.repeat)]
    best = min(seconds for seconds, _ in runs)
    print(f"{args.answers} answers, {runs[0][1]} tasks kept: best of "
          f"{args.repeat} {best:.2f} CPU s = {1000 * best / args.answers:.2f} ms per answer")  # fmt: skip


if __name__ == "__main__":
    main()
