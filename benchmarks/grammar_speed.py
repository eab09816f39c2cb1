"""Time per token of the bundled model writing Alpaca answers: freely, held to the layout by
llama-cpp-python's own grammar (every token of the vocabulary judged at every step), and held by
``TopGrammar`` (the 40 most likely tokens judged, the whole vocabulary only when none fits).

Each pass writes ``--tokens`` tokens for the same Alpaca prompts (seeded, temperature 1.0);
the modes alternate so that a change of load hits all of them:

    python benchmarks/grammar_speed.py [--prompts 3] [--tokens 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from selfinstruct.backends.grammar import TOP_K, TopGrammar
from selfinstruct.backends.local import bundled_model_path
from selfinstruct.methods.alpaca.method import layout_grammar, render_prompt
from selfinstruct.records import load_seed_tasks
from selfinstruct.resources import default_seed_path

MODES = ("free", "llama-cpp grammar", "top-40 grammar")


def options(mode: str, llm: Any, grammar: str) -> tuple[dict[str, Any], TopGrammar | None]:
    from llama_cpp import LlamaGrammar, LogitsProcessorList

    if mode == "llama-cpp grammar":
        return {"grammar": LlamaGrammar.from_string(grammar, verbose=False)}, None
    if mode == "top-40 grammar":
        held = TopGrammar(llm.model, grammar)
        return {"logits_processor": LogitsProcessorList([held])}, held
    return {}, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from llama_cpp import Llama

    llm = Llama(model_path=str(bundled_model_path()), n_ctx=4096, n_threads=args.threads,
                verbose=False)  # fmt: skip
    seeds = load_seed_tasks(default_seed_path())
    grammar = layout_grammar(4, 20, chat=False)
    per_token: dict[str, list[float]] = {mode: [] for mode in MODES}
    for k in range(args.prompts):
        prompt = render_prompt(random.Random(f"0:alpaca:{k}").sample(seeds, 3), 20)
        llm.create_completion(prompt=prompt, max_tokens=1)  # the prompt is read once, for all
        for mode in MODES:
            extra, held = options(mode, llm, grammar)
            start = time.perf_counter()
            result = llm.create_completion(prompt=prompt, temperature=1.0, top_p=1.0,
                                           top_k=TOP_K, max_tokens=args.tokens, seed=k,
                                           **extra)  # fmt: skip
            seconds = time.perf_counter() - start
            if held is not None:
                held.close()
            written = result["usage"]["completion_tokens"]
            per_token[mode].append(1000 * seconds / max(1, written))
            print(
                f"prompt {k}  {mode:<18} {written:>4} tokens  {per_token[mode][-1]:5.1f} ms/token"
            )
    print()
    for mode in MODES:
        print(f"{mode:<18} median {statistics.median(per_token[mode]):5.1f} ms/token")


if __name__ == "__main__":
    main()
