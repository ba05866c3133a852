"""Long work as a page shows it while it runs: the stage, a progress bar, its figures and the time so far."""

from __future__ import annotations

import time
from html import escape

from ..work.background import Progress, Stage
from .format import human_bytes, human_seconds

UPDATE_EVERY = 0.3  # seconds between page updates while a job runs; stage changes show at once


def status_html(stage: Stage | None, progress: Progress | None, started: float, note: str = "") -> str:
    if stage is None:
        return ""
    fraction = progress.fraction if progress else None
    bar = (f'<progress max="1" value="{fraction:.3f}"></progress>' if fraction is not None
           else '<progress></progress>')  # no value: the browser draws a busy bar
    figures = ""
    if progress and progress.unit == "B" and progress.total:
        figures = f" · {human_bytes(progress.done)} of {human_bytes(progress.total)} · {human_bytes(progress.rate)}/s"
    elif progress and progress.unit == "%":
        figures = f" · {escape(progress.label) + ' ' if progress.label else ''}{progress.done}%"
    elif progress and progress.total:
        figures = f" · {escape(progress.label) + ' ' if progress.label else ''}{progress.fraction:.0%}"
    return (f'<div class="gu-progress"><div class="gu-progress-label"><b>Step {stage.index} of {stage.count}: '
            f'{escape(stage.name)}</b>{figures} · {human_seconds(time.monotonic() - started)} in all'
            f'{" · " + escape(note) if note else ""}</div>{bar}</div>')
