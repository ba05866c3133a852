"""Generation parameters inside PNG files: written with each image, read back from a dropped one.

Two text chunks: `genai_ui` holds the exact values as JSON; `parameters` holds them in the
format AUTOMATIC1111's web UI and others write and read, so those tools read ours, and an
image they made restores its prompt, seed, steps, guidance and size here.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from ..engines.pictures import MAX_PIXELS, check_pixels
from ..errors import InvalidParameter

KEY = "genai_ui"
SIGNATURE = b"\x89PNG\r\n\x1a\n"
WANTED = (KEY, "parameters")
MAX_TEXT_BYTES = 1 << 20  # a prompt is at most 2,000 characters and a tool's parameters a few KB


def save_png(pixels: Any, path: Path | BinaryIO, metadata: dict) -> Path | BinaryIO:
    """The image as a PNG with its parameters, in a file (or a stream: /v1 sends the bytes)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(KEY, json.dumps(metadata))
    info.add_text("parameters", a1111_text(metadata))
    Image.fromarray(pixels).save(path, format="PNG", pnginfo=info)
    return path


def a1111_text(m: dict) -> str:
    lines = [m.get("prompt", "")]
    if m.get("negative_prompt"):
        lines.append(f"Negative prompt: {m['negative_prompt']}")
    lines.append(f"Steps: {m.get('steps')}, CFG scale: {m.get('guidance_scale')}, Seed: {m.get('seed')}, "
                 f"Size: {m.get('width')}x{m.get('height')}, Model: {m.get('model', '')}")
    return "\n".join(lines)


def read_png_parameters(path: str | Path, *, name: str = "") -> dict | None:
    """The parameters a PNG carries (ours, or another tool's `parameters` text); None when it has none.

    The chunks are walked and the pixels never decoded (PIL's `text` decodes the whole image to find
    text after the pixels); a PNG whose header claims more than MAX_PIXELS is refused like any image."""
    text = png_text(path, name=name or Path(path).name)
    if KEY in text:
        try:
            ours = json.loads(text[KEY])
        except ValueError:
            ours = None
        if isinstance(ours, dict):
            return ours
    try:
        return _parse_a1111(text["parameters"]) if "parameters" in text else None
    except ValueError:  # "Steps: many": text that only looks like AUTOMATIC1111's
        return None


def png_text(path: str | Path, *, name: str) -> dict[str, str]:
    """The WANTED text chunks of a PNG, wherever they are; each chunk's length is checked against the file."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != SIGNATURE:
                raise InvalidParameter(f"'{name}' is not a PNG file.")
            return _walk(f, os.fstat(f.fileno()).st_size, name)
    except (FileNotFoundError, IsADirectoryError):
        raise InvalidParameter(f"The PNG '{name}' could not be found; drop it again.") from None
    except OSError as err:
        raise InvalidParameter(f"'{name}' could not be read ({err.strerror}).") from None


def _walk(f: BinaryIO, size: int, name: str) -> dict[str, str]:
    found: dict[str, str] = {}
    kind, first = b"", True
    while kind != b"IEND" and len(found) < len(WANTED):
        head = f.read(8)
        if len(head) < 8:
            raise _damaged(name, "it ends before its last chunk")
        length, kind = struct.unpack(">I4s", head)
        if length + 4 > size - f.tell():
            raise _damaged(name, f"a {kind.decode('latin-1')!r} chunk claims {length:,} bytes, more than the "
                                 f"file holds")
        if first and (kind != b"IHDR" or length != 13):
            raise _damaged(name, "it does not start with its header")
        if not (first or kind in (b"tEXt", b"zTXt", b"iTXt")) or length > MAX_TEXT_BYTES:
            f.seek(length + 4, 1)  # pixels (IDAT) and everything else: skipped, never decompressed
            continue
        data, (crc,) = f.read(length), struct.unpack(">I", f.read(4))
        if zlib.crc32(kind + data) != crc:
            raise _damaged(name, f"its {kind.decode('latin-1')} chunk fails its checksum")
        if first:
            check_pixels(*struct.unpack(">II", data[:8]), name=name, limit=MAX_PIXELS)
            first = False
            continue
        key, value = _text_chunk(kind, data)
        if key in WANTED and value is not None:
            found[key] = value
    return found


def _text_chunk(kind: bytes, data: bytes) -> tuple[str, str | None]:
    """(keyword, text) of a tEXt, zTXt or iTXt chunk; text is read only for the WANTED keywords."""
    key, _, rest = data.partition(b"\0")
    keyword = key.decode("latin-1")
    if keyword not in WANTED:
        return keyword, None
    if kind == b"tEXt":
        return keyword, rest.decode("latin-1")
    if kind == b"zTXt":
        return keyword, _inflate(rest[1:], "latin-1")
    compressed, rest = rest[:1] == b"\1", rest[2:]
    _language, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return keyword, _inflate(text, "utf-8") if compressed else text.decode("utf-8", "replace")


def _inflate(data: bytes, encoding: str) -> str | None:
    """Compressed text, up to MAX_TEXT_BYTES once inflated: a few bytes of zlib can inflate to gigabytes."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data, MAX_TEXT_BYTES)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else text.decode(encoding, "replace")


def _damaged(name: str, why: str) -> InvalidParameter:
    return InvalidParameter(f"'{name}' is damaged: {why}; it cannot be read as a PNG.")


def _parse_a1111(text: str) -> dict | None:
    *head, last = text.strip().split("\n")
    fields = dict(re.findall(r"\s*([\w ]+):\s*([^,]+)", last))
    if "Steps" not in fields:
        return None
    prompt, negative = [], []
    for line in head:
        (negative if negative or line.startswith("Negative prompt:") else prompt).append(line)
    params: dict = {"prompt": "\n".join(prompt),
                    "negative_prompt": "\n".join(negative).removeprefix("Negative prompt:").strip()}
    for key, name, kind in (("Steps", "steps", int), ("CFG scale", "guidance_scale", float), ("Seed", "seed", int)):
        if key in fields:
            params[name] = kind(fields[key].strip())
    if "Size" in fields and "x" in fields["Size"]:
        params["width"], params["height"] = (int(v) for v in fields["Size"].strip().split("x"))
    if "Model" in fields:
        params["model"] = fields["Model"].strip()
    return params
