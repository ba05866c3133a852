"""Chat as a service: the one function the Chat tab and the /chat endpoint both call."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable, Iterator

from ..access import LOCAL, Caller
from ..engines.devices import Devices
from ..engines.llm import ChatUpdate, GenerationParams, stream_chat, stream_completion
from ..engines.loaded import LoadedPipeline
from ..engines.options import EngineOptions, EngineOptionsStore, check_device_options, check_draft, llm_source
from ..engines.pipelines import PipelineManager, save_gguf_ir
from ..engines.remote import RemoteModels, is_remote
from ..engines.structured import with_tools
from ..errors import EmptyMessage, InvalidParameter, NotAvailable
from ..library import Library, ModelEntry
from ..manage import ModelAccess
from .conversation import for_model, normalize

MAX_MESSAGE_CHARS = 100_000
# One caller's conversation is bounded before anything reads it: a history is the caller's to
# send, and what does not fit the model's context is dropped anyway (the largest contexts here,
# 128k tokens, hold about 500k characters).
MAX_HISTORY_MESSAGES = 1_000
MAX_HISTORY_CHARS = 1_000_000
MAX_SYSTEM_PROMPT_CHARS = 20_000
UPDATE_INTERVAL_S = 0.05  # one person reading one reply: 20 updates a second


def update_interval(replying: int) -> float:
    """Seconds between updates of a reply while `replying` replies stream at once. Each update costs
    the server work that the engine, on the same cores, then lacks: with more readers, each gets
    fewer (10 a second with four, 7 with eight), still smooth to read."""
    return UPDATE_INTERVAL_S * max(1, replying) ** 0.5


def check_history(history: list) -> list:
    """A history within the bounds, else a message saying which bound and what to do."""
    if isinstance(history, list) and len(history) > MAX_HISTORY_MESSAGES:
        raise InvalidParameter(f"The conversation has {len(history):,} messages; the limit is "
                               f"{MAX_HISTORY_MESSAGES:,}. Clear it (or send only its latest messages).")
    messages = normalize(history)
    chars = sum(len(m["content"]) for m in messages)
    if chars > MAX_HISTORY_CHARS:
        raise InvalidParameter(f"The conversation holds {chars:,} characters; the limit is {MAX_HISTORY_CHARS:,}. "
                               "Clear it (or send only its latest messages).")
    return messages


class ChatService:
    def __init__(self, library: Library, devices: Devices, pipelines: PipelineManager,
                 default_model: str = "", options: EngineOptionsStore | None = None,
                 access: ModelAccess | None = None, remotes: RemoteModels | None = None) -> None:
        self.library = library
        # which models each caller may see and run (with none given, all of them to a local caller)
        self.access = access or ModelAccess(library, endpoint="")
        self.devices = devices
        self.pipelines = pipelines
        self.default_model = default_model
        self.options = options or EngineOptionsStore(library.models_dir.parent / "engine_options.json")
        self.remotes = remotes or RemoteModels()  # models on OpenAI-compatible servers the operator named
        self.on_load: Callable[[ModelEntry, str], None] | None = None  # told of each load (tune's first-load run)
        self._replying = 0
        self._count = threading.Lock()

    def model_id(self, model: str = "", caller: Caller = LOCAL) -> str:
        """The model to chat with: the one asked for, else the default, else the first in the library."""
        if model:
            return model
        seen = self.access.view(caller)
        if self.default_model and self.default_model in seen:
            return self.default_model
        models = seen.list("text-generation")
        if not models:
            raise NotAvailable("No chat model in the library yet: fetch one in the Hub tab.")
        return models[0].id

    def reply(self, *, message: str, history: list | None = None, model: str = "", device: str = "",
              system_prompt: str = "", params: GenerationParams = GenerationParams(),
              cancel: threading.Event | None = None, caller: Caller = LOCAL) -> Iterator[ChatUpdate]:
        """Stream the reply to `message`. Checks everything before loading anything."""
        if not isinstance(message, str) or not message.strip():
            raise EmptyMessage()
        if len(message) > MAX_MESSAGE_CHARS:
            raise InvalidParameter(f"The message is {len(message):,} characters; the limit is {MAX_MESSAGE_CHARS:,}.")
        if len(system_prompt or "") > MAX_SYSTEM_PROMPT_CHARS:
            raise InvalidParameter(f"The system prompt is {len(system_prompt):,} characters; the limit is "
                                   f"{MAX_SYSTEM_PROMPT_CHARS:,}.")
        system_prompt = with_tools(system_prompt or "", params.structure)  # with tools: how to call them
        messages = for_model(check_history(history or []), message, system_prompt)
        interval = lambda: update_interval(self._replying)  # noqa: E731
        if is_remote(model):
            return self._counted(self.remotes.reply(model, messages, params, cancel or threading.Event(),
                                                    min_interval=interval), load_ms=None)
        before = self.pipelines.current("text-generation")
        loaded = self.load(model=model, device=device, caller=caller)
        stream = stream_chat(loaded, messages, params, cancel or threading.Event(), min_interval=interval)
        return self._counted(stream, load_ms=loaded.load_ms if loaded is not before else None)

    def complete(self, *, prompt: str, model: str = "", device: str = "", params: GenerationParams = GenerationParams(),
                 cancel: threading.Event | None = None, caller: Caller = LOCAL) -> Iterator[ChatUpdate]:
        """Stream what follows `prompt`, read as it is, without the chat template (/v1/completions)."""
        if not isinstance(prompt, str) or not prompt:
            raise InvalidParameter("The prompt is empty: send the text to go on from.")
        if len(prompt) > MAX_HISTORY_CHARS:
            raise InvalidParameter(f"The prompt is {len(prompt):,} characters; the limit is {MAX_HISTORY_CHARS:,}.")
        if params.structure is not None and params.structure.calls:
            raise InvalidParameter("Tool calls come with chat: send them to /v1/chat/completions.")
        before = self.pipelines.current("text-generation")
        loaded = self.load(model=model, device=device, caller=caller)
        stream = stream_completion(loaded, prompt, params, cancel or threading.Event(),
                                   min_interval=lambda: update_interval(self._replying))
        return self._counted(stream, load_ms=loaded.load_ms if loaded is not before else None)

    def load(self, *, model: str = "", device: str = "", caller: Caller = LOCAL) -> LoadedPipeline:
        """The model on the device, with the engine options remembered for it."""
        entry = self.access.view(caller).get(self.model_id(model, caller), task="text-generation")
        device = self.devices.resolve(device)
        loaded = self.pipelines.get(entry, device, options=self.resolved(entry, self.options.get(entry.id, device)))
        if self.on_load is not None:
            self.on_load(entry, device)
        return loaded

    @property
    def replying(self) -> int:
        """Replies streaming now."""
        with self._count:
            return self._replying

    def set_options(self, *, model: str = "", device: str = "", options: EngineOptions,
                    caller: Caller = LOCAL) -> LoadedPipeline:
        """Check the options (a draft must exist and share the model's tokenizer), reload the model
        with them once, and remember them for it on that device. A load that fails leaves the old choice in place."""
        entry = self.access.view(caller).get(self.model_id(model, caller), task="text-generation")
        device = self.devices.resolve(device)
        self._check_device(device, options)
        resolved = self.resolved(entry, options)
        loaded = self.pipelines.get(entry, device, options=resolved)
        self.options.set(entry.id, options, device)
        return loaded

    def resolved(self, entry: ModelEntry, options: EngineOptions) -> EngineOptions:
        """The options with the draft's files found, once the draft is checked."""
        if not options.draft_model:
            return options
        if options.draft_model == entry.id:
            raise InvalidParameter(f"'{entry.id}' cannot be its own draft: pick a smaller model with the same tokenizer.")
        if options.draft_model not in self.library:
            raise NotAvailable(f"The draft model '{options.draft_model}' is not in the library; fetch it or pick another.")
        draft = self.library.get(options.draft_model, task="text-generation")
        source = llm_source(draft)
        if source.suffix == ".gguf":  # openvino_genai drafts with an IR only: the one saved beside the GGUF
            save_gguf_ir(draft)
            raise NotAvailable(f"'{draft.id}' is a GGUF; a draft must be an OpenVINO IR. The IR of '{draft.id}' is "
                               "being saved beside it now (about a minute): pick it again then.")
        check_draft(entry, draft)
        return replace(options, draft_path=str(source))

    def _check_device(self, device: str, options: EngineOptions) -> None:
        """A property the device does not take would fail the load with OpenVINO's words: say it in ours."""
        check_device_options(self.devices, device, options)

    def _counted(self, stream: Iterator[ChatUpdate], load_ms: float | None) -> Iterator[ChatUpdate]:
        """The stream, counted among the replies streaming while it is read; a reply that loaded
        the model says how long that took."""
        with self._count:
            self._replying += 1
        try:
            for update in stream:
                if update.metrics and load_ms is not None:
                    update = replace(update, metrics=replace(update.metrics, load_ms=load_ms))
                yield update
        finally:
            with self._count:
                self._replying -= 1
