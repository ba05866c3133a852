"""The app as gradio_client sees it, for `python -m genai_ui.bench`: the benches are core code and
import no gradio themselves."""

from __future__ import annotations

from typing import Iterator


def connect(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def chat_stream(client, message: str, max_new_tokens: int, temperature: float = 0.0) -> Iterator[str]:
    """The reply as it grows; greedy with top_k off by default, as the raw engine runs in the bench."""
    yield from client.submit(message, [], "", "", max_new_tokens, temperature, 1.0, 0, 1.0, -1, "", api_name="/chat")


def chat_reply(client, message: str, history: list[dict], max_new_tokens: int) -> str:
    """The whole reply to a message in a conversation, greedy (the load bench's people)."""
    return client.predict(message, history, "", "", max_new_tokens, 0.0, api_name="/chat")


def caption_stream(client, image: str, prompt: str, model: str, max_new_tokens: int) -> Iterator[str]:
    """/caption's answer as it grows, the image file sent with the call."""
    from gradio_client import handle_file

    yield from client.submit(handle_file(image), prompt, model, max_new_tokens, "", api_name="/caption")


def follow_conversion(client, repo_id: str, weight_format: str, group_size: int) -> Iterator[dict]:
    """/convert_model's progress updates as they come ({status, stage, …}), then its report; the app's own
    message as a RuntimeError when it refuses or fails."""
    from gradio_client.exceptions import AppError

    job = client.submit(repo_id, weight_format, group_size, api_name="/convert_model")
    try:
        for update in job:
            if isinstance(update, dict) and "status" in update:
                yield update
        yield job.result()
    except AppError as err:
        raise RuntimeError(str(err)) from None


def import_gradio_seconds() -> float:
    """How long `import gradio` takes in a fresh process: the part of the app's start-up that is Gradio's."""
    import subprocess
    import sys

    code = "import time; t = time.perf_counter(); import gradio; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.strip().splitlines()[-1])
