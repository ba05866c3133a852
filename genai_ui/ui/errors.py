"""The one place where errors become what a person sees: a user error's own message, or,
for a bug, a short apology while the traceback goes to the server log only.

Handlers are wrapped in user_errors (a handler that shows the error in a component first says so
with error_html, then re-raises); none builds a gr.Error or error HTML of its own."""

from __future__ import annotations

import functools
import inspect
import logging
from html import escape

import gradio as gr

from ..errors import UserError

log = logging.getLogger("genai_ui")


def to_gr_error(err: Exception) -> gr.Error:
    if isinstance(err, gr.Error):
        return err
    if isinstance(err, UserError):
        return gr.Error(str(err), print_exception=False)
    log.exception("Unexpected error")
    return gr.Error(f"Something went wrong on the server ({type(err).__name__}); "
                    "the details are in its log.", print_exception=False)


def user_errors(fn):
    """Wrap a handler (function or generator) so every error reaches the user as a gr.Error."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as err:
                raise to_gr_error(err) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            raise to_gr_error(err) from None
    return wrapper


def error_html(err: Exception | str, fallback: str = "That failed; the server's log has the details.") -> str:
    """An error shown inside a component: a user error's message (or the text given), escaped; for a
    bug, the fallback (its traceback goes to the log when user_errors raises it)."""
    message = err if isinstance(err, str) else str(err) if isinstance(err, UserError) else fallback
    return f'<span class="gu-error">⚠ {escape(message)}</span>'
