"""Start genai_ui: `python app.py [--host H] [--port P] [--share] [--mcp] [--device D] [--home DIR]`."""

from __future__ import annotations

import logging
import sys

from genai_ui.services import create_services
from genai_ui.settings import Settings


def main(argv: list[str] | None = None) -> None:
    settings = Settings.from_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from genai_ui.ui.app import CSS, build_app, with_queue  # gradio is imported only by the UI

    services = create_services(settings)
    demo = build_app(services)
    with_queue(demo).launch(
        server_name=settings.host, server_port=settings.port, share=settings.share,
        mcp_server=settings.mcp, css=CSS, footer_links=["api", "settings"])


if __name__ == "__main__":
    main(sys.argv[1:])
