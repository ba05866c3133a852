"""The line that heavy work waits in: one at a time, places told, full means busy, cancel your own."""

from __future__ import annotations

import threading

import pytest

from genai_ui.errors import Busy, Cancelled
from genai_ui.work.queue import Waiting, WorkQueue, in_line


def hold(queue: WorkQueue, cancel: threading.Event, started: threading.Event, release: threading.Event,
         places: list) -> threading.Thread:
    """A job that waits its turn (noting its places), says it started, and runs until released."""
    def job():
        started.set()
        release.wait()
        return "done"
        yield  # a generator, as conversions are

    def run():
        try:
            events = in_line(queue, cancel, job)
            while True:
                places.append(next(events))
        except StopIteration:
            places.append("finished")
        except Cancelled:
            places.append("cancelled")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_one_at_a_time_with_places_then_busy():
    queue = WorkQueue("conversion", max_waiting=2)
    jobs = [dict(cancel=threading.Event(), started=threading.Event(), release=threading.Event(), places=[])
            for _ in range(3)]
    threads = [hold(queue, **jobs[0])]
    assert jobs[0]["started"].wait(5)
    threads += [hold(queue, **jobs[1])]
    threads += [hold(queue, **jobs[2])]
    for _ in range(50):
        if queue.waiting() == 2:
            break
        threading.Event().wait(0.05)
    assert not jobs[1]["started"].is_set() and not jobs[2]["started"].is_set()
    with pytest.raises(Busy, match="busy: 1 conversion running and 2 waiting"):
        with queue.place(threading.Event()):
            pass
    jobs[0]["release"].set()
    assert jobs[1]["started"].wait(5) and not jobs[2]["started"].is_set()
    for _ in range(50):  # the last one moves up a place
        if Waiting(1, "conversion") in jobs[2]["places"]:
            break
        threading.Event().wait(0.05)
    jobs[1]["release"].set()
    assert jobs[2]["started"].wait(5)
    jobs[2]["release"].set()
    [t.join(5) for t in threads]
    assert jobs[0]["places"] == ["finished"]  # it never waited
    assert jobs[1]["places"][0] == Waiting(1, "conversion")
    assert jobs[2]["places"][:2] == [Waiting(2, "conversion"), Waiting(1, "conversion")]
    assert jobs[2]["places"][-1] == "finished"
    assert Waiting(2, "conversion").describe() == "Waiting in line: 1 conversion before yours."
    assert queue.waiting() == 0


def test_cancelling_a_waiting_job_takes_only_it_out_of_the_line():
    """Each job carries its owner's cancel token: cancelling one never touches another's."""
    queue = WorkQueue("download", max_waiting=4)
    running = dict(cancel=threading.Event(), started=threading.Event(), release=threading.Event(), places=[])
    mine = dict(cancel=threading.Event(), started=threading.Event(), release=threading.Event(), places=[])
    theirs = dict(cancel=threading.Event(), started=threading.Event(), release=threading.Event(), places=[])
    threads = [hold(queue, **running)]
    assert running["started"].wait(5)
    threads += [hold(queue, **mine), hold(queue, **theirs)]
    while queue.waiting() < 2:
        threading.Event().wait(0.05)
    mine["cancel"].set()
    threads[1].join(5)
    assert mine["places"][-1] == "cancelled" and queue.waiting() == 1
    assert not running["cancel"].is_set() and not theirs["cancel"].is_set()
    running["release"].set()
    assert theirs["started"].wait(5)  # it moved up and ran
    theirs["release"].set()
    [t.join(5) for t in threads]
    assert theirs["places"][-1] == "finished" and running["places"] == ["finished"]


def test_a_failed_job_frees_its_slot():
    queue = WorkQueue("conversion", max_waiting=1)

    def failing():
        raise RuntimeError("export failed")
        yield

    with pytest.raises(RuntimeError):
        list(in_line(queue, threading.Event(), failing))
    assert queue.run(threading.Event(), lambda: "next one runs") == "next one runs"
