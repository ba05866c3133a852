"""Models on another machine: an OpenAI-compatible server (OpenVINO Model Server, vLLM, another genai_ui), for
when one machine is not enough. The Chat and Vision tabs list its models beside the library's, and a reply
streams from it with the same metrics under it, measured where this app sees the chunks; Stop closes the
stream, and the server stops the reply (OpenAI-compatible servers stop a reply whose client left).

A remote is configured by the operator (`--remote URL` or `--remote "URL KEY"`, repeatable). Its key stays
on this server: it is sent to that server only, never shown, logged or handed to a visitor.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

from ..errors import GenerationFailed, InvalidParameter, ModelNotFound, NotAvailable, UserError
from .llm import ChatMetrics, ChatUpdate, GenerationParams, Interval

log = logging.getLogger(__name__)

PREFIX = "remote:"  # a remote model's id in the pickers: remote:<n>:<its id on that server>
LIST_TTL_S = 30.0  # a remote's model list is asked for again after this long
CONNECT_S, READ_S = 5.0, 300.0  # a server that does not answer, or stops sending mid-reply
LIST_S = 3.0  # a server's model list, in all (the first list is waited for; later ones come in the background)
MAX_LIST_BYTES = 4 * 2**20
CHAT, VISION = "text-generation", "image-text-to-text"


@dataclass(frozen=True)
class Remote:
    url: str  # its API's base, as OpenAI's clients take it: http://host:8000/v1 (OVMS: /v3)
    key: str = field(default="", repr=False)

    @property
    def name(self) -> str:
        """host:port, without any user:password the URL holds."""
        return urlsplit(self.url).netloc.rpartition("@")[2]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


def parse_remotes(text: str) -> tuple[Remote, ...]:
    """`URL` or `URL KEY` entries, one per line or separated by commas; a URL that is not http(s) is refused."""
    remotes = []
    for n, entry in enumerate(filter(None, (part.strip() for part in text.replace("\n", ",").split(","))), 1):
        url, _, key = entry.partition(" ")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:  # the entry is not echoed: it may be a key
            raise ValueError(f"--remote takes an http(s) URL of an OpenAI-compatible API (http://host:8000/v1), "
                             f"then optionally a space and its key; entry {n} does not start with one")
        remotes.append(Remote(url.rstrip("/"), key.strip()))
    return tuple(remotes)


@dataclass(frozen=True)
class RemoteModel:
    id: str  # remote:<n>:<model>
    model: str  # its id on the server
    remote: Remote
    task: str  # as the server says (genai_ui does), else "" (OVMS, vLLM: any)

    def label(self) -> str:
        return f"{self.model} · on {self.remote.name}"


def is_remote(model_id: str) -> bool:
    return isinstance(model_id, str) and model_id.startswith(PREFIX)


class RemoteModels:
    """The configured servers' models, and the replies streamed from them. A list is asked for in the
    background when it is older than LIST_TTL_S, so a picker never waits for a server (but for the first
    list, at most LIST_S); a server that does not answer, or sends too much, is left out of it."""

    def __init__(self, remotes: tuple[Remote, ...] = ()) -> None:
        self.remotes = remotes
        self._lock = threading.Lock()
        self._models: list[RemoteModel] = []
        self._at = 0.0  # when the list was asked for
        self._asking: threading.Thread | None = None
        self.notice = ""  # the servers that did not answer the last time (also in the log)

    def list(self, task: str) -> list[RemoteModel]:
        """The models a `task` tab can use: those the server says are of the task, or says nothing of."""
        if not self.remotes:
            return []
        with self._lock:
            first = self._at == 0.0
            if time.monotonic() - self._at > LIST_TTL_S and self._asking is None:
                self._at = time.monotonic()
                self._asking = threading.Thread(target=self._refresh, name="genai_ui-remote-models", daemon=True)
                self._asking.start()
            asking = self._asking
        if first and asking is not None:
            asking.join(LIST_S * 1.5)
        with self._lock:
            return [m for m in self._models if m.task in ("", task)]

    def _refresh(self) -> None:
        models, failed = [], []
        for n, remote in enumerate(self.remotes, 1):
            try:
                models += self._ask_models(n, remote)
            except Exception as err:  # one server down leaves the others listed
                failed.append(remote.name)
                log.warning("The remote server %s did not list its models: %s", remote.name, type(err).__name__)
        with self._lock:
            self._models, self._asking = models, None
            self.notice = f"Not answering: {', '.join(failed)}." if failed else ""

    def _ask_models(self, n: int, remote: Remote) -> list[RemoteModel]:
        """GET /models, within LIST_S in all and MAX_LIST_BYTES (a server that drips or floods is left out)."""
        import httpx

        deadline, body = time.monotonic() + LIST_S, bytearray()
        with httpx.stream("GET", f"{remote.url}/models", headers=remote.headers(), timeout=LIST_S) as answer:
            answer.raise_for_status()
            for part in answer.iter_bytes():
                body += part
                if time.monotonic() > deadline or len(body) > MAX_LIST_BYTES:
                    raise TimeoutError("too slow or too long")
        return [RemoteModel(f"{PREFIX}{n}:{m['id']}", m["id"], remote, m.get("task", ""))
                for m in json.loads(body).get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def get(self, model_id: str, task: str) -> RemoteModel:
        models = self.list(task)
        found = next((m for m in models if m.id == model_id), None)
        if found is None:
            raise ModelNotFound(model_id, [m.id for m in models])
        return found

    def reply(self, model_id: str, messages: list[dict], params: GenerationParams, cancel: threading.Event,
              task: str = CHAT, min_interval: Interval = 0.05) -> Iterator[ChatUpdate]:
        """Stream the remote model's reply to `messages` ({role, content}, and `images` with a vision model)."""
        model = self.get(model_id, task)
        if params.structure is not None and params.structure.calls:
            raise InvalidParameter("Tool calls go to a remote server through its own API, not through this app.")
        return _stream(model, _request(model.model, messages, params), cancel, min_interval)


def _request(model: str, messages: list[dict], params: GenerationParams) -> dict:
    """OpenAI's request for the reply. top_k and the repetition penalty are not in OpenAI's API (a server
    may refuse them), so they are not sent."""
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in messages], "stream": True,
                            "stream_options": {"include_usage": True}, "max_tokens": params.max_new_tokens,
                            "temperature": params.temperature}
    if not params.greedy:
        body["top_p"] = params.top_p
        if params.seed >= 0:
            body["seed"] = params.seed
    if params.stop:
        body["stop"] = list(params.stop)
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(params, name):
            body[name] = getattr(params, name)
    if params.structure is not None and params.structure.json_schema:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "reply", "schema": json.loads(params.structure.json_schema), "strict": True}}
    return body


def _message(m: dict) -> dict:
    if not m.get("images"):
        return {"role": m["role"], "content": m["content"]}
    parts = [{"type": "image_url", "image_url": {"url": _data_url(p.pixels)}} for p in m["images"]]
    return {"role": m["role"], "content": parts + ([{"type": "text", "text": m["content"]}] if m["content"] else [])}


def _data_url(pixels: Any) -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _stream(model: RemoteModel, body: dict, cancel: threading.Event, min_interval: Interval) -> Iterator[ChatUpdate]:
    """The reply as it streams in. The request is sent and read in a worker thread, which Stop (or a reader
    that leaves) ends by closing the connection, even before the server has answered (while it loads the
    model, say)."""
    import httpx

    pieces: queue.Queue = queue.Queue()
    done = object()
    client = httpx.Client(timeout=httpx.Timeout(READ_S, connect=CONNECT_S))
    start = time.perf_counter()

    def read() -> None:
        try:
            with client.stream("POST", f"{model.remote.url}/chat/completions", json=body,
                               headers=model.remote.headers()) as response:
                if response.status_code != 200:
                    kind = InvalidParameter if response.status_code in (400, 404, 413, 422) else GenerationFailed
                    pieces.put((0.0, kind(f"{model.remote.name} refused the request ({response.status_code}): "
                                          f"{_error_of(response)}")))
                    return
                for line in response.iter_lines():
                    if line.startswith("data:") and line[5:].strip() != "[DONE]":
                        pieces.put((time.perf_counter(), json.loads(line[5:])))
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            pieces.put((0.0, NotAvailable(f"{model.remote.name} did not answer ({type(err).__name__}): is the server "
                                          "up?")))
        except Exception as err:  # the connection closed (Stop) or broke
            pieces.put((time.perf_counter(), err))
        finally:
            pieces.put(done)

    return _updates(model, pieces, done, threading.Thread(target=read, daemon=True), client, start, cancel,
                    min_interval, body["max_tokens"], body.get("seed"))


def _updates(model: RemoteModel, pieces: queue.Queue, done: object, reader: threading.Thread, client: Any,
             start: float, cancel: threading.Event, min_interval: Interval, max_new: int,
             seed: int | None) -> Iterator[ChatUpdate]:
    interval = min_interval if callable(min_interval) else (lambda: min_interval)
    text, stamps, usage, finish, last_yield, failure = "", [], {}, "stop", 0.0, None
    reader.start()
    try:
        while not cancel.is_set():
            try:
                item = pieces.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is done:
                break
            at, event = item
            if isinstance(event, UserError):
                raise event
            if isinstance(event, Exception):
                failure = event
                break
            if "error" in event:  # OpenAI's error event, after the stream began
                error = event["error"] if isinstance(event["error"], dict) else {"message": event["error"]}
                kind = InvalidParameter if error.get("type") == "invalid_request_error" else GenerationFailed
                raise kind(f"{model.remote.name} stopped the reply: {error.get('message')}")
            usage = event.get("usage") or usage
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or ""
                finish = choice.get("finish_reason") or finish
                if piece:
                    text += piece
                    stamps.append(at)
            if stamps and time.monotonic() - last_yield >= interval():
                yield ChatUpdate(text)
                last_yield = time.monotonic()
    finally:
        client.close()  # Stop, or a reader that left: the server sees its client go and stops the reply
    if failure is not None and not cancel.is_set():
        raise GenerationFailed(f"The connection to {model.remote.name} broke mid-reply ({type(failure).__name__}).")
    out = usage.get("completion_tokens") or len(stamps)
    speed = (out - 1) / (stamps[-1] - stamps[0]) if out > 1 and len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
    yield ChatUpdate(text, ChatMetrics(
        ttft_ms=(stamps[0] - start) * 1000 if stamps else 0.0, tokens_per_s=speed,
        input_tokens=usage.get("prompt_tokens", 0), output_tokens=out,
        finish="cancelled" if cancel.is_set() else "length" if finish == "length" else "stop", seed=seed,
        max_new_tokens=max_new, engine=f"remote: {model.remote.name}"))


def _error_of(response: Any) -> str:
    """The server's own message (OpenAI's error shape, or its text), short."""
    try:
        response.read()
        body = response.json()
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("error")
        return str(message or body)[:300]
    except Exception:
        try:
            return response.text[:300]
        except Exception:
            return ""
