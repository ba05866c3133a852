"""The Library tab: every local model, opened in the tab that runs it, or deleted after a confirmation."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from html import escape
from typing import Callable

import gradio as gr

from ..builtin import BUILTINS
from ..library import ModelEntry
from ..manage import check_may_delete, delete_model
from ..services import Services
from ..tasks import TASKS, label
from ..work.background import Watch
from ..work.queue import Waiting
from .caller import caller_of
from .endpoints import line_events
from .errors import error_html, user_errors
from .format import human_bytes
from .progress import UPDATE_EVERY, status_html
from .report import answers_markdown, quality_rows, table_markdown

COLUMNS = ["Model", "Task", "Format", "Precision", "Size", "Quality", "Source", "Added"]


def rows(entries: list[ModelEntry]) -> list[list]:
    return [[e.id, label(e.task), e.format, e.weight_format, human_bytes(e.size_bytes),
             (e.report.get("quality") or {}).get("verdict", "–"),
             e.source.get("repo_id") or e.source.get("name") or "built in", e.created[:10] or "–"]
            for e in entries]


def report_of(entry: ModelEntry) -> str:
    """The model's last quality report, in words and side by side, or nothing when it has none."""
    q = entry.report.get("quality")
    if not q:
        return ""
    when = f" (measured {q['evaluated'][:10]})" if q.get("evaluated") else ""
    rows = quality_rows(q, entry.report.get("reference", ""))
    return f"\n\n**Last quality report**{when}\n\n" + table_markdown(rows) + answers_markdown(q)


def summary(services: Services, entries: list[ModelEntry]) -> str:
    total = sum(e.size_bytes for e in entries)
    return (f"{len(entries)} models, {human_bytes(total)} on disk, in `{services.library.models_dir}`. "
            "Select a row to open or delete it.")


@dataclass(frozen=True)
class LibraryTab:
    """What the rest of the page needs of the Library tab."""
    refresh: Callable  # (request, profile, oauth) -> {component: update}: the table as this caller may see it now
    shows: tuple  # the components `refresh` updates
    selected: gr.State  # the id of the model picked in the table
    convert: gr.Button  # "Compress / turn into IR…" for the picked model


@dataclass(frozen=True)
class _Parts:
    """Every component of the tab, as _layout places them."""
    selected: gr.State
    info: gr.Markdown
    table: gr.Dataframe
    chosen: gr.Markdown
    open_buttons: dict  # task -> the button that opens the picked model in its tab
    to_convert: gr.Button
    evaluate: gr.Button
    delete: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.Markdown
    confirm: gr.Button
    keep: gr.Button
    evaluate_row: gr.Row
    reference: gr.Dropdown
    run_evaluation: gr.Button
    evaluation: gr.HTML


def build_library_tab(services: Services, openers: dict) -> LibraryTab:
    """openers: task -> (button label, fn(model_id) -> updates, outputs), from the tabs that run models."""
    return _wire(services, _layout(openers), openers)


def _layout(openers: dict) -> _Parts:
    selected = gr.State("")
    info = gr.Markdown(elem_id="library-summary")
    table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="library-table", max_height=480)
    chosen = gr.Markdown("", elem_id="library-selected")
    with gr.Row():
        open_buttons = {task: gr.Button(label, visible=False, variant="primary", size="sm",
                                        elem_id=f"library-open-{task}")
                        for task, (label, _, _) in openers.items()}
        to_convert = gr.Button("Compress / turn into IR…", size="sm", visible=False, elem_id="library-convert")
        evaluate = gr.Button("Evaluate…", size="sm", visible=False, elem_id="library-evaluate")
        delete = gr.Button("Delete…", variant="stop", size="sm", visible=False, elem_id="library-delete")
    with gr.Row(visible=False) as confirm_row:
        confirm_text = gr.Markdown()
        confirm = gr.Button("Delete for good", variant="stop", size="sm", elem_id="library-confirm")
        keep = gr.Button("Keep it", size="sm", elem_id="library-keep")
    with gr.Row(visible=False, equal_height=True) as evaluate_row:
        reference = gr.Dropdown([], label="Measure it against (the reference)", scale=3, elem_id="library-reference")
        run_evaluation = gr.Button("Run the evaluation", variant="primary", size="sm", scale=1,
                                   elem_id="library-run-evaluation")
    evaluation = gr.HTML(elem_id="library-evaluation")
    return _Parts(selected, info, table, chosen, open_buttons, to_convert, evaluate, delete, confirm_row, confirm_text,
                  confirm, keep, evaluate_row, reference, run_evaluation, evaluation)


def _wire(services: Services, c: _Parts, openers: dict) -> LibraryTab:
    """The tab's events; each handler returns {component: update}."""
    private_event = dict(queue=False, api_visibility="private")

    def refresh(request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        entries = services.access.list(caller_of(services.settings, request, profile, oauth))
        return {c.info: summary(services, entries), c.table: rows(entries)}

    @user_errors
    def on_select(evt: gr.SelectData, request: gr.Request, profile: gr.OAuthProfile | None,
                  oauth: gr.OAuthToken | None):
        model_id = evt.row_value[0]
        entry = services.access.get(caller_of(services.settings, request, profile, oauth), model_id)
        return {c.selected: model_id, c.chosen: f"**{entry.id}** · `{entry.location}`" + report_of(entry),
                **{button: gr.Button(visible=entry.task == task) for task, button in c.open_buttons.items()},
                c.to_convert: gr.Button(visible=True, value="Turn into OpenVINO IR…" if entry.format == "gguf"
                                        else "Compress…"),
                c.evaluate: gr.Button(visible=TASKS[entry.task].evaluated),
                c.delete: gr.Button(visible=entry.id not in BUILTINS),  # the built-in models stay
                c.confirm_row: gr.Row(visible=False), c.evaluate_row: gr.Row(visible=False), c.evaluation: ""}

    @user_errors
    def on_evaluate(model_id: str, request: gr.Request, profile: gr.OAuthProfile | None,
                    oauth: gr.OAuthToken | None):
        """The reference picker: the other chat models this caller may use, the model's own source first."""
        caller = caller_of(services.settings, request, profile, oauth)
        entry = services.access.get(caller, model_id)
        others = [e for e in services.access.list(caller, entry.task) if e.id != entry.id]
        source = entry.source.get("library_model", "")
        others.sort(key=lambda e: e.id != source)
        return {c.evaluate_row: gr.Row(visible=True),
                c.reference: gr.Dropdown([(e.label(), e.id) for e in others],
                                         value=others[0].id if others else None)}

    @user_errors
    def on_run_evaluation(model_id: str, reference: str | None, request: gr.Request,
                          profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        caller = caller_of(services.settings, request, profile, oauth)
        cancel, started, watch = threading.Event(), time.monotonic(), Watch()
        try:
            events = services.conversions.evaluate(caller=caller, model=model_id, reference=reference or "",
                                                   cancel=cancel)
            for event in watch.follow(events, cancel, every=UPDATE_EVERY):
                if isinstance(event, Waiting):
                    yield {c.evaluation: f'<div class="gu-progress-label">⏳ {escape(event.describe())}</div>'}
                else:
                    yield {c.evaluation: status_html(watch.stage, watch.progress, started)}
        except GeneratorExit:  # the page went away: the evaluation stops too
            cancel.set()
            raise
        except Exception as err:
            yield {c.evaluation: error_html(err, "The evaluation failed.")}
            raise
        result = watch.result
        q = result["quality"]
        kept = "kept with the model" if result["saved"] else "yours alone: you did not add this model"
        rows = quality_rows(q, f"{result['reference']}, a model of the library")
        yield {c.evaluation: f'<div class="gu-done">✓ Measured against <b>{escape(result["reference"])}</b>: '
                             f'<b>{escape(q["verdict"])}</b> (the report is {kept}).</div>',
               c.chosen: f"**{model_id}**\n\n" + table_markdown(rows) + answers_markdown(q),
               **refresh(request, profile, oauth)}

    @user_errors
    def on_delete(model_id: str, request: gr.Request):
        """Asks first; says at once when this person may not delete it (the check that counts is on_confirm's)."""
        entry = check_may_delete(library=services.library, model_id=model_id,
                                 caller=caller_of(services.settings, request))
        return {c.confirm_row: gr.Row(visible=True),
                c.confirm_text: f"Delete **{entry.id}** and its {human_bytes(entry.size_bytes)} of files?"}

    @user_errors
    def on_confirm(model_id: str, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        delete_model(library=services.library, pipelines=services.pipelines, options=services.chat.options,
                     model_id=model_id, caller=caller_of(services.settings, request))
        gr.Info(f"Deleted {model_id}.")
        hidden = {button: gr.Button(visible=False) for button in c.open_buttons.values()}
        return {c.selected: "", c.chosen: "", **hidden,
                c.to_convert: gr.Button(visible=False), c.evaluate: gr.Button(visible=False),
                c.delete: gr.Button(visible=False), c.confirm_row: gr.Row(visible=False),
                c.evaluate_row: gr.Row(visible=False), c.evaluation: "", **refresh(request, profile, oauth)}

    selection = [c.selected, c.chosen, *c.open_buttons.values(), c.to_convert, c.evaluate, c.delete, c.confirm_row,
                 c.evaluate_row, c.evaluation]
    c.table.select(on_select, None, selection, **private_event)
    c.evaluate.click(on_evaluate, [c.selected], [c.evaluate_row, c.reference], **private_event)
    c.run_evaluation.click(on_run_evaluation, [c.selected, c.reference], [c.evaluation, c.chosen, c.info, c.table],
                           api_visibility="private", show_progress="hidden",
                           **line_events(services.conversions.line))
    c.delete.click(on_delete, [c.selected], [c.confirm_row, c.confirm_text], api_visibility="private")
    c.keep.click(lambda: gr.Row(visible=False), None, c.confirm_row, **private_event)
    c.confirm.click(on_confirm, [c.selected], [*selection, c.info, c.table], api_visibility="private")
    for task, button in c.open_buttons.items():
        _, fn, outputs = openers[task]
        button.click(fn, [c.selected], outputs, **private_event)
    return LibraryTab(refresh, (c.info, c.table), c.selected, c.to_convert)
