"""Long work in a thread, seen as events: progress with a speed, the result, errors, cancel."""

import threading
import time

import pytest

from genai_ui.work.background import Finished, Progress, run_job


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


def test_a_process_streams_its_lines_and_reports_memory_and_exit_code():
    import sys

    from genai_ui.work.background import ProcessResult, run_process

    result = ProcessResult()
    # the peak is sampled while the process runs (every 0.1 s): it holds its memory for longer than that
    code = ("import sys, time; print('one'); sys.stdout.write('50%\\r60%\\r'); x = bytearray(80_000_000); print('two');"
            "sys.stdout.flush(); time.sleep(0.5); sys.exit(3)")
    lines = list(run_process([sys.executable, "-c", code], cancel=threading.Event(), result=result))
    assert lines == ["one", "50%", "60%", "two"]
    assert result.returncode == 3 and result.peak_rss_bytes > 80_000_000 and result.tail[-1] == "two"


def test_cancel_ends_the_whole_process_group():
    import sys

    import psutil

    from genai_ui.errors import Cancelled
    from genai_ui.work.background import ProcessResult, run_process

    # a parent that starts a child which would outlive it
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            "print(p.pid, flush=True); time.sleep(60)")
    cancel, result = threading.Event(), ProcessResult()
    lines = run_process([sys.executable, "-c", code], cancel=cancel, result=result)
    child = int(next(lines))
    cancel.set()
    with pytest.raises(Cancelled):
        list(lines)
    assert result.returncode != 0 and result.seconds < 10
    time.sleep(0.2)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE  # not orphaned


def test_in_background_ticks_while_a_job_is_quiet_and_closes_it_when_left():
    from genai_ui.work.background import in_background

    closed = threading.Event()

    def job():
        try:
            yield "started"
            time.sleep(0.35)
            yield "later"
            return "result"
        finally:
            closed.set()

    events = list(in_background(job(), tick=0.1))
    assert events[0] == "started" and None in events and events[-2:] == ["later", Finished("result")]

    def endless():
        try:
            while True:
                yield "again"
                time.sleep(0.01)
        finally:
            closed.set()

    closed.clear()
    stream = in_background(endless(), tick=0.1)
    assert next(stream) == "again"
    stream.close()  # the page went away
    assert closed.wait(5)


def test_a_watch_passes_announcements_at_once_spaces_progress_keeps_the_result_and_cancels_when_left():
    from genai_ui.work.background import Log, Stage, Watch
    from genai_ui.work.queue import Waiting

    def job():
        yield Waiting(place=1, kind="conversion")
        yield Stage("Export", 1, 2)
        for n in range(5):
            yield Log(f"line {n}")
            yield Progress(n + 1, 5, unit="steps")
        yield Stage("Verify", 2, 2)
        yield Finished({"id": "m"})

    watch = Watch(log_lines=3)
    passed = list(watch.follow(job(), threading.Event(), every=3600))
    # the place in line and each stage at once; the log lines and progress within the hour only update the watch
    assert [type(e).__name__ for e in passed] == ["Waiting", "Stage", "Stage"]
    assert watch.stage == Stage("Verify", 2, 2) and watch.progress is None  # a new stage starts its own progress
    assert watch.log == "line 2\nline 3\nline 4" and watch.result == {"id": "m"}
    assert len(list(Watch().follow(job(), threading.Event(), every=0))) == 13  # every event, when asked

    cancel = threading.Event()
    following = Watch().follow(job(), cancel, every=0)
    next(following)
    following.close()  # the page or client went away
    assert cancel.is_set()
