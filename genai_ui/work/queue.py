"""Heavy work in line: conversions, and downloads, run one at a time, the others wait in a
bounded line and are told their place; a full line refuses at once instead of piling up.

    with queue.place(cancel) as ticket:       # Busy when the line is full
        for waiting in ticket.turn():          # Waiting(place) while others go first
            show(waiting)
        do_the_work()                          # the slot is held until the block ends

Cancelling a job that waits takes it out of the line (Cancelled); each job has its
owner's own cancel token, so one user cannot cancel another's.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Generator, Iterator, TypeVar

from ..errors import Busy, Cancelled

T = TypeVar("T")


def in_line(queue: "WorkQueue", cancel: threading.Event, start: Callable[[], Generator]) -> Generator:
    """A job's events, after Waiting events while it waits its turn; returns what the job returns."""
    with queue.place(cancel) as ticket:
        yield from ticket.turn()
        return (yield from start())


@dataclass(frozen=True)
class Waiting:
    place: int  # 1: next to start
    kind: str

    def describe(self) -> str:
        if self.place == 1:
            return f"Waiting for the {self.kind} running now to finish: yours is next."
        return f"Waiting in line: {self.place - 1} {self.kind}{'s' * (self.place > 2)} before yours."


class WorkQueue:
    def __init__(self, kind: str, *, max_waiting: int, slots: int = 1) -> None:
        self.kind = kind  # "conversion", "download": said to the user
        self.max_waiting = max_waiting
        self.slots = slots
        self._running = 0
        self._line: list[Ticket] = []
        self._changed = threading.Condition()

    @contextmanager
    def place(self, cancel: threading.Event) -> Iterator["Ticket"]:
        with self._changed:
            if self._running >= self.slots and len(self._line) >= self.max_waiting:
                raise Busy(f"The server is busy: {self._running} {self.kind} running and {len(self._line)} "
                           f"waiting, the most it takes. Try again in a few minutes.")
            ticket = Ticket(self, cancel)
            self._line.append(ticket)
        try:
            yield ticket
        finally:
            with self._changed:
                if ticket in self._line:
                    self._line.remove(ticket)
                if ticket.started:
                    self._running -= 1
                self._changed.notify_all()

    def run(self, cancel: threading.Event, work: Callable[[], T]) -> T:
        """Wait for a turn without telling anyone (the API's way), then do the work."""
        with self.place(cancel) as ticket:
            for _ in ticket.turn():
                pass
            return work()

    def waiting(self) -> int:
        with self._changed:
            return len(self._line)


class Ticket:
    def __init__(self, queue: WorkQueue, cancel: threading.Event) -> None:
        self._queue = queue
        self._cancel = cancel
        self.started = False

    def turn(self, poll: float = 0.25) -> Iterator[Waiting]:
        """Yields Waiting(place) whenever the place changes (at once if it must wait); returns
        when this job may start."""
        queue, last = self._queue, None
        with queue._changed:
            while True:
                if self._cancel.is_set():
                    raise Cancelled()
                place = queue._line.index(self)
                if place == 0 and queue._running < queue.slots:
                    queue._line.remove(self)
                    queue._running += 1
                    self.started = True
                    return
                if place != last:
                    last = place
                    queue._changed.release()
                    try:
                        yield Waiting(place + 1, queue.kind)
                    finally:
                        queue._changed.acquire()
                    continue
                queue._changed.wait(poll)
