"""The Chat tab: a conversation per browser session, streamed from the core's ChatService."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import gradio as gr

from ..access import NOBODY, Caller
from ..engines.llm import GenerationParams
from ..engines.optimum import LABEL as OPTIMUM_LABEL
from ..engines.optimum import needs_optimum
from ..engines.structured import Structure, json_reply
from ..errors import EmptyMessage, InvalidParameter, UserError
from ..run.conversation import split_last_turn
from ..services import Services
from .caller import caller_of
from .chat_session import ChatView, Conversation, stream_reply, waiting_text
from .endpoints import CHAT_EVENTS
from .engine_panel import EnginePanel, build_engine_panel
from .errors import user_errors
from .pickers import RunTab

EXAMPLES = ("What is the capital of France?", "Write a haiku about the sea.",
            "Explain what a neural network is in two sentences.")
SCHEMA_EXAMPLE = json.dumps({"type": "object", "properties": {"answer": {"type": "string"},
                                                              "confidence": {"type": "number"}},
                             "required": ["answer"]}, indent=2)


def display(messages: list[dict]) -> list[dict]:
    """The Chatbot's view: each reply with its metrics line under it."""
    shown = []
    for m in messages:
        content = m["content"]
        if m.get("metrics"):
            content += f"\n\n<sub>{m['metrics']}</sub>"
        shown.append({"role": m["role"], "content": content})
    return shown


def model_choices(services: Services, caller: Caller = NOBODY) -> list[tuple[str, str]]:  # (label, id)
    """The library's chat models this caller may use, then those of the remote servers (--remote)."""
    local = [(e.label() + (f" · {OPTIMUM_LABEL}" if e.format == "openvino" and needs_optimum(e.load_path) else ""),
              e.id) for e in services.access.list(caller, "text-generation")]
    return local + [(m.label(), m.id) for m in services.remotes.list("text-generation")]


@dataclass(frozen=True)
class ChatTab(RunTab):
    """What the rest of the page needs of the Chat tab: its picker, and the engine panel that shows the
    picked model's options."""
    engine: EnginePanel


@dataclass(frozen=True)
class _Parts:
    """Every component of the tab, as _layout places them."""
    session: gr.State
    chatbot: gr.Chatbot
    message: gr.Textbox
    send: gr.Button
    stop: gr.Button
    regenerate: gr.Button
    undo: gr.Button
    clear: gr.Button
    settings: tuple  # model, device, system prompt, then sampling_controls' components: what a reply reads
    engine: EnginePanel


def build_chat_tab(services: Services) -> ChatTab:
    c = _layout(services)
    _wire(services, c)
    return ChatTab(model=c.settings[0], pick=lambda current, caller: refresh_models(services, current, caller),
                   engine=c.engine)


def _layout(services: Services) -> _Parts:
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
            model = gr.Dropdown(choices, value=default_model(services, choices), label="Model",
                                elem_id="chat-model")
            devices = [(d.name, d.id) for d in services.devices.list()]
            device = gr.Dropdown(devices, value=services.devices.default, label="Device", elem_id="chat-device")
            system_prompt = gr.Textbox(label="System prompt", lines=3, placeholder="You are a helpful assistant.")
            sampling = sampling_controls("chat")
            with gr.Accordion("JSON output", open=False, elem_id="chat-json"):
                json_on = gr.Checkbox(False, label="Reply in JSON", elem_id="chat-json-on",
                                      info="The engine holds every reply to the schema: it always parses.")
                schema = gr.Code(SCHEMA_EXAMPLE, language="json", label="JSON Schema (empty: any JSON object)",
                                 lines=6, elem_id="chat-json-schema")
            engine = build_engine_panel(services, model, device)
    return _Parts(gr.State(Conversation()), chatbot, message, send, stop, regenerate, undo, clear,
                  (model, device, system_prompt, json_on, schema, *sampling), engine)


def _wire(services: Services, c: _Parts) -> None:
    """The tab's events; each handler returns {component: update}."""
    view = ChatView(c.chatbot, c.message, display)

    def answer(state: Conversation, history: list[dict], text: str, caller: Caller, model_id, device_id, system,
               json_on, schema, *sampling):
        params = replace(sampling_params(*sampling), structure=json_output(json_on, schema))

        def start(cancel):
            return services.chat.reply(message=text, history=history, model=model_id or "", device=device_id or "",
                                       system_prompt=system or "", params=params, cancel=cancel, caller=caller)

        waiting = waiting_text(services, "text-generation", model_id, device_id, services.chat.model_id, caller)
        yield from stream_reply(state, history, {"role": "user", "content": text}, start, view, waiting,
                                box_sent="", box_restore=text)

    @user_errors
    def on_send(state: Conversation, text: str, request: gr.Request, profile: gr.OAuthProfile | None,
                oauth: gr.OAuthToken | None, *options):
        if not text or not text.strip():
            raise EmptyMessage()
        yield from answer(state, state.messages, text, caller_of(services.settings, request, profile, oauth), *options)

    @user_errors
    def on_regenerate(state: Conversation, text: str, request: gr.Request, profile: gr.OAuthProfile | None,
                      oauth: gr.OAuthToken | None, *options):
        split = split_last_turn(state.messages)
        if split is None:
            raise InvalidParameter("There is no reply to regenerate yet.")
        before, last = split
        yield from answer(state, before, last, caller_of(services.settings, request, profile, oauth), *options)

    def on_stop(state: Conversation) -> None:
        state.cancel.set()

    def on_undo(state: Conversation, text: str):
        split = split_last_turn(state.messages)
        state.drop_reply()
        if split is None:
            return {c.chatbot: display(state.messages), c.message: text}
        state.messages = split[0]
        return {c.chatbot: display(state.messages), c.message: split[1]}

    def on_clear(state: Conversation):
        state.drop_reply()
        state.messages = []
        return {c.chatbot: [], c.message: ""}

    outputs = [c.chatbot, c.message]
    inputs = [c.session, c.message, *c.settings]
    private_event = dict(queue=False, api_visibility="private")
    replying = dict(api_visibility="private", show_progress="hidden", **CHAT_EVENTS)
    for trigger in (c.send.click, c.message.submit):
        trigger(on_send, inputs, outputs, **replying)
    c.regenerate.click(on_regenerate, inputs, outputs, **replying)
    c.stop.click(on_stop, [c.session], None, **private_event)
    c.undo.click(on_undo, [c.session, c.message], outputs, **private_event)
    c.clear.click(on_clear, [c.session], outputs, **private_event)
    c.chatbot.clear(on_clear, [c.session], outputs, **private_event)  # its own bin icon
    c.chatbot.example_select(_example_text, None, c.message, **private_event) \
        .then(on_send, inputs, outputs, api_visibility="private", show_progress="hidden")


def refresh_models(services: Services, current: str | None, caller: Caller):
    """The model picker's choices as the library holds them now for `caller` (it changes while the app runs)."""
    choices = model_choices(services, caller)
    ids = [value for _, value in choices]
    return gr.Dropdown(choices=choices, value=current if current in ids else default_model(services, choices, caller))


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


def json_output(on: bool, schema: str | None) -> Structure | None:
    """The JSON panel's choice: the schema written in it, or any JSON object when it is empty."""
    if not on:
        return None
    return json_reply(schema if schema and schema.strip() else '{"type": "object"}', "schema")


def sampling_params(max_new_tokens, temperature, top_p, top_k, repetition_penalty, seed) -> GenerationParams:
    return GenerationParams(int(max_new_tokens), float(temperature), float(top_p), int(top_k),
                            float(repetition_penalty), int(seed if seed is not None else -1))


def default_model(services: Services, choices: list[tuple[str, str]], caller: Caller = NOBODY) -> str | None:
    try:
        return services.chat.model_id("", caller)
    except UserError:
        return choices[0][1] if choices else None
