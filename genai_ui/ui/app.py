"""build_app(services) -> gr.Blocks. Launching is app.py's business."""

from __future__ import annotations

import gradio as gr

from .. import __version__
from ..services import Services
from ..settings import Settings
from ..tasks import TASKS
from .api import register_api
from .benchmark_tab import build_benchmark_tab
from .caller import caller_of
from .chat_tab import build_chat_tab, refresh_models
from .convert_tab import build_convert_tab, library_choices
from .errors import user_errors
from .hub_tab import build_hub_tab
from .image_tab import build_image_tab, refresh_image_models
from .library_tab import build_library_tab
from .vision_tab import build_vision_tab, refresh_vision_models

CSS = """
#chatbot sub, #vision-chatbot sub { color: var(--body-text-color-subdued); }
#vision-chatbot .message.user img { max-height: 180px; width: auto; object-fit: contain; }
.gu-progress progress { width: 100%; height: 14px; accent-color: var(--color-accent); }
.gu-progress-label { font-variant-numeric: tabular-nums; margin-bottom: 4px; }
.gu-error { color: var(--error-text-color); }
.gu-done { color: var(--body-text-color); }
"""


# Gradio's queue loop checks for new work every 1 ms, which costs an idle server 7% of a
# core here and takes that from the engine while it generates; every 10 ms costs 3% less
# and adds at most 10 ms before a request starts.
QUEUE_POLL_SECONDS = 0.01


# Events waiting in Gradio's queue, all users together; beyond, a visitor is told the queue is
# full instead of waiting without end (heavy work has its own shorter line: work/queue.py).
MAX_QUEUED = 64


def with_queue(demo: gr.Blocks) -> gr.Blocks:
    """Enable the queue as the app runs it: an event runs one at a time unless it says otherwise
    (chat replies run together, up to the engine's batch); the others wait and see their place."""
    demo.queue(default_concurrency_limit=1, max_size=MAX_QUEUED)
    if hasattr(demo._queue, "sleep_when_free"):
        demo._queue.sleep_when_free = QUEUE_POLL_SECONDS
    return demo


def launch_options(settings: Settings, logins: list[tuple[str, str]]) -> dict:
    """What `launch()` takes from the settings, beyond the address: login, upload limit, MCP."""
    return dict(mcp_server=settings.mcp, css=CSS, footer_links=["api", "settings"], auth=logins or None,
                auth_message="genai_ui: sign in with the user and password the operator gave you." if logins else None,
                max_file_size=f"{settings.max_upload_mb}mb")


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="genai_ui", delete_cache=services.settings.delete_cache) as demo:
        gr.Markdown(f"## genai_ui <sub>{__version__}</sub>\nHugging Face models, running on OpenVINO on this machine.")
        with gr.Tabs() as tabs:
            with gr.Tab("Chat", id="chat") as chat_tab:
                chat = build_chat_tab(services)
            with gr.Tab("Vision", id="vision") as vision_tab:
                vision = build_vision_tab(services)
            with gr.Tab("Image", id="image") as image_tab:
                image = build_image_tab(services)
            # the tabs that run models, each opening one from the Hub, Convert and Library tabs
            runners = {"chat": (refresh_models, chat["model"]), "vision": (refresh_vision_models, vision["model"]),
                       "image": (refresh_image_models, image["model"])}
            openers = {t.id: (f"Open in {t.label}", opener(services, t.tab, runners[t.tab][0]),
                              [tabs, runners[t.tab][1]]) for t in TASKS.values()}
            with gr.Tab("Hub", id="hub") as hub_tab:
                hub = build_hub_tab(services, openers)
            with gr.Tab("Convert", id="convert"):
                convert = build_convert_tab(services, hub.session,
                                            {t: label for t, (label, _, _) in openers.items()})
            with gr.Tab("Library", id="library") as library_tab:
                library = build_library_tab(services, openers)
            with gr.Tab("Benchmark", id="benchmark") as benchmark_tab:
                bench = build_benchmark_tab(services)
        register_api(services)

        def chat_models(current, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
            return refresh_models(services, current, caller_of(services.settings, request, profile, oauth))

        refresh_library, library_outputs = library["refresh"]
        private = dict(api_visibility="private", queue=False)
        def vision_models(current, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
            return refresh_vision_models(services, current, caller_of(services.settings, request, profile, oauth))

        def image_models(current, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
            return refresh_image_models(services, current, caller_of(services.settings, request, profile, oauth))

        demo.load(chat_models, chat["model"], chat["model"], **private).then(**chat["engine"], **private)
        chat_tab.select(chat_models, chat["model"], chat["model"], **private).then(**chat["engine"], **private)
        vision_tab.select(vision_models, vision["model"], vision["model"], **private)
        image_tab.select(image_models, image["model"], image["model"], **private)
        library_tab.select(refresh_library, None, library_outputs, **private)
        benchmark_tab.select(chat_models, bench["model"], bench["model"], **private)
        hub.downloaded.then(refresh_library, None, library_outputs, **private)
        convert.done.then(refresh_library, None, library_outputs, **private)
        open_any, open_outputs = any_opener(services, openers)
        convert.open_model.click(open_any, convert.last_id, open_outputs, **private)

        def to_convert(hub_state):
            chosen = hub_state.selected.id if hub_state.selected else ""
            return (gr.Tabs(selected="convert"), gr.Textbox(value=chosen, visible=True),
                    gr.Dropdown(visible=False), "A Hub checkpoint")

        hub.convert.click(to_convert, hub.session, [tabs, convert.repo, convert.local,
                                                          convert.source_kind], **private)
        def library_to_convert(model_id, request: gr.Request, profile: gr.OAuthProfile | None,
                               oauth: gr.OAuthToken | None):
            caller = caller_of(services.settings, request, profile, oauth)
            return (gr.Tabs(selected="convert"), gr.Textbox(visible=False),
                    gr.Dropdown(choices=library_choices(services, caller), value=model_id, visible=True),
                    "A model in my library")

        library["convert"].click(library_to_convert, library["selected"], [tabs, convert.repo, convert.local,
                                                                             convert.source_kind], **private)
        first_visit, inputs, outputs = hub.first_visit
        hub_tab.select(first_visit, inputs, outputs, api_visibility="private", concurrency_limit=4)
    return demo


def any_opener(services: Services, openers: dict):
    """One handler that opens a model in the tab of its task: (fn(model_id), outputs)."""
    outputs = list(dict.fromkeys(c for _, _, task_outputs in openers.values() for c in task_outputs))

    @user_errors
    def open_any(model_id: str, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        caller = caller_of(services.settings, request, profile, oauth)
        _, fn, task_outputs = openers[services.access.get(caller, model_id).task]  # gone meanwhile: it says so
        updates = dict(zip(task_outputs, fn(model_id, request, profile, oauth)))
        return [updates.get(c, gr.skip()) for c in outputs]

    return open_any, outputs


def opener(services: Services, tab: str, refresh):
    """The handler of an "Open in …" button: that tab, its picker on the model (if this caller may see it)."""
    def open_model(model_id: str, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        return gr.Tabs(selected=tab), refresh(services, model_id, caller_of(services.settings, request, profile, oauth))

    return open_model
