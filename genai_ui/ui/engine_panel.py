"""The Chat tab's Advanced panel: how the engine runs the picked model, remembered per model and device.

Applying reloads the model once, with a message; the messages after that run on it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from ..access import check_engine_options
from ..engines.options import DQ_GROUP_SIZES, INFERENCE_PRECISIONS, KV_PRECISIONS, EngineOptions, precisions
from ..engines.remote import is_remote
from ..errors import InvalidParameter, UserError
from ..services import Services
from .caller import caller_of
from .errors import user_errors

ENGINES = [("openvino_genai, batching: serves many replies at once", "batching"),
           ("openvino_genai, stateful: one reply at a time; its compiled model is cached", "stateful"),
           ("Optimum Intel engine: optimum-intel's OVModelForCausalLM (widest model coverage, slower)", "optimum")]
SPEEDUPS = [("Off", "off"), ("Speculative decoding (draft model)", "draft"), ("Prompt lookup", "lookup")]


@dataclass(frozen=True)
class EnginePanel:
    """What the page needs of the panel: the handler that shows the picked model's options, run when the page
    opens and when the Chat tab is shown (the options may have changed meanwhile)."""
    show: Callable  # (model id, device, request, profile, oauth) -> {component: update}
    model: gr.Dropdown
    device: gr.Dropdown
    status: gr.Markdown
    controls: tuple

    def event(self) -> dict:
        """The keywords of an event that runs `show`: `.then(**panel.event(), ...)`."""
        return dict(fn=self.show, inputs=[self.model, self.device], outputs=[*self.controls, self.status])


def build_engine_panel(services: Services, model: gr.Dropdown, device: gr.Dropdown) -> EnginePanel:
    with gr.Accordion("Advanced: engine", open=False, elem_id="chat-advanced"):
        engine = gr.Radio(ENGINES, value="batching", label="Engine", elem_id="engine-kind")
        speedup = gr.Radio(SPEEDUPS, value="off", label="Propose tokens to check in one step",
                           elem_id="engine-speedup",
                           info="Greedy answers stay the same; a step may then give several tokens.")
        draft = gr.Dropdown([], label="Draft model (smaller, same tokenizer)", visible=False, elem_id="engine-draft")
        tokens = gr.Slider(1, 16, value=5, step=1, label="Tokens proposed per step", visible=False,
                           elem_id="engine-tokens")
        with gr.Row():
            precision = gr.Dropdown([("Device default", "")] + [(p, p) for p in INFERENCE_PRECISIONS], value="",
                                    label="Inference precision", elem_id="engine-precision",
                                    info="What the device computes in; the fastest differs from CPU to CPU.")
            threads = gr.Number(0, label="Threads (0: all cores)", precision=0, minimum=0, maximum=1024,
                                elem_id="engine-threads")
        kv = gr.Dropdown([("Device default", "")] + [(p, p) for p in KV_PRECISIONS], value="",
                         label="KV-cache precision", elem_id="engine-kv")
        dq = gr.Dropdown([("Device default", -1), ("Off", 0)] + [(str(g), g) for g in DQ_GROUP_SIZES if g],
                         value=-1, label="Dynamic quantization group size", elem_id="engine-dq")
        allowed = services.settings.engine_options_allowed
        apply = gr.Button("Apply and reload", size="sm", elem_id="engine-apply", interactive=allowed)
        if not allowed:
            gr.Markdown("On this shared deployment the engine options are its operator's: a change would reload "
                        "the model for everyone (`--allow-engine-options` lets visitors change them).",
                        elem_id="engine-operator")
        status = gr.Markdown(elem_id="engine-status")
    controls = [engine, speedup, draft, tokens, precision, threads, kv, dq]

    def show(model_id: str | None, device_id: str | None, request: gr.Request, profile: gr.OAuthProfile | None,
             oauth: gr.OAuthToken | None):
        """The options remembered for the picked model on the picked device, and the drafts it can use."""
        caller = caller_of(services.settings, request, profile, oauth)
        notice = f"⚠ {services.chat.options.notice}\n\n" if services.chat.options.notice else ""
        if is_remote(model_id or ""):
            return {status: f"{notice}This model runs on a remote server: how it runs is that server's to set."}
        try:
            model_id = services.chat.access.view(caller).get(services.chat.model_id(model_id or "", caller)).id
            device_id = services.devices.resolve(device_id or "")
        except UserError:
            return {status: notice}
        options = services.chat.options.get(model_id, device_id)
        listed = precisions(services.devices, device_id)
        drafts = [(e.label(), e.id) for e in services.access.list(caller, "text-generation") if e.id != model_id]
        speed = "draft" if options.draft_model else "lookup" if options.prompt_lookup else "off"
        return {engine: gr.update(value=options.engine), speedup: gr.update(value=speed),
                draft: gr.update(choices=drafts, value=options.draft_model or None, visible=speed == "draft"),
                tokens: gr.update(value=options.assistant_tokens, visible=speed != "off"),
                precision: gr.update(choices=[("Device default", "")] + [(p, p) for p in listed],
                                     value=options.inference_precision),
                threads: gr.update(value=options.threads),
                kv: gr.update(value=options.kv_cache_precision), dq: gr.update(value=options.dq_group_size),
                status: f"{notice}Remembered for **{model_id}** on {device_id}: {options.describe()}."}

    def on_speedup(choice: str):
        return {draft: gr.update(visible=choice == "draft"), tokens: gr.update(visible=choice != "off")}

    @user_errors
    def on_apply(model_id, device_id, kind, speed, draft_id, n_tokens, inference_precision, n_threads, kv_precision,
                 group, request: gr.Request):
        caller = caller_of(services.settings, request)
        check_engine_options(services.settings, caller)
        options = EngineOptions(draft_model=(draft_id or "") if speed == "draft" else "",
                                assistant_tokens=int(n_tokens), prompt_lookup=speed == "lookup",
                                kv_cache_precision=kv_precision or "", dq_group_size=int(group),
                                engine=kind, inference_precision=inference_precision or "", threads=int(n_threads or 0))
        if speed == "draft" and not draft_id:
            raise InvalidParameter("Pick a draft model: a smaller model with the same tokenizer.")
        name = services.chat.model_id(model_id or "", caller)
        yield f"Reloading **{name}** with {options.describe()}…"
        loaded = services.chat.set_options(model=name, device=device_id or "", options=options, caller=caller)
        yield (f"✓ **{loaded.entry.id}** reloaded on {loaded.device} in {loaded.load_ms / 1000:.1f} s with "
               f"{options.describe()}. Remembered for this model on {loaded.device}.")

    model.change(show, [model, device], [*controls, status], queue=False, api_visibility="private")
    device.change(show, [model, device], [*controls, status], queue=False, api_visibility="private")
    speedup.change(on_speedup, speedup, [draft, tokens], queue=False, api_visibility="private")
    apply.click(on_apply, [model, device, *controls], status, api_visibility="private", show_progress="minimal")
    return EnginePanel(show, model, device, status, tuple(controls))
