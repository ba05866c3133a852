"""Who is asking, and what they may do: the roles and rules of a shared deployment, in one place.

A request is shared (a visitor's) when the app serves others (--shared, a Space, a share link, an
address other than loopback) or when the request itself came through a proxy or from another
machine: it fails closed. Who asks is read from what the server holds (the connection, the
session's Hugging Face sign-in, the --auth login), never from the request body. The roles, with
what each may do, are in docs/security.md.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from typing import Mapping

from .errors import NotAllowed, SignInRequired
from .settings import Settings

# Hugging Face tokens (hf_…, and OAuth's hf_oauth_…): never in a log line, whoever writes it
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9_]{8,}")
# headers a proxy adds: a request that carries one came from elsewhere, whatever address it arrives from
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host", "x-forwarded-proto")


@dataclass(frozen=True)
class Caller:
    """Who asks, as the server knows them. The default is this machine's own user."""
    shared: bool = False  # a visitor's request, under the shared rules
    operator: bool = True  # may do anything: this machine's user, or one named by --operators
    hub_user: str = ""  # signed in with Hugging Face, from the session (never from the body)
    login: str = ""  # the --auth user
    session: str = ""  # the browser session (or gradio_client instance)
    hub_token: str = field(default="", repr=False)  # the Hub token this request may use

    @property
    def owner(self) -> str:
        """What the library records as who added a model; "" for nobody in particular."""
        if self.hub_user:
            return f"hf:{self.hub_user}"
        if self.login:
            return f"login:{self.login}"
        if self.shared:
            return f"session:{self.session}" if self.session else ""
        return "local"

    @property
    def who(self) -> str:
        return self.hub_user or self.login or ("a visitor" if self.shared else "this machine's user")


# who a page is built for, before anyone asks: it lists only what every visitor may see (each
# session's own models come with its first refresh)
NOBODY = Caller(shared=True, operator=False)
LOCAL = Caller()


def is_loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address((host or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def identify(settings: Settings, *, client_host: str | None, headers: Mapping[str, str] | None = None,
             login: str = "", hub_user: str = "", hub_token: str = "", session_token: str = "",
             session: str = "") -> Caller:
    """The Caller of one request. `hub_user`/`hub_token` must come from the session's sign-in,
    `session_token` from the token the session gave (kept server-side)."""
    names = {k.lower() for k in (headers or {})}
    shared = settings.public or not is_loopback(client_host) or any(h in names for h in PROXY_HEADERS)
    operator = not shared or bool({hub_user, login} & settings.operator_names() - {""})
    own = hub_token or session_token
    # the operator's HF_TOKEN opens their private and gated repos: never to a shared request
    return Caller(shared=shared, operator=operator, hub_user=hub_user, login=login or "", session=session or "",
                  hub_token=own or ("" if shared else settings.hf_token))


def check_remote_code(settings: Settings, caller: Caller, trust_remote_code: bool) -> None:
    if trust_remote_code and caller.shared and not caller.operator and not settings.allow_remote_code:
        raise NotAllowed("Running a repo's own code (trust_remote_code) is off on this shared deployment: "
                         "its operator can allow it with --allow-remote-code.")


def check_engine_options(settings: Settings, caller: Caller) -> None:
    """A chat model's engine options are everyone's: a change reloads it for all and is remembered."""
    if caller.shared and not caller.operator and not settings.allow_engine_options:
        raise NotAllowed("The engine options are set by this shared deployment's operator: a change would reload the "
                         "model for everyone using it. The operator can let visitors change them with "
                         "--allow-engine-options.")


def check_signed_in(settings: Settings, caller: Caller, action: str) -> None:
    """On a Space, `action` ("convert", "publish") needs a signed-in person."""
    if settings.on_space and not caller.hub_user:
        raise SignInRequired(f"Sign in with Hugging Face (the button at the top of the Convert tab) to {action} "
                             f"on this Space.")


def check_delete(caller: Caller, model_id: str, owner: str, builtin: bool) -> None:
    """The built-in models stay; a visitor deletes only what they added; the operator, anything."""
    if builtin:
        raise NotAllowed(f"'{model_id}' is a built-in model: it cannot be deleted (the app needs it).")
    if caller.operator or (owner and owner == caller.owner):
        return
    raise NotAllowed(f"'{model_id}' was added by someone else: on this shared deployment you can delete only the "
                     "models you added yourself (its operator can delete any).")


# environment variables whose values are secrets, redacted wherever they would be written
SECRET_NAME = re.compile(r"(?i)token|secret|passw|key|auth|cookie|credential")
_secrets: set[str] = set()


def remember_secrets(environ: Mapping[str, str]) -> None:
    """The values of the environment's secrets (HF_TOKEN, OAUTH_CLIENT_SECRET, an API key…), so that
    redact() blanks them too, whatever their shape."""
    _secrets.update(v for k, v in environ.items() if SECRET_NAME.search(k) and len(v) >= 8)


def redact(text: str) -> str:
    """The text with every Hugging Face token and every known secret blanked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return TOKEN_PATTERN.sub("hf_***", text)


class RedactTokens(logging.Filter):
    """Blanks tokens and secrets in every record, whatever logger wrote it (ours, huggingface_hub's,
    uvicorn's, a subprocess's output we log), its traceback included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingStream:
    """A text stream that writes whole lines, each redacted: what print(), traceback.print_exc() and
    handlers made later (uvicorn's, Gradio's) write to sys.stdout and sys.stderr."""

    def __init__(self, stream) -> None:
        import threading

        self._stream = stream
        self._pending = ""
        self._lock = threading.Lock()  # threads print at once: none of their text is lost

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                complete, self._pending = self._pending.rsplit("\n", 1)
                self._stream.write(redact(complete + "\n"))
            if len(self._pending) > 65536:  # no newline for long: a progress bar redrawing
                self._flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._stream.write(redact(self._pending))
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name):  # isatty, fileno, encoding, buffer…
        return getattr(self._stream, name)


def redact_logs() -> None:
    """Blanks tokens and secrets in everything the app writes: the root logger's handlers (so records
    of all loggers pass through it), and sys.stdout and sys.stderr themselves, which uvicorn's handlers
    (made when the server starts) and the tracebacks Gradio prints write to."""
    import os
    import sys

    remember_secrets(os.environ)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.stderr):
            handler.setStream(RedactingStream(handler.stream))
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
