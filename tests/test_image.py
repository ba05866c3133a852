"""Image generation: the real Text2ImagePipeline on the tiny Stable Diffusion that the app's own convert path
made from the local Hub (conftest's image_model), through the core's ImageService and /generate_image."""

import threading

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from genai_ui.engines.text2image import Step
from genai_ui.errors import Cancelled, InvalidParameter, ModelLoadError
from genai_ui.run.image import ImageParams, ImageResult
from genai_ui.run.pngmeta import read_png_parameters, save_png


def generate(services, model, preview_every=0, image=None, mask=None, strength=0.75, loras=None, **params):
    *steps, result = services.images.generate(params=ImageParams(**{"prompt": "a red lighthouse", **params}),
                                              model=model.id, preview_every=preview_every, image=image, mask=mask,
                                              strength=strength, loras=loras)
    assert isinstance(result, ImageResult) and all(isinstance(s, Step) for s in steps)
    return steps, result


def test_the_size_asked_for_and_one_step_each(services, image_model):
    steps, result = generate(services, image_model, width=64, height=96, steps=5, seed=1, num_images=2)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5] and all(s.steps == 5 for s in steps)
    assert len(result.images) == 2 and all(i.shape == (96, 64, 3) and i.dtype == np.uint8 for i in result.images)
    assert result.params.seed == 1 and result.step_ms > 0 and result.load_ms > 0
    assert "seed 1 · 64×96 · 5 steps" in result.summary()


def test_the_same_seed_gives_the_same_pixels_and_another_seed_others(services, image_model):
    _, first = generate(services, image_model, width=64, height=64, steps=4, seed=42)
    _, again = generate(services, image_model, width=64, height=64, steps=4, seed=42)
    _, other = generate(services, image_model, width=64, height=64, steps=4, seed=43)
    assert np.array_equal(first.images[0], again.images[0])
    assert not np.array_equal(first.images[0], other.images[0])
    _, drawn = generate(services, image_model, width=64, height=64, steps=2)  # seed -1: drawn and reported
    assert drawn.params.seed >= 0
    _, redo = generate(services, image_model, width=64, height=64, steps=2, seed=drawn.params.seed)
    assert np.array_equal(drawn.images[0], redo.images[0])


def test_previews_come_every_few_steps(services, image_model):
    steps, _ = generate(services, image_model, width=64, height=64, steps=9, seed=3, preview_every=3)
    assert [s.step for s in steps if s.preview is not None] == [3, 6]  # not the last: the image itself comes then
    assert all(s.preview.shape == (64, 64, 3) for s in steps if s.preview is not None)


def test_parameters_round_trip_through_the_png(services, image_model, tmp_path):
    _, result = generate(services, image_model, width=64, height=64, steps=2, seed=5, negative_prompt="blurry")
    path = save_png(result.images[0], tmp_path / "out.png", result.metadata())
    assert np.array_equal(np.asarray(Image.open(path)), result.images[0])  # lossless
    assert read_png_parameters(path) == {**result.params.to_dict(), "model": image_model.id}
    # another tool's PNG (AUTOMATIC1111's text chunk) restores what it says too
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a castle\\non a hill\nNegative prompt: fog\nSteps: 30, Sampler: Euler a, "
                                "CFG scale: 6.5, Seed: 1234, Size: 768x512, Model: sd15")
    Image.new("RGB", (8, 8)).save(tmp_path / "a1111.png", pnginfo=info)
    assert read_png_parameters(tmp_path / "a1111.png") == {
        "prompt": "a castle\\non a hill", "negative_prompt": "fog", "steps": 30, "guidance_scale": 6.5,
        "seed": 1234, "width": 768, "height": 512, "model": "sd15"}
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert read_png_parameters(tmp_path / "plain.png") is None


def test_bad_sizes_and_values_are_refused_clearly(services, image_model):
    with pytest.raises(InvalidParameter, match=r"width must be a multiple of 2 for this model; 65 is not \(try 64 or 66\)"):
        services.images.generate(params=ImageParams("x", width=65, height=64), model=image_model.id)
    for bad, message in [(dict(width=4096), "width must be at least 64 and at most 2048; got 4096"),
                         (dict(height=32), "height must be at least 64"), (dict(prompt="  "), "the prompt is empty"),
                         (dict(steps=0), "steps must be at least 1"), (dict(num_images=9), "num_images must be")]:
        with pytest.raises(InvalidParameter, match=message):
            ImageParams(**{"prompt": "x", **bad})


def test_cancel_stops_inside_the_engine_and_keeps_nothing(services, image_model):
    cancel = threading.Event()
    seen = []
    with pytest.raises(Cancelled, match="Cancelled: no image was kept."):
        for event in services.images.generate(params=ImageParams("x", width=64, height=64, steps=40),
                                              model=image_model.id, cancel=cancel):
            seen.append(event.step)
            if event.step == 3:
                cancel.set()
    assert seen[-1] <= 5, f"the engine went on to step {seen[-1]} of 40"


def test_generate_image_endpoint_returns_pngs_with_their_parameters(client, image_model):
    files = client.predict("a red lighthouse", "", image_model.id, 64, 96, 3, 7.5, 11, 2, "",
                           api_name="/generate_image")
    assert len(files) == 2
    for path in files:
        assert Image.open(path).size == (64, 96)
        found = read_png_parameters(path)
        assert (found["prompt"], found["seed"], found["steps"], found["model"]) == ("a red lighthouse", 11, 3,
                                                                                    image_model.id)
    with pytest.raises(AppError, match="height must be a multiple of 2 for this model; 97 is not"):
        client.predict("x", "", image_model.id, 64, 97, api_name="/generate_image")


def test_image_to_image_and_inpainting_give_images_of_the_size_asked_for(services, image_model, tmp_path):
    from genai_ui.engines.pictures import load_picture

    Image.new("RGB", (120, 80), (200, 30, 30)).save(tmp_path / "start.png")
    start = load_picture(tmp_path / "start.png")
    params = dict(width=64, height=96, steps=10, seed=9)
    steps, i2i = generate(services, image_model, **params, image=start, strength=0.5)
    assert i2i.images[0].shape == (96, 64, 3) and len(steps) == 5  # strength 0.5: half the steps
    assert i2i.metadata()["mode"] == "image-to-image" and i2i.metadata()["strength"] == 0.5
    _, text_only = generate(services, image_model, **params)
    assert not np.array_equal(i2i.images[0], text_only.images[0]), "the start image shapes the result"
    mask = np.zeros((80, 120), np.uint8)
    mask[20:60, 30:90] = 1
    _, painted = generate(services, image_model, **params, image=start, mask=mask, strength=1.0)
    assert painted.images[0].shape == (96, 64, 3) and painted.metadata()["mode"] == "inpainting"
    with pytest.raises(InvalidParameter, match="The mask is empty"):
        generate(services, image_model, **params, image=start, mask=np.zeros((80, 120), np.uint8))
    with pytest.raises(InvalidParameter, match="A mask needs the image"):
        generate(services, image_model, **params, mask=mask)


def test_the_editor_gives_the_start_image_and_the_painted_mask():
    from genai_ui.ui.image_tab import start_of

    background = np.full((80, 120, 4), 255, np.uint8)
    strokes = np.zeros((80, 120, 4), np.uint8)
    strokes[10:20, 30:40] = (255, 255, 255, 255)
    picture, mask = start_of({"background": background, "layers": [strokes], "composite": background})
    assert picture.size == (120, 80) and picture.pixels.shape == (80, 120, 3)
    assert mask.shape == (80, 120) and mask.sum() == 100
    assert start_of({"background": background, "layers": [np.zeros_like(strokes)]})[1] is None  # image to image
    assert start_of({"background": None, "layers": []}) == (None, None)  # text to image


def test_a_lora_changes_the_image_and_weight_zero_does_not(services, image_model, tmp_path):
    from tests.models import build_tiny_sd_lora

    lora = str(build_tiny_sd_lora(tmp_path / "tiny-style.safetensors"))
    params = dict(width=64, height=64, steps=4, seed=21)
    _, plain = generate(services, image_model, **params)
    _, styled = generate(services, image_model, **params, loras={lora: 1.0})
    _, zero = generate(services, image_model, **params, loras={lora: 0.0})
    # weight 0 is the image without the adapter: to the bit where the CPU computes in f32; within rounding
    # where OpenVINO's CPU default is bf16 (a Xeon with AMX), the adapter's graph rounding otherwise
    changed, off = (np.abs(i.images[0].astype(int) - plain.images[0]).mean() for i in (styled, zero))
    assert off < 2 and changed > 10 * max(off, 1), (changed, off)
    assert styled.metadata()["loras"] == {"tiny-style.safetensors": 1.0}
    (tmp_path / "notes.safetensors").write_text("not an adapter")
    with pytest.raises(ModelLoadError, match="'notes.safetensors' is not a LoRA adapter openvino_genai can read"):
        generate(services, image_model, **params, loras={str(tmp_path / "notes.safetensors"): 1.0})
    with pytest.raises(InvalidParameter, match="adapters are .safetensors files"):
        generate(services, image_model, **params, loras={str(tmp_path / "x.bin"): 1.0})


def test_the_lora_table_gives_each_file_its_weight():
    import pandas as pd

    from genai_ui.ui.image_tab import lora_rows, loras_of

    files = ["/tmp/x/style.safetensors", "/tmp/y/detail.safetensors"]
    assert lora_rows(files, None) == [["style.safetensors", 1.0], ["detail.safetensors", 1.0]]
    table = pd.DataFrame([["style.safetensors", 0.4]], columns=["adapter", "weight"])
    assert lora_rows(files, table) == [["style.safetensors", 0.4], ["detail.safetensors", 1.0]]
    assert loras_of(files, table) == {"/tmp/x/style.safetensors": 0.4, "/tmp/y/detail.safetensors": 1.0}
    assert loras_of(None, table) == {}
