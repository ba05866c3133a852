"""Image generation as a service: what the Image tab and the /generate_image endpoint both call."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Iterator

from .devices import Devices
from .engines.chat import check_number
from .engines.image import Generated, Step, generate_steps
from .engines.pipelines import LoadedPipeline, PipelineManager
from .errors import InvalidParameter, NotAvailable, UserError
from .library import Library

TASK = "text-to-image"
MAX_SIDE = 2048  # a 4096x4096 image took 11 GB here with the tiny test model alone
MAX_PROMPT_CHARS = 2_000


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

    def metadata(self) -> dict:
        """What each image carries in its PNG, to be reproduced."""
        return {**self.params.to_dict(), "model": self.model}

    def summary(self) -> str:
        return (f"seed {self.params.seed} · {self.params.width}×{self.params.height} · {self.params.steps} steps · "
                f"{self.step_ms:.0f} ms a step · {self.seconds:.1f} s in all · model loaded in "
                f"{self.load_ms / 1000:.1f} s")


class ImageService:
    def __init__(self, library: Library, devices: Devices, pipelines: PipelineManager) -> None:
        self.library = library
        self.devices = devices
        self.pipelines = pipelines

    def model_id(self, model: str = "") -> str:
        if model:
            return model
        models = self.library.list(TASK)
        if not models:
            raise NotAvailable("No image model in the library yet: fetch one in the Hub tab (task Image) "
                               "or convert one in the Convert tab.")
        return models[0].id

    def load(self, *, model: str = "", device: str = "") -> LoadedPipeline:
        entry = self.library.get(self.model_id(model), task=TASK)
        return self.pipelines.get(entry, self.devices.resolve(device))

    def generate(self, *, params: ImageParams, model: str = "", device: str = "", preview_every: int = 0,
                 cancel: threading.Event | None = None) -> Iterator[Step | ImageResult]:
        """Yield a Step per denoising step (with a preview every `preview_every` steps; 0: none),
        then the ImageResult. Cancel ends it with GenerationCancelled: no image is kept."""
        check_number("preview_every", preview_every, 0, 150, integer=True)
        loaded = self.load(model=model, device=device)
        params.check_size(loaded.pipeline.size_step)
        if params.seed < 0:
            params = replace(params, seed=secrets.randbelow(2**31))
        return self._run(loaded, params, preview_every, cancel or threading.Event())

    def _run(self, loaded: LoadedPipeline, params: ImageParams, preview_every: int,
             cancel: threading.Event) -> Iterator[Step | ImageResult]:
        settings = dict(negative_prompt=params.negative_prompt, width=params.width, height=params.height,
                        num_inference_steps=params.steps, guidance_scale=params.guidance_scale,
                        rng_seed=params.seed, num_images_per_prompt=params.num_images)
        started = time.perf_counter()
        for event in generate_steps(loaded, params.prompt, settings, cancel, preview_every):
            if isinstance(event, Generated):
                if event.cancelled:
                    raise GenerationCancelled()
                yield ImageResult(event.images, params, loaded.entry.id, loaded.device, loaded.load_ms,
                                  event.step_ms, time.perf_counter() - started)
            else:
                yield event


class GenerationCancelled(UserError):
    def __init__(self) -> None:
        super().__init__("Cancelled: no image was kept.")
