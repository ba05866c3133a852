"""Long work in a background thread, seen by the caller as a stream of events to render.

The work is a function taking (on_progress, cancel). The caller iterates `run_job(...)`:
it gets `Progress` events at most every `interval` seconds and a `Finished` event at the end;
an error of the work is raised from the iterator. Closing the iterator early (a browser tab
that went away) sets the cancel token, so the work really stops.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    rate: float = 0.0  # units per second over the last few seconds
    unit: str = "B"

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 and self.total >= self.done else None


@dataclass(frozen=True)
class Finished:
    result: Any


class _Rate:
    """Speed over a sliding window, so a stall shows at once and a burst does not last."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, done: int) -> float:
        now = time.monotonic()
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0


def run_job(work: Callable[[Callable[[int, int], None], threading.Event], Any], *,
            cancel: threading.Event | None = None, interval: float = 0.25, unit: str = "B") -> Iterator[Progress | Finished]:
    cancel = cancel or threading.Event()
    events: queue.Queue = queue.Queue()
    rate = _Rate()
    last = [0.0]

    def on_progress(done: int, total: int) -> None:
        speed = rate.add(done)
        now = time.monotonic()
        if now - last[0] >= interval or (total and done >= total):
            last[0] = now
            events.put(Progress(done, total, speed, unit))

    def target() -> None:
        try:
            events.put(Finished(work(on_progress, cancel)))
        except BaseException as err:  # handed to the caller's thread
            events.put(err)

    thread = threading.Thread(target=target, name="genai_ui-job", daemon=True)
    thread.start()
    try:
        while True:
            event = events.get()
            if isinstance(event, BaseException):
                raise event
            yield event
            if isinstance(event, Finished):
                return
    finally:
        if thread.is_alive():
            cancel.set()
