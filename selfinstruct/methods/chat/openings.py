"""Where UltraChat's openings come from: each root (a meta-topic, a type of writing, a passage,
an entity) gives a stream of openings in a fixed order, walked only as far as openings are asked
for.

* World: a meta-topic's subtopics (a page of 15) -> up to 10 questions about each -> 5 new
  questions related to each question. The page's questions come first (the first question of
  every subtopic, then the second, ...), then their related questions; when the page is used up,
  another page of subtopics is asked for, shown the ones already listed.
* Writing: a type of writing -> a page of 20 requests for it; then another page, shown the
  requests already listed (the paper asked for 200 per type). The method rewrites most of them
  with more detail (``DETAILED_SHARE``).
* Material: a passage -> up to 5 requests about it.
* Entities: an entity -> 5 broad (meta) questions -> 10 specific and 20 general questions from
  each.

A stream never writes: the lists it dropped on the way (empty, or failed) travel with the next
opening it gives as notes, which that opening's unit writes in its turn, so the files stay
independent of timing. A list rejected in an earlier session is not asked again.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from selfinstruct.client import NotSent
from selfinstruct.prompting import load_prompt

SUBTOPICS_PER_PAGE = 15
QUESTIONS_PER_SUBTOPIC = 10  # the paper's "up to 10 specific questions"
RELATED_PER_QUESTION = 5
REQUESTS_PER_PAGE = 20
DETAILED_SHARE = 0.8  # the paper's Writing and Creation: 80% of the requests get more detail
SPECIFIC_PER_META = 10  # the paper's entities: 5 meta-questions, 10 specific and 20 general each
GENERAL_PER_META = 20
SHOWN_AT_MOST = 60  # items of earlier pages shown in a page's prompt
PAGES_AT_MOST = 500
AHEAD = 4  # lists of a round asked for before they are needed


@cache
def prompt(name: str) -> str:
    return load_prompt(f"chat/{name}.txt")


def more(shown: list[str]) -> str:
    if not shown:
        return ""
    items = "\n".join(f"- {item}" for item in shown[-SHOWN_AT_MOST:])
    return prompt("more").rstrip("\n").format(items=items)


def material_templates() -> list[str]:
    """The hand-made ways a request and its passage are joined (``{passage}``, ``{request}``)."""
    return [t.strip("\n") for t in prompt("material_templates").split("\n---\n") if t.strip()]


@dataclass(frozen=True)
class Note:
    """A list dropped on the way to an opening, written as a rejection in that opening's turn."""

    ident: str
    stage: str
    reason: str
    text: str
    key: str


@dataclass(frozen=True)
class Listed:
    """A generated list's items, its request key, and why it gave none (a Note) if it did not."""

    items: list[str]
    key: str = ""
    note: Note | None = None


@dataclass(frozen=True)
class Item:
    """One opening of a stream: the question (what the gate judges), where it came from, its
    list's request key, and the notes met since the stream's previous opening."""

    question: str
    origin: dict[str, Any]
    key: str = ""
    notes: tuple[Note, ...] = ()


# (stage, prompt) -> the list, asked once and shared; ``start`` asks without waiting.
GetList = Callable[[str, str], Awaitable[Listed]]
StartList = Callable[[str, str], None]


@dataclass
class Walk:
    """A stream's access to the lists, collecting the notes of those that gave nothing."""

    get: GetList
    start: StartList
    notes: list[Note] = field(default_factory=list)

    async def list(self, stage: str, text: str) -> Listed:
        listed = await self.get(stage, text)
        if listed.note is not None:
            self.notes.append(listed.note)
        return listed

    def item(self, question: str, origin: dict[str, Any], key: str) -> Item:
        notes, self.notes = tuple(self.notes), []
        return Item(question, origin, key, notes)

    async def rounds(
        self, entries: list[tuple[str, str, dict[str, Any]]], depth: int
    ) -> AsyncIterator[Item]:
        """Item r of every entry's list (stage, prompt, origin), for r = 0 .. depth-1."""
        for r in range(depth):
            for e, (stage, text, origin) in enumerate(entries):
                if r == 0:
                    for later in entries[e + 1 : e + 1 + AHEAD]:
                        self.start(later[0], later[1])
                listed = await self.list(stage, text)
                if r < len(listed.items):
                    yield self.item(listed.items[r], origin, listed.key)


def fresh(items: list[str], shown: list[str]) -> list[str]:
    """The items not listed before (case aside), each once."""
    seen = {s.casefold() for s in shown}
    found = []
    for item in items:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            found.append(item)
    return found


async def world(walk: Walk, topic: str) -> AsyncIterator[Item]:
    shown: list[str] = []
    for page in range(PAGES_AT_MOST):
        text = prompt("subtopics").format(topic=topic, more=more(shown))
        subtopics = fresh((await walk.list("subtopics", text)).items, shown)
        if not subtopics:
            return
        shown += subtopics
        entries = [
            ("questions", prompt("questions").format(topic=topic, subtopic=s),
             {"meta_topic": topic, "subtopic": s, "page": page})
            for s in subtopics
        ]  # fmt: skip
        questions: list[tuple[str, dict[str, Any]]] = []
        async for item in walk.rounds(entries, QUESTIONS_PER_SUBTOPIC):
            questions.append((item.question, item.origin))
            yield item
        related = [
            ("related", prompt("related").format(question=q), {**origin, "related_to": q})
            for q, origin in questions
        ]
        async for item in walk.rounds(related, RELATED_PER_QUESTION):
            yield item


async def writing(walk: Walk, kind: str) -> AsyncIterator[Item]:
    shown: list[str] = []
    for page in range(PAGES_AT_MOST):
        listed = await walk.list("writing", prompt("writing").format(kind=kind, more=more(shown)))
        requests = fresh(listed.items, shown)
        if not requests:
            return
        shown += requests
        for request in requests:
            yield walk.item(request, {"writing_type": kind, "page": page}, listed.key)


async def material(walk: Walk, index: int, passage: str) -> AsyncIterator[Item]:
    listed = await walk.list("material", prompt("material").format(passage=passage))
    for request in listed.items:
        yield walk.item(request, {"passage": index}, listed.key)


async def entity(walk: Walk, name: str) -> AsyncIterator[Item]:
    listed = await walk.list("entity", prompt("entity_meta").format(entity=name))
    meta = fresh(listed.items, [])
    for question in meta:
        yield walk.item(question, {"entity": name, "kind": "meta"}, listed.key)
    entries = []
    for question in meta:
        for kind in ("specific", "general"):
            text = prompt(f"entity_{kind}").format(entity=name, question=question)
            entries.append((kind, text, {"entity": name, "kind": kind, "meta_question": question}))
    async for item in walk.rounds(entries, max(SPECIFIC_PER_META, GENERAL_PER_META)):
        yield item


class Stream:
    """The openings of one root, walked (in a task of its own) only as far as asked for."""

    def __init__(self, walk: Walk, items: AsyncIterator[Item]) -> None:
        self._walk_state = walk
        self._walk = items
        self.found: list[Item] = []
        self.done = False
        self._wanted = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def item(self, j: int) -> Item | None:
        """Opening j of the root; None when the root gives no more. Raises NotSent when the
        run is stopping."""
        if self._task is None:
            # A context of its own: the stream belongs to no unit of work.
            self._task = contextvars.Context().run(asyncio.ensure_future, self._run())
        async with self._changed:
            self._wanted = max(self._wanted, j + 1)
            self._changed.notify_all()
            await self._changed.wait_for(lambda: len(self.found) > j or self.done)
        if j < len(self.found):
            return self.found[j]
        if isinstance(self._error, NotSent | asyncio.CancelledError):
            raise NotSent
        if self._error is not None:
            raise self._error
        return None

    def leftover(self, j: int) -> tuple[Note, ...]:
        """The notes met after the last opening: for the first candidate past the end."""
        return tuple(self._walk_state.notes) if self.done and j == len(self.found) else ()

    async def _run(self) -> None:
        try:
            async for item in self._walk:
                async with self._changed:
                    self.found.append(item)
                    self._changed.notify_all()
                    await self._changed.wait_for(lambda: len(self.found) < self._wanted)
        except BaseException as error:  # handed to the units that wait for this stream
            self._error = error
            if not isinstance(error, Exception):
                raise
        finally:
            self.done = True
            self._wake()

    def _wake(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.ensure_future(notify())

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
