"""What a job could leave behind when it ends, is cancelled or loses its caller: staging folders in the
library, and worker processes (the tests assert there are none)."""

from __future__ import annotations

import psutil

WORKERS = ("optimum_cli", "genai_ui.convert.worker", "genai_ui.convert.quality")


def staged(services) -> list:
    """The library's hidden folders: a model being made (.staging-…) or being deleted (.deleting-…)."""
    return [p for p in services.library.models_dir.iterdir() if p.name.startswith(".")]


def workers() -> list:
    """This process's children that run a conversion's steps."""
    return [p for p in psutil.Process().children(recursive=True) if any(s in " ".join(p.cmdline()) for s in WORKERS)]
