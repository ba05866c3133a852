"""Tune's measurement: greedy probes of engine-option variants, interleaved and paired, and the search
that goes one setting at a time (run/tune.py says why; TuneService runs it)."""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable

from ..engines.llm import GenerationParams
from ..engines.options import DQ_GROUP_SIZES, EngineOptions, precisions
from ..errors import Cancelled, ModelLoadError, UserError, first_line
from .benchmark import DEFAULT_PROMPT

log = logging.getLogger(__name__)

PROBE = [{"role": "user", "content": DEFAULT_PROMPT}]
PROBE_TOKENS = 64  # a few dozen: long enough for a stable decode speed, short enough to try many variants
ROUNDS = 5  # timed probes a variant, after its warm-up
TAKE = 1.02  # a value replaces the best so far only when it is this much faster: less is the machine's noise
MEMORY_SHARE = 0.5  # of the memory available: at most this much is held by variants loaded at once
Progress = Callable[[int, int, str], None]  # (probes done, probes in all, what runs now)


@dataclass(frozen=True)
class Variant:
    options: EngineOptions
    read_gguf: bool = False  # a GGUF read as it is, not the IR saved beside it

    def describe(self) -> str:
        return "the GGUF, read as it is" if self.read_gguf else self.options.describe()


@dataclass(frozen=True)
class Row:
    """One variant as measured: the medians of its rounds, and whether its answer was the model's."""
    setting: str  # the setting this row tried: precision, engine, …
    options: EngineOptions
    label: str
    tokens_per_s: float
    ttft_ms: float
    load_s: float
    same_answer: bool
    ratio: float  # its speed against the best so far, median of the paired rounds
    chosen: bool = False

    def to_api(self) -> dict:
        return {"setting": self.setting, "options": self.label, "engine_options": self.options.to_api(),
                "tokens_per_s": round(self.tokens_per_s, 1), "ttft_ms": round(self.ttft_ms, 1),
                "load_s": round(self.load_s, 2), "same_answer": self.same_answer, "ratio": round(self.ratio, 3),
                "chosen": self.chosen}


@dataclass
class Probe:
    tokens_per_s: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    text: str = ""
    load_s: float = 0.0
    error: str = ""  # the variant could not load or run here: reported, never chosen

    def row(self, setting: str, options: EngineOptions, label: str, same_answer: bool, ratio: float,
            chosen: bool = False) -> Row:
        """This probe's medians as a row of the report."""
        return Row(setting, options, label, median_or_zero(self.tokens_per_s), median_or_zero(self.ttft_ms),
                   self.load_s, same_answer, ratio, chosen)


def settings_to_try(devices: Any, device: str, entry: Any, base: EngineOptions,
                    allow_stateful: bool = True) -> list[tuple[str, list[EngineOptions]]]:
    """(setting, its variants of `base`), in the order they are searched; only what the device takes."""
    supported = devices.properties(device) or frozenset()
    default_precision = devices.default_precision(device)
    steps: list[tuple[str, list[Any], str]] = [
        ("inference precision", [""] + [p for p in precisions(devices, device) if p != default_precision],
         "inference_precision")]
    if allow_stateful and not device.startswith("NPU"):
        steps.append(("engine", ["batching", "stateful"], "engine"))
    if "DYNAMIC_QUANTIZATION_GROUP_SIZE" in supported:
        steps.append(("dynamic quantization", [-1, 0, *(g for g in DQ_GROUP_SIZES if g in (64, 128))],
                      "dq_group_size"))
    if "KV_CACHE_PRECISION" in supported:
        steps.append(("KV-cache precision", ["", "f16", "u4"], "kv_cache_precision"))
    cores = os.cpu_count() or 1
    if "INFERENCE_NUM_THREADS" in supported and cores >= 2:
        steps.append(("threads", [0, max(1, cores // 2)], "threads"))
    return [(name, [replace(base, **{attr: v}) for v in values]) for name, values, attr in steps if len(values) > 1]


def most_exact(devices: Any, device: str, base: EngineOptions) -> EngineOptions:
    """The model's most exact configuration the device takes: f32 compute, no dynamic quantization."""
    supported = devices.properties(device) or frozenset()
    exact = base
    if "f32" in precisions(devices, device) and "INFERENCE_PRECISION_HINT" in supported:
        exact = replace(exact, inference_precision="f32")
    if "DYNAMIC_QUANTIZATION_GROUP_SIZE" in supported:
        exact = replace(exact, dq_group_size=0)
    return exact


class Tuner:
    """Measures variants of one model on one device. `load(variant)` gives a chat engine (engines/engine.py).
    Use it in a `with` block: the engines it keeps between measures are unloaded at its end."""

    def __init__(self, load: Callable[[Variant], Any], model_bytes: int, progress: Progress | None = None,
                 cancel: threading.Event | None = None, rounds: int = ROUNDS, tokens: int = PROBE_TOKENS) -> None:
        self.load = load
        self.progress = progress or (lambda done, total, what: None)
        self.cancel = cancel or threading.Event()
        self.rounds, self.tokens = rounds, tokens
        self.done, self.total = 0, 0
        import psutil

        # how many variants may be loaded at once; past that, each probe loads its variant again
        self.hold = max(1, int(psutil.virtual_memory().available * MEMORY_SHARE // max(model_bytes * 2, 1)))
        # engines loaded by the last measure, kept for the next: the best so far is in every step, and a
        # load costs more than several probes (2 to 6 s for a 135M model here, a minute for a 7B one)
        self._loaded: dict[Variant, Any] = {}
        self._load_s: dict[Variant, float] = {}

    def __enter__(self) -> "Tuner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Unload what the last measure kept."""
        for engine in self._loaded.values():
            _close(engine)
        self._loaded.clear()

    def measure(self, variants: list[Variant], what: str = "") -> list[Probe]:
        """Each variant: one warm-up probe, then `rounds` timed ones, the variants taking turns in an order
        that turns by one place each round: a place in the order that favours its variant (the machine
        warming up through a round, or one variant slowing the next) favours each in turn."""
        probes = [Probe() for _ in variants]
        for variant in [v for v in self._loaded if v not in variants]:  # before any load: bounded memory
            _close(self._loaded.pop(variant))
        hold = len(variants) <= self.hold
        engines: dict[int, Any] = {i: self._loaded.pop(v) for i, v in enumerate(variants) if v in self._loaded}
        if not hold:
            for engine in engines.values():
                _close(engine)
            engines = {}
        try:
            for round_ in range(self.rounds + 1):
                for i in [(k + round_) % len(variants) for k in range(len(variants))]:
                    variant = variants[i]
                    if probes[i].error:
                        self.done += 1
                        continue
                    if self.cancel.is_set():
                        raise Cancelled("Tuning was cancelled: nothing was changed.")
                    self.progress(self.done, self.total, f"{what}: {variant.describe()}, "
                                                         f"{'warm-up' if round_ == 0 else f'round {round_}'}")
                    engine = engines.get(i)
                    try:
                        if engine is None:
                            start = time.perf_counter()
                            engine = self.load(variant)
                            self._load_s.setdefault(variant, time.perf_counter() - start)
                            if hold:
                                engines[i] = engine
                        probes[i].load_s = self._load_s[variant]
                        text, outcome = self._probe(engine)
                    except (RuntimeError, UserError) as err:  # this variant only: the others go on
                        probes[i].error = first_line(err)
                        log.info("Tune: %s could not run: %s", variant.describe(), probes[i].error)
                        if engine is not None and i not in engines:
                            _close(engine)
                        self.done += 1
                        continue
                    if round_ == 0:
                        probes[i].text = text
                    else:
                        probes[i].tokens_per_s.append(outcome.tokens_per_s)
                        probes[i].ttft_ms.append(outcome.ttft_ms)
                    if i not in engines:
                        _close(engine)
                    self.done += 1
        except BaseException:
            for engine in engines.values():
                _close(engine)
            raise
        for i, engine in engines.items():  # kept for the next measure, unless it failed or is a repeat
            if probes[i].error or variants[i] in self._loaded:
                _close(engine)
            else:
                self._loaded[variants[i]] = engine
        return probes

    def _probe(self, engine: Any) -> tuple[str, Any]:
        import openvino_genai as og

        config = GenerationParams(max_new_tokens=self.tokens, temperature=0.0, ignore_eos=True).to_config(
            engine.get_generation_config(), self.tokens, 0)
        pieces: list[str] = []

        def streamer(text: str) -> Any:
            pieces.append(text)
            return og.StreamingStatus.RUNNING

        outcome = engine.chat(PROBE, config, streamer)
        return "".join(pieces), outcome


def search(tuner: Tuner, steps: list[tuple[str, list[EngineOptions]]], references: Iterable[str],
           base: EngineOptions = EngineOptions()) -> tuple[list[Row], EngineOptions, float, str]:
    """One setting at a time: each step's variants of the best so far, measured together."""
    rows: list[Row] = []
    references = set(references)
    best, speedup, answer = base, 1.0, ""
    for name, variants in steps:
        variants = [replace(v, **{f: getattr(best, f) for f in _fields_other_than(v, variants)}) for v in variants]
        if best not in variants:
            variants.insert(0, best)
        probes = tuner.measure([Variant(v) for v in variants], name)
        at = variants.index(best)
        ratios = [paired_ratio(p.tokens_per_s, probes[at].tokens_per_s) for p in probes]
        if probes[at].error:
            raise ModelLoadError(f"The model could not run as it is now ({probes[at].error}): nothing to tune from.")
        same = [not p.error and p.text in references for p in probes]
        # faster in every round, and by TAKE at the median: a 5-round tie would win every round 1 time in 32
        faster = [i for i in range(len(variants)) if same[i] and ratios[i] >= TAKE
                  and all(v > b for v, b in zip(probes[i].tokens_per_s, probes[at].tokens_per_s))]
        pick = max(faster, key=lambda i: ratios[i], default=at)
        answer = probes[pick].text or answer
        for i, (options, probe) in enumerate(zip(variants, probes)):
            label = options.describe() + (f" (could not run here: {probe.error})" if probe.error else "")
            rows.append(probe.row(name, options, label, same[i], ratios[i], chosen=i == pick))
        speedup *= ratios[pick]
        best = variants[pick]
    return rows, best, speedup, answer


def median_or_zero(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _fields_other_than(variant: EngineOptions, variants: list[EngineOptions]) -> list[str]:
    """The fields a step does not vary: they are the best so far's."""
    varied = {f for f in asdict(variant) if len({getattr(v, f) for v in variants}) > 1}
    return [f for f in asdict(variant) if f not in varied and f != "draft_path"]


def paired_ratio(values: list[float], base: list[float]) -> float:
    """The median of the round-by-round ratios: each pair ran minutes apart at most."""
    pairs = [v / b for v, b in zip(values, base) if b > 0]
    return statistics.median(pairs) if pairs else 0.0


def _close(engine: Any) -> None:
    if hasattr(engine, "close"):
        engine.close(wait=5.0)
