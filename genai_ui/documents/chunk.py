"""The chunking rule: pieces of at most `size` tokens of the embedding model, split at paragraph, then sentence
boundaries, each starting with up to `overlap` tokens of the sentences before it; a chunk never spans two pages
(a citation names one page), and a sentence longer than a chunk is cut at token boundaries.

Tokens are counted by the embedding model's own tokenizer (its tokenizer.json, read by Hugging Face
`tokenizers`), so a chunk fits the model's input as it will be embedded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import InvalidParameter
from .read import Page

SENTENCE_END = re.compile(r"(?<=[.!?…。])[\"'”’)\]]*\s+")
PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class ChunkRule:
    size: int = 128  # tokens; all-MiniLM-L6-v2 was trained on 128 and reads 256 at most
    overlap: int = 24

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or not 16 <= self.size <= 2048:
            raise InvalidParameter(f"A chunk of {self.size} tokens: pick a size from 16 to 2048.")
        if not isinstance(self.overlap, int) or not 0 <= self.overlap <= self.size // 2:
            raise InvalidParameter(f"An overlap of {self.overlap} tokens: pick 0 to half the chunk size "
                                   f"({self.size // 2}).")


@dataclass(frozen=True)
class Chunk:
    text: str
    page: int | None
    tokens: int


class Tokens:
    """Token counts of the embedding model, and cuts at its token boundaries."""

    def __init__(self, model_dir: Path | None = None) -> None:
        self.tokenizer = None
        if model_dir is not None and (Path(model_dir) / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
            self.tokenizer.no_truncation()
            self.tokenizer.no_padding()

    def count(self, texts: list[str]) -> list[int]:
        if self.tokenizer is None:  # a model without tokenizer.json: words and punctuation, near enough
            return [len(re.findall(r"\w+|[^\w\s]", t)) for t in texts]
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def cut(self, text: str, size: int) -> list[str]:
        """`text` in pieces of at most `size` tokens, cut where a token starts."""
        if self.tokenizer is None:
            words = text.split()
            return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
        offsets = self.tokenizer.encode(text, add_special_tokens=False).offsets
        starts = [offsets[i][0] for i in range(0, len(offsets), size)] + [len(text)]
        return [text[a:b].strip() for a, b in zip(starts, starts[1:]) if text[a:b].strip()]

    def truncate(self, text: str, size: int) -> tuple[str, bool]:
        """The first `size` tokens of `text`, and whether anything was cut."""
        pieces = self.cut(text, size)
        return (pieces[0], True) if len(pieces) > 1 else (text, False)


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    starts_paragraph: bool


def chunk_pages(pages: Iterable[Page], tokens: Tokens, rule: ChunkRule = ChunkRule()) -> list[Chunk]:
    chunks: list[Chunk] = []
    for page in pages:
        chunks.extend(_chunk_text(page.text, page.number, tokens, rule))
    return chunks


def _units(text: str, tokens: Tokens, size: int) -> list[_Unit]:
    sentences: list[tuple[str, bool]] = []
    for paragraph in PARAGRAPH.split(text):
        parts = [s.strip() for s in SENTENCE_END.split(paragraph.strip()) if s.strip()]
        sentences.extend((s, n == 0) for n, s in enumerate(parts))
    counts = tokens.count([s for s, _ in sentences])
    units: list[_Unit] = []
    for (sentence, first), count in zip(sentences, counts):
        if count <= size:
            units.append(_Unit(sentence, count, first))
            continue
        pieces = tokens.cut(sentence, size)
        units.extend(_Unit(p, c, first and n == 0) for n, (p, c) in enumerate(zip(pieces, tokens.count(pieces))))
    return units


def _chunk_text(text: str, page: int | None, tokens: Tokens, rule: ChunkRule) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[_Unit] = []
    fresh = 0  # units of `current` that no chunk holds yet
    for unit in _units(text, tokens, rule.size):
        if current and sum(u.tokens for u in current) + unit.tokens > rule.size:
            chunks.append(_joined(current, page))
            current = _tail(current, rule.overlap, room=rule.size - unit.tokens)
            fresh = 0
        current.append(unit)
        fresh += 1
    if fresh:
        chunks.append(_joined(current, page))
    return chunks


def _tail(units: list[_Unit], overlap: int, room: int) -> list[_Unit]:
    """The last units of a chunk that fit in `overlap` tokens (and leave room for the next unit)."""
    kept: list[_Unit] = []
    total = 0
    for unit in reversed(units):
        if total + unit.tokens > min(overlap, room):
            break
        kept.insert(0, unit)
        total += unit.tokens
    return kept


def _joined(units: list[_Unit], page: int | None) -> Chunk:
    text = ""
    for n, unit in enumerate(units):
        text += ("" if n == 0 else "\n\n" if unit.starts_paragraph else " ") + unit.text
    return Chunk(text=text, page=page, tokens=sum(u.tokens for u in units))
