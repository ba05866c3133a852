"""build_app(services) -> gr.Blocks. Launching is app.py's business."""

from __future__ import annotations

import os
from dataclasses import dataclass

import gradio as gr

from .. import __version__
from ..services import Services
from ..tasks import TASKS
from ..v1.routes import V1
from .api import register_api
from .api_tab import ApiTab, build_api_tab
from .benchmark_tab import build_benchmark_tab
from .caller import caller_of
from .chat_tab import ChatTab, build_chat_tab
from .convert_tab import ConvertTab, build_convert_tab, library_choices
from .documents_tab import HEAD, build_documents_tab
from .errors import user_errors
from .hub_tab import HubTab, build_hub_tab
from .image_tab import build_image_tab
from .library_tab import LibraryTab, build_library_tab
from .pickers import RunTab
from .vision_tab import build_vision_tab

CSS = """
#chatbot sub, #vision-chatbot sub { color: var(--body-text-color-subdued); }
#vision-chatbot .message.user img { max-height: 180px; width: auto; object-fit: contain; }
.gu-progress progress { width: 100%; height: 14px; accent-color: var(--color-accent); }
.gu-progress-label { font-variant-numeric: tabular-nums; margin-bottom: 4px; }
.gu-error { color: var(--error-text-color); }
#doc-sources details { margin: 4px 0; } #doc-sources blockquote { white-space: pre-wrap; margin: 4px 0 8px 12px; }
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
    lazy_session_configs()
    return demo


# The Gradio release whose SessionState.__init__ lazy_session_configs() restates (requirements.txt pins it)
SESSION_STATE_OF = "6.31.0"


def lazy_session_configs() -> bool:
    """Gradio starts every new session (each call of its HTTP API is one, and each page opened) by making the
    config of every component of the page, kept for deep links: 26 ms for this page on 2 cores, before the
    event's own work starts, so 26 ms more before a reply's first token. Here each component's config is made
    when it is first read (the event's own inputs and outputs), the same config as Gradio's at that moment.
    Only for the Gradio release whose SessionState it restates: another release keeps its own (False)."""
    from gradio import state_holder

    if getattr(state_holder.SessionState, "_genai_ui_lazy", False):
        return True
    if gr.__version__ != SESSION_STATE_OF:
        return False

    def __init__(self, blocks: gr.Blocks) -> None:  # state_holder.SessionState.__init__, its configs lazy
        from copy import copy

        self.blocks_config = copy(blocks.default_config)
        ids = [k for k in self.blocks_config.blocks if k in blocks.blocks]
        self.config_values = _LazyConfigs(self.blocks_config, ids)
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600

    state_holder.SessionState.__init__ = __init__
    state_holder.SessionState._genai_ui_lazy = True
    return True


class _LazyConfigs(dict):
    """SessionState.config_values: each block's config made when first read; all of them, in the blocks'
    order, when the whole is read."""

    def __init__(self, blocks_config, ids: list[int]) -> None:
        super().__init__()
        self._blocks_config, self._order, self._pending = blocks_config, ids, set(ids)
        self._blocks = {key: blocks_config.blocks[key] for key in ids}  # as they were when the session began

    def _make(self, key: int) -> dict:
        self._pending.discard(key)
        config = self._blocks_config.config_for_block(key, [], self._blocks[key])
        dict.__setitem__(self, key, config)
        return config

    def _fill(self) -> None:
        if not self._pending:
            return
        made = {key: dict.__getitem__(self, key) if dict.__contains__(self, key) else self._make(key)
                for key in self._order if dict.__contains__(self, key) or key in self._pending}
        rest = {key: value for key, value in dict.items(self) if key not in made}
        dict.clear(self)
        dict.update(self, made)
        dict.update(self, rest)
        self._pending.clear()

    def __missing__(self, key: int) -> dict:
        if key in self._pending:
            return self._make(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._pending

    def __setitem__(self, key: int, value: dict) -> None:
        self._pending.discard(key)
        dict.__setitem__(self, key, value)

    def get(self, key: int, default=None):
        return self[key] if key in self else default

    def __iter__(self):
        self._fill()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._fill()
        return dict.__len__(self)

    def keys(self):
        self._fill()
        return dict.keys(self)

    def values(self):
        self._fill()
        return dict.values(self)

    def items(self):
        self._fill()
        return dict.items(self)


def launch_options(services: Services, logins: list[tuple[str, str]]) -> dict:
    """What `launch()` takes from the settings, beyond the address: login, upload limit, MCP, and the
    OpenAI-compatible /v1 routes (before Gradio's own, on the same server)."""
    settings = services.settings
    return dict(mcp_server=settings.mcp, css=CSS, head=HEAD, footer_links=["api", "settings"], auth=logins or None,
                app_kwargs={"routes": V1(services).routes()},
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
            with gr.Tab("Documents", id="documents") as documents_tab:
                documents = build_documents_tab(services)
            # the tabs that run models, each opening one from the Hub, Convert and Library tabs
            runners = {"chat": chat, "vision": vision, "image": image, "documents": documents.run}
            openers = {t.id: (f"Open in {t.label}", opener(services, tabs, t.tab, runners[t.tab]),
                              [tabs, runners[t.tab].model]) for t in TASKS.values()}
            with gr.Tab("Hub", id="hub") as hub_tab:
                hub = build_hub_tab(services, openers)
            with gr.Tab("Convert", id="convert"):
                convert = build_convert_tab(services, hub.session,
                                            {t: label for t, (label, _, _) in openers.items()})
            with gr.Tab("Library", id="library") as library_tab:
                library = build_library_tab(services, openers)
            with gr.Tab("Benchmark", id="benchmark") as benchmark_tab:
                bench = build_benchmark_tab(services)
            with gr.Tab("API", id="api") as api_tab:
                api = build_api_tab(services, api_tab)
        register_api(services)
        page = _Page(tabs, openers, chat, hub, convert, library, api)
        _wire(services, page, demo, {chat_tab: chat, vision_tab: vision, image_tab: image, benchmark_tab: bench,
                                     documents_tab: documents.run}, hub_tab, library_tab)
        show, inputs, outputs = documents.show  # the collections as they are now, for whoever shows the tab
        documents_tab.select(show, inputs, outputs, api_visibility="private", queue=False)
    return demo


@dataclass(frozen=True)
class _Page:
    """The tabs' parts that the page ties together."""
    tabs: gr.Tabs
    openers: dict  # task -> (button label, fn(model_id) -> updates, outputs): opens a model in the tab of its task
    chat: ChatTab
    hub: HubTab
    convert: ConvertTab
    library: LibraryTab
    api: ApiTab


def _wire(services: Services, page: _Page, demo: gr.Blocks, pickers: dict[gr.Tab, RunTab], hub_tab: gr.Tab,
          library_tab: gr.Tab) -> None:
    """What ties the tabs together: the pickers follow the library, and a model goes from tab to tab.
    Each handler returns {component: update}."""
    tabs, chat, hub, convert, library = page.tabs, page.chat, page.hub, page.convert, page.library
    private = dict(api_visibility="private", queue=False)
    chat_models = chat.refresh(services)
    demo.load(chat_models, chat.model, chat.model, **private).then(**chat.engine.event(), **private)
    for tab, runner in pickers.items():  # a tab shown lists the models as they are now, for this caller
        shown = tab.select(runner.refresh(services), runner.model, runner.model, **private)
        if runner is chat:
            shown.then(**chat.engine.event(), **private)
    library_tab.select(library.refresh, None, list(library.shows), **private)
    page.api.tab.select(page.api.fill, None, page.api.outputs, **private)
    hub.downloaded.then(library.refresh, None, list(library.shows), **private)
    convert.done.then(library.refresh, None, list(library.shows), **private)
    open_any, open_outputs = any_opener(services, page.openers)
    convert.open_model.click(open_any, convert.last_id, open_outputs, **private)
    sources = [tabs, convert.repo, convert.local, convert.source_kind]

    def to_convert(hub_state):
        chosen = hub_state.selected.id if hub_state.selected else ""
        return {tabs: gr.Tabs(selected="convert"), convert.repo: gr.Textbox(value=chosen, visible=True),
                convert.local: gr.Dropdown(visible=False), convert.source_kind: "A Hub checkpoint"}

    def library_to_convert(model_id, request: gr.Request, profile: gr.OAuthProfile | None,
                           oauth: gr.OAuthToken | None):
        caller = caller_of(services.settings, request, profile, oauth)
        return {tabs: gr.Tabs(selected="convert"), convert.repo: gr.Textbox(visible=False),
                convert.local: gr.Dropdown(choices=library_choices(services, caller), value=model_id, visible=True),
                convert.source_kind: "A model in my library"}

    hub.convert.click(to_convert, hub.session, sources, **private)
    library.convert.click(library_to_convert, library.selected, sources, **private)
    first_visit, inputs, outputs = hub.first_visit
    hub_tab.select(first_visit, inputs, outputs, api_visibility="private", concurrency_limit=4)


def any_opener(services: Services, openers: dict):
    """One handler that opens a model in the tab of its task: (fn(model_id), outputs)."""
    outputs = list(dict.fromkeys(c for _, _, task_outputs in openers.values() for c in task_outputs))

    @user_errors
    def open_any(model_id: str, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        caller = caller_of(services.settings, request, profile, oauth)
        _, fn, _ = openers[services.access.get(caller, model_id).task]  # gone meanwhile: it says so
        return fn(model_id, request, profile, oauth)

    return open_any, outputs


def opener(services: Services, tabs: gr.Tabs, tab: str, runner: RunTab):
    """The handler of an "Open in …" button: that tab, its picker on the model (if this caller may see it)."""
    def open_model(model_id: str, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        return {tabs: gr.Tabs(selected=tab),
                runner.model: runner.pick(model_id, caller_of(services.settings, request, profile, oauth))}

    return open_model
