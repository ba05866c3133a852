"""Sentence embeddings and reranking through openvino_genai's TextEmbeddingPipeline and TextRerankPipeline.

A model's pooling and longest input come from the files sentence-transformers keeps beside it
(1_Pooling/config.json, sentence_bert_config.json) when they are there, else from its config: CLS pooling, and
the tokenizer's and position embeddings' bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..library import ModelEntry

BATCH = 16  # chunks embedded in one call: larger batches gain nothing here (docs/documents.md)


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def pooling(folder: Path) -> str:
    """"mean", "cls" or "last_token", as the model was trained."""
    pool = _json(folder / "1_Pooling" / "config.json")
    if pool.get("pooling_mode_mean_tokens"):
        return "mean"
    if pool.get("pooling_mode_lasttoken"):
        return "last_token"
    return "cls"


def max_tokens(folder: Path) -> int:
    """The longest input the model reads well, in its tokens (special tokens included)."""
    st = _json(folder / "sentence_bert_config.json").get("max_seq_length")
    if st:
        return int(st)
    tokenizer = _json(folder / "tokenizer_config.json").get("model_max_length") or 512
    positions = _json(folder / "config.json").get("max_position_embeddings") or 512
    return int(min(tokenizer, positions, 8192))


class Embeddings:
    """A loaded embedding model: texts to unit vectors."""

    def __init__(self, folder: Path, device: str, properties: dict | None = None) -> None:
        import openvino_genai as og

        self.folder = Path(folder)
        self.max_tokens = max_tokens(self.folder)
        kind = {"mean": og.TextEmbeddingPipeline.PoolingType.MEAN, "cls": og.TextEmbeddingPipeline.PoolingType.CLS,
                "last_token": og.TextEmbeddingPipeline.PoolingType.LAST_TOKEN}[pooling(self.folder)]
        config = og.TextEmbeddingPipeline.Config(pooling_type=kind, normalize=True, max_length=self.max_tokens)
        self.pipe = og.TextEmbeddingPipeline(str(self.folder), device, config, **(properties or {}))
        self.dimensions = len(self.embed_query("dimensions"))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self.pipe.embed_documents([t if t.strip() else " " for t in texts])]

    def embed_query(self, text: str) -> list[float]:
        return list(self.pipe.embed_query(text if text.strip() else " "))


class Reranker:
    """A loaded cross-encoder: (question, passages) to one relevance score a passage."""

    def __init__(self, folder: Path, device: str, properties: dict | None = None) -> None:
        import openvino_genai as og

        self.folder = Path(folder)
        self.max_tokens = max_tokens(self.folder)
        self.pipe = og.TextRerankPipeline(str(self.folder), device, og.TextRerankPipeline.Config(
            top_n=1_000_000, max_length=self.max_tokens), **(properties or {}))

    def scores(self, question: str, passages: list[str]) -> list[float]:
        """One score a passage, in the passages' order."""
        if not passages:
            return []
        ranked = dict(self.pipe.rerank(question, passages))
        return [float(ranked.get(n, float("-inf"))) for n in range(len(passages))]


def load_embeddings(entry: ModelEntry, device: str, cache_dir: str = "") -> Any:
    return Embeddings(entry.load_path, device, {"CACHE_DIR": cache_dir} if cache_dir else None)


def load_reranker(entry: ModelEntry, device: str, cache_dir: str = "") -> Any:
    return Reranker(entry.load_path, device, {"CACHE_DIR": cache_dir} if cache_dir else None)


def embed_sentence(folder: Path, device: str) -> str:
    """A conversion's check of an embedding model: one sentence's vector, described."""
    vector = Embeddings(folder, device).embed_query("OpenVINO runs models on this machine.")
    return f"a {len(vector)}-dimensional vector (first values {', '.join(f'{v:.3f}' for v in vector[:3])})"


def rerank_pair(folder: Path, device: str) -> str:
    """A conversion's check of a reranker: which of two passages it puts first for a question."""
    scores = Reranker(folder, device).scores("What is the capital of France?",
                                             ["Paris is the capital of France.", "Bananas are yellow."])
    return f"scores {scores[0]:.3f} and {scores[1]:.3f} for a relevant and an unrelated passage"
