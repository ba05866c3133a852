"""Questions about images: the real VLMPipeline on the tiny LLaVA that the app's own convert path
made from the local Hub (conftest's vision_model), through the core's VisionService and /caption."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from genai_ui.engines.llm import GenerationParams
from genai_ui.engines.pictures import MAX_SIDE, load_picture
from genai_ui.errors import EmptyMessage, InvalidParameter, ModelLoadError, WrongTask
from genai_ui.run.vision import MAX_IMAGES, user_message
from tests.models import copy_as_architecture

GREEDY = GenerationParams(temperature=0.0, max_new_tokens=24)


def last(updates):
    *_, final = updates
    return final


def picture_file(folder: Path, name: str, size=(64, 48), seed=0, quality=None) -> Path:
    """A photo-like image: smooth colour gradients with a little noise."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), np.full_like(x, 90)], -1)
    pixels = np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)
    path = folder / name
    Image.fromarray(pixels).save(path, **({"quality": quality} if quality else {}))
    return path


def solid(folder: Path, name: str, rgb: tuple) -> Path:
    path = folder / name
    Image.new("RGB", (64, 48), rgb).save(path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("images")
    notes = folder / "notes.png"
    notes.write_text("These are my notes, not a picture.")
    return {"red": solid(folder, "red.png", (255, 0, 0)), "blue": solid(folder, "blue.png", (0, 0, 255)),
            "small": picture_file(folder, "small.jpg", (640, 480), quality=90),
            "photo": picture_file(folder, "photo.jpg", (4000, 3000), quality=90), "notes": notes}


def ask(services, model, messages, params=GREEDY, cancel=None):
    return list(services.vision.reply(messages=messages, model=model.id, params=params, cancel=cancel))


def test_the_answer_streams(services, vision_model, images):
    updates = list(services.vision.caption(image=images["red"], model=vision_model.id, max_new_tokens=300))
    assert len(updates) > 2, "the answer should stream in several updates"
    assert all(updates[i].text.startswith(updates[i - 1].text) for i in range(1, len(updates)))
    m = updates[-1].metrics
    assert updates[-1].text and m.output_tokens > 10 and m.ttft_ms > 0 and m.tokens_per_s > 0
    assert m.seed is None  # greedy: the same image and question give the same answer
    text_only = last(services.vision.reply(messages=[user_message("Describe this image.", [])],
                                           model=vision_model.id, params=GREEDY)).metrics.input_tokens
    assert m.input_tokens > text_only + 20, "the image's tokens are in the prompt"


def test_follow_ups_about_the_same_image_and_a_new_one(services, vision_model, images):
    red, blue = load_picture(images["red"]), load_picture(images["blue"])
    first = last(ask(services, vision_model, [user_message("", [red])]))
    assert last(ask(services, vision_model, [user_message("", [blue])])).text != first.text, \
        "another image gives another answer: the pixels reach the model"
    turn1 = [user_message("", [red]), {"role": "assistant", "content": first.text}]
    same = last(ask(services, vision_model, turn1 + [user_message("What colour is it?", [])]))
    without = last(ask(services, vision_model, [user_message("Describe this image.", []),
                                                {"role": "assistant", "content": first.text},
                                                user_message("What colour is it?", [])]))
    per_image = same.metrics.input_tokens - without.metrics.input_tokens
    assert per_image > 20, "the first turn's image is still in the follow-up's prompt"
    new = last(ask(services, vision_model, turn1 + [user_message("And this one?", [blue])]))
    several = last(ask(services, vision_model, turn1 + [user_message("Compare them.", [blue, red])]))
    assert new.text and several.text
    assert several.metrics.input_tokens - new.metrics.input_tokens >= per_image  # one image more
    # nothing stays in the shared pipeline between calls: another conversation in between changes nothing
    again = last(ask(services, vision_model, turn1 + [user_message("What colour is it?", [])]))
    assert (again.text, again.metrics.input_tokens) == (same.text, same.metrics.input_tokens)


def test_a_long_conversation_drops_its_oldest_turns_with_their_images(services, vision_model, images):
    red = load_picture(images["red"])
    messages = []
    for i in range(12):
        messages += [user_message(f"Picture {i}: what is in it? " * 3, [red]), {"role": "assistant", "content": "x" * 60}]
    messages.append(user_message("And now?", [red]))
    final = last(ask(services, vision_model, messages, GenerationParams(temperature=0.0, max_new_tokens=64)))
    assert final.metrics.dropped_messages > 0 and "oldest messages left out" in final.metrics.summary()
    assert final.metrics.input_tokens + 64 <= vision_model.context_length == 512


def test_a_large_photo_is_scaled_and_memory_stays_bounded(services, vision_model, images):
    photo = load_picture(images["photo"])
    assert photo.original_size == (4000, 3000) and photo.size == (MAX_SIDE, 1008) and photo.scaled
    assert last(services.vision.caption(image=images["photo"], model=vision_model.id, max_new_tokens=8)).text
    # each in a fresh process, so the peak is this job's own
    small, large = (_peak_rss(services, vision_model, images[name]) for name in ("small", "photo"))
    assert large - small < 300 * 2**20, f"{(large - small) / 2**20:.0f} MB more for the 4000x3000 photo"


PEAK = """
import json, sys
from pathlib import Path
from genai_ui.engines.devices import Devices
from genai_ui.work.background import own_peak_bytes
from genai_ui.engines.pipelines import PipelineManager
from genai_ui.library import Library
from genai_ui.run.vision import VisionService
service = VisionService(Library(Path(sys.argv[1])), Devices("CPU"), PipelineManager())
*_, final = service.caption(image=sys.argv[3], model=sys.argv[2], max_new_tokens=8)
print(json.dumps({"peak": own_peak_bytes()}))  # VmHWM: ru_maxrss would carry pytest's own mark over exec
"""


def _peak_rss(services, model, image: Path) -> int:
    out = subprocess.run([sys.executable, "-c", PEAK, str(services.library.models_dir), model.id, str(image)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent).stdout
    return json.loads(out.strip().splitlines()[-1])["peak"]


def test_what_is_not_an_image_is_refused_clearly(services, vision_model, images, tmp_path):
    with pytest.raises(InvalidParameter, match=r"'notes.png' is not an image this app can read \(PNG, JPEG"):
        services.vision.caption(image=images["notes"], model=vision_model.id)
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(images["small"].read_bytes()[:5000])
    with pytest.raises(InvalidParameter, match="'damaged.jpg' could not be read as an image .* it may be damaged"):
        services.vision.caption(image=damaged, model=vision_model.id)
    with pytest.raises(EmptyMessage):
        services.vision.reply(messages=[user_message("  ", [])], model=vision_model.id)
    red = load_picture(images["red"])
    with pytest.raises(InvalidParameter, match=f"up to {MAX_IMAGES} are kept. Clear it"):
        services.vision.reply(messages=[user_message("hi", [red] * 8), {"role": "assistant", "content": "ok"}] * 2
                              + [user_message("and?", [red])], model=vision_model.id)
    with pytest.raises(WrongTask, match="is a text-generation model; this needs an image-text-to-text model"):
        services.vision.caption(image=images["red"], model="SmolLM2-135M-Instruct-Q4_1")


def test_stop_ends_the_answer_inside_the_engine(services, vision_model, images):
    cancel = threading.Event()
    params = GenerationParams(temperature=0.0, max_new_tokens=400, ignore_eos=True)
    updates = []
    for update in services.vision.reply(messages=[user_message("", [load_picture(images["red"])])],
                                        model=vision_model.id, params=params, cancel=cancel):
        updates.append(update)
        cancel.set()
    m = updates[-1].metrics
    assert m.finish == "cancelled" and m.output_tokens < 100 and "stopped" in m.summary()


def test_an_architecture_the_pipeline_does_not_run_is_refused_when_picked(services, vision_model, client, images):
    copy_as_architecture(services.library, vision_model, "florence-like", "florence2")
    try:
        with pytest.raises(ModelLoadError, match="VLMPipeline does not run the florence2 architecture"):
            services.vision.load(model="florence-like")
        with pytest.raises(AppError, match="VLMPipeline does not run the florence2 architecture"):
            client.predict(handle_file(str(images["red"])), model="florence-like", api_name="/caption")
    finally:
        services.library.delete("florence-like")


def test_caption_endpoint_streams_the_answer(client, vision_model, images):
    outputs = list(client.submit(handle_file(str(images["red"])), "Describe this image.", vision_model.id, 300, "",
                                 api_name="/caption"))
    assert len(outputs) > 2 and all(b.startswith(a) for a, b in zip(outputs, outputs[1:]))
    # greedy: the same image and prompt give the same answer, and the defaults are the documented ones
    assert client.predict(handle_file(str(images["red"])), model=vision_model.id, max_new_tokens=300,
                          api_name="/caption") == outputs[-1]


def test_caption_endpoint_refuses_bad_input_clearly(client, vision_model, images):
    with pytest.raises(AppError, match="'notes.png' is not an image this app can read"):
        client.predict(handle_file(str(images["notes"])), model=vision_model.id, api_name="/caption")
    # a bare path would name a file on the server: only files sent with the call are read
    with pytest.raises(AppError, match=r"image must be an image file sent with the call: .*handle_file"):
        client.predict(str(images["red"]), model=vision_model.id, api_name="/caption")
    with pytest.raises(AppError, match="max_new_tokens must be at least 1"):
        client.predict(handle_file(str(images["red"])), model=vision_model.id, max_new_tokens=0, api_name="/caption")
