"""The Convert tab: a Hub checkpoint, or a library model, to a compressed OpenVINO model, with live
stages, progress and log, Cancel, and a report of what came out."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr
import pandas as pd

from ..access import Caller
from ..convert.best import CANDIDATES
from ..convert.jobs import ConversionReport, Registered
from ..convert.options import FOUR_BIT_FORMATS, PRESETS, ExportOptions, datasets, weight_formats
from ..errors import InvalidParameter
from ..hub.publish import default_repo_name
from ..services import Services
from ..tasks import TASKS
from ..work.background import Watch
from ..work.queue import Waiting
from .caller import caller_of
from .endpoints import line_events
from .errors import error_html, user_errors
from .progress import UPDATE_EVERY, status_html
from .report import BEST_COLUMNS, best_note, best_points, best_rows, plot_rows, report_markdown

CUSTOM = "Custom"
LOG_LINES = 400


class ConvertSession:
    """One browser session's job: its cancel token lives server-side in gr.State."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.last_id = ""
        self.search = ""  # the last Find the best, whose candidates wait for a choice

    def __deepcopy__(self, memo) -> "ConvertSession":
        return ConvertSession()


def library_choices(services: Services, caller: Caller) -> list[tuple[str, str]]:
    """Every library model (that this caller may see) can be a source: an IR to compress again, a GGUF to turn into IR."""
    return [(e.label(), e.id) for e in services.access.list(caller)]


# the options the Options accordion holds, in the order read_options takes them; a preset sets the first nine
PRESET_FIELDS = ("weight_format", "group_size", "ratio", "sym", "awq", "scale_estimation", "dataset", "all_layers",
                 "backup_precision")


@dataclass(frozen=True)
class ConvertTab:
    """What the rest of the page needs of the Convert tab."""
    source_kind: gr.Radio
    repo: gr.Textbox
    local: gr.Dropdown
    open_model: gr.Button
    last_id: gr.State  # the model the session's last job made
    done: Any  # the job's event: what follows a conversion chains on it


@dataclass(frozen=True)
class _Parts:
    """Every component of the tab, as _layout places them."""
    session: gr.State
    source_kind: gr.Radio
    repo: gr.Textbox
    local: gr.Dropdown
    preset: gr.Radio
    preset_note: gr.Markdown
    options: tuple  # PRESET_FIELDS' components, then trust remote code and the task
    trust: gr.Checkbox
    trust_note: gr.Markdown
    start: gr.Button
    cancel: gr.Button
    status: gr.HTML
    log: gr.Textbox
    report: gr.Markdown
    chart: gr.BarPlot
    open_model: gr.Button
    publish_box: gr.Accordion
    repo_name: gr.Textbox
    private: gr.Checkbox
    push: gr.Button
    published: gr.Markdown
    last_id: gr.State
    find_best: gr.Button
    best_candidates: gr.CheckboxGroup
    best_box: gr.Group
    best_note: gr.Markdown
    best_table: gr.Dataframe
    best_plot: gr.ScatterPlot
    best_keep: gr.CheckboxGroup
    best_keep_button: gr.Button


def build_convert_tab(services: Services, hub_session: gr.State, open_labels: dict[str, str]) -> ConvertTab:
    """open_labels: task -> the label of the button that opens a new model of that task in its tab."""
    return _wire(services, _layout(services), hub_session, open_labels)


def _layout(services: Services) -> _Parts:
    formats = list(weight_formats())
    o = PRESETS["Balanced"][0]
    if services.settings.on_space:  # conversions and pushes are tied to a signed-in person there
        gr.LoginButton(elem_id="convert-sign-in")
    with gr.Row():
        with gr.Column(scale=2):
            source_kind = gr.Radio(["A Hub checkpoint", "A model in my library"], value="A Hub checkpoint",
                                   show_label=False, elem_id="convert-source-kind")
            repo = gr.Textbox(label="Hub repo", placeholder="owner/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct",
                              elem_id="convert-repo")
            local = gr.Dropdown([], label="Library model (OpenVINO to compress again, or GGUF to turn into IR)",
                                visible=False, elem_id="convert-local")
            preset = gr.Radio([*PRESETS, CUSTOM], value="Balanced", label="Preset", elem_id="convert-preset")
            preset_note = gr.Markdown(PRESETS["Balanced"][1])
            with gr.Accordion("Options", open=False):
                with gr.Row():
                    weight_format = gr.Dropdown(formats, value=o.weight_format, label="Weight format",
                                                elem_id="convert-format")
                    group_size = gr.Number(o.group_size, precision=0, elem_id="convert-group",
                                           label="Group size (0: fit the model, -1: per channel)")
                    ratio = gr.Slider(0.05, 1.0, value=o.ratio, step=0.05, label="Ratio (share of 4-bit layers)")
                with gr.Row():
                    sym = gr.Checkbox(o.sym, label="Symmetric")
                    awq = gr.Checkbox(o.awq, label="AWQ")
                    scale_estimation = gr.Checkbox(o.scale_estimation, label="Scale estimation")
                    all_layers = gr.Checkbox(o.all_layers, label="All layers (embeddings and head too)")
                with gr.Row():
                    dataset = gr.Dropdown([("none", ""), *[(d, d) for d in datasets()]], value="",
                                          label="Calibration dataset")
                    backup = gr.Dropdown([("default (int8_asym)", ""), "int8_sym", "int8_asym", "none"], value="",
                                         label="Backup precision")
                    task = gr.Dropdown([("from the Hub", ""), *[(f"{t.label} ({t.id})", t.id)
                                                                 for t in TASKS.values()]], value="", label="Task")
                allowed = services.settings.remote_code_allowed
                trust = gr.Checkbox(label="Trust remote code", elem_id="convert-trust", interactive=allowed,
                                    info=None if allowed else "off on this shared deployment (its operator can "
                                                              "allow it with --allow-remote-code)")
                trust_note = gr.Markdown(visible=False)
            with gr.Accordion("Find the best: the candidates to try", open=False):
                best_candidates = gr.CheckboxGroup([(f"{c.name}: {c.label}", c.name) for c in CANDIDATES],
                                                   value=[c.name for c in CANDIDATES], show_label=False,
                                                   elem_id="convert-best-candidates")
            with gr.Row():
                start = gr.Button("Convert", variant="primary", elem_id="convert-start")
                find_best = gr.Button("Find the best…", elem_id="convert-find-best")
                cancel = gr.Button("Cancel", variant="stop", visible=False, elem_id="convert-cancel")
        with gr.Column(scale=3):
            status = gr.HTML(elem_id="convert-status")
            log = gr.Textbox(label="Log", lines=14, max_lines=14, autoscroll=True, interactive=False,
                             elem_id="convert-log", buttons=["copy"])
            report = gr.Markdown(elem_id="convert-report")
            chart = gr.BarPlot(x="what", y="value", color="kind", y_lim=[0, 1], visible=False, label="Report",
                               elem_id="convert-chart", sort=None)
            with gr.Row():
                open_model = gr.Button("Open", visible=False, elem_id="convert-open")
            with gr.Accordion("Publish to the Hub", open=False, visible=False) as publish_box:
                with gr.Row(equal_height=True):
                    repo_name = gr.Textbox(label="Repo name (under your account)", scale=3,
                                           elem_id="convert-publish-name")
                    private = gr.Checkbox(True, label="Private", scale=1)
                    push = gr.Button("Publish", variant="primary", scale=1, elem_id="convert-publish")
                published = gr.Markdown(elem_id="convert-published")
            with gr.Group(visible=False) as best_box:
                best_note = gr.Markdown(elem_id="convert-best-note")
                best_plot = gr.ScatterPlot(x="size (MB)", y="KL divergence", color="candidate",
                                           elem_id="convert-best-plot",
                                           label="Size against what it costs in quality (lower left is better)")
                best_table = gr.Dataframe(headers=BEST_COLUMNS, interactive=False, wrap=True,
                                          elem_id="convert-best-table")
                best_keep = gr.CheckboxGroup([], label="Keep in the library (the others are deleted)",
                                             elem_id="convert-best-keep")
                best_keep_button = gr.Button("Keep the chosen", variant="primary", elem_id="convert-best-keep-button")
    return _Parts(gr.State(ConvertSession()), source_kind, repo, local, preset, preset_note,
                  (weight_format, group_size, ratio, sym, awq, scale_estimation, dataset, all_layers, backup, trust,
                   task), trust, trust_note, start, cancel, status, log, report, chart, open_model, publish_box, repo_name,
                  private, push, published, gr.State(""), find_best, best_candidates, best_box, best_note, best_table, best_plot,
                  best_keep, best_keep_button)


def _wire(services: Services, c: _Parts, hub_session: gr.State, open_labels: dict[str, str]) -> ConvertTab:
    """The tab's events; each handler returns {component: update}."""
    private_event = dict(queue=False, api_visibility="private")

    def read_options(fmt, group, ratio_, sym_, awq_, scale_, dataset_, all_, backup_, trust_, task_) -> ExportOptions:
        return ExportOptions(weight_format=fmt, group_size=int(group or 0),
                             ratio=float(ratio_) if fmt in FOUR_BIT_FORMATS else 1.0, sym=bool(sym_),
                             awq=bool(awq_), scale_estimation=bool(scale_), dataset=dataset_ or "",
                             all_layers=bool(all_), backup_precision=backup_ or "", trust_remote_code=bool(trust_),
                             task=task_ or "")

    def on_preset(name: str) -> dict:
        if name == CUSTOM:
            return {c.preset_note: ""}
        chosen, note = PRESETS[name]
        return {**{box: getattr(chosen, f) for box, f in zip(c.options, PRESET_FIELDS)}, c.preset_note: note}

    def on_source_kind(kind: str, request: gr.Request, profile: gr.OAuthProfile | None,
                       oauth: gr.OAuthToken | None) -> dict:
        library = kind != "A Hub checkpoint"
        caller = caller_of(services.settings, request, profile, oauth)
        return {c.repo: gr.Textbox(visible=not library),
                c.local: gr.Dropdown(choices=library_choices(services, caller), visible=library)}

    def on_trust(on: bool):
        return gr.Markdown("⚠ **Trust remote code** runs Python code from the repo on this machine, with your "
                           "rights. Turn it on only for repos whose code you have read or whose authors you trust.",
                           visible=bool(on))

    # the request and sign-in come before *values: Gradio fills them only into positional parameters
    @user_errors
    def on_start(state: ConvertSession, kind: str, repo_id: str, local_id: str | None, hub_state,
                 request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None, *values):
        state.cancel = threading.Event()
        watch, started, note = Watch(log_lines=LOG_LINES), time.monotonic(), ""
        idle = {c.open_model: gr.Button(visible=False), c.chart: gr.BarPlot(visible=False),
                c.publish_box: gr.Accordion(visible=False), c.start: gr.Button(interactive=True),
                c.cancel: gr.Button(visible=False)}
        try:
            caller = caller_of(services.settings, request, profile, oauth, getattr(hub_state, "token", ""))
            how = dict(caller=caller, options=read_options(*values), cancel=state.cancel)
            events = (services.conversions.convert(repo_id=repo_id, **how) if kind == "A Hub checkpoint" else
                      services.conversions.from_library(model=local_id or "", **how))
            yield {**idle, c.status: "", c.log: "", c.report: "", c.start: gr.Button(interactive=False),
                   c.cancel: gr.Button("Cancel", visible=True)}
            for event in watch.follow(events, state.cancel, every=UPDATE_EVERY):
                if isinstance(event, Registered):  # usable from now on; its evaluation follows
                    state.last_id = event.report.id
                    note = f"✓ {event.report.id} is in your library"
                    # the chart waits for the evaluation: a plot whose kinds of bars change is redrawn with the
                    # first update's colours only (Gradio 6.31), and the answers' bars would not show
                    yield {**done_parts(event.report, evaluating=True), c.log: watch.log,
                           c.chart: gr.BarPlot(visible=False), c.cancel: gr.Button("Stop the evaluation", visible=True)}
                elif isinstance(event, Waiting):
                    yield {c.status: f'<div class="gu-progress-label">⏳ {escape(event.describe())}</div>'}
                else:
                    yield {c.status: status_html(watch.stage, watch.progress, started, note), c.log: watch.log}
        except GeneratorExit:  # the page went away: the job stops too
            state.cancel.set()
            raise
        except Exception as err:
            yield {**idle, c.status: error_html(err, "The job failed; the log has the details."), c.log: watch.log}
            raise
        result: ConversionReport = watch.result
        state.last_id = result.id
        yield {**idle, **done_parts(result), c.log: watch.log, c.cancel: gr.Button("Cancel", visible=False)}

    def done_parts(result: ConversionReport, evaluating: bool = False) -> dict:
        more = " Its evaluation runs now; the report below fills in when it ends." if evaluating else ""
        return {c.status: f'<div class="gu-done">✓ <b>{escape(result.id)}</b> is in your library.{more}</div>',
                c.report: report_markdown(result),
                c.open_model: gr.Button(open_labels.get(result.task, "Open"), visible=result.task in open_labels),
                c.chart: gr.BarPlot(value=pd.DataFrame(plot_rows(result)), visible=True),
                c.publish_box: gr.Accordion(visible=True),
                c.repo_name: default_repo_name(entry=services.library.get(result.id))}

    def on_cancel(state: ConvertSession) -> None:
        state.cancel.set()

    @user_errors
    def on_find_best(state: ConvertSession, kind: str, repo_id: str, names: list[str], hub_state,
                     request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        if not names:
            raise InvalidParameter("Tick at least one candidate to try.")
        if kind != "A Hub checkpoint":
            raise InvalidParameter("Find the best starts from a Hub checkpoint: AWQ and the other candidates need "
                                   "the original weights. Pick “A Hub checkpoint”.")
        state.cancel = threading.Event()
        watch, started = Watch(log_lines=LOG_LINES), time.monotonic()
        idle = {c.start: gr.Button(interactive=True), c.find_best: gr.Button(interactive=True),
                c.cancel: gr.Button(visible=False)}
        try:
            caller = caller_of(services.settings, request, profile, oauth, getattr(hub_state, "token", ""))
            events = services.conversions.find_best(caller=caller, repo_id=repo_id, names=",".join(names),
                                                    cancel=state.cancel)
            yield {c.status: "", c.log: "", c.report: "", c.best_box: gr.Group(visible=False),
                   c.chart: gr.BarPlot(visible=False), c.open_model: gr.Button(visible=False),
                   c.start: gr.Button(interactive=False), c.find_best: gr.Button(interactive=False),
                   c.cancel: gr.Button("Stop (the finished candidates stay on offer)", visible=True)}
            for event in watch.follow(events, state.cancel, every=UPDATE_EVERY):
                if isinstance(event, Waiting):
                    yield {c.status: f'<div class="gu-progress-label">⏳ {escape(event.describe())}</div>'}
                else:
                    yield {c.status: status_html(watch.stage, watch.progress, started), c.log: watch.log}
        except GeneratorExit:  # the page went away: the search stops and its candidates go
            state.cancel.set()
            raise
        except Exception as err:
            yield {**idle, c.status: error_html(err, "The search failed; the log has the details."),
                   c.log: watch.log}
            raise
        result = watch.result
        state.search = result["search"]
        finished = [r["name"] for r in result["rows"] if not r.get("skipped")]
        measured = f'{len(finished)} candidate{"s" * (len(finished) != 1)} measured'
        yield {**idle, c.status: f'<div class="gu-done">✓ {measured}.</div>',
               c.log: watch.log, c.best_box: gr.Group(visible=True), c.best_note: best_note(result),
               c.best_table: best_rows(result), c.best_plot: pd.DataFrame(best_points(result)),
               c.best_keep: gr.CheckboxGroup(finished, value=[result["recommended"]])}

    @user_errors
    def on_keep(state: ConvertSession, names: list[str], request: gr.Request, profile: gr.OAuthProfile | None,
                oauth: gr.OAuthToken | None):
        caller = caller_of(services.settings, request, profile, oauth)
        kept = services.conversions.keep_candidates(caller=caller, search=state.search, keep=list(names or []))
        state.search = ""
        if kept:
            state.last_id = kept[-1].id
        said = ", ".join(f"**{e.id}**" for e in kept) or "nothing"
        return {c.best_box: gr.Group(visible=False),
                c.status: f'<div class="gu-done">✓ Kept {escape(", ".join(e.id for e in kept)) or "nothing"}; the '
                          'other candidates are deleted.</div>',
                c.report: f"Kept {said} in your library." if kept else "",
                c.open_model: gr.Button(open_labels.get(kept[-1].task, "Open"), visible=True) if kept
                else gr.Button(visible=False)}

    @user_errors
    def on_publish(state: ConvertSession, hub_state, name: str, is_private: bool, request: gr.Request,
                   profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        # the person's own token (their sign-in on a Space, or the Hub tab's); the operator's HF_TOKEN
        # only for this machine's own user
        caller = caller_of(services.settings, request, profile, oauth, getattr(hub_state, "token", ""))
        done = services.conversions.publish(caller=caller, model=state.last_id, repo_name=name or "",
                                            private=bool(is_private))
        return f"✓ Published to [{done.repo_id}]({done.url}) ({len(done.files)} files, commit `{done.commit[:8]}`)."

    c.preset.input(on_preset, c.preset, [*c.options[:len(PRESET_FIELDS)], c.preset_note], **private_event)
    for control in c.options[:len(PRESET_FIELDS)]:  # a hand-set option makes the preset Custom
        control.input(lambda: CUSTOM, None, c.preset, **private_event)
    c.source_kind.input(on_source_kind, c.source_kind, [c.repo, c.local], **private_event)
    c.trust.change(on_trust, c.trust, c.trust_note, **private_event)
    job = c.start.click(on_start, [c.session, c.source_kind, c.repo, c.local, hub_session, *c.options],
                        [c.status, c.log, c.report, c.open_model, c.chart, c.publish_box, c.repo_name, c.start,
                         c.cancel], api_visibility="private", show_progress="hidden",
                        **line_events(services.conversions.line))
    c.cancel.click(on_cancel, [c.session], None, **private_event)
    c.find_best.click(on_find_best, [c.session, c.source_kind, c.repo, c.best_candidates, hub_session],
                      [c.status, c.log, c.report, c.best_box, c.chart, c.open_model, c.start, c.find_best, c.cancel,
                       c.best_note, c.best_table, c.best_plot, c.best_keep],
                      api_visibility="private", show_progress="hidden", **line_events(services.conversions.line))
    kept = c.best_keep_button.click(on_keep, [c.session, c.best_keep], [c.best_box, c.status, c.report, c.open_model],
                                    api_visibility="private")
    kept.then(lambda state: state.last_id, c.session, c.last_id, **private_event)
    c.push.click(on_publish, [c.session, hub_session, c.repo_name, c.private], c.published, api_visibility="private",
                 concurrency_limit=2)
    job.then(lambda state: state.last_id, c.session, c.last_id, **private_event)
    return ConvertTab(c.source_kind, c.repo, c.local, c.open_model, c.last_id, job)
