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
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .. import atomic
from ..access import LOCAL, Caller, check_engine_options
from ..engines.options import EngineOptions, check_device_options, saved_ir_files
from ..errors import Busy, Cancelled, InvalidParameter, ModelLoadError
from .chat import ChatService
from .probes import (
    PROBE_TOKENS,
    ROUNDS,
    TAKE,
    Progress,
    Row,
    Tuner,
    Variant,
    most_exact,
    paired_ratio,
    search,
    settings_to_try,
)

log = logging.getLogger(__name__)


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


def _confirm(tuner: Tuner, base: EngineOptions, winner: EngineOptions) -> Row:
    """The winner measured again against the defaults, chosen only if it wins again by the same rule."""
    tuner.total += 2 * (tuner.rounds + 1)
    again = tuner.measure([Variant(base), Variant(winner)], "confirm")
    ratio = paired_ratio(again[1].tokens_per_s, again[0].tokens_per_s)
    confirmed = not again[1].error and ratio >= TAKE and all(
        w > b for w, b in zip(again[1].tokens_per_s, again[0].tokens_per_s))
    return again[1].row("confirm", winner, winner.describe(), True, ratio, chosen=confirmed)


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
        if last is not None and last.get("cpu") == self.chat.devices.processor():
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
            with Tuner(load, size, progress, cancel, self.rounds, self.tokens) as tuner:  # unloads its engines
                firsts = [Variant(base)] + ([Variant(exact)] if exact != base else [])
                firsts += [Variant(base, read_gguf=True)] if entry.format == "gguf" else []
                # the best so far is in each step
                tuner.total = (sum(len(v) for _, v in steps) + len(firsts)) * (tuner.rounds + 1)
                first = tuner.measure(firsts, "reference")
                if first[0].error:
                    raise ModelLoadError(f"'{entry.id}' could not run on {device}: {first[0].error}")
                references = [p.text for v, p in zip(firsts, first) if not v.read_gguf and not p.error]
                rows, winner, speedup, answer = search(tuner, steps, references, base)
                if winner != base:  # the fastest of several noisy measurements looks faster than it is
                    confirm = _confirm(tuner, base, winner)
                    rows.append(confirm)
                    if not confirm.chosen:
                        notes.append(f"{winner.describe()} looked faster, but a second measurement against the "
                                     f"defaults gave {confirm.ratio:.3f}×: within this machine's noise, so the "
                                     "defaults stay.")
                        winner, speedup, answer = base, 1.0, first[0].text
                    else:
                        speedup = confirm.ratio
            if entry.format == "gguf":  # what saving the IR beside the GGUF gave: read in half the time
                ir, gguf = first[0], first[-1]
                rows[:0] = [ir.row("model file", base, "the IR saved beside the GGUF", True, 1.0, chosen=True),
                            gguf.row("model file", base, Variant(base, True).describe(),
                                     not gguf.error and gguf.text in references,
                                     paired_ratio(gguf.tokens_per_s, ir.tokens_per_s))]
            applied = False
            if apply and winner != self.chat.options.get(entry.id, device):
                self.chat.set_options(model=entry.id, device=device, options=winner, caller=caller)
                applied = True
            report = TuneReport(entry.id, device, tuple(rows), winner, speedup, applied,
                                time.perf_counter() - start, self.chat.devices.processor(), tuple(notes), answer)
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

