"""The app served in the test process, as users and gradio_client reach it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from genai_ui.bench import free_port


@contextmanager
def launched(services) -> Iterator[str]:
    """The app on `services`, launched on a free loopback port; its address while the block runs, closed after."""
    from genai_ui.ui.app import CSS, HEAD, build_app, launch_options, with_queue

    demo = build_app(services)
    port = free_port()
    v1 = launch_options(services, [])["app_kwargs"]  # the OpenAI-compatible routes beside the page's
    with_queue(demo).launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS,
                            head=HEAD, app_kwargs=v1)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def until(condition, what: str, seconds: float = 30.0) -> None:
    """Wait for `condition()` to hold, polling; after `seconds`, fail saying `what` still is so."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {seconds:.0f} s: {what}")
        time.sleep(0.1)
