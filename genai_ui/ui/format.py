"""Numbers as a person reads them in a table: 1.2 GB, 3.4M, 2026-11-20."""

from __future__ import annotations

from html import escape

from ..work.background import Progress


def human_bytes(n: int | float | None) -> str:
    if not n:
        return "–"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") or n >= 100 else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def human_count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}".replace(".0", "")
    return str(n)


def human_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(s)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def progress_bar(p: Progress | None, label: str, note: str = "") -> str:
    """An HTML progress bar with bytes, speed and time left (the Gradio bar shows neither)."""
    fraction = p.fraction if p else 0.0
    if p and p.total:
        figures = (f"{human_bytes(p.done)} of {human_bytes(p.total)} · {human_bytes(p.rate)}/s · "
                   f"{human_seconds(p.eta_seconds)} left")
    else:
        figures = "starting…"
    return (f'<div class="gu-progress"><div class="gu-progress-label">{escape(label)} — {figures}'
            f'{" · " + escape(note) if note else ""}</div>'
            f'<progress max="1" value="{fraction:.4f}"></progress></div>')
