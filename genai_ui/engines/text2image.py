"""Image generation over openvino_genai's Text2ImagePipeline, step by step.

generate() runs on a worker thread (it releases the GIL); its callback, on the engine's
thread, hands each step (and every few steps a decoded preview) to the caller through a
queue, and returns True to interrupt when asked to stop, so Cancel ends the work inside the
engine. An interrupted generation returns no image: nothing half-made is kept.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import GenerationFailed, ModelLoadError, first_line
from ..library import ModelEntry
from .loaded import LoadedPipeline

log = logging.getLogger(__name__)


# How each of the 4 latent channels of Stable Diffusion shows in red, green and blue: a preview made with
# these costs next to nothing, where decoding the latent with the VAE costs as much as several steps.
LATENT_RGB = {
    "sd": ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721),
           (-0.2120, -0.2616, -0.7177)),
    "sdxl": ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362),
             (-0.3165, -0.2492, -0.2188)),
}


@dataclass
class ImagePipelines:
    """The loaded model: Text2ImagePipeline, and what it knows of its sizes and previews."""

    text2image: Any
    image2image: Any  # None when the model cannot start from an image
    inpainting: Any  # None when it cannot repaint a masked part
    size_step: int  # width and height must be multiples of this (the VAE's scale factor)
    default_size: int  # the size the model was trained at
    latent_rgb: tuple | None = None  # None: previews are decoded by the VAE
    adapters: dict = field(default_factory=dict)  # LoRA file -> openvino_genai.Adapter

    def adapter_config(self, weights: dict[str, float]) -> Any:
        """The LoRA adapters at these weights (file -> weight), for generate()."""
        import openvino_genai as og

        return og.AdapterConfig([(self.adapters[path], float(w)) for path, w in weights.items()])

    def preview(self, latent: Any) -> Any:
        """The first image of a latent batch as (height, width, 3) uint8, cheaply where the model allows."""
        import numpy as np

        if self.latent_rgb is None:
            return np.array(self.text2image.decode(latent).data[0])  # a copy: the engine reuses its buffer
        rgb = np.einsum("chw,cr->hwr", np.asarray(latent.data[0], dtype=np.float32), np.asarray(self.latent_rgb))
        small = ((rgb + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
        return small.repeat(self.size_step, axis=0).repeat(self.size_step, axis=1)


def load_image_pipelines(entry: ModelEntry, device: str, adapter_files: tuple[str, ...] = (),
                         cache_dir: str = "") -> ImagePipelines:
    import openvino_genai as og

    folder = entry.load_path
    vae = _config(folder / "vae_decoder" / "config.json")
    unet = _config(folder / "unet" / "config.json") or _config(folder / "transformer" / "config.json")
    size_step = 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)
    default_size = int(unet.get("sample_size", 64)) * size_step
    kind = _config(folder / "model_index.json").get("_class_name", "")
    channels = unet.get("in_channels", 4)
    latent_rgb = None if channels != 4 else LATENT_RGB["sdxl" if "XL" in kind else "sd"]
    adapters = {}
    for path in adapter_files:
        try:
            adapters[path] = og.Adapter(path)
        except RuntimeError as err:
            raise ModelLoadError(f"'{Path(path).name}' is not a LoRA adapter openvino_genai can read "
                                 f"({first_line(err)}).") from err
    options: dict = {"adapters": og.AdapterConfig(list(adapters.values()))} if adapters else {}
    if cache_dir:  # a second load of the same model reads its compiled parts (measured 3.7 s → 1.0 s)
        options["CACHE_DIR"] = cache_dir
    try:  # the three pipelines share one set of compiled models
        inpainting = og.InpaintingPipeline(str(folder), device, **options)
        pipes = (og.Text2ImagePipeline(inpainting), og.Image2ImagePipeline(inpainting), inpainting)
    except RuntimeError as err:
        log.info("%s generates from text only: %s", entry.id, first_line(err))
        pipes = (og.Text2ImagePipeline(str(folder), device, **options), None, None)
    return ImagePipelines(*pipes, size_step, default_size, latent_rgb, adapters)


def _config(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@dataclass(frozen=True)
class Step:
    step: int  # 1-based: steps done
    steps: int
    elapsed_s: float
    preview: Any = None  # (height, width, 3) uint8 array of the first image, every few steps


@dataclass(frozen=True)
class Generated:
    images: list  # (height, width, 3) uint8 arrays
    seconds: float
    step_ms: float  # the engine's mean time per denoising step
    cancelled: bool = False


def generate_steps(loaded: LoadedPipeline, call: Any, cancel: threading.Event,
                   preview_every: int = 0) -> Iterator[Step | Generated]:
    """Yield a Step per denoising step, then Generated. `run(pipelines, callback)` calls one of the
    pipelines' generate (text to image, image to image, inpainting) with the callback."""
    import numpy as np

    pipes = loaded.pipeline
    events: queue.Queue = queue.Queue()
    done = object()
    outcome: dict = {}
    abandoned = threading.Event()
    start = time.perf_counter()

    def callback(step: int, steps: int, latent: Any) -> bool:
        stop = cancel.is_set() or abandoned.is_set()
        preview = None
        if preview_every and not stop and (step + 1) % preview_every == 0 and step + 1 < steps:
            preview = loaded.pipeline.preview(latent)
        events.put(Step(step + 1, steps, time.perf_counter() - start, preview))
        return stop

    def run() -> None:
        try:
            with loaded.lock:
                outcome["images"], used = call(pipes, callback)
                outcome["metrics"] = used.get_performance_metrics()
        except BaseException as err:  # handed to the caller's thread
            outcome["error"] = err
        finally:
            events.put(done)

    worker = threading.Thread(target=run, name="generate-image", daemon=True)
    worker.start()
    step = None
    try:
        while (event := events.get()) is not done:
            step = event
            yield event
        step = None  # the engine is done: whatever follows, nobody left in the middle
        if "error" in outcome:
            err = outcome["error"]
            if isinstance(err, RuntimeError):
                raise GenerationFailed(f"The engine stopped with an error: {first_line(err)}") from err
            raise err
        tensor = outcome["images"]
        images = [] if cancel.is_set() or not tensor.get_size() else [np.array(i) for i in tensor.data]
        iterations = outcome["metrics"].get_iteration_duration().mean if images else 0.0
        yield Generated(images, time.perf_counter() - start, iterations, cancelled=not images)
    finally:
        abandoned.set()
        worker.join()
        if step is not None:
            log.info("Image generation with %s stopped at step %d of %d: its caller went away.", loaded.entry.id,
                     step.step, step.steps)
