"""What the endpoints share: the chat calls' concurrency, a job's progress for an API client, the line heavy
work waits in, and files sent with a call."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Iterator

from gradio.data_classes import FileData

from ..convert.jobs import Registered
from ..engines.pipelines import MAX_BATCH
from ..errors import InvalidParameter
from ..work.background import Progress, Stage, Watch
from ..work.queue import Waiting, WorkQueue

# Replies from the page and the API share one limit: as many as the engine batches together
# (the others wait in Gradio's queue and see their place in it).
CHAT_EVENTS = dict(concurrency_id="chat", concurrency_limit=MAX_BATCH)
# Long calls that return one result still stream something this often: Gradio's queue notices a
# client that went away only between two messages, and then stops the work.
HEARTBEAT = 1.0


def followed(events: Iterator, cancel: threading.Event, *, every: float = HEARTBEAT,
             stage: Callable[[Stage], dict] = lambda s: {"stage": s.name.lower()}) -> Iterator[dict]:
    """A job's progress for an API client: each stage as it starts (`stage` names it), the rest at most every
    `every` seconds, and at least that often while the job reports (so Gradio's queue sees a client that left,
    and closes this: the job stops), then its result."""
    state: dict = {"status": "starting"}
    watch = Watch()
    for event in watch.follow(events, cancel, every=every):
        if isinstance(event, Registered):  # the model is usable from here on; its evaluation follows
            state = {**state, "id": event.report.id}
            continue
        if isinstance(event, Waiting):
            state = {"status": "waiting", "place": event.place}
        elif isinstance(event, Stage):
            state = {"status": "running", **stage(event), "step": event.index, "steps": event.count,
                     **({"id": state["id"]} if "id" in state else {})}
        elif isinstance(event, Progress):
            state = {**state, "done": event.done, "total": event.total, "unit": event.unit}
        yield dict(state)
    yield watch.result if isinstance(watch.result, dict) else watch.result.to_api()


def line_events(queue: WorkQueue) -> dict:
    """The page's and the API's events of one kind of heavy work (conversions, downloads) share a
    Gradio limit wide enough for the app's own line, which runs them one at a time, tells each
    its place and refuses when full."""
    return dict(concurrency_id=f"{queue.kind}s", concurrency_limit=queue.slots + queue.max_waiting)


def uploaded_file(value, *, what: str = "image must be an image file", example: str = "handle_file('photo.jpg')"
                  ) -> tuple[str, str]:
    """(path, original name) of a file sent with the call. Only files Gradio received with the
    request are read (it checks those): a bare path string could name any file on the server."""
    if isinstance(value, dict) and (value.get("meta") or {}).get("_type") == "gradio.FileData" and value.get("path"):
        return value["path"], value.get("orig_name") or Path(value["path"]).name
    if isinstance(value, FileData) and value.path:
        return value.path, value.orig_name or Path(value.path).name
    raise InvalidParameter(f"{what} sent with the call: in gradio_client, {example}.")
