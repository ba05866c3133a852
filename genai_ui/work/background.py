"""Long work in a background thread, seen by the caller as a stream of events to render.

The work is a function taking (on_progress, cancel). The caller iterates `run_job(...)`:
it gets `Progress` events at most every `interval` seconds and a `Finished` event at the end;
an error of the work is raised from the iterator. Closing the iterator early (a browser tab
that went away) sets the cancel token, so the work really stops.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import Cancelled


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    rate: float = 0.0  # units per second over the last few seconds
    unit: str = "B"
    label: str = ""  # what is being done, when a step does several things

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

    def produce(put: Callable[[object], None]) -> Any:
        rate, last = _Rate(), [0.0]

        def on_progress(done: int, total: int) -> None:
            speed = rate.add(done)
            now = time.monotonic()
            if now - last[0] >= interval or (total and done >= total):
                last[0] = now
                put(Progress(done, total, speed, unit))

        return work(on_progress, cancel)

    return _relay(produce, on_leave=cancel.set)


def _relay(produce: Callable[[Callable[[object], None]], Any], *, on_leave: Callable[[], None],
           tick: float | None = None) -> Iterator:
    """Run produce(put) on a thread of its own; yield what it puts as it comes (and None after `tick`
    seconds without anything), then Finished(what it returned); its error is raised here. A caller
    that leaves early calls on_leave, which must make the work stop."""
    events: queue.Queue = queue.Queue()

    def target() -> None:
        try:
            events.put(Finished(produce(events.put)))
        except BaseException as err:  # handed to the caller's thread
            events.put(err)

    thread = threading.Thread(target=target, name="genai_ui-job", daemon=True)
    thread.start()
    try:
        while True:
            try:
                event = events.get(timeout=tick)
            except queue.Empty:
                yield None
                continue
            if isinstance(event, BaseException):
                raise event
            yield event
            if isinstance(event, Finished):
                return
    finally:
        if thread.is_alive():
            on_leave()


@dataclass(frozen=True)
class Stage:
    """A job moved on to its next stage (download, export, compress, verify, …)."""
    name: str
    index: int
    count: int


@dataclass(frozen=True)
class Log:
    line: str


class Watch:
    """What a page or an API client shows of a job while its events come: the stage, the progress, the
    last log lines, and the result at the end.

    `follow` passes a job's events on. A stage, a place in line or any other announcement passes at
    once; log lines and progress at most once every `every` seconds (the rest only update this);
    Finished ends it, its result kept here. A consumer that closes it early (a page or client that
    went away) sets `cancel`, so the job stops."""

    def __init__(self, *, log_lines: int = 0) -> None:
        self.stage: Stage | None = None
        self.progress: Progress | None = None
        self.lines: deque[str] = deque(maxlen=log_lines)
        self.result: Any = None

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def follow(self, events: Iterator, cancel: threading.Event, *, every: float) -> Iterator:
        last = -math.inf  # when the last event passed: never yet
        try:
            for event in events:
                if isinstance(event, Finished):
                    self.result = event.result
                    return
                if isinstance(event, Log):
                    self.lines.append(event.line)
                elif isinstance(event, Progress):
                    self.progress = event
                else:
                    if isinstance(event, Stage):
                        self.stage, self.progress = event, None
                    last = -math.inf
                if time.monotonic() - last >= every:
                    last = time.monotonic()
                    yield event
        except GeneratorExit:
            cancel.set()
            raise


@dataclass
class ProcessResult:
    returncode: int | None = None
    # the largest own peak among the process and its descendants, sampled every 0.1 s while they run:
    # a spike shorter than that, or a process that ends sooner, can be missed
    peak_rss_bytes: int = 0
    seconds: float = 0.0
    tail: list[str] = field(default_factory=list)  # the last lines, for an error message


class Tracebacks:
    """Sorts a step's output: a Python traceback goes to the server log, whole, and never to the person
    watching (its last line, the reason, still reaches them through the step's error message)."""

    STARTS = ("Traceback (most recent call last)", "During handling of the above exception",
              "The above exception was the direct cause")

    def __init__(self, what: str) -> None:
        self.what = what
        self.block: list[str] = []

    def shown(self, line: str) -> bool:
        """Whether `line` is for the person; a traceback's lines are kept for the log instead."""
        if line.lstrip().startswith(self.STARTS) or (self.block and line[:1] in (" ", "\t", "")):
            self.block.append(line)
            return False
        if self.block:  # the exception's own line ends the traceback
            self.block.append(line)
            self.flush()
            return False
        return True

    def flush(self) -> None:
        if self.block:
            logging.getLogger("genai_ui.work.background").warning("%s printed:\n%s", self.what, "\n".join(self.block))
            self.block = []


def run_process(cmd: list[str], *, cancel: threading.Event, result: ProcessResult, env: dict | None = None,
                cwd: str | None = None, grace: float = 3.0) -> Iterator[str]:
    """Run a command in its own process group, yielding its output line by line (a carriage
    return ends a line too: progress bars redraw with it). Cancel ends the whole group: the
    command and everything it started. `result` gets the exit code, the peak memory of the
    process (or of its largest descendant), the time, and the last lines."""
    import os
    import signal
    import subprocess

    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, cwd=cwd, start_new_session=True, bufsize=0)
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        pending = b""
        for chunk in iter(lambda: proc.stdout.read(4096), b""):
            pending += chunk
            *complete, pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            for line in complete:
                lines.put(line.decode(errors="replace"))
        if pending:
            lines.put(pending.decode(errors="replace"))
        lines.put(None)

    reader = threading.Thread(target=read, name="genai_ui-process-output", daemon=True)
    reader.start()
    family = _FamilyPeak(proc.pid)
    tail: deque[str] = deque(maxlen=30)
    killed_at, ended = None, False
    try:
        while True:
            family.sample()
            if cancel.is_set() and killed_at is None:
                killed_at = time.monotonic()
                _signal_group(proc.pid, signal.SIGTERM)
            if killed_at is not None and time.monotonic() - killed_at > grace:
                _signal_group(proc.pid, signal.SIGKILL)
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                family.sample(every=0.0)  # its output closed: it may still be there, about to end
                ended = True
                break
            if line.strip():
                tail.append(line)
                yield line
    finally:
        if not ended and killed_at is None:  # the caller left early: the work stops too
            _signal_group(proc.pid, signal.SIGTERM)
        status = _reap(proc.pid, grace if not ended or killed_at is not None else 60.0)
        _signal_group(proc.pid, signal.SIGKILL)  # what the command left running in its group
        proc.returncode = os.waitstatus_to_exitcode(status)
        result.returncode = proc.returncode
        result.peak_rss_bytes = family.peak
        result.seconds = time.monotonic() - start
        result.tail = list(tail)
    if cancel.is_set():
        raise Cancelled()


def _reap(pid: int, grace: float) -> int:
    """Wait for the process, killing it after `grace` seconds; its wait status. (wait4's ru_maxrss is no
    measure of it: Linux carries the parent's high-water mark over fork and exec, and a child of a
    1 GiB process reported 1 GiB.)"""
    import os
    import signal

    deadline = time.monotonic() + grace
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            _signal_group(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.05)


def own_peak_bytes(pid: int | str = "self") -> int | None:
    """A process's own peak memory: VmHWM in /proc/<pid>/status, which starts afresh at exec (ru_maxrss
    does not). None without it: no /proc (not Linux), or a process that has ended (a zombie has none)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # counted in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


class _FamilyPeak:
    """The largest own peak among a process and its descendants, sampled while they run (one scan of
    the process table took 0.8 ms here, so at most one every `every` seconds)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.peak, self.last = 0, float("-inf")

    def sample(self, *, every: float = 0.1) -> None:
        import psutil

        now = time.monotonic()
        if now - self.last < every:
            return
        self.last = now
        try:
            family = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        for process in family:
            own = own_peak_bytes(process.pid)
            if own is None:  # no /proc (not Linux): its memory now, the nearest to its own peak psutil has
                try:
                    own = process.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, own)


def _signal_group(pid: int, sig) -> None:
    import os

    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def in_background(job: Iterator, *, tick: float = 1.0) -> Iterator:
    """Run a job generator in a thread; yield its events, None every `tick` seconds without one (so a
    page can move its clock on), and Finished(its return value) at the end. Leaving early closes
    the job, which stops its work."""
    leave = threading.Event()

    def produce(put: Callable[[object], None]) -> Any:
        try:
            while not leave.is_set():
                try:
                    put(next(job))
                except StopIteration as done:
                    return done.value
        finally:
            job.close()

    return _relay(produce, on_leave=leave.set, tick=tick)
