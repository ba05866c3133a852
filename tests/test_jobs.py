"""Long work in a thread, seen as events: progress with a speed, the result, errors, cancel."""

import threading
import time

import pytest

from genai_ui.jobs import Finished, Progress, run_job


def test_progress_then_the_result():
    def work(report, cancel):
        for done in range(0, 101, 10):
            report(done, 100)
            time.sleep(0.01)
        return "done"

    events = list(run_job(work, interval=0.0))
    assert isinstance(events[-1], Finished) and events[-1].result == "done"
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.done for p in progress] == list(range(0, 101, 10))
    assert progress[-1].fraction == 1.0 and progress[-1].rate > 0 and progress[-1].eta_seconds == 0


def test_updates_are_spaced_but_the_last_one_always_comes():
    def work(report, cancel):
        for done in range(1, 1001):
            report(done, 1000)

    progress = [e for e in run_job(work, interval=10.0) if isinstance(e, Progress)]
    assert [p.done for p in progress] == [1, 1000]


def test_an_error_of_the_work_reaches_the_caller():
    def work(report, cancel):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        list(run_job(work))


def test_leaving_early_cancels_the_work():
    stopped = threading.Event()

    def work(report, cancel):
        while not cancel.is_set():
            report(1, 2)
            time.sleep(0.01)
        stopped.set()

    events = run_job(work, interval=0.0)
    assert isinstance(next(events), Progress)
    events.close()  # a browser tab that went away
    assert stopped.wait(5)
