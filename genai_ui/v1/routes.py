"""The /v1 routes (Starlette, on the app's own server): who may call them, OpenAI's error shape, and the
reply streamed as server-sent events. A reply runs in the same engine as the page's, batched with them;
a client that leaves stops its reply in the engine, as Stop does on the page."""

from __future__ import annotations

import hmac
import io
import json
import logging
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..access import Caller, identify
from ..engines.pictures import load_picture
from ..engines.pipelines import MAX_BATCH
from ..engines.structured import repeats
from ..errors import (
    Busy,
    InvalidParameter,
    ModelNotFound,
    NotAllowed,
    TooLarge,
    UserError,
    WrongKey,
    WrongTask,
)
from ..run.image import ImageResult
from ..run.vision import TASK as VISION
from ..services import Services
from .chat import (
    ChatRequest,
    bad,
    CompletionRequest,
    Deltas,
    chunk,
    completion,
    completion_id,
    finish_reason,
    read_chat_request,
    read_completion_request,
    text_completion,
    usage,
    usage_chunk,
)
from .embeddings import embeddings_reply, read_embeddings_request
from .images import (
    FORMATS,
    ImageFiles,
    encode,
    generations,
    param_of,
    read_image_request,
)
from .snippets import base_url

log = logging.getLogger("genai_ui")

# a chat request's JSON: a history at its bounds (1,000,000 characters, run/conversation.py) fits inside, even
# with every character escaped as JSON's \uXXXX (6 bytes; 12 for a pair), and is refused there with its own message
MAX_BODY_BYTES = 16 * 2**20
# images decoded at once, all /v1 requests together: a small PNG may claim 120 megapixels (360 MB decoded)
DECODING = threading.BoundedSemaphore(2)
MAX_IMAGE_REQUESTS = 4  # image requests running or waiting for the one image engine; one more is told to retry


@dataclass(frozen=True)
class Answer:
    """An error as OpenAI reports it: {"error": {"message", "type", "param", "code"}} with its status code."""
    status: int
    message: str
    kind: str
    code: str
    param: str | None = None

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def api_error(err: Exception) -> Answer:
    """A user error with the status code and type OpenAI's clients expect; a bug as a 500 whose details stay
    in the server's log."""
    message = str(err)
    if isinstance(err, WrongKey):
        return Answer(401, message, "authentication_error", "invalid_api_key")
    if isinstance(err, TooLarge):
        return Answer(413, message, "invalid_request_error", "request_too_large")
    if isinstance(err, ModelNotFound):
        return Answer(404, message, "invalid_request_error", "model_not_found", "model")
    if isinstance(err, WrongTask):
        return Answer(400, message, "invalid_request_error", "model_not_supported", "model")
    if isinstance(err, InvalidParameter):
        return Answer(400, message, "invalid_request_error", "invalid_value", getattr(err, "param", None))
    if isinstance(err, NotAllowed):
        return Answer(403, message, "permission_error", "permission_denied")
    if isinstance(err, Busy):
        return Answer(429, message, "rate_limit_error", "busy")
    if isinstance(err, UserError):
        return Answer(500, message, "server_error", "failed")
    log.exception("Unexpected error in /v1")
    return Answer(500, f"Something went wrong on the server ({type(err).__name__}); the details are in its log.",
                  "server_error", "internal_error")


class Slot:
    """One of the replies /v1 may run at once; given back once, however the reply ends (or never starts)."""

    def __init__(self, pool: threading.BoundedSemaphore) -> None:
        self.pool, self.held = pool, pool.acquire(blocking=False)
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self.held:
                self.held = False
                self.pool.release()


class V1:
    """The routes, on the app's services. `replying` bounds the replies /v1 runs at once (the engine's batch):
    one more is refused with a 429 rather than waiting unseen."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.replying = threading.BoundedSemaphore(MAX_BATCH)
        self.painting = threading.BoundedSemaphore(MAX_IMAGE_REQUESTS)
        self.files = ImageFiles()

    def routes(self) -> list[Route]:
        return [Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/images/generations", self.image_generations, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/images/files/{name}", self.image_file, methods=["GET"])]

    def caller(self, request: Request) -> Caller:
        """Who asks, from the connection and the key: with no key set, /v1 is for this machine's own user only;
        with one, for whoever has it (as a visitor of a shared deployment when the app is shared)."""
        key = self.settings.api_key
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if key and not (scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())):
            raise WrongKey("Incorrect or missing API key: send it as 'Authorization: Bearer <key>' (the operator "
                           "set it with --api-key).")
        client = request.client.host if request.client else None
        caller = identify(self.settings, client_host=client, headers=dict(request.headers), session="v1")
        if caller.shared and not key:
            raise NotAllowed("The OpenAI-compatible API is off on this shared deployment: its operator turns it on "
                             "by setting an API key (--api-key or GENAI_UI_API_KEY).")
        return caller

    async def models(self, request: Request):
        try:
            caller = self.caller(request)
            entries = await anyio.to_thread.run_sync(lambda: self.services.access.list(caller))
        except Exception as err:
            return api_error(err).response()
        return JSONResponse({"object": "list", "data": [
            {"id": e.id, "object": "model", "created": _timestamp(e.created), "owned_by": "genai_ui", "task": e.task}
            for e in entries]})

    async def chat_completions(self, request: Request):
        try:
            caller = self.caller(request)
            ask = await _read(request, read_chat_request)
        except Exception as err:
            return api_error(err).response()
        model = ask.model  # always named: OpenAI's clients require it, and read_chat_request checks it
        try:
            entry = await anyio.to_thread.run_sync(lambda: self.services.access.get(caller, model))
            if entry.task != VISION and ask.images:
                raise WrongTask(model, entry.task, VISION)  # images go to a vision model
        except Exception as err:
            return api_error(err).response()
        return await self._reply(
            request, ask.stream, lambda cancel: self._answer(ask, entry.task == VISION, cancel, caller),
            events=lambda stream, cancel, slot: self._events(stream, cancel, model, ask, slot),
            whole=lambda text, metrics: completion(completion_id(), model, text, metrics, ask.params.structure),
            calls=_calls(ask))

    def _answer(self, ask: ChatRequest, vision: bool, cancel: threading.Event, caller: Caller):
        """The reply's stream: from the ChatService, or for a vision model from the VisionService (the images
        read here, in a worker thread; each within the upload limit)."""
        if not vision:
            return self.services.chat.reply(message=ask.message, history=ask.history, model=ask.model,
                                            system_prompt=ask.system_prompt, params=ask.params, cancel=cancel,
                                            caller=caller)
        limit = self.settings.max_upload_mb * 2**20

        def read(data: bytes, name: str):
            if len(data) > limit:
                raise TooLarge(f"{name} is {len(data):,} bytes; the limit is {limit:,}.")
            with DECODING:
                return load_picture(io.BytesIO(data), name=name)

        return self.services.vision.reply(messages=ask.vision_messages(read), model=ask.model, params=ask.params,
                                          cancel=cancel, caller=caller)

    async def completions(self, request: Request):
        """OpenAI's legacy text completion: what follows a prompt read as it is, without the chat template."""
        try:
            caller = self.caller(request)
            ask = await _read(request, read_completion_request)
        except Exception as err:
            return api_error(err).response()
        cid, created, echo = f"cmpl-{uuid.uuid4().hex}", int(time.time()), ask.prompt if ask.echo else ""
        return await self._reply(
            request, ask.stream, lambda cancel: self.services.chat.complete(
                prompt=ask.prompt, model=ask.model, params=ask.params, cancel=cancel, caller=caller),
            events=lambda stream, cancel, slot: self._completion_events(stream, cancel, ask, cid, created, slot),
            whole=lambda text, metrics: text_completion(cid, ask.model, created, echo + text,
                                                        finish_reason(metrics), metrics, whole=True))

    async def _reply(self, request: Request, stream_it: bool, start, events, whole, calls: bool = False):
        """A reply in one of /v1's MAX_BATCH places: streamed as `events(stream, cancel, slot)` makes it, or
        read to its end and sent as `whole(text, metrics)` makes it."""
        slot = Slot(self.replying)
        if not slot.held:
            return api_error(Busy(f"The server is busy: {MAX_BATCH} replies are running. Try again in a "
                                  "moment.")).response()
        cancel = threading.Event()
        try:
            stream = await anyio.to_thread.run_sync(lambda: start(cancel))
        except Exception as err:
            slot.release()
            return api_error(err).response()
        if stream_it:
            sent = events(stream, cancel, slot)
            weakref.finalize(sent, slot.release)  # a client gone before the first chunk: never started
            return StreamingResponse(sent, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        try:
            text, metrics = "", None
            async for update in _updates(stream, cancel, request, calls):
                text, metrics = update.text, update.metrics or metrics
        except Exception as err:
            return api_error(err).response()
        finally:
            slot.release()
        return JSONResponse(whole(text, metrics))

    async def _completion_events(self, stream, cancel: threading.Event, ask: CompletionRequest, cid: str,
                                 created: int, slot: Slot):
        """/v1/completions' chunks: each new piece of text (the prompt first, with echo), the finish, the usage
        when asked, then [DONE]."""
        sent, metrics = "", None
        try:
            if ask.echo:
                yield _sse(text_completion(cid, ask.model, created, ask.prompt, None))
            async for update in _updates(stream, cancel, None):
                piece, sent, metrics = update.text[len(sent):], update.text, update.metrics or metrics
                if piece:
                    yield _sse(text_completion(cid, ask.model, created, piece, None))
            yield _sse(text_completion(cid, ask.model, created, "", finish_reason(metrics)))
            if ask.include_usage:
                yield _sse({**text_completion(cid, ask.model, created, "", None), "choices": [],
                            "usage": usage(metrics)})
            yield "data: [DONE]\n\n"
        except Exception as err:
            yield _sse(api_error(err).body())
        finally:
            slot.release()

    async def image_generations(self, request: Request):
        """Images from a text-to-image model of the library, whole (as OpenAI sends them), as base64 or URLs."""
        try:
            caller = self.caller(request)
            ask = await _read(request, read_image_request)
        except Exception as err:
            return api_error(err).response()
        slot = Slot(self.painting)
        if not slot.held:
            return api_error(Busy(f"The server is busy: {MAX_IMAGE_REQUESTS} image requests are running or "
                                  "waiting. Try again in a moment.")).response()
        cancel, result = threading.Event(), None
        try:
            steps = await anyio.to_thread.run_sync(lambda: self.services.images.generate(
                params=ask.params, model=ask.model, cancel=cancel, caller=caller))
            async for event in _updates(steps, cancel, request):
                result = event if isinstance(event, ImageResult) else result
            if result is None:  # the client went away: the engine stopped, nobody reads an answer
                return Response(status_code=499)
            images = await anyio.to_thread.run_sync(lambda: encode(result, ask.format, ask.compression))
        except Exception as err:
            if isinstance(err, InvalidParameter) and getattr(err, "param", None) is None:
                err.param = param_of(str(err))  # the model's own bounds (a size it cannot make), in OpenAI's names
            return api_error(err).response()
        finally:
            slot.release()
        urls = None
        if ask.as_url:
            base = base_url(dict(request.headers), from_page=False)  # as the client reached the app
            urls = [f"{base}/images/files/{self.files.keep(image, FORMATS[ask.format], ask.format)}"
                    for image in images]
        return JSONResponse(generations(result, images, urls, ask.format))

    async def embeddings(self, request: Request):
        """Vectors from an embedding model of the library, as OpenAI sends them (floats, or base64 when asked)."""
        try:
            caller = self.caller(request)
            ask = await _read(request, read_embeddings_request)
            vectors, tokens = await anyio.to_thread.run_sync(lambda: self.services.documents.embed(
                texts=list(ask.inputs), model=ask.model, caller=caller))
            if ask.dimensions is not None and ask.dimensions != len(vectors[0]):
                raise bad(f"'{ask.model}' makes vectors of {len(vectors[0])} dimensions, not {ask.dimensions}: "
                          "leave 'dimensions' out.", "dimensions")
        except Exception as err:
            if isinstance(err, InvalidParameter) and getattr(err, "param", None) is None:
                err.param = "input"
            return api_error(err).response()
        return JSONResponse(embeddings_reply(ask, vectors, tokens))

    async def image_file(self, request: Request):
        """An image made for a URL, for an hour; its unguessable address is the permission to fetch it."""
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Answer(404, "No such image: an image's URL lasts an hour.", "invalid_request_error",
                          "not_found").response()
        data, media_type = found
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    async def _events(self, stream, cancel: threading.Event, model: str, ask: ChatRequest, slot: Slot):
        """OpenAI's chunks: the role first, then each new piece of text (and tool call), then the finish (and
        the usage when asked), then [DONE]. An error after the first chunk is sent as an error event, as
        OpenAI does."""
        cid, created, text, metrics = completion_id(), int(time.time()), "", None
        deltas = Deltas(ask.params.structure)
        try:
            yield _sse(chunk(cid, model, created, {"role": "assistant", "content": ""}))
            async for update in _updates(stream, cancel, None, _calls(ask)):
                text, metrics = update.text, update.metrics or metrics
                for delta in deltas.feed(text):
                    yield _sse(chunk(cid, model, created, delta))
            for delta in deltas.feed(text, final=True):
                yield _sse(chunk(cid, model, created, delta))
            yield _sse(chunk(cid, model, created, {}, finish_reason(metrics, deltas.calls > 0)))
            if ask.include_usage:
                yield _sse(usage_chunk(cid, model, created, metrics))
            yield "data: [DONE]\n\n"
        except Exception as err:
            yield _sse(api_error(err).body())
        finally:
            slot.release()


async def _updates(stream, cancel: threading.Event, request: Request | None, calls: bool = False):
    """The reply's updates, each read in a worker thread. Leaving early (the client went away: Starlette
    cancels the response) stops the reply in the engine and closes the stream. With tools (`calls`), a reply
    that writes a call it wrote already is going round: the engine stops it there."""
    done = object()
    try:
        while True:
            update = await anyio.to_thread.run_sync(next, stream, done)
            if update is done:
                return
            if request is not None and await request.is_disconnected():
                log.info("/v1: stopped a reply, its client went away")
                return
            if calls and not cancel.is_set() and repeats(update.text):
                cancel.set()
            yield update
    finally:
        cancel.set()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stream.close)


def _calls(ask: ChatRequest) -> bool:
    return ask.params.structure is not None and ask.params.structure.calls


async def _read(request: Request, read):
    """The request's body, read and checked by `read` in a worker thread (a schema's check, a data: URL's
    decoding), so the event loop serves everyone else meanwhile."""
    body = await _json(request)
    return await anyio.to_thread.run_sync(read, body)


async def _json(request: Request) -> object:
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > MAX_BODY_BYTES:
        raise TooLarge(f"The request is {int(size):,} bytes; the limit is {MAX_BODY_BYTES:,}.")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > MAX_BODY_BYTES:
            raise TooLarge(f"The request is over {MAX_BODY_BYTES:,} bytes, the limit.")
    try:  # in a worker thread, as the request is read: 16 MB of JSON takes the event loop a while
        return await anyio.to_thread.run_sync(lambda: json.loads(body, parse_constant=_not_a_number))
    except ValueError as err:
        if "NaN" in str(err) or "Infinity" in str(err):
            raise InvalidParameter(str(err)) from None
        raise InvalidParameter("The request body is not JSON.") from None


def _not_a_number(name: str) -> None:
    """Python reads NaN and Infinity, which JSON has not: a number no parameter can take."""
    raise ValueError(f"The request body holds {name}, which is not a number JSON has.")


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _timestamp(created: str) -> int:
    try:
        return int(datetime.fromisoformat(created).timestamp()) if created else 0
    except ValueError:
        return 0
