"""The app served in the test process, as users and gradio_client reach it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from genai_ui.bench import free_port

LAUNCHED: list = []  # the apps this test process has running, for a failure's report (queue_state)


@contextmanager
def launched(services) -> Iterator[str]:
    """The app on `services`, launched on a free loopback port; its address while the block runs, closed after."""
    from genai_ui.ui.app import CSS, HEAD, build_app, launch_options, with_queue

    demo = build_app(services)
    port = free_port()
    v1 = launch_options(services, [])["app_kwargs"]  # the OpenAI-compatible routes beside the page's
    with_queue(demo).launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS,
                            head=HEAD, app_kwargs=v1)
    LAUNCHED.append(demo)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        LAUNCHED.remove(demo)
        demo.close()


def queue_state(demo) -> str:
    """What Gradio's queue of a running app holds: whether it is stopped, its active jobs, each concurrency group
    with work in it, whether its lock is held, and the tasks of its event loop. A call that never started (once
    seen late in a run, its cause not found yet) leaves this in the failure's report."""
    queue = demo._queue
    lines = [f"port {demo.server_port}: stopped={queue.stopped}, queued={len(queue)}, "
             f"active slots={sum(job is not None for job in queue.active_jobs)} of {len(queue.active_jobs)} "
             f"({[[getattr(e.fn, 'api_name', None) for e in job] for job in queue.active_jobs if job is not None]}), "
             f"delete lock held={queue.delete_lock.locked()}"]
    for name, group in queue.event_queue_per_concurrency_id.items():
        if group.queue or group.current_concurrency:
            lines.append(f"  group {name!r}: running {group.current_concurrency} of {group.concurrency_limit}, "
                         f"waiting {[getattr(e.fn, 'api_name', None) for e in group.queue]}")
    return "\n".join(lines)


def running_tasks() -> str:
    """The tasks of every running event loop of this process (each app's server runs one): what each awaits."""
    import asyncio
    import gc

    lines = []
    for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]:
        for task in list(asyncio.all_tasks(loop)):
            frames = task.get_stack(limit=1)
            where = f"{frames[0].f_code.co_name}:{frames[0].f_lineno}" if frames else "?"
            lines.append(f"{task.get_name()}: {task.get_coro().__qualname__} at {where}")
    return "\n".join(lines)


def until(condition, what: str, seconds: float = 30.0) -> None:
    """Wait for `condition()` to hold, polling; after `seconds`, fail saying `what` still is so."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {seconds:.0f} s: {what}")
        time.sleep(0.1)
