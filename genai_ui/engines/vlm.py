"""Questions about images over openvino_genai's VLMPipeline.

Each call hands the engine the whole conversation as one prompt, with every image in it
marked where it was given (openvino_genai's universal `<ov_genai_image_N>` tags, which the
pipeline turns into the model's own image tokens), and all the images in order. Nothing is
kept inside the pipeline between calls: it is shared by every session, and a ChatHistory's
own image memory would tie one session's pictures to the pipeline another session uses.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator

from .engine import outcome_of
from .engine import text_tokens as own_tokens
from .llm import ChatUpdate, GenerationParams, draw_seed, fit_context, stream_generation
from .loaded import LoadedPipeline
from .pictures import Picture

log = logging.getLogger(__name__)


def image_tag(index: int) -> str:
    return f"<ov_genai_image_{index}>"


def with_image_tags(messages: list[dict]) -> tuple[list[dict], list[Picture]]:
    """{role, content, images} messages → {role, content} messages with each user message's
    images tagged before its text, and the images in the order of their tags."""
    tagged, pictures = [], []
    for m in messages:
        images = m.get("images") or []
        tags = "".join(image_tag(len(pictures) + i) for i in range(len(images)))
        pictures.extend(images)
        tagged.append({"role": m["role"], "content": tags + m["content"]})
    return tagged, pictures


def render_prompt(tokenizer: Any, messages: list[dict]) -> str:
    """The conversation as the model reads it, by the model's chat template."""
    try:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    except RuntimeError:  # a model without a chat template: the plain question, as the engine does then
        log.warning("The model has no usable chat template; sending the messages as plain text")
        return "\n".join(m["content"] for m in messages)


class ImageTokens:
    """How many prompt tokens one image costs with a loaded model, learned from the engine's
    own counts (it depends on the model and its image processing); 0 until measured."""

    def __init__(self) -> None:
        self._per_image: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def get(self, loaded: LoadedPipeline) -> int:
        with self._lock:
            return self._per_image.get((loaded.entry.location, loaded.device), 0)

    def learn(self, loaded: LoadedPipeline, input_tokens: int, text_tokens: int, images: int) -> None:
        if images and input_tokens > text_tokens:
            with self._lock:
                self._per_image[(loaded.entry.location, loaded.device)] = (input_tokens - text_tokens) // images


def stream_vision(loaded: LoadedPipeline, messages: list[dict], params: GenerationParams, cancel: threading.Event,
                  image_tokens: ImageTokens, min_interval: float = 0.05) -> Iterator[ChatUpdate]:
    """Stream the answer to `messages` ({role, content, images} dicts, the new user message last)."""
    tokenizer = loaded.pipeline.get_tokenizer()
    per_image = image_tokens.get(loaded)

    def text_tokens(kept: list[dict]) -> int:
        tagged, _ = with_image_tags(kept)
        prompt = render_prompt(tokenizer, tagged)
        return int(tokenizer.encode(prompt, add_special_tokens=False).input_ids.get_shape()[1])

    def count(kept: list[dict]) -> int:
        return text_tokens(kept) + per_image * sum(len(m.get("images") or []) for m in kept)

    def measure(message: dict) -> int:
        return own_tokens(tokenizer, message["content"]) + per_image * len(message.get("images") or [])

    messages, dropped, max_new = fit_context(count, messages, params.max_new_tokens, loaded.entry.context_length,
                                             measure)
    tagged, pictures = with_image_tags(messages)
    prompt = render_prompt(tokenizer, tagged)
    tensors = [p.tensor() for p in pictures]

    def generate(config: Any, streamer: Any) -> Any:
        config.apply_chat_template = False  # the prompt is templated already, the whole conversation
        return outcome_of(loaded.pipeline.generate(prompt, images=tensors, generation_config=config, streamer=streamer),
                          config.max_new_tokens)

    def learning(updates: Iterator[ChatUpdate]) -> Iterator[ChatUpdate]:
        for update in updates:
            yield update  # first: the answer is not held up by the counting
            if update.metrics and pictures:
                image_tokens.learn(loaded, update.metrics.input_tokens, text_tokens(messages), len(pictures))

    return learning(stream_generation(loaded, generate, params, cancel, min_interval, draw_seed(params), dropped,
                                      max_new))
