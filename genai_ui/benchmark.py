"""Speed and memory of a chat model as the engine reports them: medians over a few runs."""

from __future__ import annotations

import resource
import statistics
import threading
from dataclasses import asdict, dataclass
from typing import Literal

from .chat import ChatService
from .engines.chat import GenerationParams, stream_chat
from .errors import InvalidParameter, NotAvailable

DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


@dataclass(frozen=True)
class BenchmarkResult:
    ttft_ms: float
    tpot_ms: float
    tokens_per_s: float
    load_ms: float
    peak_rss_bytes: int

    def to_api(self) -> dict:
        return asdict(self)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class BenchmarkService:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    def run(self, *, model: str = "", device: str = "", prompt: str = "", max_new_tokens: int = 128,
            runs: int = 3, engine: Literal["genai", "optimum"] = "genai") -> BenchmarkResult:
        if engine == "optimum":
            raise NotAvailable("The Optimum Intel engine is not available in this version; use engine='genai'.")
        if engine != "genai":
            raise InvalidParameter(f"engine must be 'genai' or 'optimum', not {engine!r}.")
        if not isinstance(runs, int) or not 1 <= runs <= 20:
            raise InvalidParameter(f"runs must be a whole number from 1 to 20; got {runs!r}.")
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0, ignore_eos=True)
        entry = self.chat.library.get(self.chat.model_id(model), task="text-generation")
        loaded = self.chat.pipelines.get(entry, self.chat.devices.resolve(device))
        messages = [{"role": "user", "content": prompt or DEFAULT_PROMPT}]
        ttft, speed = [], []
        for _ in range(runs):
            *_, final = stream_chat(loaded, messages, params, threading.Event())
            ttft.append(final.metrics.ttft_ms)
            speed.append(final.metrics.tokens_per_s)
        tokens_per_s = statistics.median(speed)
        return BenchmarkResult(ttft_ms=statistics.median(ttft), tpot_ms=1000.0 / tokens_per_s if tokens_per_s else 0.0,
                               tokens_per_s=tokens_per_s, load_ms=loaded.load_ms, peak_rss_bytes=peak_rss_bytes())
