"""What the synthetic model's answers are made of, shared by the answer modules: the stub
server's vocabulary and seeded choices, and the in-process fake's (smaller) word lists.

Not an answer module (its name starts with an underscore, so discovery skips it)."""

from __future__ import annotations

import hashlib
import random

VERBS_TASK = (
    "Describe", "Explain", "Compare", "Summarize", "List", "Suggest", "Rewrite", "Estimate",
    "Outline", "Draft", "Propose", "Evaluate", "Recommend", "Plan", "Design", "Critique",
    "Translate", "Simplify", "Argue", "Predict", "Justify", "Rank", "Invent", "Compose",
)  # fmt: skip
VERBS_CLASS = ("Classify", "Label", "Categorize", "Sort")
ADJECTIVES = (
    "ancient", "modern", "rural", "urban", "coastal", "tropical", "frozen", "quiet", "noisy",
    "affordable", "expensive", "healthy", "popular", "forgotten", "digital", "organic", "local",
    "foreign", "seasonal", "historic", "portable", "shared", "private", "public", "electric",
    "handmade", "vintage", "remote", "crowded", "hidden", "weekly", "daily", "annual", "spicy",
    "fragile", "curious", "brave", "gentle", "strict", "casual", "formal", "narrow", "wide",
)  # fmt: skip
NOUNS = (
    "river", "mountain", "budget", "recipe", "poem", "contract", "protein", "galaxy", "invoice",
    "sonnet", "garden", "tax", "climate", "vaccine", "tennis", "guitar", "spreadsheet", "volcano",
    "bakery", "mortgage", "library", "bicycle", "festival", "hospital", "election", "museum",
    "startup", "harbor", "orchestra", "marathon", "village", "telescope", "bridge", "pharmacy",
    "newspaper", "airport", "vineyard", "robot", "classroom", "desert", "glacier", "kitchen",
    "laptop", "wedding", "podcast", "stadium", "farm", "factory", "island", "forest", "playlist",
    "novel", "passport", "umbrella", "backpack", "lighthouse", "subway", "theater", "zoo",
    "restaurant", "courtroom", "satellite", "cathedral", "warehouse", "tournament", "volunteer",
    "interview", "workshop", "hackathon", "migration", "pension", "helmet", "tractor", "canoe",
)  # fmt: skip
AUDIENCES = (
    "newcomers", "children", "parents", "retirees", "tourists", "nurses", "shopkeepers",
    "students", "councillors", "cooks", "astronomers", "landlords", "voters", "farmers",
    "testers", "guides", "coaches", "bloggers", "pilots", "plumbers", "librarians", "dentists",
)  # fmt: skip
PLACES = (
    "Lisbon", "Nairobi", "Kyoto", "Lima", "Oslo", "Cairo", "Quebec", "Hanoi", "Perth", "Tbilisi",
    "Bergen", "Cusco", "Dakar", "Tallinn", "Zanzibar", "Porto", "Seville", "Krakow", "Manila",
)  # fmt: skip
TEMPLATES = (
    "{verb} {adj} {noun} risks facing {audience} in {place}.",
    "{verb} how {adj} {noun2}s change weekends for {audience}.",
    "{verb} {noun} upgrades making {place}'s {noun2} {adj}.",
    "Given notes about {place}, {lverb} {adj} {noun} facts.",
    "{verb} a {noun} checklist for {audience} before {adj} {noun2} season.",
    "{verb} why {adj} {noun}s beat {noun2}s around {place}.",
    "{verb} {adj} {noun} versus {noun2} tradeoffs briefly.",
    "Help {audience} {lverb} {adj} {noun} budgets in {place}.",
    "{verb} five questions {audience} might ask about {noun}s.",
    "{verb} one {adj} slogan promoting {place}'s {noun}.",
    "Using {adj} language, {lverb} {noun2} safety rules to {audience}.",
    "{verb} {noun} maintenance steps: {adj} {noun2}, {place} climate.",
    "{verb} {adj} {noun} myths {audience} still believe.",
    "{verb} {place}'s {adj} {noun} history for {audience}.",
)


def rng_of(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def fill(template: str, rng: random.Random) -> str:
    return template.format(
        verb=rng.choice(VERBS_TASK), lverb=rng.choice(VERBS_TASK).lower(),
        cverb=rng.choice(VERBS_CLASS), adj=rng.choice(ADJECTIVES), noun=rng.choice(NOUNS),
        noun2=rng.choice(NOUNS), audience=rng.choice(AUDIENCES), place=rng.choice(PLACES),
    )  # fmt: skip


# The in-process fake backend's own words (tests/fakes.py).
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
