"""The Chat tab: a conversation per browser session, streamed from the core's ChatService."""

from __future__ import annotations

import threading
from contextlib import closing

import gradio as gr

from ..conversation import split_last_turn
from ..engines.chat import GenerationParams
from ..errors import EmptyMessage, UserError
from ..services import Services
from .errors import to_gr_error


class ChatSession:
    """One browser session's chat. It lives in gr.State, which gives each session its own
    deep copy, so no two sessions ever share it."""

    def __init__(self, messages: list[dict] | None = None) -> None:
        self.messages: list[dict] = messages or []  # assistant messages may carry "metrics"
        self.cancel = threading.Event()  # Stop: end the reply, keep what came
        self.epoch = 0  # Undo and Clear move it on: a reply begun before them is dropped

    def __deepcopy__(self, memo) -> "ChatSession":  # an Event cannot be deep-copied
        return ChatSession([dict(m) for m in self.messages])


EXAMPLES = ("What is the capital of France?", "Write a haiku about the sea.",
            "Explain what a neural network is in two sentences.")


def display(messages: list[dict]) -> list[dict]:
    """The Chatbot's view: each reply with its metrics line under it."""
    shown = []
    for m in messages:
        content = m["content"]
        if m.get("metrics"):
            content += f"\n\n<sub>{m['metrics']}</sub>"
        shown.append({"role": m["role"], "content": content})
    return shown


def model_choices(services: Services) -> list[tuple[str, str]]:  # (label, id)
    return [(e.label(), e.id) for e in services.library.list("text-generation")]


def build_chat_tab(services: Services) -> dict:
    session = gr.State(ChatSession())
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Chat", height=520, elem_id="chatbot", buttons=["copy", "copy_all"],
                                 placeholder="Ask the model anything. It runs on this machine, with OpenVINO.",
                                 examples=[{"text": t} for t in EXAMPLES])
            with gr.Row(equal_height=True):
                message = gr.Textbox(placeholder="Ask anything…  (Enter sends)", show_label=False, scale=10,
                                     elem_id="chat-input", autofocus=True, container=False)
                send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="chat-send")
                stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, elem_id="chat-stop")
            with gr.Row():
                regenerate = gr.Button("↻ Regenerate", size="sm", elem_id="chat-regenerate")
                undo = gr.Button("↶ Undo", size="sm", elem_id="chat-undo")
                clear = gr.Button("✕ Clear", size="sm", elem_id="chat-clear")
        with gr.Column(scale=1):
            choices = model_choices(services)
            model = gr.Dropdown(choices, value=_default_model(services, choices), label="Model",
                                elem_id="chat-model")
            devices = [(d.name, d.id) for d in services.devices.list()]
            device = gr.Dropdown(devices, value=services.devices.default, label="Device", elem_id="chat-device")
            system_prompt = gr.Textbox(label="System prompt", lines=3, placeholder="You are a helpful assistant.")
            sampling = sampling_controls("chat")

    settings = [model, device, system_prompt, *sampling]

    def answer(state: ChatSession, history: list[dict], text: str, model_id, device_id, system, *sampling):
        """Stream a reply to `text` on top of `history`; commit both only when done."""
        state.cancel = threading.Event()
        epoch = state.epoch
        try:
            params = sampling_params(*sampling)
            user = {"role": "user", "content": text}
            shown = display(history) + [user]
            waiting = "…" if _is_loaded(services, model_id, device_id) else "*Loading the model (first use)…*"
            yield shown + [{"role": "assistant", "content": waiting}], ""
            stream = services.chat.reply(message=text, history=history, model=model_id or "", device=device_id or "",
                                         system_prompt=system or "", params=params, cancel=state.cancel)
            with closing(stream):  # leaving early closes the stream, which stops the engine
                for update in stream:
                    if state.epoch != epoch:
                        break  # undone or cleared meanwhile
                    reply = {"role": "assistant", "content": update.text}
                    if update.metrics:
                        reply["metrics"] = update.metrics.summary()
                    yield shown + display([reply]), ""
            if state.epoch != epoch:
                # show the undone or cleared chat, not an update that was still on its way
                yield display(state.messages), gr.skip()
                return
            state.messages = history + [user, reply]
        except Exception as err:
            if state.epoch != epoch:
                yield display(state.messages), gr.skip()
                return
            # nothing is lost: the conversation stays as it was and the message goes back in the box
            yield display(state.messages), text
            raise to_gr_error(err) from None

    def on_send(state: ChatSession, text: str, *options):
        if not text or not text.strip():
            raise to_gr_error(EmptyMessage())
        yield from answer(state, state.messages, text, *options)

    def on_regenerate(state: ChatSession, text: str, *options):
        split = split_last_turn(state.messages)
        if split is None:
            raise gr.Error("There is no reply to regenerate yet.", print_exception=False)
        before, last = split
        yield from answer(state, before, last, *options)

    def on_stop(state: ChatSession) -> None:
        state.cancel.set()

    def on_undo(state: ChatSession, text: str):
        split = split_last_turn(state.messages)
        state.epoch += 1
        state.cancel.set()
        if split is None:
            return display(state.messages), text
        state.messages = split[0]
        return display(state.messages), split[1]

    def on_clear(state: ChatSession):
        state.epoch += 1
        state.cancel.set()
        state.messages = []
        return [], ""

    outputs = [chatbot, message]
    for trigger in (send.click, message.submit):
        trigger(on_send, [session, message, *settings], outputs, api_visibility="private", show_progress="hidden")
    regenerate.click(on_regenerate, [session, message, *settings], outputs, api_visibility="private",
                     show_progress="hidden")
    stop.click(on_stop, [session], None, queue=False, api_visibility="private")
    undo.click(on_undo, [session, message], outputs, queue=False, api_visibility="private")
    clear.click(on_clear, [session], outputs, queue=False, api_visibility="private")
    chatbot.clear(on_clear, [session], outputs, queue=False, api_visibility="private")  # its own bin icon
    chatbot.example_select(_example_text, None, message, queue=False, api_visibility="private") \
        .then(on_send, [session, message, *settings], outputs, api_visibility="private", show_progress="hidden")
    return {"model": model, "chatbot": chatbot}


def refresh_models(services: Services, current: str | None):
    """The model picker's choices as the library holds them now (it changes while the app runs)."""
    choices = model_choices(services)
    ids = [value for _, value in choices]
    return gr.Dropdown(choices=choices, value=current if current in ids else _default_model(services, choices))


def _example_text(evt: gr.SelectData) -> str:
    return evt.value["text"]


def sampling_controls(prefix: str) -> list:
    """The sampling settings every generating tab offers, in GenerationParams' order."""
    with gr.Accordion("Sampling", open=False, elem_id=f"{prefix}-sampling"):
        controls = [
            gr.Slider(1, 4096, value=512, step=1, label="Max new tokens", elem_id=f"{prefix}-max-new-tokens"),
            gr.Slider(0.0, 2.0, value=0.7, step=0.05, label="Temperature (0: greedy)", elem_id=f"{prefix}-temperature"),
            gr.Slider(0.01, 1.0, value=0.9, step=0.01, label="Top-p"),
            gr.Slider(0, 200, value=50, step=1, label="Top-k (0: off)"),
            gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Repetition penalty"),
            gr.Number(value=-1, precision=0, label="Seed (-1: random)", elem_id=f"{prefix}-seed"),
        ]
    return controls


def sampling_params(max_new_tokens, temperature, top_p, top_k, repetition_penalty, seed) -> GenerationParams:
    return GenerationParams(int(max_new_tokens), float(temperature), float(top_p), int(top_k),
                            float(repetition_penalty), int(seed if seed is not None else -1))


def _is_loaded(services: Services, model_id: str, device_id: str) -> bool:
    try:
        wanted = (services.chat.model_id(model_id or ""), services.devices.resolve(device_id or ""))
    except UserError:
        return True  # the error is about to be shown; no loading message before it
    return wanted in services.pipelines.loaded()


def _default_model(services: Services, choices: list[tuple[str, str]]) -> str | None:
    try:
        return services.chat.model_id()
    except UserError:
        return choices[0][1] if choices else None
