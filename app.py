"""Start genai_ui: `python app.py [--host H] [--port P] [--share] [--mcp] [--device D] [--home DIR] …`
(`python app.py --help` lists every flag and the environment variable behind it)."""

from __future__ import annotations

import logging
import sys

from genai_ui.access import redact_logs, remember_secrets
from genai_ui.engines.remote import parse_remotes
from genai_ui.services import create_services
from genai_ui.settings import Settings

log = logging.getLogger("genai_ui")


def main(argv: list[str] | None = None) -> None:
    settings = Settings.from_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact_logs()
    try:
        logins = settings.logins()
        remotes = parse_remotes(settings.remote)
    except ValueError as err:
        sys.exit(f"app.py: {err}")
    # keys given as flags too: blanked wherever they would be written, as the environment's secrets are
    remember_secrets({"API_KEY": settings.api_key, **{f"REMOTE_KEY_{n}": r.key for n, r in enumerate(remotes)}})
    share = settings.share
    if share and settings.on_space:
        log.warning("--share is not offered on a Space: the Space's own address is the link to share.")
        share = False
    from genai_ui.ui.app import build_app, launch_options, with_queue  # gradio is imported only by the UI

    services = create_services(settings)
    demo = build_app(services)
    with_queue(demo).launch(server_name=settings.host, server_port=settings.port, share=share,
                            **launch_options(services, logins))


if __name__ == "__main__":
    main(sys.argv[1:])
