"""The Vision tab: a conversation about images per browser session, from the core's VisionService."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..access import Caller
from ..engines.pictures import load_picture
from ..engines.remote import is_remote
from ..errors import EmptyMessage, InvalidParameter, UserError
from ..run.vision import DEFAULT_PROMPT, TASK, user_message
from ..services import Services
from .caller import caller_of
from .chat_session import ChatView, Conversation, stream_reply, waiting_text
from .chat_tab import sampling_controls, sampling_params
from .errors import error_html, user_errors
from .pickers import RunTab, model_choices, refresh_picker


def display(messages: list[dict]) -> list[dict]:
    """The Chatbot's view: a user message shows its images, then its text; a reply its metrics."""
    shown = []
    for m in messages:
        if m["role"] == "user":
            shown.append({"role": "user", "content": [{"path": f} for f in m.get("files", [])] + [m["content"]]})
        else:
            content = m["content"] + (f"\n\n<sub>{m['metrics']}</sub>" if m.get("metrics") else "")
            shown.append({"role": "assistant", "content": content})
    return shown


def refresh_vision_models(services: Services, current: str | None, caller: Caller):
    return refresh_picker(services, TASK, current, caller)


NO_MODEL = ("No vision model in the library yet. Find one in the **Hub** tab (task *Vision*, OpenVINO-ready), "
            "or turn a checkpoint into one in the **Convert** tab.")


EMPTY_BOX = {"text": "", "files": []}


@dataclass(frozen=True)
class _Parts:
    """Every component of the tab, as _layout places them."""
    session: gr.State
    chatbot: gr.Chatbot
    box: gr.MultimodalTextbox
    send: gr.Button
    stop: gr.Button
    regenerate: gr.Button
    clear: gr.Button
    status: gr.Markdown
    camera: gr.Image
    settings: tuple  # model, device, then sampling_controls' components: what a reply reads


def build_vision_tab(services: Services) -> RunTab:
    c = _layout(services)
    _wire(services, c)
    return RunTab(model=c.settings[0], pick=lambda current, caller: refresh_vision_models(services, current, caller))


def _layout(services: Services) -> _Parts:
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Vision", height=520, elem_id="vision-chatbot", buttons=["copy", "copy_all"],
                                 placeholder="Add an image (attach, drop or paste one below, or take one with the "
                                             "camera), then ask about it.")
            with gr.Row(equal_height=True):
                box = gr.MultimodalTextbox(value={"text": DEFAULT_PROMPT, "files": []}, file_types=["image"],
                                           file_count="multiple", sources=["upload"], submit_btn=False,
                                           placeholder="Ask about the images…  (Enter sends)", show_label=False,
                                           scale=10, elem_id="vision-input", container=False)
                send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="vision-send")
                stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, elem_id="vision-stop")
            with gr.Row():
                regenerate = gr.Button("↻ Regenerate", size="sm", elem_id="vision-regenerate")
                clear = gr.Button("✕ Clear", size="sm", elem_id="vision-clear")
        with gr.Column(scale=1):
            choices = model_choices(services, TASK)
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model",
                                elem_id="vision-model")
            status = gr.Markdown("" if choices else NO_MODEL, elem_id="vision-status")
            devices = [(d.name, d.id) for d in services.devices.list()]
            device = gr.Dropdown(devices, value=services.devices.default, label="Device", elem_id="vision-device")
            camera = gr.Image(sources=["webcam"], type="filepath", label="Camera: a photo joins the next message",
                              height=200, elem_id="vision-camera")
            sampling = sampling_controls("vision")
    return _Parts(gr.State(Conversation()), chatbot, box, send, stop, regenerate, clear, status, camera,
                  (model, device, *sampling))


def _wire(services: Services, c: _Parts) -> None:
    """The tab's events; each handler returns {component: update}."""
    view = ChatView(c.chatbot, c.box, display)

    def answer(state: Conversation, history: list[dict], user: dict, restore: dict | None, caller: Caller, model_id,
               device_id, *values):
        """`restore`: what the box held when sent (back there on failure); None (regenerating) leaves the box be."""
        def start(cancel):
            return services.vision.reply(messages=history + [user], model=model_id or "", device=device_id or "",
                                         params=sampling_params(*values), cancel=cancel, caller=caller)

        waiting = waiting_text(services, TASK, model_id, device_id, services.vision.model_id, caller)
        keep = gr.skip()
        yield from stream_reply(state, history, user, start, view, waiting,
                                box_sent=keep if restore is None else EMPTY_BOX,
                                box_restore=keep if restore is None else restore,
                                note=lambda metrics: " · ".join([metrics.summary(), *_scaling(user)]))

    @user_errors
    def on_send(state: Conversation, value: dict | None, request: gr.Request, profile: gr.OAuthProfile | None,
                oauth: gr.OAuthToken | None, *options):
        value = value or EMPTY_BOX
        files = list(value.get("files") or [])
        pictures = [load_picture(f) for f in files]
        user = {**user_message(value.get("text") or "", pictures), "files": files}
        if not user["content"]:
            raise EmptyMessage()
        yield from answer(state, state.messages, user, value, caller_of(services.settings, request, profile, oauth),
                          *options)

    @user_errors
    def on_regenerate(state: Conversation, value: dict | None, request: gr.Request, profile: gr.OAuthProfile | None,
                      oauth: gr.OAuthToken | None, *options):
        last = max((i for i, m in enumerate(state.messages) if m["role"] == "user"), default=None)
        if last is None:
            raise InvalidParameter("There is no answer to regenerate yet.")
        yield from answer(state, state.messages[:last], state.messages[last], None,
                          caller_of(services.settings, request, profile, oauth), *options)

    def on_stop(state: Conversation) -> None:
        state.cancel.set()

    def on_clear(state: Conversation):
        state.drop_reply()
        state.messages = []
        return {c.chatbot: [], c.box: {"text": DEFAULT_PROMPT, "files": []}}

    def on_pick(model_id: str | None, device_id: str | None, request: gr.Request, profile: gr.OAuthProfile | None,
                oauth: gr.OAuthToken | None):
        """Load the picked model at once: a model that cannot run says so now, not at the first question."""
        if not model_id:
            yield {c.status: NO_MODEL}
            return
        if is_remote(model_id):
            yield {c.status: "This model runs on a remote server: images go to it with each question."}
            return
        yield {c.status: f"Loading **{model_id}** on {device_id or services.devices.default}…"}
        try:
            loaded = services.vision.load(model=model_id, device=device_id or "",
                                          caller=caller_of(services.settings, request, profile, oauth))
        except UserError as err:
            yield {c.status: error_html(err)}
            return
        yield {c.status: f"✓ **{loaded.entry.id}** is ready on {loaded.device} "
                         f"(loaded in {loaded.load_ms / 1000:.1f} s)."}

    def on_photo(value: dict | None, photo: str | None):
        if not photo:
            return gr.skip()
        value = value or EMPTY_BOX
        return {c.box: {"text": value.get("text") or "", "files": [*(value.get("files") or []), photo]},
                c.camera: None}

    outputs = [c.chatbot, c.box]
    inputs = [c.session, c.box, *c.settings]
    private_event = dict(queue=False, api_visibility="private")
    for trigger in (c.send.click, c.box.submit):
        trigger(on_send, inputs, outputs, api_visibility="private", show_progress="hidden")
    c.regenerate.click(on_regenerate, inputs, outputs, api_visibility="private", show_progress="hidden")
    c.stop.click(on_stop, [c.session], None, **private_event)
    c.clear.click(on_clear, [c.session], outputs, **private_event)
    c.chatbot.clear(on_clear, [c.session], outputs, **private_event)
    model, device = c.settings[:2]
    for picker in (model.input, device.input):
        picker(on_pick, [model, device], c.status, api_visibility="private", show_progress="hidden")
    c.camera.change(on_photo, [c.box, c.camera], [c.box, c.camera], **private_event)


def _scaling(user: dict) -> list[str]:
    """Say so when an image was scaled down before the model saw it."""
    return [f"{p.name} read at {p.size[0]}×{p.size[1]} (from {p.original_size[0]}×{p.original_size[1]})"
            for p in user.get("images", []) if p.scaled]
