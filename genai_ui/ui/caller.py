"""Who sent a Gradio event, read from what the server holds: the connection, the session's
Hugging Face sign-in, the --auth login. Never from the request body (FACTS: Gradio 6.31 builds a
gr.OAuthToken from an `oauth_token` body field when the session has no sign-in)."""

from __future__ import annotations

import gradio as gr

from ..access import Caller, identify
from ..settings import Settings


def caller_of(settings: Settings, request: gr.Request | None, profile: gr.OAuthProfile | None = None,
              oauth: gr.OAuthToken | None = None, session_token: str = "") -> Caller:
    """`profile` comes only from the session; its token is taken only beside it, so a token sent in
    the body without a sign-in is ignored. `session_token` is the one the session gave in the Hub tab."""
    if request is None:  # called from Python, not over HTTP: this process's own user
        return identify(settings, client_host="127.0.0.1", session_token=session_token)
    hub_user = (getattr(profile, "username", "") or "") if profile is not None else ""
    client = getattr(request, "client", None)
    return identify(settings, client_host=getattr(client, "host", None), headers=dict(request.headers or {}),
                    login=getattr(request, "username", None) or "", hub_user=hub_user,
                    hub_token=(oauth.token if hub_user and oauth is not None else ""),
                    session_token=session_token, session=getattr(request, "session_hash", None) or "")
