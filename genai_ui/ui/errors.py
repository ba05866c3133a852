"""The one place where errors become what a person sees: a user error's own message, or,
for a bug, a short apology while the traceback goes to the server log only."""

from __future__ import annotations

import functools
import inspect
import logging

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
