"""The model picker of a tab that runs models, and what the page needs of such a tab."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from ..access import NOBODY, Caller
from ..services import Services
from .caller import caller_of


def model_choices(services: Services, task: str, caller: Caller = NOBODY) -> list[tuple[str, str]]:  # (label, id)
    """The library's models of `task` this caller may use; for questions about images, then those of the remote
    servers (--remote)."""
    remote = services.remotes.list(task) if task == "image-text-to-text" else []
    return [(e.label(), e.id) for e in services.access.list(caller, task)] + [(m.label(), m.id) for m in remote]


def refresh_picker(services: Services, task: str, current: str | None, caller: Caller):
    """The picker's choices as the library holds them now for `caller`, keeping the current model while it is there."""
    choices = model_choices(services, task, caller)
    ids = [value for _, value in choices]
    return gr.Dropdown(choices=choices, value=current if current in ids else (ids[0] if ids else None))


@dataclass(frozen=True)
class RunTab:
    """What the page needs of a tab that runs models: its model picker, and the picker's update for a caller
    (the library changes while the app runs, and each caller sees only the models they may use)."""
    model: gr.Dropdown
    pick: Callable[[str | None, Caller], gr.Dropdown]  # (the model to show, caller) -> the picker's update

    def refresh(self, services: Services):
        """The handler that fills the picker for whoever sent the event (the tab is shown, the page loads)."""
        def refresh_models(current: str | None, request: gr.Request, profile: gr.OAuthProfile | None,
                           oauth: gr.OAuthToken | None):
            return self.pick(current, caller_of(services.settings, request, profile, oauth))

        return refresh_models
