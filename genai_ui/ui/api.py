"""The named API endpoints (gradio_client and MCP), registered by kind: run_api.py, hub_api.py, convert_api.py and
documents_api.py (what they share: endpoints.py). Names and parameters follow DESIGN.md."""

from __future__ import annotations

from ..services import Services
from .convert_api import register_convert_api
from .documents_api import register_documents_api
from .hub_api import register_hub_api
from .run_api import register_run_api


def register_api(services: Services) -> None:
    """Call inside a gr.Blocks context: every endpoint, in the order of DESIGN.md's table."""
    register_run_api(services)
    register_hub_api(services)
    register_convert_api(services)
    register_documents_api(services)
