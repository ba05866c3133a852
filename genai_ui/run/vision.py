"""Questions about images as a service: what the Vision tab and the /caption endpoint both call.

A conversation is a list of {role, content, images} dicts: each user message carries the
pictures given with it (already read and scaled, see engines/pictures.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

from ..access import LOCAL, Caller
from ..engines.devices import Devices
from ..engines.llm import ChatUpdate, GenerationParams
from ..engines.loaded import LoadedPipeline
from ..engines.pictures import Picture, load_picture
from ..engines.pipelines import PipelineManager
from ..engines.remote import RemoteModels, is_remote
from ..engines.structured import with_tools
from ..engines.vlm import ImageTokens, stream_vision
from ..errors import EmptyMessage, InvalidParameter
from ..library import Library
from ..manage import ModelAccess
from .chat import MAX_HISTORY_CHARS, MAX_HISTORY_MESSAGES

TASK = "image-text-to-text"
DEFAULT_PROMPT = "Describe this image."
MAX_PROMPT_CHARS = 20_000
MAX_IMAGES_PER_MESSAGE = 8
MAX_IMAGES = 16  # in one conversation: each is up to 4 MB of pixels kept for the session


def default_prompt(images: int) -> str:
    return DEFAULT_PROMPT if images <= 1 else "Describe these images."


class VisionService:
    def __init__(self, library: Library, devices: Devices, pipelines: PipelineManager,
                 access: ModelAccess | None = None, remotes: RemoteModels | None = None) -> None:
        self.library = library
        # which models each caller may see and run (with none given, all of them to a local caller)
        self.access = access or ModelAccess(library, endpoint="")
        self.devices = devices
        self.pipelines = pipelines
        self.image_tokens = ImageTokens()
        self.remotes = remotes or RemoteModels()  # models on OpenAI-compatible servers the operator named

    def model_id(self, model: str = "", caller: Caller = LOCAL) -> str:
        """The model asked for, else the first of the library's (of those `caller` may see)."""
        return self.access.view(caller).pick(model, TASK)

    def load(self, *, model: str = "", device: str = "", caller: Caller = LOCAL) -> LoadedPipeline:
        """Load a model now (when it is picked), so what cannot run says so before any question."""
        entry = self.access.view(caller).get(self.model_id(model, caller), task=TASK)
        return self.pipelines.get(entry, self.devices.resolve(device))

    def reply(self, *, messages: list[dict], model: str = "", device: str = "",
              params: GenerationParams = GenerationParams(),
              cancel: threading.Event | None = None, caller: Caller = LOCAL) -> Iterator[ChatUpdate]:
        """Stream the answer to the last user message of `messages`. Checks everything first."""
        messages = check_conversation(messages)
        if params.structure is not None and params.structure.calls:  # the model is told how to call them
            system = messages[0]["content"] if messages[0]["role"] == "system" else ""
            messages = [{"role": "system", "content": with_tools(system, params.structure), "images": []},
                        *messages[1 if system else 0:]]
        if is_remote(model):
            return self.remotes.reply(model, messages, params, cancel or threading.Event(), task=TASK)
        loaded = self.load(model=model, device=device, caller=caller)
        return stream_vision(loaded, messages, params, cancel or threading.Event(), self.image_tokens)

    def caption(self, *, image: str | Path, prompt: str = DEFAULT_PROMPT, model: str = "", device: str = "",
                max_new_tokens: int = 256, name: str = "", cancel: threading.Event | None = None,
                caller: Caller = LOCAL) -> Iterator[ChatUpdate]:
        """One image, one question, a greedy answer (the same image and question give the same answer)."""
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0)
        picture = load_picture(image, name=name)
        return self.reply(messages=[user_message(prompt, [picture])], model=model, device=device, params=params,
                          cancel=cancel, caller=caller)


def user_message(text: str, images: list[Picture]) -> dict:
    text = (text or "").strip()
    return {"role": "user", "content": text or (default_prompt(len(images)) if images else ""), "images": images}


def check_conversation(messages: list[dict]) -> list[dict]:
    if not messages or messages[-1].get("role") != "user":
        raise InvalidParameter("The conversation must end with the question to answer.")
    last = messages[-1]
    if not last["content"].strip() and not last.get("images"):
        raise EmptyMessage()
    if len(last["content"]) > MAX_PROMPT_CHARS:
        raise InvalidParameter(f"The question is {len(last['content']):,} characters; "
                               f"the limit is {MAX_PROMPT_CHARS:,}.")
    if len(last.get("images") or []) > MAX_IMAGES_PER_MESSAGE:
        raise InvalidParameter(f"{len(last['images'])} images in one message; up to {MAX_IMAGES_PER_MESSAGE} "
                               "are read at once.")
    chars = sum(len(m.get("content") or "") for m in messages)
    if len(messages) > MAX_HISTORY_MESSAGES or chars > MAX_HISTORY_CHARS:
        raise InvalidParameter(f"This conversation has {len(messages):,} messages and {chars:,} characters; the "
                               f"limits are {MAX_HISTORY_MESSAGES:,} and {MAX_HISTORY_CHARS:,}. Clear it to go on.")
    total = sum(len(m.get("images") or []) for m in messages)
    if total > MAX_IMAGES:
        raise InvalidParameter(f"This conversation would hold {total} images; up to {MAX_IMAGES} are kept. "
                               "Clear it to start another.")
    system = [{"role": "system", "content": messages[0]["content"], "images": []}
              for m in messages[:1] if m.get("role") == "system" and m.get("content")]
    return system + [{"role": m["role"], "content": m["content"], "images": list(m.get("images") or [])}
                     for m in messages if m.get("role") in ("user", "assistant")]
