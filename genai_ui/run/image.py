"""Image generation as a service: what the Image tab and the /generate_image endpoint both call."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from ..access import LOCAL, Caller
from ..engines.devices import Devices
from ..engines.llm import check_number
from ..engines.loaded import LoadedPipeline
from ..engines.pictures import Picture
from ..engines.pipelines import PipelineManager
from ..engines.text2image import Generated, Step, generate_steps
from ..errors import Cancelled, InvalidParameter, NotAvailable
from ..library import Library
from ..manage import ModelAccess

TASK = "text-to-image"
MAX_SIDE = 2048  # a 4096x4096 image took 11 GB here with the tiny test model alone
MAX_PROMPT_CHARS = 2_000


# One request's work, bounded: the engine's time grows with pixels × images × steps, and the other
# visitors of a shared deployment wait behind it
MAX_PIXEL_STEPS = 1024 * 1024 * 2 * 50


@dataclass(frozen=True)
class ImageParams:
    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 20
    guidance_scale: float = 7.5
    seed: int = -1  # -1: a new random seed, reported with the image
    num_images: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InvalidParameter("Describe the image to generate: the prompt is empty.")
        for name in ("prompt", "negative_prompt"):
            text = getattr(self, name)
            if not isinstance(text, str) or len(text) > MAX_PROMPT_CHARS:
                raise InvalidParameter(f"{name} must be text of at most {MAX_PROMPT_CHARS:,} characters.")
        check_number("width", self.width, 64, MAX_SIDE, integer=True)
        check_number("height", self.height, 64, MAX_SIDE, integer=True)
        check_number("steps", self.steps, 1, 150, integer=True)
        check_number("guidance_scale", self.guidance_scale, 0.0, 30.0)
        check_number("seed", self.seed, -1, 2**32 - 1, integer=True)
        check_number("num_images", self.num_images, 1, 8, integer=True)
        work = self.width * self.height * self.num_images * self.steps
        if work > MAX_PIXEL_STEPS:
            raise InvalidParameter(
                f"width × height × images × steps is {self.width}×{self.height}×{self.num_images}×{self.steps} = "
                f"{work / 1e6:,.0f} million; the limit is {MAX_PIXEL_STEPS / 1e6:,.0f} million (for example "
                f"1024×1024, 2 images, 50 steps): lower one of them.")

    def check_size(self, step: int) -> None:
        """Width and height are multiples of the model's step; the message proposes the nearest ones."""
        for name, value in (("width", self.width), ("height", self.height)):
            if value % step:
                low = value - value % step
                raise InvalidParameter(f"{name} must be a multiple of {step} for this model; {value} is not "
                                       f"(try {low} or {low + step}).")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ImageResult:
    images: list  # (height, width, 3) uint8 arrays
    params: ImageParams  # with the seed actually used
    model: str
    device: str
    load_ms: float
    step_ms: float
    seconds: float
    extra: dict = field(default_factory=dict)  # image to image, inpainting: the mode and strength

    def metadata(self) -> dict:
        """What each image carries in its PNG, to be reproduced."""
        return {**self.params.to_dict(), "model": self.model, **self.extra}

    def summary(self) -> str:
        mode = f"{self.extra['mode']} at strength {self.extra['strength']} · " if "mode" in self.extra else ""
        mode += "".join(f"LoRA {name} at {weight} · " for name, weight in self.extra.get("loras", {}).items())
        return (f"{mode}seed {self.params.seed} · {self.params.width}×{self.params.height} · {self.params.steps} steps · "
                f"{self.step_ms:.0f} ms a step · {self.seconds:.1f} s in all · model loaded in "
                f"{self.load_ms / 1000:.1f} s")


class ImageService:
    def __init__(self, library: Library, devices: Devices, pipelines: PipelineManager,
                 access: ModelAccess | None = None) -> None:
        self.library = library
        # which models each caller may see and run (with none given, all of them to a local caller)
        self.access = access or ModelAccess(library, endpoint="")
        self.devices = devices
        self.pipelines = pipelines

    def model_id(self, model: str = "", caller: Caller = LOCAL) -> str:
        """The model asked for, else the first of the library's (of those `caller` may see)."""
        return self.access.view(caller).pick(model, TASK)

    def load(self, *, model: str = "", device: str = "", adapters: tuple[str, ...] = (),
             caller: Caller = LOCAL) -> LoadedPipeline:
        entry = self.access.view(caller).get(self.model_id(model, caller), task=TASK)
        return self.pipelines.get(entry, self.devices.resolve(device), adapters)

    def generate(self, *, params: ImageParams, model: str = "", device: str = "", preview_every: int = 0,
                 image: Picture | None = None, mask: Any = None, strength: float = 0.75,
                 loras: dict[str, float] | None = None,
                 cancel: threading.Event | None = None, caller: Caller = LOCAL) -> Iterator[Step | ImageResult]:
        """Yield a Step per denoising step (with a preview every `preview_every` steps; 0: none),
        then the ImageResult. Cancel ends it with Cancelled: no image is kept.

        With `image`, start from it (image to image; `strength` 1 replaces it all); with a `mask` too
        ((height, width) array, non-zero where to paint), repaint only that part (inpainting). Both are
        scaled to the size asked for. `loras`: LoRA .safetensors files with a weight each (a new set of
        files reloads the model: openvino_genai builds them into it)."""
        check_number("preview_every", preview_every, 0, 150, integer=True)
        check_number("strength", strength, 0.0, 1.0, low_open=True)
        if mask is not None and image is None:
            raise InvalidParameter("A mask needs the image it belongs to.")
        loras = dict(loras or {})
        for path, weight in loras.items():
            check_number(f"the weight of {Path(path).name}", weight, -4.0, 4.0)
            if not str(path).endswith(".safetensors") or not Path(path).is_file():
                raise InvalidParameter(f"'{Path(path).name}' is not a LoRA file: adapters are .safetensors files.")
        loaded = self.load(model=model, device=device, adapters=tuple(sorted(loras)), caller=caller)
        params.check_size(loaded.pipeline.size_step)
        mode = "inpainting" if mask is not None else "image-to-image" if image is not None else "text-to-image"
        if mode != "text-to-image" and loaded.pipeline.image2image is None:
            raise NotAvailable(f"'{loaded.entry.id}' generates from text only: openvino_genai cannot start it "
                               "from an image.")
        if params.seed < 0:
            params = replace(params, seed=secrets.randbelow(2**31))
        inputs = _inputs(params, image, mask)
        extra = {} if mode == "text-to-image" else {"mode": mode, "strength": strength}
        if loras:
            extra["loras"] = {Path(path).name: weight for path, weight in loras.items()}
        adapters = loaded.pipeline.adapter_config(loras) if loras else None
        return self._run(loaded, params, mode, inputs, strength, extra, preview_every, cancel or threading.Event(),
                         adapters)

    def _run(self, loaded: LoadedPipeline, params: ImageParams, mode: str, inputs: tuple, strength: float,
             extra: dict, preview_every: int, cancel: threading.Event, adapters: Any) -> Iterator[Step | ImageResult]:
        settings = dict(negative_prompt=params.negative_prompt, width=params.width, height=params.height,
                        num_inference_steps=params.steps, guidance_scale=params.guidance_scale,
                        rng_seed=params.seed, num_images_per_prompt=params.num_images)

        if adapters is not None:
            settings["adapters"] = adapters

        if mode != "text-to-image":
            settings["strength"] = strength

        def run(pipes, callback):
            pipe = {"text-to-image": pipes.text2image, "image-to-image": pipes.image2image,
                    "inpainting": pipes.inpainting}[mode]
            return pipe.generate(params.prompt, *inputs, callback=callback, **settings), pipe

        started = time.perf_counter()
        for event in generate_steps(loaded, run, cancel, preview_every):
            if isinstance(event, Generated):
                if event.cancelled:
                    raise Cancelled("Cancelled: no image was kept.")
                yield ImageResult(event.images, params, loaded.entry.id, loaded.device, loaded.load_ms,
                                  event.step_ms, time.perf_counter() - started, extra)
            else:
                yield event


def _inputs(params: ImageParams, image: Picture | None, mask: Any) -> tuple:
    """The image (and mask) as the pipelines take them: (1, height, width, 3) uint8 tensors of the size asked for."""
    if image is None:
        return ()
    import numpy as np
    import openvino as ov
    from PIL import Image

    size = (params.width, params.height)
    pixels = np.asarray(Image.fromarray(image.pixels).resize(size, Image.Resampling.LANCZOS))
    tensors = [ov.Tensor(np.ascontiguousarray(pixels[None]))]
    if mask is not None:
        painted = Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)
        if not np.asarray(painted).any():
            raise InvalidParameter("The mask is empty: paint over the part of the image to repaint.")
        tensors.append(ov.Tensor(np.ascontiguousarray(np.repeat(np.asarray(painted)[None, :, :, None], 3, axis=3))))
    return tuple(tensors)


