"""build_app(services) -> gr.Blocks. Launching is app.py's business."""

from __future__ import annotations

import gradio as gr

from .. import __version__
from ..services import Services
from .api import register_api
from .chat_tab import build_chat_tab, refresh_models

CSS = """
#chatbot sub { color: var(--body-text-color-subdued); }
"""


# Gradio's queue loop checks for new work every 1 ms, which costs an idle server 7% of a
# core here and takes that from the engine while it generates; every 10 ms costs 3% less
# and adds at most 10 ms before a request starts.
QUEUE_POLL_SECONDS = 0.01


def with_queue(demo: gr.Blocks) -> gr.Blocks:
    """Enable the queue as the app runs it: one chat generation per event at a time (the
    engine serializes them anyway), other users wait in line and see their position."""
    demo.queue(default_concurrency_limit=1)
    if hasattr(demo._queue, "sleep_when_free"):
        demo._queue.sleep_when_free = QUEUE_POLL_SECONDS
    return demo


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="genai_ui") as demo:
        gr.Markdown(f"## genai_ui <sub>{__version__}</sub>\nHugging Face models, running on OpenVINO on this machine.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat = build_chat_tab(services)
        register_api(services)
        demo.load(lambda current: refresh_models(services, current), chat["model"], chat["model"],
                  api_visibility="private", queue=False)
    return demo
