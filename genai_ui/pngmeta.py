"""Generation parameters inside PNG files: written with each image, read back from a dropped one.

Two text chunks: `genai_ui` holds the exact values as JSON; `parameters` holds them in the
format AUTOMATIC1111's web UI and others write and read, so those tools read ours, and an
image they made restores its prompt, seed, steps, guidance and size here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

KEY = "genai_ui"


def save_png(pixels: Any, path: Path, metadata: dict) -> Path:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(KEY, json.dumps(metadata))
    info.add_text("parameters", a1111_text(metadata))
    Image.fromarray(pixels).save(path, pnginfo=info)
    return path


def a1111_text(m: dict) -> str:
    lines = [m.get("prompt", "")]
    if m.get("negative_prompt"):
        lines.append(f"Negative prompt: {m['negative_prompt']}")
    lines.append(f"Steps: {m.get('steps')}, CFG scale: {m.get('guidance_scale')}, Seed: {m.get('seed')}, "
                 f"Size: {m.get('width')}x{m.get('height')}, Model: {m.get('model', '')}")
    return "\n".join(lines)


def read_png_parameters(path: str | Path) -> dict | None:
    """The parameters a PNG carries (ours, or another tool's `parameters` text); None when it has none."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            text = dict(getattr(image, "text", {}) or {})
    except (OSError, UnidentifiedImageError):
        return None
    if KEY in text:
        try:
            return json.loads(text[KEY])
        except ValueError:
            pass
    return _parse_a1111(text["parameters"]) if "parameters" in text else None


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
