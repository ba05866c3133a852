"""Images a person hands the app: read them, check them, and scale them so memory stays bounded.

A phone photo is 4000x3000 (36 MB as pixels); no vision model here reads more than about
1344 pixels a side, so the picture is scaled before it reaches an engine. JPEGs are decoded
at a reduced size straight away (the decoder scales by 1/2, 1/4 or 1/8), so the full-size
pixels never exist in memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidParameter

MAX_SIDE = 1344  # the largest input of the VLMs openvino_genai runs (MiniCPM-V, Phi-3.5-vision slices)
MAX_PIXELS = 200_000_000  # beyond this a file is more likely a decompression bomb than a photo
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


def load_picture(path: str | Path, *, name: str = "", max_side: int = MAX_SIDE) -> Picture:
    """Read an image file; anything that is not one gets a message saying so."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    name = name or path.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if image.getexif().get(ORIENTATION) in (5, 6, 7, 8):  # stored on its side
                    width, height = height, width
                if width * height > MAX_PIXELS:
                    raise InvalidParameter(f"'{name}' is {width}x{height} pixels; images up to "
                                           f"{MAX_PIXELS // 1_000_000} megapixels are read.")
                image.draft("RGB", (max_side, max_side))  # JPEG: decode at a fraction of the size
                image = ImageOps.exif_transpose(image)  # phones store the rotation apart from the pixels
                image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                pixels = np.asarray(_rgb(image), dtype=np.uint8)
    except (FileNotFoundError, IsADirectoryError):
        raise InvalidParameter(f"The image '{name}' could not be found; upload it again.") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidParameter(f"'{name}' is not an image this app can read ({READABLE}).") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt data
        raise InvalidParameter(f"'{name}' could not be read as an image ({err}); it may be damaged.") from None
    if min(pixels.shape[:2]) < 2:
        raise InvalidParameter(f"'{name}' is {width}x{height} pixels: too small to show anything.")
    return Picture(name=name, original_size=(width, height), pixels=pixels)


def _rgb(image: Any) -> Any:
    """RGB with transparency laid on white, as a viewer shows it; the first frame of an animation."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
