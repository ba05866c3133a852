"""What the Chat and Vision tabs share: a session's conversation, and streaming a reply into it."""

from __future__ import annotations

import threading
from contextlib import closing
from dataclasses import dataclass
from typing import Callable, Iterator

import gradio as gr

from ..engines.llm import ChatMetrics, ChatUpdate
from ..errors import UserError
from ..services import Services


class Conversation:
    """One browser session's messages. It lives in gr.State, which gives each session its own
    deep copy, so no two sessions ever share it."""

    def __init__(self, messages: list[dict] | None = None) -> None:
        self.messages: list[dict] = messages or []  # assistant messages may carry "metrics"
        self.cancel = threading.Event()  # Stop: end the reply, keep what came
        self.epoch = 0  # Undo and Clear move it on: a reply begun before them is dropped

    def __deepcopy__(self, memo) -> "Conversation":  # an Event cannot be deep-copied
        return Conversation([dict(m) for m in self.messages])

    def drop_reply(self) -> None:
        """A reply on its way is stopped and will not be kept (Undo, Clear)."""
        self.epoch += 1
        self.cancel.set()


@dataclass(frozen=True)
class ChatView:
    """Where a conversation is shown: the Chatbot, the box the message is typed in, and how messages look there."""
    chatbot: gr.Chatbot
    box: gr.components.Component
    display: Callable[[list[dict]], list]


def stream_reply(state: Conversation, history: list[dict], user: dict,
                 start: Callable[[threading.Event], Iterator[ChatUpdate]], view: ChatView,
                 waiting: str, box_sent, box_restore, note: Callable[[ChatMetrics], str] = ChatMetrics.summary):
    """Yield {chatbot, box} updates while the reply to `user` on top of `history` streams; commit
    both only when it is done. `start(cancel)` begins the stream; `box_sent` is the box's value once
    sent, `box_restore` its value back after a failure (nothing is lost); `note` the line under the reply."""
    chatbot, box, display = view.chatbot, view.box, view.display
    state.cancel = threading.Event()
    epoch = state.epoch
    try:
        shown = display(history + [user])
        yield {chatbot: shown + [{"role": "assistant", "content": waiting}], box: box_sent}
        stream = start(state.cancel)
        with closing(stream):  # leaving early closes the stream, which stops the engine
            for update in stream:
                if state.epoch != epoch:
                    break  # undone or cleared meanwhile
                reply = {"role": "assistant", "content": update.text}
                if update.metrics:
                    reply["metrics"] = note(update.metrics)
                yield {chatbot: shown + display([reply])}
        if state.epoch != epoch:
            # show the undone or cleared conversation, not an update that was still on its way
            yield {chatbot: display(state.messages)}
            return
        state.messages = history + [user, reply]
    except Exception:
        if state.epoch != epoch:
            yield {chatbot: display(state.messages)}
            return
        yield {chatbot: display(state.messages), box: box_restore}
        raise  # the handler's user_errors says it


def waiting_text(services: Services, task: str, model_id: str, device_id: str, default_model, caller) -> str:
    """What the reply shows before its first word: a note when the model loads first."""
    try:
        wanted = (services.access.get(caller, default_model(model_id or "", caller), task=task).id,
                  services.devices.resolve(device_id or ""))
    except UserError:
        return "…"  # the error is about to be shown; no loading message before it
    return "…" if wanted in services.pipelines.loaded(task) else "*Loading the model (first use)…*"
