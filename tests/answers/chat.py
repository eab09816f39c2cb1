"""The synthetic model's answers to the chat method's prompts: lists of subtopics, questions and
writing requests, user turns and assistant replies. Any prompt that is none of the known ones is
a conversation turn for the stub, so this module is asked late (after the methods told apart by
their wording, a plug-in's too), before Self-Instruct's."""

from __future__ import annotations

from typing import Any

from ._words import fill, rng_of

PRIORITY = 80

# The in-process fake's stages for these prompts.
CHAT_STAGES = (
    "subtopics", "questions", "related", "writing", "detail", "material", "entity", "specific",
    "general", "user", "assistant",
)  # fmt: skip

# The chat method's prompts (prompts/chat/*.txt), told apart by their wording.
CHAT_MARKERS = (
    ("subtopics", "specific subtopics within the broad area"),
    ("questions", "questions that a curious person might ask an AI assistant about"),
    ("related", "Write 5 new questions related to this one"),
    ("writing", "requests that a person might give an AI assistant asking it to write"),
    ("detail", "Rewrite the request below so that it gives the assistant more"),
    ("material", "Read the passage below. Then write"),
    ("entity", "broad questions about the entity"),
    ("specific", "more specific questions that follow from it"),
    ("general", "general questions that are related to it but are not about"),
    ("user", "You are role-playing a human who is chatting"),
)
# How many items each list prompt asks for.
LIST_SIZES = {
    "subtopics": 15, "questions": 10, "related": 5, "writing": 20, "material": 5, "entity": 5,
    "specific": 10, "general": 20,
}  # fmt: skip
SELF_INSTRUCT_MARKERS = (
    "Write a list of tasks:",
    "Write a list of classification tasks",
    "numbered list of instructions",
)
QUESTION_TEMPLATES = (
    "How do {adj} {noun}s affect {audience} in {place}?",
    "Why are {noun}s in {place} becoming so {adj}?",
    "What should {audience} know before buying a {adj} {noun}?",
    "Can you compare a {adj} {noun} with a {noun2} for {audience}?",
    "Which mistakes do {audience} make with {adj} {noun}s?",
    "Is a {adj} {noun} worth it for {audience} living near {place}?",
)
# Questions and requests made of many varied parts, so that lists can give thousands of
# openings that ROUGE-L novelty tells apart.
OPENERS = (
    "How", "Why", "When", "Where", "Which", "Can", "Should", "Could", "What", "Who", "Whose",
    "Would", "Is", "Are", "Does", "Did",
)  # fmt: skip
LINKS = (
    "compare with", "depend on", "help", "harm", "replace", "resemble", "shape", "follow",
    "outlast", "cost more than", "matter to", "inspire", "threaten", "support", "surprise",
)  # fmt: skip
KINDS = (
    "story", "poem", "essay", "letter", "speech", "review", "post", "guide", "note", "ad",
    "toast", "limerick", "memo", "pitch", "eulogy", "fable", "haiku", "brochure", "riddle",
)  # fmt: skip


def varied_question(rng) -> str:
    return fill(
        f"{rng.choice(OPENERS)} {{adj}} {{noun}}s {rng.choice(LINKS)} {{noun2}}s "
        f"{rng.choice(('for', 'near', 'among', 'beyond', 'without'))} {{audience}} of {{place}}?",
        rng,
    )


def varied_request(rng) -> str:
    return fill(
        f"{{verb}} a {rng.choice(KINDS)} {rng.choice(('about', 'on', 'against', 'praising'))} "
        f"{{adj}} {{noun}}s {rng.choice(('for', 'to', 'with'))} {{audience}} of {{place}}",
        rng,
    )


FOLLOW_UPS = (
    "Thanks. Could you give a concrete example with a {adj} {noun} in {place}?",
    "That is too long for me. Can you shorten it to three sentences about the {noun}?",
    "I am not sure that is right about the {noun}; {audience} I know say the opposite. Why?",
    "Could you rewrite that for {audience} who have never seen a {noun}?",
    "What would change if the {noun} were {adj} instead?",
)
CONFUSED = (
    "Assistant: Sure, here is more about the {noun} for {audience}.",
    "What is a {adj} {noun}?\nAnswer: a {noun} that is {adj}.",
)


def chat_stage(prompt: str) -> str | None:
    """The chat method's stage of a prompt; "assistant" for a conversation turn (any prompt
    that is none of the known ones)."""
    for stage, marker in CHAT_MARKERS:
        if marker in prompt:
            return stage
    known = ("Is it classification?", "Task:", "###", *SELF_INSTRUCT_MARKERS)
    if not any(marker in prompt for marker in known):
        return "assistant"
    return None


def chat_answer(stage: str, prompt: str, salt: str = "", seed: Any = None) -> str:
    """Lists, user turns (one in six speaks as the assistant: the seed picks, so a second try
    differs) and replies (one in twenty-five refuses) for the chat method."""
    rng = rng_of("chat", stage, salt, prompt)
    size = LIST_SIZES.get(stage, 0)
    if stage == "subtopics":
        return "\n".join(f"{j}. {fill('{adj} {noun}s and {noun2}s', rng)}" for j in range(1, 16))
    if stage == "questions":
        return "\n".join(f"{j}. {fill(rng.choice(QUESTION_TEMPLATES), rng)}" for j in range(1, 11))
    if stage in ("related", "entity", "specific", "general"):
        return "\n".join(f"{j}. {varied_question(rng)}" for j in range(1, size + 1))
    if stage == "writing":
        return "\n".join(f"{j}. {varied_request(rng)}." for j in range(1, size + 1))
    if stage == "detail":
        return fill(
            f"{varied_request(rng)}, in a {{adj}} tone, about {rng.randrange(80, 900)} words; "
            "mention the {noun2} and avoid jargon.",
            rng,
        )
    if stage == "material":
        return "\n".join(
            f"{j}. {{verb}} the passage's point for {{audience}}: {varied_question(rng)}"
            .format(verb=rng.choice(("Explain", "Question", "Summarize", "Continue")),
                    audience=rng.choice(("a child", "an expert", "a tourist", "my boss")))
            for j in range(1, 6)
        )  # fmt: skip
    if stage == "user":
        turn_rng = rng_of("user", salt, prompt, seed)
        if turn_rng.random() < 1 / 6:
            return fill(turn_rng.choice(CONFUSED), turn_rng)
        return fill(turn_rng.choice(FOLLOW_UPS), turn_rng)
    if rng.random() < 1 / 25:
        return "I'm sorry, but I can't help with that."
    return " ".join(
        fill(template, rng)
        for template in (
            "The {noun} matters most to {audience} in {place}.",
            "A {adj} {noun2} changes the picture, so start small.",
            "Check the {noun} weekly and ask {audience} for advice.",
        )[: 2 + rng.randrange(2)]
    )


def answer(prompt: str, *, chat: bool, stage: str | None, seed: Any, salt: str) -> str | None:
    if stage is None:
        dialogue = chat_stage(prompt)
        return None if dialogue is None else chat_answer(dialogue, prompt, salt, seed)
    if stage in CHAT_STAGES:
        return chat_answer(chat_stage(prompt) or "assistant", prompt, salt, seed)
    return None
