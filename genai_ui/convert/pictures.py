"""What compression costs an image model: the same prompts drawn with the same seeds by the compressed model and
by its reference, compared picture by picture with PSNR and SSIM (scikit-image's, the measures the field uses for
a reconstruction against its original), and kept as small JPEGs for a person to see side by side."""

from __future__ import annotations

import base64
import io
from typing import Callable

import numpy as np

# three kinds of picture: a scene with structure, a close texture, a flat graphic
PROMPTS = ("a lighthouse on a rocky cliff at sunset, photograph",
           "a close-up of a tabby cat's fur and whiskers",
           "a red apple on a white plate, simple flat illustration")
SEED = 42
THUMBNAIL = 256  # pixels on the longer side of the JPEGs kept in the report
# SSIM thresholds of the verdicts, after common practice (0.95 is near-identical to the eye; below 0.6 the
# pictures differ in what they show); not calibrated here: no real image model can be fetched on this machine
IMAGE_VERDICTS = (("same", 0.95), ("close", 0.85), ("degraded", 0.6))
IMAGE_VERDICT_MEANS = {
    "same": "the same pictures to the eye",
    "close": "the same pictures, with differences a close look finds",
    "degraded": "the same subjects, visibly changed",
    "broken": "other pictures than the reference draws",
}


def image_verdict(ssim: float) -> str:
    return next((name for name, least in IMAGE_VERDICTS if ssim >= least), "broken")


def compare_pictures(*, reference, candidate, device: str = "CPU", steps: int = 0, prompts=PROMPTS,
                     progress: Callable[[int, int], None] | None = None) -> dict:
    """Each prompt drawn by both models (the model's own size, `steps` denoising steps or its default, one seed),
    with {psnr, ssim} per pair and their means; the reference's pictures are drawn first, then its pipeline is let
    go before the candidate's is loaded."""
    import openvino_genai as og
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    drawn = {}
    total = 2 * len(prompts)
    for n, (name, folder) in enumerate((("reference", reference), ("candidate", candidate))):
        pipe = og.Text2ImagePipeline(str(folder), device)
        config = pipe.get_generation_config()
        settings = {"width": config.width, "height": config.height,
                    "num_inference_steps": steps or config.num_inference_steps}
        pictures = []
        for i, prompt in enumerate(prompts):
            pictures.append(np.array(pipe.generate(prompt, rng_seed=SEED, **settings).data[0]))
            if progress:
                progress(n * len(prompts) + i + 1, total)
        drawn[name] = pictures
        del pipe
    pairs = []
    for prompt, ref, cand in zip(prompts, drawn["reference"], drawn["candidate"]):
        if ref.shape != cand.shape:
            raise ValueError(f"the models draw pictures of different sizes ({ref.shape} and {cand.shape})")
        with np.errstate(divide="ignore"):  # the same picture: no error, an infinite ratio (shown as 99 dB)
            psnr = peak_signal_noise_ratio(ref, cand, data_range=255)
        ssim = structural_similarity(ref, cand, channel_axis=-1, data_range=255)
        pairs.append({"prompt": prompt, "seed": SEED, "psnr": round(float(min(psnr, 99.0)), 2),
                      "ssim": round(float(ssim), 4), "reference_jpeg": _jpeg(ref), "candidate_jpeg": _jpeg(cand)})
    height, width = drawn["reference"][0].shape[:2]
    return {"psnr": round(float(np.mean([p["psnr"] for p in pairs])), 2),
            "ssim": round(float(np.mean([p["ssim"] for p in pairs])), 4),
            "size": f"{width}x{height}", "steps": settings["num_inference_steps"], "pairs": pairs}


def _jpeg(picture: np.ndarray) -> str:
    from PIL import Image

    image = Image.fromarray(picture)
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return base64.b64encode(out.getvalue()).decode("ascii")
