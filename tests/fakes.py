"""The synthetic model for engine and method tests: a deterministic in-process backend whose
answers depend only on the prompt, and which records every request it receives, so a test can
assert what the model was shown (the 6 + 2 shots), not only what came out."""

from __future__ import annotations

import hashlib

from stub_glan import glan_answer
from stub_server import evolve_answer, respond_answer

from selfinstruct.backends.base import Backend, BackendError, Completion, Request

WORDS = [
    "river",
    "mountain",
    "budget",
    "recipe",
    "poem",
    "contract",
    "protein",
    "galaxy",
    "invoice",
    "sonnet",
    "garden",
    "tax",
    "climate",
    "vaccine",
    "tennis",
    "guitar",
    "python",
    "spreadsheet",
    "résumé",
    "volcano",
    "bakery",
    "mortgage",
]
VERBS = [
    "Describe",
    "Explain",
    "Compare",
    "Summarize",
    "List",
    "Suggest",
    "Classify",
    "Rewrite",
    "Estimate",
    "Translate",
]


def digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def fake_instructions(prompt: str, count: int = 5) -> str:
    """Numbered continuation items; some are deliberately bad to exercise the filters."""
    h = digest(prompt)
    items = []
    for j in range(count):
        v = VERBS[(h >> (4 * j)) % len(VERBS)]
        a = WORDS[(h >> (4 * j + 7)) % len(WORDS)]
        b = WORDS[(h >> (4 * j + 13)) % len(WORDS)]
        c = WORDS[(h >> (4 * j + 19)) % len(WORDS)]
        items.append(f"{v} the {a} and the {b} for a {c} lover number {h % 997}-{j}.")
    items[1] = "Draw a picture of it."  # blacklist
    items[3] = "Too short."  # too_short
    return " " + "\n".join(f"{9 + j}. {item}" for j, item in enumerate(items)) + "\n"


def fake_alpaca(prompt: str, first: int = 4, last: int = 8) -> str:
    """Items first..last in Alpaca's layout, continuing the open instruction field."""
    h = digest(prompt)
    pieces = []
    for j, number in enumerate(range(first, last + 1)):
        v = VERBS[(h >> (4 * j)) % len(VERBS)]
        a = WORDS[(h >> (4 * j + 7)) % len(WORDS)]
        b = WORDS[(h >> (4 * j + 13)) % len(WORDS)]
        instruction = f"{v} the {a} of a {b} fan, case {h % 991}-{j}."
        if j == 1:
            instruction = "Draw a map of the town."  # blacklist
        given = "<noinput>" if j % 2 else f"A {a} and a {b}."
        body = f"{instruction}\n{number}. Input:\n{given}\n{number}. Output:\nAbout the {a}."
        pieces.append(body if j == 0 else f"{number}. Instruction: {body}")
    return " " + "\n###\n".join(pieces) + "\n###\n"


CHAT_STAGES = ("subtopics", "questions", "writing", "material", "user", "assistant")


def fake_query(text: str, seed: int | None) -> str:
    """Magpie queries: mostly requests, some answers or fragments for the filters."""
    h = digest(f"{text}:{seed}")
    kind = h % 10
    a, b = WORDS[(h >> 8) % len(WORDS)], WORDS[(h >> 16) % len(WORDS)]
    if kind == 0:
        return "Sure, here is a recipe for you."  # not a request
    if kind == 1:
        return ""  # empty
    return f"{VERBS[(h >> 24) % len(VERBS)]} the {a} and the {b} for me, case {h % 9973}."


MAGPIE_ANSWERS = {
    "query": fake_query,
    "response": lambda text, seed: f"Here is an answer about {text[-40:].strip()}.",
}


class FakeBackend(Backend):
    def __init__(self, api: str = "completion", fail_every: int = 0) -> None:
        self.model = "fake-model"
        self.api = api  # type: ignore[assignment]
        self.base_url = None
        self.max_concurrency = 64
        self.calls = 0
        self.fail_every = fail_every
        self.requests: list[Request] = []  # every request received, in arrival order

    async def complete(self, request: Request, text: str) -> Completion:
        self.calls += 1
        self.requests.append(request)
        if self.fail_every and self.calls % self.fail_every == 0:
            raise BackendError("bad_request", "injected failure")
        evolved = evolve_answer(text, self.api == "chat")
        glan = glan_answer(text, self.api == "chat")  # GLAN's prompts, told by their wording
        responded = respond_answer(text, self.api == "chat")  # respond's, told by their wording
        if responded is not None:
            answer = responded
        elif glan is not None:
            answer = glan
        elif request.stage in ("evolve", "respond", "judge") and evolved is not None:
            answer = evolved
        elif request.stage in CHAT_STAGES:
            from stub_server import chat_answer, chat_stage

            answer = chat_answer(chat_stage(text) or "assistant", text, seed=request.seed)
        elif request.stage in MAGPIE_ANSWERS:
            answer = MAGPIE_ANSWERS[request.stage](text, request.seed)
        elif request.stage in ("judge", "rate", "respond", "compare"):
            from stub_server import judge_answer

            answer = judge_answer(text) or ""
        elif request.stage == "instructions" and "###" in text:
            answer = fake_alpaca(text)
        elif request.stage == "instructions":
            answer = fake_instructions(text)
        elif request.stage == "classify":
            answer = " Yes" if "Classify" in text.rsplit("Task:", 1)[-1] else " No"
        elif "Class label" in text.rsplit("Task:", 1)[-1] or "first state a class label" in text:
            answer = "Class label: Positive\nSentence: I love it.\nClass label: Negative\nSentence: I hate it.\n"
        else:
            answer = "Example 1\nInput: two plus two\nOutput: four\n\nExample 2\nInput: ten minus one\nOutput: nine\n"
        return Completion(
            text=answer,
            finish_reason="stop",
            prompt_tokens=len(text) // 4,
            completion_tokens=len(answer) // 4,
        )
