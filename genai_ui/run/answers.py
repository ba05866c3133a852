"""An answer from a collection's passages: the retrieval settings, what a search found, the answer and the
passages it cites, and the bounds of a question and of the passages a model is given."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from ..documents.store import Hit
from ..engines.llm import ChatUpdate
from ..errors import EmptyMessage, InvalidParameter

MAX_QUESTION_CHARS = 4_000
MAX_K = 20
CITATION = re.compile(r"\[(\d{1,2})\]")
# short, as a 135M model follows it: a longer instruction got "The answer is correct." over and over
INSTRUCTIONS = "Use these sources to answer. Cite them by number, like [1]."


@dataclass(frozen=True)
class AskSettings:
    """How a question is answered from a collection."""
    k: int = 4  # passages given to the chat model
    rerank: bool = True  # when a reranker model is in the library
    threshold: float = 0.25  # the least cosine similarity of a passage that counts as found (MiniLM's scale)

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or not 1 <= self.k <= MAX_K:
            raise InvalidParameter(f"k is {self.k}: pick 1 to {MAX_K} passages.")
        if not isinstance(self.threshold, (int, float)) or not -1.0 <= self.threshold <= 1.0:
            raise InvalidParameter(f"The similarity threshold is {self.threshold}: pick a value from -1 to 1.")


@dataclass(frozen=True)
class Found:
    """What a search found: the passages, in order, and what was done to the question."""
    hits: tuple[Hit, ...]
    truncated: bool = False  # the question was longer than the embedding model reads: its start was used
    reranked: bool = False
    best: float | None = None  # the closest passage's similarity, found or not

    def to_api(self) -> dict:
        return {"sources": [h.to_api() for h in self.hits], "truncated": self.truncated, "reranked": self.reranked,
                "best_similarity": self.best}


@dataclass(frozen=True)
class Answer:
    """One update of an answer: its text so far, the passages it was given, and (at the end) which it cites."""
    text: str
    found: Found
    done: bool = False
    cited: tuple[int, ...] = ()  # numbers of the passages the answer cites, 1-based
    cited_by: str = ""  # "model" (its own marks), "similarity" (the app matched its sentences), "" (none)
    answered: bool = True  # False: nothing close enough was found, and no model was asked
    chat: ChatUpdate | None = field(default=None, repr=False)

    def to_api(self) -> dict:
        return {"answer": self.text, **self.found.to_api(), "done": self.done, "cited": list(self.cited),
                "cited_by": self.cited_by, "answered": self.answered}


def checked_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise EmptyMessage()
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidParameter(f"The question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}.")
    return question.strip()


def within(hits: tuple[Hit, ...], chars: int) -> tuple[Hit, ...]:
    """The best passages that fit in `chars` characters of the prompt (the chat service's bound on a system
    prompt): twenty long chunks would not."""
    kept, used = [], 0
    for hit in hits:
        if kept and used + len(hit.text) + 8 > chars:
            break
        kept.append(hit)
        used += len(hit.text) + 8
    return tuple(kept)


def citations(text: str, passages: tuple[Hit, ...], embed: Callable[[list[str]], list[list[float]]]
              ) -> tuple[tuple[int, ...], str]:
    """The passages an answer cites, and how that was found: its own [n] marks when it wrote any ("model"), else
    the passages its sentences are closest to by `embed` (a similarity of 0.5 or more: "similarity"), as a small
    model often writes none."""
    marks = sorted({int(m) for m in CITATION.findall(text) if 1 <= int(m) <= len(passages)})
    if marks:
        return tuple(marks), "model"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if len(s.split()) >= 3]
    if not sentences:
        return (), ""
    vectors = embed(sentences + [p.text for p in passages])
    said, given = vectors[:len(sentences)], vectors[len(sentences):]
    cited = set()
    for vector in said:
        scores = [sum(a * b for a, b in zip(vector, p)) for p in given]
        best = max(range(len(given)), key=scores.__getitem__)
        if scores[best] >= 0.5:
            cited.add(best + 1)
    return tuple(sorted(cited)), "similarity" if cited else ""
