"""Tune: the fastest way to run a chat model on a device, measured on this machine.

Which setting wins depends on the processor and the model (on a Xeon with AMX, f32 compute beats
the default bf16 by 1.4× for SmolLM2-135M; on an AMD EPYC f32 is already the default), so nothing
is assumed: each candidate runs the same short greedy probe. The search goes one setting at a time
(inference precision, engine, dynamic quantization, KV-cache precision, threads), each setting's
values against the best so far, interleaved round by round so that a drift of the machine's speed
cancels out (their order turning each round, so that no place in it favours one variant), medians
of the rounds. A value is taken when it is at least 2% faster than the best so
far in every round and by 2% at the median (on a noisy machine a tie is kept, not taken). The
fastest of several noisy measurements looks faster than it is (the winner's curse), so a winner
other than the defaults is measured again against them, and kept only if it wins again by the same
rule; its speed-up is that second measurement.

No choice may change the answers: every probe's greedy text is compared with the model's answer
with its default options, and with its most exact one (f32, no dynamic quantization); a variant
whose text differs from both is reported and never chosen.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable

from .. import atomic
from ..access import LOCAL, Caller, check_engine_options
from ..engines.llm import GenerationParams
from ..engines.options import DQ_GROUP_SIZES, EngineOptions, check_device_options, precisions, saved_ir_files
from ..errors import Busy, Cancelled, InvalidParameter, ModelLoadError, UserError, first_line
from .benchmark import DEFAULT_PROMPT
from .chat import ChatService

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


@dataclass(frozen=True)
class TuneReport:
    model: str
    device: str
    rows: tuple[Row, ...]
    winner: EngineOptions
    speedup: float  # the winner against the defaults: the product of the paired ratios taken
    applied: bool
    seconds: float
    cpu: str = ""
    notes: tuple[str, ...] = ()
    answer: str = ""  # the probe's greedy text with the winner

    def to_api(self) -> dict:
        return {"model": self.model, "device": self.device, "cpu": self.cpu, "rows": [r.to_api() for r in self.rows],
                "winner": self.winner.to_api(), "winner_described": self.winner.describe(),
                "speedup": round(self.speedup, 3), "applied": self.applied, "seconds": round(self.seconds, 1),
                "notes": list(self.notes), "answer": self.answer}

    def summary(self) -> str:
        if self.winner == EngineOptions():
            return (f"The defaults are the fastest for **{self.model}** on {self.device}: no setting was faster "
                    f"beyond this machine's noise. Tried {len(self.rows)} variants in {self.seconds:.0f} s.")
        return (f"Fastest for **{self.model}** on {self.device}: {self.winner.describe()}, "
                f"**{self.speedup:.2f}×** the defaults' decode speed, same answers"
                f"{'; applied and remembered' if self.applied else ''}. Tried {len(self.rows)} variants in "
                f"{self.seconds:.0f} s.")


@dataclass
class _Probe:
    tokens_per_s: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    text: str = ""
    load_s: float = 0.0
    error: str = ""  # the variant could not load or run here: reported, never chosen


def settings_to_try(devices: Any, device: str, entry: Any, base: EngineOptions,
                    allow_stateful: bool = True) -> list[tuple[str, list[EngineOptions]]]:
    """(setting, its variants of `base`), in the order they are searched; only what the device takes."""
    supported = devices.properties(device) or frozenset()
    default_precision = device_default_precision(device)
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


def device_default_precision(device: str) -> str:
    """The precision the device computes in by default (f32, bf16, f16), or "" when it cannot say."""
    import openvino as ov

    try:
        hint = str(ov.Core().get_property(device, "INFERENCE_PRECISION_HINT"))
    except RuntimeError:
        return ""
    return {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}.get(hint.split("'")[1] if "'" in hint else hint, "")


def cpu_name() -> str:
    """The processor, as the machine names it (every figure is this machine's)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


class Tuner:
    """Measures variants of one model on one device. `load(variant)` gives a chat engine (engines/engine.py)."""

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

    def measure(self, variants: list[Variant], what: str = "") -> list[_Probe]:
        """Each variant: one warm-up probe, then `rounds` timed ones, the variants taking turns in an order
        that turns by one place each round: a place in the order that favours its variant (the machine
        warming up through a round, or one variant slowing the next) favours each in turn."""
        probes = [_Probe() for _ in variants]
        engines: dict[int, Any] = {}
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
                    try:
                        engine = engines.get(i)
                        if engine is None:
                            start = time.perf_counter()
                            engine = self.load(variant)
                            probes[i].load_s = probes[i].load_s or time.perf_counter() - start
                            if len(variants) <= self.hold:
                                engines[i] = engine
                        text, outcome = self._probe(engine)
                    except (RuntimeError, UserError) as err:  # this variant only: the others go on
                        probes[i].error = first_line(err)
                        log.info("Tune: %s could not run: %s", variant.describe(), probes[i].error)
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
        finally:
            for engine in engines.values():
                _close(engine)
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
        ratios = [_paired(p.tokens_per_s, probes[at].tokens_per_s) for p in probes]
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
            rows.append(Row(name, options, label, _median(probe.tokens_per_s), _median(probe.ttft_ms), probe.load_s,
                            same[i], ratios[i], chosen=i == pick))
        speedup *= ratios[pick]
        best = variants[pick]
    return rows, best, speedup, answer


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _fields_other_than(variant: EngineOptions, variants: list[EngineOptions]) -> list[str]:
    """The fields a step does not vary: they are the best so far's."""
    varied = {f for f in asdict(variant) if len({getattr(v, f) for v in variants}) > 1}
    return [f for f in asdict(variant) if f not in varied and f != "draft_path"]


def _paired(values: list[float], base: list[float]) -> float:
    """The median of the round-by-round ratios: each pair ran minutes apart at most."""
    pairs = [v / b for v, b in zip(values, base) if b > 0]
    return statistics.median(pairs) if pairs else 0.0


def _wait_for_saved_ir(entry: Any, save: Callable, cancel: threading.Event, limit_s: float = 900.0) -> None:
    """Save it now, or wait for the save another load started (its work folder is there until it ends)."""
    work = entry.load_path.parent / ".gguf"
    if not all(f.is_file() for f in saved_ir_files(entry)):
        save(entry, wait=True)  # returns at once when another load's save is on its way
    deadline = time.monotonic() + limit_s
    while work.exists() and time.monotonic() < deadline:
        if cancel.wait(0.5):
            raise Cancelled("Tuning was cancelled: nothing was changed.")
        try:
            stale = time.time() - work.stat().st_mtime >= 600
        except FileNotFoundError:  # the save just ended
            break
        if stale:
            save(entry, wait=True)  # a save that died left its folder: this one clears it and saves


def _close(engine: Any) -> None:
    if hasattr(engine, "close"):
        engine.close(wait=5.0)


IDLE_S = 10.0  # no reply streaming for this long, and the processor mostly idle: a background tune may start
BUSY_CPU_PERCENT = 50.0
BACKGROUND_TRIES = 3  # a background tune that a reply interrupts waits for the next quiet spell, this many times


class TuneService:
    """Tune from the Benchmark tab, /tune_model, and once in the background at a model's first load."""

    def __init__(self, chat: ChatService, settings: Any, rounds: int = ROUNDS, tokens: int = PROBE_TOKENS) -> None:
        self.chat = chat
        self.settings = settings
        self.rounds, self.tokens = rounds, tokens  # each probe's: fewer for the tests
        self.only: tuple[str, ...] = ()  # try only these settings (the tests of the plumbing); empty: all
        self._running = threading.Lock()  # one tune at a time: it loads several copies of a model
        self._scheduled: set[tuple[str, str]] = set()  # (model, device) tuned or waiting in the background
        self._scheduling = threading.Lock()

    def on_load(self, entry: Any, device: str) -> None:
        """After a chat model's load: the first time on this machine's device (or after its processor changed,
        as when an image tuned on another machine starts on a Space), tune it in the background once the
        machine is otherwise idle. Options a person chose are never overridden."""
        if self.settings.no_auto_tune:
            return
        key = (entry.id, device)
        with self._scheduling:
            if key in self._scheduled:
                return
            self._scheduled.add(key)
        last = self.last(entry.id, device)
        if last is not None and last.get("cpu") == cpu_name():
            return
        remembered = self.chat.options.get(entry.id, device)
        tuned_before = last is not None and remembered == EngineOptions.from_api(last["winner"])
        if remembered != EngineOptions() and not tuned_before:
            return  # a person's choice
        threading.Thread(target=self._background, args=(entry.id, device), name="genai_ui-tune", daemon=True).start()

    def _background(self, model_id: str, device: str) -> None:
        for _ in range(BACKGROUND_TRIES):
            self._wait_until_idle()
            cancel, done = threading.Event(), threading.Event()
            threading.Thread(target=self._interrupt_on_reply, args=(cancel, done), daemon=True).start()
            try:
                report = self.tune(model=model_id, device=device, cancel=cancel)
                log.info("Tuned %s on %s in the background: %s", model_id, device, report.summary())
                return
            except Cancelled:
                log.info("The background tune of %s on %s gave way to a reply; it waits for a quiet spell", model_id,
                         device)
            except Exception as err:  # noqa: BLE001 - a tune nobody asked for must never take the app down
                log.warning("The background tune of %s on %s failed: %s", model_id, device, err)
                return
            finally:
                done.set()

    def _wait_until_idle(self) -> None:
        import psutil

        quiet_since = time.monotonic()
        while True:
            busy = self.chat.replying > 0 or self._running.locked() \
                or psutil.cpu_percent(interval=1.0) > BUSY_CPU_PERCENT
            if busy:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= IDLE_S:
                return

    def _interrupt_on_reply(self, cancel: threading.Event, done: threading.Event) -> None:
        """The probes would slow a person's reply (and it theirs): a reply that starts stops the tune."""
        while not done.wait(0.2):
            if self.chat.replying > 0:
                cancel.set()
                return

    def tune(self, *, model: str = "", device: str = "", apply: bool = True, progress: Progress | None = None,
             cancel: threading.Event | None = None, caller: Caller = LOCAL) -> TuneReport:
        """Measure, pick the fastest variant that answers the same, apply it (reloading the model once)
        and remember it for the model on the device."""
        from ..engines.pipelines import load_llm, save_gguf_ir

        check_engine_options(self.settings, caller)
        entry = self.chat.access.view(caller).get(self.chat.model_id(model, caller), task="text-generation")
        device = self.chat.devices.resolve(device)
        if device == "AUTO" or device.startswith(("AUTO:", "MULTI", "HETERO")):
            raise InvalidParameter(f"{device} picks a device itself, so what is fastest on it cannot be measured: "
                                   "tune on CPU, GPU or NPU.")
        if not self._running.acquire(blocking=False):
            raise Busy("A tune is running already: it loads several copies of a model. Try again when it is done.")
        try:
            start = time.perf_counter()
            base = EngineOptions()
            steps = [step for step in settings_to_try(self.chat.devices, device, entry, base,
                                                      allow_stateful=not self.settings.public)
                     if not self.only or step[0] in self.only]
            for _, variants in steps:
                for options in variants:
                    check_device_options(self.chat.devices, device, options)
            notes = []
            if self.settings.public:
                notes.append("The stateful engine was not tried: on a shared deployment the batching engine serves "
                             "several people at once.")
            exact = most_exact(self.chat.devices, device, base)
            cache_dir = str(self.settings.compile_cache_dir)

            def load(variant: Variant) -> Any:
                return load_llm(entry, device, variant.options, cache_dir, read_gguf=variant.read_gguf)

            if entry.format == "gguf":  # not measured while the IR is saved: the save would slow every probe
                if progress:
                    progress(0, 1, "saving the IR beside the GGUF (once)")
                _wait_for_saved_ir(entry, save_gguf_ir, cancel or threading.Event())

            files = [entry.load_path] if entry.load_path.is_file() else entry.load_path.rglob("*.bin")
            size = sum(f.stat().st_size for f in files)
            tuner = Tuner(load, size, progress, cancel, self.rounds, self.tokens)
            firsts = [Variant(base)] + ([Variant(exact)] if exact != base else [])
            firsts += [Variant(base, read_gguf=True)] if entry.format == "gguf" else []
            tuner.total = (sum(len(v) for _, v in steps) + len(firsts)) * (tuner.rounds + 1)  # the best is in each
            first = tuner.measure(firsts, "reference")
            if first[0].error:
                raise ModelLoadError(f"'{entry.id}' could not run on {device}: {first[0].error}")
            references = [p.text for v, p in zip(firsts, first) if not v.read_gguf and not p.error]
            rows, winner, speedup, answer = search(tuner, steps, references, base)
            if winner != base:  # the fastest of several noisy measurements looks faster than it is: measure again
                tuner.total += 2 * (tuner.rounds + 1)
                again = tuner.measure([Variant(base), Variant(winner)], "confirm")
                ratio = _paired(again[1].tokens_per_s, again[0].tokens_per_s)
                confirmed = not again[1].error and ratio >= TAKE and all(
                    w > b for w, b in zip(again[1].tokens_per_s, again[0].tokens_per_s))
                rows.append(Row("confirm", winner, winner.describe(), _median(again[1].tokens_per_s),
                                _median(again[1].ttft_ms), again[1].load_s, True, ratio, chosen=confirmed))
                if not confirmed:
                    notes.append(f"{winner.describe()} looked faster, but a second measurement against the defaults "
                                 f"gave {ratio:.3f}×: within this machine's noise, so the defaults stay.")
                    winner, speedup, answer = base, 1.0, first[0].text
                else:
                    speedup = ratio
            if entry.format == "gguf":  # what saving the IR beside the GGUF gave: read in half the time
                ir, gguf = first[0], first[-1]
                rows.insert(0, Row("model file", base, "the IR saved beside the GGUF", _median(ir.tokens_per_s),
                                   _median(ir.ttft_ms), ir.load_s, True, 1.0, chosen=True))
                rows.insert(1, Row("model file", base, Variant(base, True).describe(), _median(gguf.tokens_per_s),
                                   _median(gguf.ttft_ms), gguf.load_s, not gguf.error and gguf.text in references,
                                   _paired(gguf.tokens_per_s, ir.tokens_per_s)))
            applied = False
            if apply and winner != self.chat.options.get(entry.id, device):
                self.chat.set_options(model=entry.id, device=device, options=winner, caller=caller)
                applied = True
            report = TuneReport(entry.id, device, tuple(rows), winner, speedup, applied,
                                time.perf_counter() - start, cpu_name(), tuple(notes), answer)
            self._save(report)
            tuner.progress(tuner.total, tuner.total, "done")
            return report
        finally:
            self._running.release()

    def last(self, model_id: str, device: str) -> dict | None:
        """The last tune's report for the model on the device, if there was one."""
        try:
            return json.loads(self._path(model_id, device).read_text())
        except (OSError, ValueError):
            return None

    def _save(self, report: TuneReport) -> None:
        path = self._path(report.model, report.device)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, json.dumps(report.to_api(), indent=1))

    def _path(self, model_id: str, device: str):
        if "/" in model_id or "/" in device or model_id.startswith("."):
            raise InvalidParameter(f"Not a model id: {model_id!r}.")
        return self.settings.home / "tune" / f"{model_id}@{device}.json"

