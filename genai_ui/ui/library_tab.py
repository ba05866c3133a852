"""The Library tab: every local model, opened in the tab that runs it, or deleted after a confirmation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from ..builtin import BUILTIN_ID
from ..library import ModelEntry
from ..manage import check_may_delete, delete_model
from ..services import Services
from ..tasks import label
from .caller import caller_of
from .errors import user_errors
from .format import human_bytes

COLUMNS = ["Model", "Task", "Format", "Precision", "Size", "Source", "Added"]


def rows(entries: list[ModelEntry]) -> list[list]:
    return [[e.id, label(e.task), e.format, e.weight_format, human_bytes(e.size_bytes),
             e.source.get("repo_id") or e.source.get("name") or "built in", e.created[:10] or "–"]
            for e in entries]


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
    delete: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.Markdown
    confirm: gr.Button
    keep: gr.Button


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
        delete = gr.Button("Delete…", variant="stop", size="sm", visible=False, elem_id="library-delete")
    with gr.Row(visible=False) as confirm_row:
        confirm_text = gr.Markdown()
        confirm = gr.Button("Delete for good", variant="stop", size="sm", elem_id="library-confirm")
        keep = gr.Button("Keep it", size="sm", elem_id="library-keep")
    return _Parts(selected, info, table, chosen, open_buttons, to_convert, delete, confirm_row, confirm_text, confirm,
                  keep)


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
        return {c.selected: model_id, c.chosen: f"**{entry.id}** · `{entry.location}`",
                **{button: gr.Button(visible=entry.task == task) for task, button in c.open_buttons.items()},
                c.to_convert: gr.Button(visible=True, value="Turn into OpenVINO IR…" if entry.format == "gguf"
                                        else "Compress…"),
                c.delete: gr.Button(visible=entry.id != BUILTIN_ID),  # the built-in model stays
                c.confirm_row: gr.Row(visible=False)}

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
                c.to_convert: gr.Button(visible=False), c.delete: gr.Button(visible=False),
                c.confirm_row: gr.Row(visible=False), **refresh(request, profile, oauth)}

    selection = [c.selected, c.chosen, *c.open_buttons.values(), c.to_convert, c.delete, c.confirm_row]
    c.table.select(on_select, None, selection, **private_event)
    c.delete.click(on_delete, [c.selected], [c.confirm_row, c.confirm_text], api_visibility="private")
    c.keep.click(lambda: gr.Row(visible=False), None, c.confirm_row, **private_event)
    c.confirm.click(on_confirm, [c.selected], [*selection, c.info, c.table], api_visibility="private")
    for task, button in c.open_buttons.items():
        _, fn, outputs = openers[task]
        button.click(fn, [c.selected], outputs, **private_event)
    return LibraryTab(refresh, (c.info, c.table), c.selected, c.to_convert)
