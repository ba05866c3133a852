"""The model picker of a tab that runs models: the library's models of its task."""

from __future__ import annotations

import gradio as gr

from ..access import NOBODY, Caller
from ..services import Services


def model_choices(services: Services, task: str, caller: Caller = NOBODY) -> list[tuple[str, str]]:  # (label, id)
    return [(e.label(), e.id) for e in services.access.list(caller, task)]


def refresh_picker(services: Services, task: str, current: str | None, caller: Caller):
    """The picker's choices as the library holds them now for `caller`, keeping the current model while it is there."""
    choices = model_choices(services, task, caller)
    ids = [value for _, value in choices]
    return gr.Dropdown(choices=choices, value=current if current in ids else (ids[0] if ids else None))
