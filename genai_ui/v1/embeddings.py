"""POST /v1/embeddings: the request read and checked, and OpenAI's reply made from an embedding model's vectors
(the library's feature-extraction models, run by openvino_genai's TextEmbeddingPipeline)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from .chat import bad, check_names

ACCEPTED = ("input", "model", "encoding_format", "dimensions")
IGNORED = {"user": "a reply is the same whoever asks"}
MAX_INPUTS = 2048  # OpenAI's own bound on one request's inputs
MAX_INPUT_CHARS = 100_000


@dataclass(frozen=True)
class EmbeddingsRequest:
    model: str
    inputs: tuple[str, ...]
    base64: bool  # encoding_format "base64": little-endian float32, as OpenAI sends it (the openai client asks so)
    dimensions: int | None


def read_embeddings_request(body: object) -> EmbeddingsRequest:
    """A /v1/embeddings body, checked: InvalidParameter (with `param`) names what is wrong."""
    body = check_names(body, ACCEPTED, IGNORED, {}, {})
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' must be an embedding model's id from GET /v1/models (task feature-extraction).", "model")
    given = body.get("input")
    inputs = [given] if isinstance(given, str) else given
    if not isinstance(inputs, list) or not inputs:
        raise bad("'input' must be a string or a list of strings.", "input")
    if any(isinstance(i, (int, list)) for i in inputs):
        raise bad("'input' as token ids is not read here: send the text itself.", "input")
    if not all(isinstance(i, str) for i in inputs):
        raise bad("'input' must be a string or a list of strings.", "input")
    if len(inputs) > MAX_INPUTS:
        raise bad(f"'input' holds {len(inputs):,} texts; up to {MAX_INPUTS:,} are embedded in one request.", "input")
    for n, text in enumerate(inputs):
        if not text:
            raise bad(f"'input[{n}]' is empty: there is nothing to embed.", "input")
        if len(text) > MAX_INPUT_CHARS:
            raise bad(f"'input[{n}]' is {len(text):,} characters; up to {MAX_INPUT_CHARS:,} are read.", "input")
    kind = body.get("encoding_format") or "float"
    if kind not in ("float", "base64"):
        raise bad("'encoding_format' must be float or base64.", "encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1):
        raise bad("'dimensions' must be a whole number above 0.", "dimensions")
    return EmbeddingsRequest(model, tuple(inputs), kind == "base64", dimensions)


def embeddings_reply(ask: EmbeddingsRequest, vectors: list[list[float]], tokens: int) -> dict:
    """OpenAI's list of embeddings, in the inputs' order."""
    def encoded(vector: list[float]):
        if ask.base64:
            return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
        return [float(v) for v in vector]

    return {"object": "list", "model": ask.model,
            "data": [{"object": "embedding", "index": n, "embedding": encoded(v)} for n, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
