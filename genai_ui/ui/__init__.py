"""The Gradio layer: thin handlers over the core. Only this package imports gradio."""

from .app import build_app

__all__ = ["build_app"]
