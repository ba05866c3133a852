"""The app's /chat as gradio_client sees it, for `python -m genai_ui.bench`."""

from __future__ import annotations

from typing import Iterator


def connect(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def chat_stream(client, message: str, max_new_tokens: int, temperature: float = 0.0) -> Iterator[str]:
    """The reply as it grows; greedy with top_k off by default, as the raw engine runs in the bench."""
    yield from client.submit(message, [], "", "", max_new_tokens, temperature, 1.0, 0, 1.0, -1, "", api_name="/chat")
