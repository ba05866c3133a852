"""`python -m genai_ui.bench image`: the app's /generate_image against the raw Text2ImagePipeline, same
model, size, steps and seed, in one run; and the cost of the Image tab's live previews.

raw: Text2ImagePipeline.generate, as a developer calls it. app: /generate_image over gradio_client,
from the call to the PNG files on the client's disk. previews: the core's ImageService with a preview
every few steps (what the Image tab runs), in this process.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from .common import launch_app, paired, save_result, stop, tree_rss

PROMPT = "a lighthouse on a cliff at sunset, oil painting"
MODEL_ID = "bench-sd"


def raw_run(pipe, size: int, steps: int, seed: int) -> float:
    start = time.perf_counter()
    pipe.generate(PROMPT, width=size, height=size, num_inference_steps=steps, rng_seed=seed)
    return time.perf_counter() - start


def app_run(client, size: int, steps: int, seed: int) -> float:
    start = time.perf_counter()
    files = client.predict(PROMPT, "", MODEL_ID, size, size, steps, 7.5, seed, 1, "", api_name="/generate_image")
    assert len(files) == 1
    return time.perf_counter() - start


def preview_run(service, size: int, steps: int, seed: int, every: int) -> tuple[float, int]:
    from ..run.image import ImageParams

    start = time.perf_counter()
    previews = 0
    for event in service.generate(params=ImageParams(PROMPT, width=size, height=size, steps=steps, seed=seed),
                                  model=MODEL_ID, preview_every=every):
        previews += getattr(event, "preview", None) is not None
    return time.perf_counter() - start, previews


def default_model() -> Path:
    try:
        from genai_ui.testing.models import bench_sd_ir
    except ImportError:
        sys.exit("Pass --model FOLDER (an OpenVINO text-to-image model), or run from the repository with the "
                 "test set-up (`make test-setup`), which builds the bench's own model.")
    return bench_sd_ir()


def bench_image(runs: int, size: int, steps: int, every: int, output: Path, model_dir: Path | None = None) -> dict:
    import openvino_genai as og

    from ..engines.devices import Devices
    from ..engines.pipelines import PipelineManager
    from ..library import Library
    from ..run.image import ImageService
    from ..ui.client import connect
    from .common import install

    model_dir = model_dir or default_model()
    work = Path(tempfile.mkdtemp(prefix="genai-ui-bench-image-"))
    install(work / "home", model_dir, MODEL_ID, "text-to-image")
    server, url, _ = launch_app(str(work / "home"))
    try:
        client = connect(url)
        pipe = og.Text2ImagePipeline(str(model_dir), "CPU")
        service = ImageService(Library(work / "home" / "models"), Devices("CPU"), PipelineManager())
        raw_run(pipe, size, 2, 0), app_run(client, size, 2, 0), preview_run(service, size, 2, 0, every)  # warm-up
        raw, app, previewed, shown = [], [], [], 0
        for i in range(runs):
            seed = 100 + i
            raw.append(raw_run(pipe, size, steps, seed))
            app.append(app_run(client, size, steps, seed))
            seconds, shown = preview_run(service, size, steps, seed, every)
            previewed.append(seconds)
            print(f"run {i + 1}: raw {raw[-1]:.2f} s, app {app[-1]:.2f} s, with {shown} previews {seconds:.2f} s")
        app_rss = tree_rss(server.pid)
    finally:
        stop(server)
        shutil.rmtree(work, ignore_errors=True)
    import statistics

    results = {
        "model": model_dir.name, "runs": runs, "size": size, "steps": steps, "preview_every": every,
        "previews": shown, "raw_s": statistics.median(raw), "app_s": statistics.median(app),
        "previews_s": statistics.median(previewed),
        "speed_ratio": paired(app, raw, lambda a, r: r / a),
        "speed_ratio_previews": paired(previewed, raw, lambda p, r: r / p),
        "app_rss_bytes": app_rss,
    }
    save_result(output, "image", results)
    print(image_table(results))
    return results


def image_table(r: dict) -> str:
    return "\n".join([
        f"{r['model']}, {r['size']}x{r['size']}, {r['steps']} steps, median of {r['runs']} interleaved runs",
        "", "| path | seconds an image | speed against raw |", "| --- | ---: | ---: |",
        f"| openvino_genai Text2ImagePipeline (raw) | {r['raw_s']:.2f} | 1 |",
        f"| genai_ui /generate_image over gradio_client (PNG on the client's disk) | {r['app_s']:.2f} | "
        f"{r['speed_ratio']:.3f} (target ≥ 0.95) |",
        f"| the Image tab's core with a preview every {r['preview_every']} steps ({r['previews']} previews) | "
        f"{r['previews_s']:.2f} | {r['speed_ratio_previews']:.3f} (target ≥ 0.9) |",
        "", f"App RSS with the model loaded: {r['app_rss_bytes'] / 1e9:.2f} GB. Ratios are medians over the "
        "interleaved runs."])
