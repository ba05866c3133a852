"""Chat as a service: the one function the Chat tab and the /chat endpoint both call."""

from __future__ import annotations

import threading
from typing import Iterator

from .conversation import for_model
from .devices import Devices
from .engines.chat import ChatUpdate, GenerationParams, stream_chat
from .engines.pipelines import PipelineManager
from .errors import EmptyMessage, InvalidParameter, NotAvailable
from .library import Library

MAX_MESSAGE_CHARS = 100_000
UPDATE_INTERVAL_S = 0.05  # one person reading one reply: 20 updates a second


def update_interval(replying: int) -> float:
    """Seconds between updates of a reply while `replying` replies stream at once. Each update costs
    the server work that the engine, on the same cores, then lacks: with more readers, each gets
    fewer (10 a second with four, 7 with eight), still smooth to read."""
    return UPDATE_INTERVAL_S * max(1, replying) ** 0.5


class ChatService:
    def __init__(self, library: Library, devices: Devices, pipelines: PipelineManager,
                 default_model: str = "") -> None:
        self.library = library
        self.devices = devices
        self.pipelines = pipelines
        self.default_model = default_model
        self._replying = 0
        self._count = threading.Lock()

    def model_id(self, model: str = "") -> str:
        """The model to chat with: the one asked for, else the default, else the first in the library."""
        if model:
            return model
        if self.default_model and self.default_model in self.library:
            return self.default_model
        models = self.library.list("text-generation")
        if not models:
            raise NotAvailable("No chat model in the library yet: fetch one in the Hub tab.")
        return models[0].id

    def reply(self, *, message: str, history: list | None = None, model: str = "", device: str = "",
              system_prompt: str = "", params: GenerationParams = GenerationParams(),
              cancel: threading.Event | None = None) -> Iterator[ChatUpdate]:
        """Stream the reply to `message`. Checks everything before loading anything."""
        if not isinstance(message, str) or not message.strip():
            raise EmptyMessage()
        if len(message) > MAX_MESSAGE_CHARS:
            raise InvalidParameter(f"The message is {len(message):,} characters; the limit is {MAX_MESSAGE_CHARS:,}.")
        messages = for_model(history or [], message, system_prompt or "")
        entry = self.library.get(self.model_id(model), task="text-generation")
        loaded = self.pipelines.get(entry, self.devices.resolve(device))
        return self._counted(stream_chat(loaded, messages, params, cancel or threading.Event(),
                                         min_interval=lambda: update_interval(self._replying)))

    def _counted(self, stream: Iterator[ChatUpdate]) -> Iterator[ChatUpdate]:
        """The stream, counted among the replies streaming while it is read."""
        with self._count:
            self._replying += 1
        try:
            yield from stream
        finally:
            with self._count:
                self._replying -= 1
