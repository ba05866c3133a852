"""The named API endpoints (gradio_client and MCP). Names and parameters follow DESIGN.md."""

from __future__ import annotations

import threading
from typing import Iterator

import gradio as gr

from ..engines.chat import GenerationParams
from ..services import Services
from .errors import user_errors


def register_api(services: Services) -> None:
    """Call inside a gr.Blocks context."""

    @user_errors
    def devices() -> list[dict]:
        """List the devices OpenVINO can run models on here, as {id, name}."""
        return [d.to_api() for d in services.devices.list()]

    @user_errors
    def local_models(task: str = "") -> list[dict]:
        """List the models in the local library, optionally only one task
        (text-generation, image-text-to-text, text-to-image)."""
        return [e.to_api() for e in services.library.list(task)]

    @user_errors
    def chat(message: str, history: list[dict] | None = None, model: str = "", system_prompt: str = "",
             max_new_tokens: int = 512, temperature: float = 0.7, top_p: float = 0.9, top_k: int = 50,
             repetition_penalty: float = 1.0, seed: int = -1, device: str = "") -> Iterator[str]:
        """Chat with a text-generation model of the library; streams the reply as it grows.
        history is a list of {role, content}; an empty model or device means the default.
        temperature 0 is greedy; seed -1 draws a new seed."""
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                  top_k=top_k, repetition_penalty=repetition_penalty, seed=seed)
        for update in services.chat.reply(message=message, history=history or [], model=model, device=device,
                                          system_prompt=system_prompt, params=params, cancel=threading.Event()):
            yield update.text

    @user_errors
    def benchmark(model: str = "", device: str = "", prompt: str = "", max_new_tokens: int = 128,
                  runs: int = 3, engine: str = "genai") -> dict:
        """Measure a chat model: medians of time to first token, time per output token,
        tokens/s, with the load time and the server's peak memory."""
        return services.benchmark.run(model=model, device=device, prompt=prompt, max_new_tokens=max_new_tokens,
                                      runs=runs, engine=engine).to_api()

    for fn in (devices, local_models, chat, benchmark):
        gr.api(fn, api_name=fn.__name__)
