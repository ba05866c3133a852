"""Generated images as PNG files where Gradio serves them from (its upload cache), each carrying
its parameters (run/pngmeta.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gradio.utils import get_upload_folder

from ..run.image import ImageResult
from ..run.pngmeta import save_png


def save_pngs(result: ImageResult) -> list[str]:
    os.makedirs(get_upload_folder(), exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="genai_ui-images-", dir=get_upload_folder()))
    meta = result.metadata()
    return [str(save_png(pixels, folder / f"{meta['model']}-{meta['seed']}-{i + 1}.png", {**meta, "index": i}))
            for i, pixels in enumerate(result.images)]
