"""What a visitor of a shared deployment may do: the rules, in one place, with their messages.

A deployment is shared when it runs on a Space, behind a share link, or on an address other
than the loopback one (Settings.public). There, running a repo's own Python code
(trust_remote_code) and how the engine runs a chat model (which every visitor shares) are the
operator's decisions, and on a Space conversions and pushes need a Hugging Face sign-in, so
that each is tied to a person and runs with their own token.
"""

from __future__ import annotations

import logging
import re

from .errors import UserError
from .settings import Settings

# Hugging Face tokens (hf_…, and OAuth's hf_oauth_…): never in a log line, whoever writes it
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9_]{8,}")


class NotAllowed(UserError):
    """The deployment's operator has not allowed this."""


class SignInRequired(UserError):
    """This needs a Hugging Face sign-in."""


def check_remote_code(settings: Settings, trust_remote_code: bool) -> None:
    if trust_remote_code and not settings.remote_code_allowed:
        raise NotAllowed("Running a repo's own code (trust_remote_code) is off on this shared deployment: "
                         "its operator can allow it with --allow-remote-code.")


def check_engine_options(settings: Settings) -> None:
    """A chat model's engine options are everyone's: a change reloads it for all and is remembered."""
    if not settings.engine_options_allowed:
        raise NotAllowed("The engine options are set by this shared deployment's operator: a change would reload the "
                         "model for everyone using it. The operator can let visitors change them with "
                         "--allow-engine-options.")


def check_signed_in(settings: Settings, signed_in: bool, action: str) -> None:
    """On a Space, `action` ("convert", "publish") needs a signed-in person."""
    if settings.on_space and not signed_in:
        raise SignInRequired(f"Sign in with Hugging Face (the button at the top of the Convert tab) to {action} "
                             f"on this Space.")


class RedactTokens(logging.Filter):
    """Blanks Hugging Face tokens in every record, whatever logger wrote it (ours, huggingface_hub's,
    a subprocess's output we log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN_PATTERN.search(message):
            record.msg, record.args = TOKEN_PATTERN.sub("hf_***", message), None
        return True


def redact_logs() -> None:
    """On every handler of the root logger, so records of all loggers pass through it."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())
