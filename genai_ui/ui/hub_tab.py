"""The Hub tab: search the Hub, judge a model before fetching it, fetch it into the library."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr

from ..errors import HubUnavailable, InvalidParameter, UserError
from ..hub.client import ModelDetails, ModelSummary, details
from ..hub.downloads import recommended_gguf
from ..services import Services
from ..tasks import TASKS, label
from ..work.background import Finished
from ..work.queue import Waiting
from .caller import caller_of
from .endpoints import line_events
from .errors import error_html, user_errors
from .format import human_bytes, human_count, progress_bar

TASK_CHOICES = [("All", "")] + [(f"{t.label} ({t.id})", t.id) for t in TASKS.values()]
SORT_CHOICES = [("Most downloads", "downloads"), ("Most likes", "likes"), ("Trending", "trending"),
                ("Recently updated", "recent")]
COLUMNS = ["Model", "Task", "Downloads", "Likes", "Updated", "Runs here", "fp16", "int8", "int4"]
PREFLIGHT_COLUMNS = ["Precision", "How", "Download", "Disk", "Memory to convert", "Memory to run", "Speed here",
                     "Fits here"]
TYPING_PAUSE = 0.4  # seconds without a keystroke before the search runs
CARD_LIMIT = 30_000  # characters of a model card shown; the rest is a link away


class HubSession:
    """One browser session's Hub state, kept server-side in gr.State (each session gets its own copy).
    The token never goes back to the browser and is not part of any repr."""

    def __init__(self) -> None:
        self.token = ""
        self.account = ""
        self.typed, self.typed_at = "", 0.0
        self.results: list[ModelSummary] = []
        self.selected: ModelDetails | None = None
        self.cancel = threading.Event()

    def __deepcopy__(self, memo) -> "HubSession":
        return HubSession()

    def __repr__(self) -> str:
        return f"HubSession(account={self.account!r}, results={len(self.results)})"


def rows(results: list[ModelSummary]) -> list[list]:
    return [[r.id, label(r.task, "–"), human_count(r.downloads), human_count(r.likes),
             r.last_modified[:10], "✓" if r.supported else f"✗ {r.reason}",
             human_bytes(r.sizes.get("fp16")), human_bytes(r.sizes.get("int8")), human_bytes(r.sizes.get("int4"))]
            for r in results]


def describe(d: ModelDetails, in_library: list[str], endpoint: str = "https://huggingface.co") -> str:
    """The details header: what the model is and whether it will run, before any download."""
    lines = [f"### [{d.id}]({_hub_url(d, endpoint)})"]
    facts = [f"**Task** {label(d.task, 'unknown')}", f"**Architecture** {d.architecture or '?'}",
             f"**License** {d.license or 'not stated'}",
             "**Gated**: needs a token with access" if d.gated else "open access"]
    lines.append(" · ".join(facts))
    if d.supported:
        lines.append("✓ **Runs here** with openvino_genai." + (f" {d.reason}" if d.reason else ""))
    else:
        lines.append(f"✗ **Does not run here**: {d.reason}.")
    if d.sizes:
        lines.append("Estimated size: " + " · ".join(f"{k} {human_bytes(v)}" for k, v in d.sizes.items()))
    lines.append(f"{len(d.files)} files, {human_bytes(sum(f['size'] for f in d.files))} in all.")
    if d.supported and kind(d) == "checkpoint":
        lines.append("This is a plain checkpoint: it runs here once converted to OpenVINO IR, which also "
                     "compresses it.")
    if in_library:
        lines.append("In your library from this repo: " + ", ".join(f"**{i}**" for i in in_library))
    return "\n\n".join(lines)


def preflight_rows(found: dict) -> list[list]:
    return [[p["precision"], p["how"], human_bytes(p["download_bytes"]), human_bytes(p["disk_bytes"]),
             human_bytes(p["convert_peak_bytes"]) if p["convert_peak_bytes"] else "–", human_bytes(p["run_bytes"]),
             f"~{p['tokens_per_s']:g} tokens/s" if p["tokens_per_s"] else "–",
             "✓" if p["fits"] else f"✗ {p['why']}"] for p in found["plans"]]


def preflight_note(found: dict) -> str:
    if not found["plans"]:
        return "No size is known for this model, so there is no pre-flight."
    m = found["machine"]
    speed = (f"Speeds are predicted for {found['device']} ({found['processor']}), from the weights read per token "
             f"and this machine's reading speed, measured {m['measured']}." if m else found["note"])
    return (f"**Before you fetch it**: {human_bytes(found['free_memory_bytes'])} of memory and "
            f"{human_bytes(found['free_disk_bytes'])} of disk are free. {speed} Memory to run counts a "
            "conversation of 4,096 tokens.")


def kind(d: ModelDetails) -> str:
    names = {f["name"].rsplit("/", 1)[-1] for f in d.files}
    if d.gguf_files:
        return "gguf"
    if names & {"openvino_model.xml", "openvino_language_model.xml"}:
        return "openvino"
    return "checkpoint"


def _hub_url(d: ModelDetails, endpoint: str = "https://huggingface.co") -> str:
    return f"{endpoint.rstrip('/')}/{d.id}"


@dataclass(frozen=True)
class HubTab:
    """What the rest of the page needs of the Hub tab."""
    session: gr.State  # the session's Hub state: its token and the model it picked
    convert: gr.Button  # "Convert to OpenVINO…" for a checkpoint
    downloaded: Any  # the download's event: what follows a download chains on it
    first_visit: tuple  # (fn, inputs, outputs) that fills the results the first time the tab is shown


@dataclass(frozen=True)
class _Parts:
    """Every component of the tab, as _layout places them."""
    session: gr.State
    filters: tuple  # query, task, sort, OpenVINO only, GGUF only: what a search reads
    status: gr.Markdown
    table: gr.Dataframe
    panel: gr.Column
    about: gr.Markdown
    preflight_text: gr.Markdown
    preflight: gr.Dataframe
    gguf_file: gr.Dropdown
    download: gr.Button
    cancel: gr.Button
    convert: gr.Button
    progress: gr.HTML
    fetched: gr.State
    open_buttons: dict  # task -> the button that opens a downloaded model of that task in its tab
    files: gr.Dataframe
    card: gr.Markdown
    token_box: gr.Textbox
    forget: gr.Button
    token_status: gr.Markdown


def build_hub_tab(services: Services, openers: dict) -> HubTab:
    """openers: task -> (button label, fn(model_id) -> updates, outputs), from the tabs that run models."""
    return _wire(services, _layout(services, openers), openers)


def _lends(services: Services) -> bool:
    """The operator's HF_TOKEN is used for this machine's own user only (see access.identify)."""
    return bool(services.settings.hf_token) and not services.settings.public


def _layout(services: Services, openers: dict) -> _Parts:
    offline_note = ("⚠ The Hub is off (HF_HUB_OFFLINE=1): the local library still works." if services.hub.offline
                    else "")
    with gr.Row(equal_height=True):
        query = gr.Textbox(placeholder="Search the Hub: qwen, smollm, llava, stable diffusion…", show_label=False,
                           scale=4, elem_id="hub-query", container=False)
        task = gr.Dropdown(TASK_CHOICES, value="", show_label=False, scale=1, container=False, elem_id="hub-task")
        sort = gr.Dropdown(SORT_CHOICES, value="downloads", show_label=False, scale=1, container=False,
                           elem_id="hub-sort")
        openvino_only = gr.Checkbox(label="OpenVINO-ready only", scale=1, elem_id="hub-openvino")
        gguf_only = gr.Checkbox(label="GGUF only", scale=1, elem_id="hub-gguf")
    status = gr.Markdown(offline_note, elem_id="hub-status")
    table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="hub-results", max_height=420,
                         column_widths=["24%", "7%", "8%", "6%", "9%", "22%", "8%", "8%", "8%"])
    with gr.Column(visible=False, elem_id="hub-details") as panel:
        about = gr.Markdown()
        preflight_text = gr.Markdown(elem_id="hub-preflight-note")
        preflight = gr.Dataframe(headers=PREFLIGHT_COLUMNS, interactive=False, wrap=True, visible=False,
                                 elem_id="hub-preflight")
        with gr.Row(equal_height=True):
            gguf_file = gr.Dropdown([], label="GGUF file", visible=False, scale=3, elem_id="hub-gguf-file")
            download = gr.Button("Download", variant="primary", scale=1, elem_id="hub-download")
            cancel = gr.Button("Cancel", variant="stop", visible=False, scale=1, elem_id="hub-cancel")
            convert = gr.Button("Convert to OpenVINO…", variant="primary", visible=False, scale=1,
                                elem_id="hub-convert")
        with gr.Row(equal_height=True):
            progress = gr.HTML(elem_id="hub-progress")
            fetched = gr.State("")
            open_buttons = {task: gr.Button(label, visible=False, size="sm", scale=0, min_width=140,
                                            elem_id=f"hub-open-{task}") for task, (label, _, _) in openers.items()}
        with gr.Accordion("Files", open=False):
            files = gr.Dataframe(headers=["File", "Size"], interactive=False, max_height=300)
        with gr.Accordion("Model card", open=True):
            card = gr.Markdown(elem_id="hub-card")
    with gr.Accordion("Hugging Face token (for gated and private models)", open=False):
        with gr.Row(equal_height=True):
            token_box = gr.Textbox(type="password", show_label=False, scale=4, container=False,
                                   placeholder="hf_…  kept on the server for this browser session only; Enter sets it",
                                   elem_id="hub-token")
            forget = gr.Button("Forget", size="sm", scale=1)
        token_status = gr.Markdown("Using the server's token (HF_TOKEN)." if _lends(services) else
                                   "No token: public models only.", elem_id="hub-token-status")
    return _Parts(gr.State(HubSession()), (query, task, sort, openvino_only, gguf_only), status, table, panel, about,
                  preflight_text, preflight, gguf_file, download, cancel, convert, progress, fetched, open_buttons,
                  files, card, token_box, forget, token_status)


def _wire(services: Services, c: _Parts, openers: dict) -> HubTab:
    """The tab's events; each handler returns {component: update}."""
    hub = services.hub
    private_event = dict(queue=False, api_visibility="private")

    def token(state: HubSession, request: gr.Request | None) -> str:
        """The session's own token, else the operator's for this machine's own user, else none."""
        return caller_of(services.settings, request, session_token=state.token).hub_token

    @user_errors
    def run_search(state: HubSession, text: str, task_id: str, sort_by: str, ov: bool, gg: bool,
                   request: gr.Request | None = None):
        try:
            state.results = hub.search(query=text or "", task=task_id or "", sort=sort_by or "downloads",
                                       openvino_only=bool(ov), gguf_only=bool(gg), token=token(state, request))
        except HubUnavailable as err:
            return {c.status: f"⚠ {err}"}
        n = len(state.results)
        note = f"{n} model{'s' * (n != 1)}" if n else "No model matches: try fewer words or filters."
        return {c.table: rows(state.results), c.status: note}

    def on_typing(state: HubSession, text: str) -> None:
        state.typed, state.typed_at = text, time.monotonic()

    def after_pause(state: HubSession, text: str, task_id: str, sort_by: str, ov: bool, gg: bool,
                    request: gr.Request):
        """Search once typing pauses. Keystrokes while this waits move the pause on and are read
        from the session (always_last folds the events queued behind this one into one)."""
        start = time.monotonic()
        while (wait := max(start, state.typed_at) + TYPING_PAUSE - time.monotonic()) > 0:
            time.sleep(wait)
        return run_search(state, state.typed if state.typed_at > start else text, task_id, sort_by, ov, gg, request)

    def on_first_visit(state: HubSession, text: str, task_id: str, sort_by: str, ov: bool, gg: bool,
                       request: gr.Request):
        return run_search(state, text, task_id, sort_by, ov, gg, request) if not state.results else gr.skip()

    @user_errors
    def on_select(state: HubSession, evt: gr.SelectData, request: gr.Request):
        repo_id = evt.row_value[0]
        try:
            state.selected = d = details(hub, repo_id, token(state, request))
        except UserError as err:
            state.selected = None
            return {c.panel: gr.Column(visible=True), c.about: f"### {repo_id}\n\n⚠ {err}", c.preflight_text: "",
                    c.preflight: gr.Dataframe(visible=False),
                    c.gguf_file: gr.Dropdown(visible=False), c.download: gr.Button(interactive=False),
                    c.convert: gr.Button(visible=False), c.progress: "", c.files: [], c.card: ""}
        form = kind(d)
        ggufs = [(f"{f['name']} · {f['quantization']} · {human_bytes(f['size'])}"
                  + ("" if f["loadable"] else " · not loadable"), f["name"]) for f in d.gguf_files]
        can = d.supported and form != "checkpoint"
        label = {"gguf": "Download GGUF", "openvino": "Download", "checkpoint": "Download"}[form]
        in_library = [e.id for e in services.library.list() if e.source.get("repo_id") == d.id]
        return {c.panel: gr.Column(visible=True), c.about: describe(d, in_library, hub.endpoint),
                c.preflight_text: "Working out what this model costs here…", c.preflight: gr.Dataframe(visible=False),
                c.gguf_file: gr.Dropdown(choices=ggufs, value=recommended_gguf(d.gguf_files) or None,
                                         visible=bool(ggufs)),
                c.download: gr.Button(label, interactive=can, visible=form != "checkpoint"),
                c.convert: gr.Button(visible=d.supported and form == "checkpoint"), c.progress: "",
                c.files: [[f["name"], human_bytes(f["size"])] for f in d.files],
                c.card: d.card[:CARD_LIMIT] + (f"\n\n*… the rest is on [the Hub]({_hub_url(d, hub.endpoint)}).*"
                                               if len(d.card) > CARD_LIMIT else "")}

    @user_errors
    def on_preflight(state: HubSession):
        """After the details: the first call measures this machine (some seconds, once)."""
        if state.selected is None:
            return {c.preflight_text: ""}
        found = services.conversions.preflight(state.selected)
        return {c.preflight_text: preflight_note(found),
                c.preflight: gr.Dataframe(preflight_rows(found), visible=bool(found["plans"]))}

    @user_errors
    def on_download(state: HubSession, filename: str | None, request: gr.Request):
        d = state.selected
        if d is None:
            raise InvalidParameter("Pick a model in the results first.")
        state.cancel = threading.Event()
        caller = caller_of(services.settings, request, session_token=state.token)
        name = filename or d.id
        idle = {c.download: gr.Button(interactive=True), c.cancel: gr.Button(visible=False),
                **{button: gr.Button(visible=False) for button in c.open_buttons.values()}}
        yield {**idle, c.progress: progress_bar(None, f"Fetching {name}"), c.download: gr.Button(interactive=False),
               c.cancel: gr.Button(visible=True), c.fetched: ""}
        try:
            for event in services.downloads.download(caller=caller, repo_id=d.id, filename=filename or "",
                                                     cancel=state.cancel):
                if isinstance(event, Finished):
                    entry = event.result
                else:
                    note = event.describe() if isinstance(event, Waiting) else ""
                    yield {c.progress: progress_bar(None if note else event, f"Fetching {name}", note=note)}
        except Exception as err:
            yield {**idle, c.progress: error_html(err, "The download failed."), c.fetched: ""}
            raise
        yield {**idle, c.fetched: entry.id,
               c.progress: f'<div class="gu-done">✓ <b>{escape(entry.id)}</b> is in your library '
                         f'({human_bytes(entry.size_bytes)}, {entry.format}, {entry.weight_format}).</div>',
               **{button: gr.Button(visible=task == entry.task) for task, button in c.open_buttons.items()}}

    def on_cancel(state: HubSession) -> None:
        state.cancel.set()

    @user_errors
    def on_token(state: HubSession, token: str):
        token = (token or "").strip()
        if not token:
            return gr.skip()
        account = hub.whoami(token)
        state.token, state.account = token, account
        return {c.token_box: "", c.token_status: f"Signed in as **{account}** for this session."}

    def on_forget(state: HubSession):
        state.token, state.account = "", ""
        return {c.token_box: "", c.token_status: "Token forgotten." + (" Using the server's token (HF_TOKEN)."
                                                                       if _lends(services) else "")}

    searching = dict(outputs=[c.table, c.status], api_visibility="private", show_progress="minimal",
                     concurrency_limit=4)
    query = c.filters[0]
    query.submit(run_search, [c.session, *c.filters], **searching)
    # change, not input: a paste or an autofill searches too
    query.change(on_typing, [c.session, query], None, **private_event)
    query.change(after_pause, [c.session, *c.filters], trigger_mode="always_last", **searching)
    for control in c.filters[1:]:
        control.input(run_search, [c.session, *c.filters], **searching)
    c.table.select(on_select, [c.session], [c.panel, c.about, c.preflight_text, c.preflight, c.gguf_file, c.download,
                                            c.convert, c.progress, c.files, c.card],
                   api_visibility="private", concurrency_limit=4).then(
        on_preflight, [c.session], [c.preflight_text, c.preflight], api_visibility="private", concurrency_limit=4)
    fetch = c.download.click(on_download, [c.session, c.gguf_file],
                             [c.progress, c.download, c.cancel, c.fetched, *c.open_buttons.values()],
                             api_visibility="private", show_progress="hidden", **line_events(services.downloads.line))
    for task, button in c.open_buttons.items():
        _, fn, outputs = openers[task]
        button.click(fn, [c.fetched], outputs, **private_event)
    c.cancel.click(on_cancel, [c.session], None, **private_event)
    c.token_box.submit(on_token, [c.session, c.token_box], [c.token_box, c.token_status], api_visibility="private",
                       concurrency_limit=4)
    c.forget.click(on_forget, [c.session], [c.token_box, c.token_status], **private_event)
    return HubTab(c.session, c.convert, fetch, (on_first_visit, [c.session, *c.filters], [c.table, c.status]))
