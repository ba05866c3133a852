"""OpenAI's image generations on the ImageService: a request read and checked, the images encoded, and,
when a client asks for URLs, kept a while behind unguessable addresses.

Each OpenAI parameter is accepted, ignored or refused as chat.py does; genai_ui's own image settings
(negative_prompt, steps, guidance_scale, seed) may come along, as `extra_body` in OpenAI's SDKs.
"""

from __future__ import annotations

import base64
import io
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from ..errors import InvalidParameter
from ..run.image import ImageParams, ImageResult
from ..run.pngmeta import save_png
from .chat import bad, check_names

ACCEPTED = ("prompt", "model", "n", "size", "response_format", "output_format", "output_compression",
            "negative_prompt", "steps", "guidance_scale", "seed")
IGNORED = {
    "user": "an end-user id for OpenAI's abuse monitoring; nothing here reads it",
    "quality": "the steps set the quality here: send 'steps'",
    "style": "a DALL-E 3 setting; the prompt sets the style here",
    "moderation": "nothing here moderates",
    "background": "a diffusion model paints every pixel",
}
REFUSED = {"stream": "images come whole", "partial_images": "images come whole"}
NEUTRAL = {"stream": (False, None), "partial_images": (0, None)}
FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
DEFAULT_SIZE = 512


@dataclass(frozen=True)
class ImageRequest:
    model: str
    params: ImageParams
    as_url: bool
    format: str
    compression: int


def read_image_request(body: object) -> ImageRequest:
    """A /v1/images/generations body, checked: InvalidParameter (with `param`) names what is wrong."""
    model = check_names(body, ACCEPTED, IGNORED, REFUSED, NEUTRAL).get("model") or ""
    if not isinstance(model, str):
        raise bad("'model' must be a model id from GET /v1/models (a text-to-image one).", "model")
    width, height = _size(body.get("size"))
    kind = body.get("response_format") or "b64_json"
    if kind not in ("b64_json", "url"):
        raise bad("'response_format' must be b64_json or url.", "response_format")
    form = body.get("output_format") or "png"
    if form not in FORMATS:
        raise bad(f"'output_format' must be one of {', '.join(FORMATS)}.", "output_format")
    compression = body.get("output_compression")
    compression = 100 if compression is None else compression
    if isinstance(compression, bool) or not isinstance(compression, int) or not 0 <= compression <= 100:
        raise bad("'output_compression' must be a whole number from 0 to 100.", "output_compression")
    settings = {name: body[name] for name in ("negative_prompt", "steps", "guidance_scale", "seed")
                if body.get(name) is not None}
    try:
        params = ImageParams(prompt=body.get("prompt"), width=width, height=height,
                             num_images=1 if body.get("n") is None else body["n"], **settings)
    except InvalidParameter as err:
        raise bad(str(err).replace("num_images", "n"), param_of(str(err))) from None
    return ImageRequest(model, params, kind == "url", form, compression)


def _size(size: object) -> tuple[int, int]:
    if size in (None, "auto"):
        return DEFAULT_SIZE, DEFAULT_SIZE
    try:
        width, height = (int(side) for side in str(size).lower().split("x"))
    except ValueError:
        raise bad("'size' must be WIDTHxHEIGHT (for example 512x512) or auto.", "size") from None
    return width, height


def param_of(message: str) -> str | None:
    """The parameter an ImageParams message is about: its first word, in OpenAI's names."""
    first = message.split(" ", 1)[0]
    if first == "Describe":
        return "prompt"
    return {"width": "size", "height": "size", "num_images": "n"}.get(first, first if first in ACCEPTED else None)


def encode(result: ImageResult, form: str, compression: int) -> list[bytes]:
    """Each image in the format asked for; a PNG carries its parameters, so it can be made again."""
    from PIL import Image

    meta = result.metadata()
    images = []
    for i, pixels in enumerate(result.images):
        out = io.BytesIO()
        if form == "png":
            save_png(pixels, out, {**meta, "index": i})
        else:
            Image.fromarray(pixels).save(out, format=form.upper(), quality=max(1, compression))
        images.append(out.getvalue())
    return images


def generations(result: ImageResult, images: list[bytes], urls: list[str] | None, form: str) -> dict:
    """OpenAI's response: each image as base64 or a URL; the seed used comes along, so it can be made again."""
    data = [{"url": url} for url in urls] if urls is not None else \
        [{"b64_json": base64.b64encode(image).decode()} for image in images]
    for item in data:
        item["revised_prompt"] = None
    width, height = result.params.width, result.params.height
    return {"created": int(time.time()), "data": data, "output_format": form, "size": f"{width}x{height}",
            "seed": result.params.seed, "model": result.model}


class ImageFiles:
    """Images kept for their URLs: an hour each (as OpenAI's), at most `limit` bytes in all (the oldest go
    first). An address is 32 random bytes: knowing it is the permission to fetch it, as with OpenAI's."""

    TTL_S = 3600

    def __init__(self, limit: int = 256 * 2**20) -> None:
        self.limit = limit
        self._files: OrderedDict[str, tuple[bytes, str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, data: bytes, media_type: str, suffix: str) -> str:
        name = f"{secrets.token_urlsafe(32)}.{suffix}"
        with self._lock:
            self._files[name] = (data, media_type, time.monotonic() + self.TTL_S)
            self._trim()
        return name

    def get(self, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            self._trim()
            found = self._files.get(name)
        return (found[0], found[1]) if found and found[2] > time.monotonic() else None

    def _trim(self) -> None:
        now = time.monotonic()
        total = sum(len(data) for data, _, _ in self._files.values())
        while self._files:
            name, (data, _, expires) = next(iter(self._files.items()))
            if expires > now and total <= self.limit:
                break
            del self._files[name]
            total -= len(data)
