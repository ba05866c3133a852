"""build_app(services) -> gr.Blocks. Launching is app.py's business."""

from __future__ import annotations

import gradio as gr

from .. import __version__
from ..services import Services
from .api import register_api
from .chat_tab import build_chat_tab

CSS = """
#chatbot sub { color: var(--body-text-color-subdued); }
"""


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="genai_ui") as demo:
        gr.Markdown(f"## genai_ui <sub>{__version__}</sub>\nHugging Face models, running on OpenVINO on this machine.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                build_chat_tab(services)
        register_api(services)
    return demo
