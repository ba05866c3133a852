"""The Library tab: every local model, opened in the tab that runs it, or deleted after a confirmation."""

from __future__ import annotations

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


def build_library_tab(services: Services, openers: dict) -> dict:
    """openers: task -> (button label, fn(model_id) -> updates, outputs), from the tabs that run models."""
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

    def refresh(request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        entries = services.access.list(caller_of(services.settings, request, profile, oauth))
        return summary(services, entries), rows(entries)

    @user_errors
    def on_select(evt: gr.SelectData, request: gr.Request, profile: gr.OAuthProfile | None,
                  oauth: gr.OAuthToken | None):
        model_id = evt.row_value[0]
        entry = services.access.get(caller_of(services.settings, request, profile, oauth), model_id)
        return (model_id, f"**{entry.id}** · `{entry.location}`",
                *[gr.Button(visible=entry.task == task) for task in open_buttons],
                gr.Button(visible=True, value="Turn into OpenVINO IR…" if entry.format == "gguf" else "Compress…"),
                gr.Button(visible=entry.id != BUILTIN_ID), gr.Row(visible=False))  # the built-in model stays

    @user_errors
    def on_delete(model_id: str, request: gr.Request):
        """Asks first; says at once when this person may not delete it (the check that counts is on_confirm's)."""
        entry = check_may_delete(library=services.library, model_id=model_id, caller=caller_of(services.settings, request))
        return gr.Row(visible=True), f"Delete **{entry.id}** and its {human_bytes(entry.size_bytes)} of files?"

    @user_errors
    def on_confirm(model_id: str, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        delete_model(library=services.library, pipelines=services.pipelines, options=services.chat.options,
                     model_id=model_id, caller=caller_of(services.settings, request))
        gr.Info(f"Deleted {model_id}.")
        return ("", "", *[gr.Button(visible=False) for _ in open_buttons], gr.Button(visible=False),
                gr.Button(visible=False), gr.Row(visible=False), *refresh(request, profile, oauth))

    selection = [selected, chosen, *open_buttons.values(), to_convert, delete, confirm_row]
    table.select(on_select, None, selection, queue=False, api_visibility="private")
    delete.click(on_delete, [selected], [confirm_row, confirm_text], api_visibility="private")
    keep.click(lambda: gr.Row(visible=False), None, confirm_row, queue=False, api_visibility="private")
    confirm.click(on_confirm, [selected], [*selection, info, table], api_visibility="private")
    for task, button in open_buttons.items():
        _, fn, outputs = openers[task]
        button.click(fn, [selected], outputs, queue=False, api_visibility="private")
    return {"refresh": (refresh, [info, table]), "selected": selected, "convert": to_convert}
