"""`python -m genai_ui.bench vision`: the app's /caption against the raw VLMPipeline, same model,
same image, same prompt, greedy, in one run.

The raw side is what a developer writes: read the image with PIL, make a tensor, generate with a
streamer. The app side is a client: it sends the image file with the call (gradio_client, and plain
HTTP with server-sent events) and reads the answer as it streams. Both decode the same tokens.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from .chat import Run, _median, _speed, timed_generation
from .common import install, launch_app, paired, save_result, sse_call, stop, tree_rss

PROMPT = "Describe this image."
MODEL_ID = "bench-vlm"


def make_photo(folder: Path, size=(1280, 960)) -> Path:
    """A photo-like JPEG (gradients and noise), small enough that the app does not scale it: both
    sides give the model the same pixels."""
    import numpy as np
    from PIL import Image

    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h)], -1)
    noise = np.random.default_rng(0).integers(-25, 25, base.shape)
    path = folder / "photo.jpg"
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def raw_run(pipe, image: Path, max_new_tokens: int) -> tuple[Run, str]:
    import numpy as np
    import openvino as ov
    from PIL import Image

    def generate(config, streamer):
        with Image.open(image) as picture:  # reading the image is part of the work, as in the app
            tensor = ov.Tensor(np.asarray(picture.convert("RGB"))[None])
        return pipe.generate(PROMPT, images=[tensor], generation_config=config, streamer=streamer)

    run, result = timed_generation(pipe, max_new_tokens, generate)
    return run, result.texts[0]


def app_run(client, image: Path, tokenizer, max_new_tokens: int) -> tuple[Run, str]:
    from ..ui.client import caption_stream

    start = time.perf_counter()
    first = last = None
    text = ""
    for text in caption_stream(client, str(image), PROMPT, MODEL_ID, max_new_tokens):
        now = time.perf_counter()
        first, last = first or now, now
    return _with_total(_speed(start, first, last, _tokens(tokenizer, text)), start, last), text


def http_run(http, base_url: str, image: Path, tokenizer, max_new_tokens: int) -> tuple[Run, str]:
    """The same call over Gradio's plain HTTP API: upload the file, then read the server-sent events."""
    start = time.perf_counter()
    with image.open("rb") as f:
        (uploaded,) = http.post(f"{base_url}gradio_api/upload", files={"files": (image.name, f)}).json()
    data = [{"path": uploaded, "orig_name": image.name, "meta": {"_type": "gradio.FileData"}}, PROMPT, MODEL_ID,
            max_new_tokens, ""]
    first, last, text = sse_call(http, base_url, "caption", data)
    return _with_total(_speed(start, first, last, _tokens(tokenizer, text)), start, last), text


def _tokens(tokenizer, text: str) -> int:
    return int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])


def _with_total(run: Run, start: float, end: float) -> Run:
    return replace(run, total_s=end - start)  # image file to the whole answer


def default_model() -> Path:
    try:
        from genai_ui.testing.models import smol_llava_ir
    except ImportError:
        sys.exit("Pass --model FOLDER (an OpenVINO vision-language model), or run from the repository with the "
                 "test set-up (`make test-setup`), which builds the bench's own model.")
    return smol_llava_ir()


def bench_vision(runs: int, max_new_tokens: int, output: Path, model_dir: Path | None = None,
                 image: Path | None = None) -> dict:
    import httpx
    import openvino_genai as og

    from ..ui.client import connect

    model_dir = model_dir or default_model()
    work = Path(tempfile.mkdtemp(prefix="genai-ui-bench-vision-"))
    image = image or make_photo(work)
    install(work / "home", model_dir, MODEL_ID, "image-text-to-text")
    server, url, _ = launch_app(str(work / "home"))
    try:
        client, http = connect(url), httpx.Client(timeout=300)
        pipe = og.VLMPipeline(str(model_dir), "CPU")
        tokenizer = pipe.get_tokenizer()
        raw_run(pipe, image, 8), app_run(client, image, tokenizer, 8), http_run(http, url, image, tokenizer, 8)
        raw, app, over_http, same = [], [], [], True
        for i in range(runs):
            (r, raw_text), (a, app_text), (h, http_text) = (
                raw_run(pipe, image, max_new_tokens), app_run(client, image, tokenizer, max_new_tokens),
                http_run(http, url, image, tokenizer, max_new_tokens))
            raw.append(r), app.append(a), over_http.append(h)
            same = same and raw_text == app_text == http_text
            print(f"run {i + 1}: raw {r.decode_tokens_per_s:.1f} tok/s ({r.total_s:.2f} s), app over gradio_client "
                  f"{a.decode_tokens_per_s:.1f} ({a.total_s:.2f} s), over HTTP {h.decode_tokens_per_s:.1f} "
                  f"({h.total_s:.2f} s)")
        app_rss = tree_rss(server.pid)
    finally:
        stop(server)
        shutil.rmtree(work, ignore_errors=True)
    results = {
        "model": model_dir.name, "runs": runs, "max_new_tokens": max_new_tokens, "same_answer": same,
        "raw": _summary(raw), "app": _summary(app), "app_http": _summary(over_http),
        "speed_ratio": paired(app, raw, lambda a, r: a.decode_tokens_per_s / r.decode_tokens_per_s),
        "speed_ratio_http": paired(over_http, raw, lambda a, r: a.decode_tokens_per_s / r.decode_tokens_per_s),
        "total_ratio": paired(app, raw, lambda a, r: r.total_s / a.total_s),
        "total_ratio_http": paired(over_http, raw, lambda a, r: r.total_s / a.total_s),
        "ttft_added_ms": paired(app, raw, lambda a, r: a.ttft_ms - r.ttft_ms),
        "ttft_added_http_ms": paired(over_http, raw, lambda a, r: a.ttft_ms - r.ttft_ms),
        "app_rss_bytes": app_rss,
    }
    save_result(output, "vision", results)
    print(vision_table(results))
    return results


def _summary(runs: list[Run]) -> dict:
    import statistics

    m = _median(runs)
    return {"decode_tokens_per_s": m.decode_tokens_per_s, "ttft_ms": m.ttft_ms, "tokens": m.tokens,
            "total_s": statistics.median(r.total_s for r in runs)}


def vision_table(r: dict) -> str:
    rows = [("openvino_genai VLMPipeline (raw)", r["raw"]), ("genai_ui /caption over gradio_client", r["app"]),
            ("genai_ui /caption over HTTP (SSE)", r["app_http"])]
    lines = [f"{r['model']}, {r['max_new_tokens']} new tokens, greedy, median of {r['runs']} interleaved runs; "
             f"same answer on every path: {'yes' if r['same_answer'] else 'NO'}",
             "", "| path | decode tokens/s | time to first token | image file to whole answer |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {m['decode_tokens_per_s']:.1f} | {m['ttft_ms']:.0f} ms | {m['total_s']:.2f} s |"
              for name, m in rows]
    lines += ["", "| target | measured (gradio_client; HTTP) |", "| --- | ---: |",
              f"| app decode speed / raw ≥ 0.95 | {r['speed_ratio']:.3f}; {r['speed_ratio_http']:.3f} |",
              f"| whole answer, raw time / app time | {r['total_ratio']:.3f}; {r['total_ratio_http']:.3f} |",
              f"| first token added by the app (upload, reading the image) | {r['ttft_added_ms']:.0f} ms; "
              f"{r['ttft_added_http_ms']:.0f} ms |",
              f"| app RSS with the model loaded | {r['app_rss_bytes'] / 1e9:.2f} GB |",
              "", "Differences and ratios are medians over the interleaved runs."]
    return "\n".join(lines)
