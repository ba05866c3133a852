"""Images a person hands the app: read them, check them, and scale them so memory stays bounded.

A phone photo is 4000x3000 (36 MB as pixels); no vision model here reads more than about
1344 pixels a side, so the picture is scaled before it reaches an engine. JPEGs are decoded
at a reduced size straight away (the decoder scales by 1/2, 1/4 or 1/8), so the full-size
pixels never exist in memory.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidParameter

MAX_SIDE = 1344  # the largest input of the VLMs openvino_genai runs (MiniCPM-V, Phi-3.5-vision slices)
# Checked in the header, before a pixel is decoded: a PNG of a few kilobytes can claim 60000x60000, which
# decodes to 10 GB. 120 megapixels takes the largest photos cameras and phones make by default
# (108 MP phones: 12000x9000; 100 MP medium format), and is under PIL's own refusal (179 MP).
MAX_PIXELS = 120_000_000
# The Image tab's start image is decoded by Gradio before any handler runs, in full and three times
# (background, painted layer, composite, each as RGBA and again as numpy): about 1 GB at 50 MP, which still
# takes a 48 MP phone photo (8000x6000); it is scaled to at most 2048 a side afterwards anyway.
MAX_EDIT_PIXELS = 50_000_000
READABLE = "PNG, JPEG, WebP, GIF, BMP or TIFF"
ORIENTATION = 0x0112  # the EXIF tag


@dataclass(frozen=True, eq=False)
class Picture:
    """An image ready for a vision model: RGB pixels, at most MAX_SIDE a side."""

    name: str  # the file's own name, for messages
    original_size: tuple[int, int]  # (width, height) as the file has it
    pixels: Any = field(repr=False)  # numpy uint8 array (height, width, 3)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    @property
    def scaled(self) -> bool:
        return self.size != self.original_size

    def tensor(self) -> Any:
        """The (1, height, width, 3) uint8 tensor openvino_genai's VLMPipeline takes."""
        import openvino as ov

        return ov.Tensor(self.pixels[None])


def load_picture(path: str | Path | IO[bytes], *, name: str = "", max_side: int = MAX_SIDE) -> Picture:
    """Read an image file (or its bytes); anything that is not one gets a message saying so."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path) if isinstance(path, (str, Path)) else path
    name = name or getattr(path, "name", "") or "the image"
    try:
        with open_image(path, name=name) as image:
            width, height = image.size
            if image.getexif().get(ORIENTATION) in (5, 6, 7, 8):  # stored on its side
                width, height = height, width
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at a fraction of the size
            image = ImageOps.exif_transpose(image)  # phones store the rotation apart from the pixels
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            pixels = np.asarray(_rgb(image), dtype=np.uint8)
    except (FileNotFoundError, IsADirectoryError):
        raise InvalidParameter(f"The image '{name}' could not be found; upload it again.") from None
    except UnidentifiedImageError:
        raise InvalidParameter(f"'{name}' is not an image this app can read ({READABLE}).") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt data
        raise InvalidParameter(f"'{name}' could not be read as an image ({err}); it may be damaged.") from None
    if min(pixels.shape[:2]) < 2:
        raise InvalidParameter(f"'{name}' is {width}x{height} pixels: too small to show anything.")
    return Picture(name=name, original_size=(width, height), pixels=pixels)


def check_pixels(width: int, height: int, *, name: str, limit: int = MAX_PIXELS) -> None:
    """Refuse an image whose header claims more than `limit` pixels, before any pixel is decoded."""
    if width * height > limit:
        raise InvalidParameter(f"'{name}' is {width}x{height} pixels ({width * height / 1e6:,.0f} megapixels); "
                               f"images up to {limit / 1e6:,.0f} megapixels are read here.")


def open_image(source: str | Path | IO[bytes], *, name: str, limit: int = MAX_PIXELS) -> Any:
    """The image, opened lazily (PIL reads the header only) and refused if it claims more than `limit` pixels;
    the caller decodes it, so the one check stands before every decode."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # PIL only warns below twice its own limit; the check below refuses, with the size and our limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError as err:  # past 179 MP PIL refuses in open(), before we see the size
        claimed = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(claimed.group(1)) / 1e6:,.0f} megapixels" if claimed else "too many pixels"
        raise InvalidParameter(f"'{name}' claims {size}; images up to {limit / 1e6:,.0f} megapixels are "
                               "read here.") from None
    try:
        check_pixels(*image.size, name=name, limit=limit)
    except InvalidParameter:
        image.close()
        raise
    return image


def _rgb(image: Any) -> Any:
    """RGB with transparency laid on white, as a viewer shows it; the first frame of an animation."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
