"""Speed and memory of a chat model as the engine reports them: medians over a few runs, on
openvino_genai (with the engine options remembered for the model) or on optimum-intel."""

from __future__ import annotations

import csv
import io
import resource
import statistics
import sys
import threading
from dataclasses import asdict, dataclass, replace
from typing import Callable, Literal

import psutil

from ..access import LOCAL, Caller
from ..engines.llm import GenerationParams, stream_chat
from ..engines.options import EngineOptions
from ..errors import InvalidParameter
from ..work.background import own_peak_bytes
from .chat import MAX_MESSAGE_CHARS, ChatService

DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
ENGINE_NAMES = {"genai": "openvino_genai", "optimum": "Optimum Intel"}
# One benchmark's work, bounded: on a shared deployment the model is everyone's while it runs
MAX_BENCHMARK_TOKENS = 16_384


@dataclass(frozen=True)
class BenchmarkResult:
    ttft_ms: float
    tpot_ms: float
    tokens_per_s: float
    load_ms: float
    peak_rss_bytes: int
    # what was measured, for a table of several runs
    model: str = ""
    device: str = ""
    engine: str = ""  # genai or optimum: the engine that ran it
    options: str = ""  # the engine options, in words
    rss_bytes: int = 0  # the server's memory after the runs (the peak only ever grows in one process)
    accepted_tokens: float | None = None  # speculative decoding or prompt lookup: median per run
    runs: int = 0
    max_new_tokens: int = 0

    def to_api(self) -> dict:
        return asdict(self)


def peak_rss_bytes() -> int:
    """This process's own peak memory since it started (exec). Not ru_maxrss: Linux carries the parent's
    high-water mark over fork and exec, and two bench workers started from a 1.47 GB pytest process
    both reported 1.47 GB."""
    own = own_peak_bytes()
    if own is not None:
        return own
    # no /proc (not Linux): ru_maxrss, which may hold the parent's mark too; macOS counts bytes, others KiB
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def rss_bytes() -> int:
    return psutil.Process().memory_info().rss


class BenchmarkService:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    def run(self, *, model: str = "", device: str = "", prompt: str = "", max_new_tokens: int = 128,
            runs: int = 3, engine: Literal["genai", "optimum"] = "genai",
            progress: Callable[[int, int], None] | None = None, caller: Caller = LOCAL) -> BenchmarkResult:
        """`progress(done, runs)` is called before each run, once the model is loaded."""
        if engine not in ENGINE_NAMES:
            raise InvalidParameter(f"engine must be 'genai' or 'optimum', not {engine!r}.")
        if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 20:
            raise InvalidParameter(f"runs must be a whole number from 1 to 20; got {runs!r}.")
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0, ignore_eos=True)
        if not isinstance(prompt, str) or len(prompt) > MAX_MESSAGE_CHARS:
            raise InvalidParameter(f"prompt must be text of at most {MAX_MESSAGE_CHARS:,} characters.")
        if max_new_tokens * runs > MAX_BENCHMARK_TOKENS:
            raise InvalidParameter(f"max_new_tokens × runs is {max_new_tokens:,} × {runs} = {max_new_tokens * runs:,} "
                                   f"tokens; the limit is {MAX_BENCHMARK_TOKENS:,} (for example 1,024 tokens × 16 runs).")
        entry = self.chat.access.view(caller).get(self.chat.model_id(model, caller), task="text-generation")
        device = self.chat.devices.resolve(device)
        options = self._options(entry.id, device, engine)
        loaded = self.chat.pipelines.get(entry, device, options=self.chat.resolved(entry, options))
        messages = [{"role": "user", "content": prompt or DEFAULT_PROMPT}]
        ttft, speed, accepted = [], [], []
        for n in range(runs):
            if progress:
                progress(n, runs)
            *_, final = stream_chat(loaded, messages, params, threading.Event())
            ttft.append(final.metrics.ttft_ms)
            speed.append(final.metrics.tokens_per_s)
            if final.metrics.accepted_tokens is not None:
                accepted.append(final.metrics.accepted_tokens)
        tokens_per_s = statistics.median(speed)
        return BenchmarkResult(
            ttft_ms=statistics.median(ttft), tpot_ms=1000.0 / tokens_per_s if tokens_per_s else 0.0,
            tokens_per_s=tokens_per_s, load_ms=loaded.load_ms, peak_rss_bytes=peak_rss_bytes(), model=entry.id,
            device=loaded.device, engine=loaded.engine, options=_described(loaded.options or EngineOptions()),
            rss_bytes=rss_bytes(), accepted_tokens=statistics.median(accepted) if accepted else None, runs=runs,
            max_new_tokens=max_new_tokens)

    def _options(self, model_id: str, device: str, engine: str) -> EngineOptions:
        """openvino_genai with the options remembered for the model on the device; optimum-intel with its
        device properties."""
        remembered = self.chat.options.get(model_id, device)
        if engine == "optimum":
            return EngineOptions(kv_cache_precision=remembered.kv_cache_precision,
                                 dq_group_size=remembered.dq_group_size, engine="optimum",
                                 inference_precision=remembered.inference_precision, threads=remembered.threads)
        return remembered if remembered.engine != "optimum" else replace(remembered, engine="batching")


def _described(options: EngineOptions) -> str:
    """The options in words, without the Optimum Intel engine: a column of its own says which engine ran."""
    return (replace(options, engine="batching") if options.engine == "optimum" else options).describe()


COLUMNS = ("run", "model", "device", "engine", "options", "load_s", "ttft_ms", "tpot_ms", "tokens_per_s",
           "accepted_tokens", "memory_mb", "runs", "max_new_tokens")


def table(results: list[BenchmarkResult]) -> list[list]:
    """One row a benchmark, in COLUMNS' order, rounded for reading."""
    return [[n, r.model, r.device, ENGINE_NAMES.get(r.engine, r.engine), r.options, round(r.load_ms / 1000, 2),
             round(r.ttft_ms, 1), round(r.tpot_ms, 2), round(r.tokens_per_s, 1),
             "" if r.accepted_tokens is None else r.accepted_tokens, round(r.rss_bytes / 2**20), r.runs,
             r.max_new_tokens] for n, r in enumerate(results, 1)]


def to_csv(results: list[BenchmarkResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(table(results))
    return out.getvalue()
