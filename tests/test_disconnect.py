"""A client that goes away mid-call stops the work in the engine: a chat reply, a caption, an image, a
conversion. Each is called over Gradio's HTTP API as any client would, and the connection is closed
after the first message that streams back."""

from __future__ import annotations

import logging

import httpx
from PIL import Image

from genai_ui.builtin import BUILTIN_ID
from tests.apps import until
from tests.leftovers import workers


def leave_after_first_update(app_url: str, api_name: str, data: list) -> list[str]:
    """Start the call, read its stream until it sends its first update, then close the connection.
    Returns the events seen (a call that completes first fails the test: the work was too short)."""
    with httpx.Client(timeout=180) as http:
        started = http.post(f"{app_url}gradio_api/call/{api_name}", json={"data": data})
        started.raise_for_status()
        seen = []
        with http.stream("GET", f"{app_url}gradio_api/call/{api_name}/{started.json()['event_id']}") as events:
            for line in events.iter_lines():
                if line.startswith("event:"):
                    seen.append(line.split(":", 1)[1].strip())
                    if seen[-1] in ("complete", "error"):
                        break
                    if seen[-1] == "generating":
                        return seen  # leaving: the with blocks close the stream and the connection
    raise AssertionError(f"{api_name} ended before the client could leave: {seen}")


def test_a_chat_reply_stops_when_its_client_leaves(app_url, services, client, caplog):
    with caplog.at_level(logging.INFO, logger="genai_ui.engines.llm"):
        leave_after_first_update(app_url, "chat", ["Write a very long story about a lighthouse keeper.", [],
                                                   BUILTIN_ID, "", 2048, 0.0, 0.9, 50, 1.0, 1, ""])
        # the engine's thread stops, then the reply says why: on a busy machine that comes after the reply
        # has left the service's count, so it is waited for here, not read once
        until(lambda: any("its reader went away" in r.getMessage() for r in caplog.records),
              "no reply said it stopped for its reader leaving")
        until(lambda: services.chat._replying == 0, "the reply is still streaming")
    stopped = [r.getMessage() for r in caplog.records if "its reader went away" in r.getMessage()]
    assert len(stopped) == 1 and BUILTIN_ID in stopped[0], caplog.text
    assert client.predict("What is the capital of France?", [], BUILTIN_ID, "", 8, 0.0, api_name="/chat")


def test_a_caption_stops_when_its_client_leaves(app_url, services, vision_model, tmp_path, caplog):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(photo)
    (path,) = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("photo.png", photo.read_bytes())},
                         timeout=30).json()  # as a client sends a file: uploaded first, then named in the call
    image = {"path": path, "orig_name": "photo.png", "meta": {"_type": "gradio.FileData"}}
    with caplog.at_level(logging.INFO, logger="genai_ui.engines.llm"):
        leave_after_first_update(app_url, "caption", [image, "Describe it at length.", vision_model.id, 4096, ""])
        until(lambda: any("its reader went away" in r.getMessage() and vision_model.id in r.getMessage()
                          for r in caplog.records), "the caption is still being written")


def test_an_image_stops_at_its_step_when_its_client_leaves(app_url, services, image_model, caplog):
    with caplog.at_level(logging.INFO, logger="genai_ui.engines.text2image"):
        # small, so each step is short (about 1 s here) and the 150 steps long (minutes)
        leave_after_first_update(app_url, "generate_image", ["a lighthouse", "", image_model.id, 128, 128, 150,
                                                             7.5, 1, 1, ""])
        until(lambda: any("its caller went away" in r.getMessage() for r in caplog.records),
              "the image is still being generated", seconds=90)
    stopped = next(r.getMessage() for r in caplog.records if "its caller went away" in r.getMessage())
    step = int(stopped.split("at step ")[1].split(" of")[0])
    assert step < 150, stopped


def test_a_conversion_stops_and_adds_nothing_when_its_client_leaves(app_url, services):
    before = {e.id for e in services.library.list()}
    leave_after_first_update(app_url, "convert_model", ["tiny-random/llava", "int8", 0, 1.0, False, False, False,
                                                        "", False, True])

    until(lambda: not services.conversions.line._running and not workers(), "the conversion is still running")
    assert {e.id for e in services.library.list()} == before
    left = [p.name for p in services.library.models_dir.iterdir() if p.name.startswith(".staging-")]
    assert not left, left  # the job's half-made model went with it

