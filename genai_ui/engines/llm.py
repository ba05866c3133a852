"""The chat loop over any chat engine (engines/engine.py): parameters, context fitting, streaming.

The engine's chat() runs on a worker thread (openvino_genai's generate() releases the GIL); the
streamer callback hands text to the caller through a queue and returns CANCEL when asked to stop,
so Stop ends generation inside the engine rather than only in the UI.
"""

from __future__ import annotations

import logging
import math
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import GenerationFailed, InvalidParameter, PromptTooLong, first_line
from .engine import ChatEngine, Outcome
from .loaded import LoadedPipeline
from .structured import Structure, grammar_error

log = logging.getLogger(__name__)


MAX_STOPS, MAX_STOP_CHARS = 4, 256  # OpenAI takes up to 4 stop sequences


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.0
    seed: int = -1  # -1: a new random seed each time (reported, so a reply can be reproduced)
    ignore_eos: bool = False  # benchmarks decode exactly max_new_tokens
    stop: tuple[str, ...] = ()  # the reply ends before the first of these it writes
    presence_penalty: float = 0.0  # OpenAI's: a token already in the reply, once (positive: say something new)
    frequency_penalty: float = 0.0  # OpenAI's: a token, for each time it is in the reply already
    structure: Structure | None = None  # JSON for a schema, or tool calls (engines/structured.py)

    def __post_init__(self) -> None:
        if not isinstance(self.stop, tuple) or len(self.stop) > MAX_STOPS \
                or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in self.stop):
            raise InvalidParameter(f"stop must be up to {MAX_STOPS} texts of 1 to {MAX_STOP_CHARS} characters.")
        check_number("presence_penalty", self.presence_penalty, -2.0, 2.0)
        check_number("frequency_penalty", self.frequency_penalty, -2.0, 2.0)
        check_number("max_new_tokens", self.max_new_tokens, 1, 32768, integer=True)
        check_number("temperature", self.temperature, 0.0, 2.0)
        check_number("top_p", self.top_p, 0.0, 1.0, low_open=True)
        check_number("top_k", self.top_k, 0, 1000, integer=True)
        check_number("repetition_penalty", self.repetition_penalty, 0.0, 2.0, low_open=True)
        check_number("seed", self.seed, -1, 2**32 - 1, integer=True)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_config(self, base: Any, max_new_tokens: int, seed: int) -> Any:
        """The engine's GenerationConfig, starting from the model's own (it holds the eos ids)."""
        base.max_new_tokens = max_new_tokens
        base.repetition_penalty = self.repetition_penalty
        base.do_sample = not self.greedy
        base.ignore_eos = self.ignore_eos
        base.presence_penalty = self.presence_penalty
        base.frequency_penalty = self.frequency_penalty
        if self.stop:
            base.stop_strings = set(self.stop)
            base.include_stop_str_in_output = False
        if self.structure is not None:
            base.structured_output_config = self.structure.config()
        if not self.greedy:
            base.temperature = self.temperature
            base.top_p = self.top_p
            base.top_k = self.top_k or 0
            base.rng_seed = seed
        return base


def check_number(name: str, value, low, high, integer: bool = False, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (integer and int(value) != value):
        raise InvalidParameter(f"{name} must be {'a whole number' if integer else 'a number'}, not {value!r}.")
    if value < low or value > high or (low_open and value == low):
        low_text = f"above {low}" if low_open else f"at least {low}"
        raise InvalidParameter(f"{name} must be {low_text} and at most {high}; got {value}.")


Interval = float | Callable[[], float]  # seconds between updates, or how to read it as it changes


@dataclass(frozen=True)
class ChatMetrics:
    ttft_ms: float
    tokens_per_s: float
    input_tokens: int
    output_tokens: int
    finish: str  # "stop" (the model ended), "length" (max_new_tokens), "cancelled"
    seed: int | None = None
    dropped_messages: int = 0
    max_new_tokens: int = 0
    accepted_tokens: int | None = None  # speculative decoding or prompt lookup: proposed tokens kept
    load_ms: float | None = None  # when this reply loaded the model
    engine: str = ""  # named when it is not openvino_genai

    def summary(self) -> str:
        parts = [self.engine] if self.engine else []
        if self.load_ms is not None:
            parts.append(f"model loaded in {self.load_ms / 1000:.1f} s")
        parts += [f"first token {self.ttft_ms:.0f} ms", f"{self.tokens_per_s:.1f} tokens/s",
                 f"{self.input_tokens} in, {self.output_tokens} out"]
        if self.accepted_tokens is not None:
            parts.append(f"{self.accepted_tokens} proposed tokens accepted")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        if self.finish == "cancelled":
            parts.append("stopped")
        elif self.finish == "length":
            parts.append(f"cut at {self.max_new_tokens} tokens")
        if self.dropped_messages:
            parts.append(f"{self.dropped_messages} oldest messages left out to fit the context")
        return " · ".join(parts)


@dataclass(frozen=True)
class ChatUpdate:
    text: str  # the whole reply so far
    metrics: ChatMetrics | None = None  # set on the last update only


# what a chat template adds around each message (role markers, separators): an allowance for the
# estimate only; the kept conversation is then counted whole
PER_MESSAGE_TOKENS = 8


def fit_context(count: Callable[[list[dict]], int], messages: list[dict], max_new_tokens: int,
                context_length: int | None, measure: Callable[[dict], int] | None = None
                ) -> tuple[list[dict], int, int]:
    """Drop the oldest turns (never the system prompt or the new message) until the prompt
    and the reply fit the model's context. `count` gives a message list's prompt tokens (its chat
    template applied); `measure` one message's own tokens. Returns (messages, dropped count,
    max_new_tokens).

    Each message is measured once, newest first, stopping at the first that does not fit: the work
    grows with what fits in the context, not with the length of the history (counting the whole
    remainder after each dropped turn made a 2,000-message history cost 140 s). The kept
    conversation is then counted whole, and trimmed further only if the estimate fell short."""
    if not context_length:
        return messages, 0, max_new_tokens
    measure = measure or (lambda message: count([message]))
    system = [m for m in messages[:1] if m["role"] == "system"]
    *older, last = messages[len(system):]
    alone = count(system + [last])
    if alone >= context_length:
        raise PromptTooLong(f"The message is {alone} tokens long with the system prompt and its images; "
                            f"this model reads at most {context_length}. Shorten it.")
    budget = context_length - max_new_tokens - alone
    sizes: dict[int, int] = {}  # index in `older` -> its estimated tokens
    start = len(older)  # older[start:] is kept
    while start > 0:
        sizes[start - 1] = measure(older[start - 1]) + PER_MESSAGE_TOKENS
        if sizes[start - 1] > budget:
            break
        budget -= sizes[start - 1]
        start -= 1
    while True:
        while start < len(older) and older[start]["role"] != "user":  # the kept turns start with the person
            start += 1
        kept = system + older[start:] + [last]
        if start >= len(older):
            tokens = alone
            break
        tokens = count(kept)
        excess = tokens + max_new_tokens - context_length
        if excess <= 0:
            break
        while excess > 0 and start < len(older):  # the estimate fell short: drop enough to cover it
            excess -= sizes[start]
            start += 1
    return kept, start, min(max_new_tokens, context_length - tokens)


def draw_seed(params: GenerationParams) -> int | None:
    """None when greedy; else the seed asked for, or a new one (reported, so it can be reproduced)."""
    return None if params.greedy else (params.seed if params.seed >= 0 else secrets.randbelow(2**31))


def stream_chat(loaded: LoadedPipeline, messages: list[dict], params: GenerationParams,
                cancel: threading.Event, min_interval: Interval = 0.05) -> Iterator[ChatUpdate]:
    """Stream the reply to `messages` ({role, content} dicts, the new user message last).

    The context is checked here, before anything runs; the reply then streams. Updates come
    at most every `min_interval` seconds (the first at once): a person cannot read faster,
    and each update costs the server work that would slow the engine.
    """
    engine: ChatEngine = loaded.pipeline
    messages, dropped, max_new = fit_context(engine.count_tokens, messages, params.max_new_tokens,
                                             loaded.entry.context_length, lambda m: engine.text_tokens(m["content"]))
    generate = lambda config, streamer: engine.chat(messages, config, streamer)  # noqa: E731
    return stream_generation(loaded, generate, params, cancel, min_interval, draw_seed(params), dropped, max_new)


def stream_completion(loaded: LoadedPipeline, prompt: str, params: GenerationParams, cancel: threading.Event,
                      min_interval: Interval = 0.05) -> Iterator[ChatUpdate]:
    """Stream what follows `prompt`, read as it is (no chat template): OpenAI's /v1/completions."""
    engine: ChatEngine = loaded.pipeline
    tokens, context = engine.text_tokens(prompt) + 1, loaded.entry.context_length  # + 1: the BOS it may get
    if context and tokens >= context:
        raise PromptTooLong(f"The prompt is {tokens} tokens long; this model reads at most {context}. Shorten it.")
    max_new = min(params.max_new_tokens, context - tokens) if context else params.max_new_tokens
    generate = lambda config, streamer: engine.complete(prompt, config, streamer)  # noqa: E731
    return stream_generation(loaded, generate, params, cancel, min_interval, draw_seed(params), 0, max_new)


def stream_generation(loaded: LoadedPipeline, generate: Callable[[Any, Callable], Any], params: GenerationParams,
                      cancel: threading.Event, min_interval: Interval, seed: int | None, dropped: int,
                      max_new: int) -> Iterator[ChatUpdate]:
    """Run `generate(config, streamer)` on a worker thread, holding the pipeline's lock, and
    yield the text as it grows; the last update carries the metrics."""
    import openvino_genai as og

    chunks: queue.Queue = queue.Queue()
    done = object()
    outcome: dict = {}
    abandoned = threading.Event()  # set when the caller stops reading

    def streamer(subword: str) -> og.StreamingStatus:
        chunks.put(subword)
        stop = cancel.is_set() or abandoned.is_set()
        return og.StreamingStatus.CANCEL if stop else og.StreamingStatus.RUNNING

    def run() -> None:
        try:
            with loaded.lock:
                config = params.to_config(loaded.pipeline.get_generation_config(), max_new, seed or 0)
                if loaded.options:
                    loaded.options.configure(config)
                outcome["result"] = generate(config, streamer)
        except BaseException as err:  # handed to the caller's thread
            outcome["error"] = err
        finally:
            chunks.put(done)

    worker = threading.Thread(target=run, name="generate", daemon=True)
    worker.start()
    text, pending, last_yield, finished = "", False, 0.0, False
    interval = min_interval if callable(min_interval) else lambda: min_interval
    try:
        while True:
            gap = interval()
            wait = max(0.0, last_yield + gap - time.monotonic()) if pending else None
            try:
                chunk = chunks.get(timeout=wait)
            except queue.Empty:  # the engine paused: show what has come so far
                chunk = ""
            if chunk is done:
                break
            text += chunk
            pending = True
            if time.monotonic() - last_yield >= gap:
                yield ChatUpdate(text)
                pending, last_yield = False, time.monotonic()
        finished = True  # the engine is done: whatever follows, nobody left in the middle
        if params.structure is not None and grammar_error(outcome.get("error") or Exception()):
            raise InvalidParameter("The engine cannot hold a reply to this schema: "
                                   f"{grammar_error(outcome['error'])}") from outcome["error"]
        if isinstance(outcome.get("error"), RuntimeError):
            raise GenerationFailed(f"The engine stopped with an error: {first_line(outcome['error'])}") \
                from outcome["error"]
        if "error" in outcome:
            raise outcome["error"]
        result: Outcome = outcome["result"]
        yield ChatUpdate(text, ChatMetrics(
            ttft_ms=result.ttft_ms, tokens_per_s=result.tokens_per_s, input_tokens=result.input_tokens,
            output_tokens=result.output_tokens, finish="cancelled" if cancel.is_set() else result.finish, seed=seed,
            dropped_messages=dropped, max_new_tokens=max_new, accepted_tokens=result.accepted_tokens,
            engine=getattr(loaded.pipeline, "label", "")))
    finally:
        abandoned.set()
        worker.join()
        if not finished:
            log.info("A reply with %s stopped after %d characters: its reader went away.", loaded.entry.id, len(text))
