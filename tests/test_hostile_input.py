"""Files and names a stranger can hand a shared deployment: image bombs, PNGs and GGUF headers that lie
about their sizes, Hub searches and repo ids by the thousand, checkpoints with nothing to convert."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import gradio as gr
import pytest
from gradio.components.image_editor import EditorData
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from genai_ui.builtin import builtin_gguf
from genai_ui.convert.jobs import convert_model, drain
from genai_ui.convert.options import ExportOptions
from genai_ui.engines.pictures import MAX_EDIT_PIXELS, MAX_PIXELS, load_picture
from genai_ui.errors import InvalidParameter, ModelLoadError, NothingToConvert
from genai_ui.gguf import read_gguf_info
from genai_ui.hub.client import CACHE_ENTRIES, HubService, details
from genai_ui.library import Library
from genai_ui.run.pngmeta import MAX_TEXT_BYTES, read_png_parameters, save_png

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own

PARAMS = {"prompt": "a lighthouse", "negative_prompt": "", "width": 512, "height": 512, "steps": 20,
          "guidance_scale": 7.5, "seed": 42, "num_images": 1, "model": "tiny"}
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def claiming(path: Path, width: int, height: int, text: dict | None = None) -> Path:
    """A 1x1 PNG written by PIL (with `text` chunks) whose header is rewritten to claim width x height."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    Image.new("RGB", (1, 1), (200, 10, 10)).save(path, pnginfo=info)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("bombs")
    blank = folder / "blank.png"  # a real PNG of 144 megapixels: 17 KB on disk, 430 MB as RGB pixels
    Image.new("1", (12000, 12000)).save(blank)
    Image.new("RGB", (64, 48), (10, 120, 200)).save(folder / "small.png")
    return {"huge": claiming(folder / "huge.png", 60000, 60000),
            "over": claiming(folder / "over.png", 15000, 10000),
            "blank": blank,
            "with_parameters": claiming(folder / "params.png", 60000, 60000,
                                        {"genai_ui": json.dumps(PARAMS), "parameters": "x\nSteps: 3, Seed: 1"}),
            "editor": claiming(folder / "editor.png", 10000, 6000),
            "small": folder / "small.png"}


# 1. images are refused from their header, before a pixel is decoded

def test_a_vision_upload_that_claims_too_many_pixels_is_refused_with_its_size(bombs):
    # the 1-pixel file would fail to decode as 15000x10000 ("damaged"): the size message shows it never was
    with pytest.raises(InvalidParameter, match=r"'over.png' is 15000x10000 pixels \(150 megapixels\); "
                                               r"images up to 120 megapixels are read here"):
        load_picture(bombs["over"])
    with pytest.raises(InvalidParameter, match=r"'blank.png' is 12000x12000 pixels \(144 megapixels\); "
                                               r"images up to 120 megapixels"):
        load_picture(bombs["blank"])
    # past PIL's own refusal (179 MP) the size is PIL's count of it
    with pytest.raises(InvalidParameter, match=r"'huge.png' claims 3,600 megapixels; images up to 120 megapixels"):
        load_picture(bombs["huge"])
    assert MAX_PIXELS == 120_000_000
    assert load_picture(bombs["small"]).original_size == (64, 48)  # the same check lets a real size through


def test_the_caption_endpoint_refuses_a_bomb_with_the_message(client, bombs):
    with pytest.raises(AppError) as refused:
        client.predict(handle_file(str(bombs["huge"])), api_name="/caption")
    assert "claims 3,600 megapixels; images up to 120 megapixels are read here" in str(refused.value)
    assert "Something went wrong" not in str(refused.value)


def test_the_start_image_is_refused_before_gradio_decodes_it(bombs):
    from genai_ui.ui.image_tab import StartImageEditor

    editor = StartImageEditor(type="numpy")
    assert editor.get_block_name() == "imageeditor"  # Gradio's own editor draws it
    for name, size in (("editor", "10000x6000 pixels (60 megapixels)"), ("blank", "12000x12000 pixels")):
        with pytest.raises(gr.Error, match=rf"{re.escape(size)}.*images up to 50 megapixels are read here"):
            editor.preprocess(EditorData(background=gr.FileData(path=str(bombs[name]))))
    # a painted layer (a mask) is checked as well as the background
    with pytest.raises(gr.Error, match="60 megapixels"):
        editor.preprocess(EditorData(background=gr.FileData(path=str(bombs["small"])),
                                     layers=[gr.FileData(path=str(bombs["editor"]))]))
    value = editor.preprocess(EditorData(background=gr.FileData(path=str(bombs["small"]))))
    assert value["background"].shape == (48, 64, 4)
    assert MAX_EDIT_PIXELS < MAX_PIXELS


# 2. PNG parameters are read from the chunks, never from the pixels

def png_file(path: Path, *chunks: bytes) -> Path:
    path.write_bytes(SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)) + b"".join(chunks)
                     + chunk(b"IEND", b""))
    return path


def test_parameters_are_read_without_decoding_the_pixels(tmp_path):
    # pixels that cannot be decompressed at all, and the A1111 text after them (where PIL's `text` loads the image)
    path = png_file(tmp_path / "garbage.png", chunk(b"tEXt", b"genai_ui\0" + json.dumps(PARAMS).encode()),
                    chunk(b"IDAT", b"these bytes are not zlib"),
                    chunk(b"tEXt", b"parameters\0a cat\nSteps: 3, CFG scale: 5, Seed: 7, Size: 64x64"))
    with pytest.raises(OSError):
        Image.open(path).load()
    assert read_png_parameters(path) == PARAMS
    only_a1111 = png_file(tmp_path / "late.png", chunk(b"IDAT", b"junk"),
                          chunk(b"tEXt", b"parameters\0a cat\nSteps: 3, CFG scale: 5, Seed: 7, Size: 64x96"))
    assert read_png_parameters(only_a1111) == {"prompt": "a cat", "negative_prompt": "", "steps": 3,
                                               "guidance_scale": 5.0, "seed": 7, "width": 64, "height": 96}


def test_a_bomb_png_with_parameters_is_refused_like_any_image(bombs):
    """The chosen behaviour: refused from its header (as every image is), not read."""
    with pytest.raises(InvalidParameter, match=r"'params.png' is 60000x60000 pixels \(3,600 megapixels\); "
                                               r"images up to 120 megapixels are read here"):
        read_png_parameters(bombs["with_parameters"])
    with pytest.raises(InvalidParameter, match="12000x12000"):
        read_png_parameters(bombs["blank"])


def test_our_pngs_and_other_tools_still_restore(tmp_path):
    import numpy as np

    prompt = {**PARAMS, "prompt": "un château sous la lune ☾"}  # not Latin-1: PIL writes an iTXt chunk
    path = save_png(np.zeros((8, 8, 3), np.uint8), tmp_path / "ours.png", prompt)
    assert read_png_parameters(path) == prompt
    info = PngInfo()
    info.add_text("parameters", "a castle\nSteps: 30, CFG scale: 6.5, Seed: 1234, Size: 768x512", zip=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "zipped.png", pnginfo=info)
    assert read_png_parameters(tmp_path / "zipped.png")["seed"] == 1234
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert read_png_parameters(tmp_path / "plain.png") is None


def test_a_png_that_lies_gets_a_message(tmp_path):
    idat = chunk(b"IDAT", b"x" * 10)
    cut = tmp_path / "cut.png"
    cut.write_bytes((SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)) + idat)[:-6])
    with pytest.raises(InvalidParameter, match=r"'cut.png' is damaged: a 'IDAT' chunk claims 10 bytes, more than "
                                               r"the file holds"):
        read_png_parameters(cut)
    liar = tmp_path / "liar.png"
    liar.write_bytes(SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
                     + struct.pack(">I", 2**31) + b"tEXt" + b"parameters\0x")
    with pytest.raises(InvalidParameter, match="chunk claims 2,147,483,648 bytes, more than the file holds"):
        read_png_parameters(liar)
    (tmp_path / "notes.png").write_text("my notes")
    with pytest.raises(InvalidParameter, match="'notes.png' is not a PNG file"):
        read_png_parameters(tmp_path / "notes.png")
    unended = png_file(tmp_path / "unended.png")
    unended.write_bytes(unended.read_bytes()[:-12])
    with pytest.raises(InvalidParameter, match="'unended.png' is damaged: it ends before its last chunk"):
        read_png_parameters(unended)
    flipped = bytearray(png_file(tmp_path / "flipped.png", chunk(b"tEXt", b"parameters\0a\nSteps: 1")).read_bytes())
    flipped[-20] ^= 0xFF
    (tmp_path / "flipped.png").write_bytes(bytes(flipped))
    with pytest.raises(InvalidParameter, match="'flipped.png' is damaged: its tEXt chunk fails its checksum"):
        read_png_parameters(tmp_path / "flipped.png")
    # text that only looks like AUTOMATIC1111's, ours that is not an object, a zTXt that inflates to 1 GB
    odd = png_file(tmp_path / "odd.png", chunk(b"tEXt", b"genai_ui\0[1, 2]"),
                   chunk(b"tEXt", b"parameters\0a\nSteps: many, Size: axb"))
    assert read_png_parameters(odd) is None
    inflating = png_file(tmp_path / "inflating.png",
                         chunk(b"zTXt", b"parameters\0\0" + zlib.compress(b"Steps: 1, " * (MAX_TEXT_BYTES // 4), 9)))
    assert read_png_parameters(inflating) is None


def test_the_restore_handler_runs_in_the_queue_and_answers_with_a_message(services, bombs, tmp_path):
    from genai_ui.ui.image_tab import build_image_tab

    with gr.Blocks() as demo:
        build_image_tab(services)
    (restore,) = [f for f in demo.fns.values() if f.name == "on_restore"]
    assert restore.queue is True and restore.api_visibility == "private"

    def restored(path) -> list:
        """The handler's {component: update} as Gradio applies it: one update per output, in order."""
        updates = restore.fn(path, None, None, None)
        return [updates.get(output, gr.skip()) for output in restore.outputs]

    *_, note = restored(str(bombs["with_parameters"]))
    assert "60000x60000 pixels" in note and "120 megapixels" in note and "gu-error" in note
    (tmp_path / "notes.png").write_text("my notes")
    *_, note = restored(str(tmp_path / "notes.png"))
    assert "is not a PNG file" in note
    odd = png_file(tmp_path / "typed.png", chunk(b"tEXt", b"genai_ui\0" + json.dumps(
        {**PARAMS, "width": "wide", "steps": True}).encode()))
    *updates, note = restored(str(odd))
    assert updates[0] == "a lighthouse" and updates[6] == 42
    assert updates[2] == updates[4] == gr.skip()  # not a number: left as it is


# 3. GGUF headers are read with bounds

def gguf(path: Path, body: bytes, kv_count: int, tensor_count: int = 0) -> Path:
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, tensor_count, kv_count) + body)
    return path


def key(name: str) -> bytes:
    return struct.pack("<Q", len(name)) + name.encode()


@pytest.mark.parametrize("name, body, kv_count, tensor_count, says", [
    ("strings.gguf", key("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2**40), 1, 0,
     "claims 1,099,511,627,776 array items"),
    ("long.gguf", key("general.name") + struct.pack("<IQ", 8, 10**6) + b"SmolLM2", 1, 0,
     "needs 1,000,000 more bytes"),
    ("huge-string.gguf", key("general.name") + struct.pack("<IQ", 8, 2**62), 1, 0, "claims a string of"),
    ("array.gguf", key("llama.rope") + struct.pack("<IIQ", 9, 0, 2**50), 1, 0, "claims 1,125,899,906,842,624 array"),
    ("keys.gguf", b"", 2**40, 0, "claims 1,099,511,627,776 metadata entries"),
    ("tensors.gguf", b"", 0, 2**60, "claims 1,152,921,504,606,846,976 tensors"),
    ("few-keys.gguf", b"\0" * 100, 1000, 0, "claims 1,000 metadata entries with 100 bytes left in the file"),
    ("truncated.gguf", key("general.architecture") + struct.pack("<IQ", 8, 5) + b"lla", 1, 0, "needs 5 more bytes"),
    ("nested.gguf", key("x") + struct.pack("<II", 9, 9) + struct.pack("<Q", 1) + struct.pack("<IQ", 9, 1)
     + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 0, 0), 1, 0, "nests arrays more than 3 deep"),
    ("dims.gguf", key("t") + struct.pack("<I", 2**31) + b"\0" * 24, 0, 1, "a tensor claims 2,147,483,648 dimensions"),
    ("alignment.gguf", key("general.alignment") + struct.pack("<II", 4, 0), 1, 0, "alignment 0 is not a power"),
    ("type.gguf", key("x") + struct.pack("<I", 77) + b"\0" * 8, 1, 0, "unknown GGUF value type 77"),
])
def test_a_hostile_gguf_header_is_refused_naming_the_file(tmp_path, name, body, kv_count, tensor_count, says):
    path = gguf(tmp_path / name, body, kv_count, tensor_count)
    with pytest.raises(ModelLoadError, match=rf"^{name} is damaged: its GGUF header cannot be read \(.*{says}"):
        read_gguf_info(path)


def test_the_built_in_gguf_still_reads_and_a_cut_download_is_told(tmp_path):
    path = builtin_gguf()
    info = read_gguf_info(path)
    assert (info.architecture, info.context_length, info.weight_format) == ("llama", 8192, "Q4_1")
    assert info.metadata["tokenizer.ggml.tokens"] == 49152 and info.complete
    assert sum(info.tensor_types.values()) == 272
    cut = tmp_path / "cut.gguf"  # an interrupted download: the header whole, the weights cut short
    with open(path, "rb") as f:
        cut.write_bytes(f.read(20_000_000))
    partial = read_gguf_info(cut)
    assert not partial.complete and partial.required_size == info.required_size
    cut.write_bytes(cut.read_bytes()[:100_000])  # inside the vocabulary
    with pytest.raises(ModelLoadError, match=r"^cut.gguf is damaged: its GGUF header cannot be read"):
        read_gguf_info(cut)


# 4. Hub searches are cached with a bound

@pytest.fixture(scope="module")
def own_hub():
    """A local Hub of this module's own, so that the repos added here change no other test's searches."""
    from tests.hub_server import LocalHub

    hub = LocalHub()
    config = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}).encode()
    hub.add_repo("someone/onnx-only", {"config.json": config, "onnx/model.onnx": b"\0" * 64,
                                       "model.onnx_data": b"\0" * 64, "README.md": b"# ONNX only"},
                 pipeline_tag="text-generation", library_name="transformers")
    hub.add_repo("someone/fp16-copies", {"config.json": config, "model.fp16.safetensors": b"\0" * 64,
                                         "pytorch_model.ema.bin": b"\0" * 64},
                 pipeline_tag="text-generation", library_name="transformers")
    hub.add_repo("someone/empty", {}, pipeline_tag="text-generation")
    hub.start()
    yield hub
    hub.stop()


def test_a_thousand_searches_leave_at_most_the_bound():
    """The cache itself, since a real search takes 45 ms here: a thousand would take the test 45 s."""
    hub = HubService(endpoint="http://127.0.0.1:9", cache_seconds=3600)
    for n in range(1000):
        hub._remember(("visitor", n), [])
    assert len(hub._cache) == CACHE_ENTRIES == 256
    assert list(hub._cache)[0] == ("visitor", 1000 - CACHE_ENTRIES)  # the oldest went first


def test_real_searches_evict_the_oldest_and_keep_the_newest(own_hub):
    hub = HubService(endpoint=own_hub.endpoint, cache_seconds=3600, cache_entries=8)
    for n in range(30):
        hub.search(query=f"visitor {n}", limit=5)
    assert len(hub._cache) == 8
    asked = len(own_hub.requests)
    hub.search(query="visitor 29", limit=5)  # the newest is kept
    assert len(own_hub.requests) == asked
    hub.search(query="visitor 0", limit=5)  # the oldest was evicted
    assert len(own_hub.requests) == asked + 1 and len(hub._cache) == 8


def test_expired_searches_are_dropped_not_kept(own_hub):
    hub = HubService(endpoint=own_hub.endpoint, cache_seconds=0)  # every result is expired as soon as it is made
    for n in range(20):
        assert hub.search(query=f"q{n}", limit=5) == []
    assert len(hub._cache) == 0


# 5. repo ids that huggingface_hub refuses get a message

BAD_IDS = ["a--b/c", "a/b--", "-a/b", "a/b.", "owner/" + "n" * 97, "a/b.git", "a/b/c", "gpt2", " "]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_repo_ids_are_refused_with_a_message(client, services, bad):
    for api_name in ("/model_details", "/download_model", "/convert_model"):
        with pytest.raises(AppError) as refused:
            client.predict(bad, api_name=api_name)
        message = str(refused.value)
        assert f"'{bad}' is not a Hub repo id: write it as owner/name" in message, (api_name, message)
        assert "Something went wrong" not in message
    with pytest.raises(InvalidParameter, match="is not a Hub repo id"):
        details(services.hub, bad)


def test_the_hub_client_refusing_an_id_is_a_message_too(services):
    """Whatever reaches the Hub without details() (publishing, a download by name) gets the same message."""
    with pytest.raises(InvalidParameter, match=r"^'a--b/c' is not a Hub repo id: write it as owner/name"):
        services.hub.call(lambda api: api.model_info("a--b/c"))


def test_valid_ids_still_work(client):
    assert client.predict("HuggingFaceTB/SmolLM2-135M-Instruct", api_name="/model_details")["id"] == \
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(AppError, match="No model 'owner/" + "n" * 96 + "' on the Hub"):  # 96: a valid id, absent
        client.predict("owner/" + "n" * 96, api_name="/model_details")


# 6. a checkpoint with nothing to convert says so before any download

@pytest.mark.parametrize("repo, holds", [
    ("someone/onnx-only", "it holds 1 .md file, 1 .json file, 1 .onnx_data file and 1 .onnx file"),
    ("someone/fp16-copies", "it holds 1 .json file, 1 .safetensors file and 1 .bin file"),
    ("someone/empty", "it holds no files"),
])
def test_a_checkpoint_without_weights_to_read_is_refused_before_the_download(own_hub, tmp_path, repo, holds):
    hub = HubService(endpoint=own_hub.endpoint)
    job = convert_model(hub=hub, library=Library(tmp_path / "models"), repo_id=repo,
                        options=ExportOptions(task="text-generation"))
    events = []
    with pytest.raises(NothingToConvert) as refused:
        for event in job:
            events.append(event)
    assert str(refused.value).startswith(f"{repo} has no weights to convert: {holds}. A conversion reads "
                                         ".safetensors or PyTorch .bin weights")
    assert [getattr(e, "name", None) for e in events] == ["Check"]  # no download, no export
    # no file of the model is fetched: its config.json (a few kB the details read for the pre-flight) aside
    assert not [p for m, p in own_hub.requests if "/resolve/" in p and repo in p and not p.endswith("/config.json")]
    assert not list((tmp_path / "models").iterdir())
    with pytest.raises(NothingToConvert):
        drain(convert_model(hub=hub, library=Library(tmp_path / "models"), repo_id=repo,
                            options=ExportOptions(task="text-generation")))


def test_a_failing_worker_shows_one_line_and_its_traceback_goes_to_the_server_log(tmp_path, caplog):
    """The real worker, given a GGUF that is not one: the Convert log gets no traceback, the error names
    the reason, and the server log has every frame."""
    import sys
    import threading

    from genai_ui.convert.steps import child_env, run_step
    from genai_ui.errors import ConversionFailed
    from genai_ui.work.background import Log

    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a gguf at all" * 10)
    cmd = [sys.executable, "-m", "genai_ui.convert.worker", "gguf-ir", "--gguf", str(fake),
           "--output", str(tmp_path / "out")]
    shown = []
    with caplog.at_level("WARNING", logger="genai_ui.work.background"), pytest.raises(ConversionFailed) as failed:
        for event in run_step(cmd, "Reading the GGUF", threading.Event(), child_env(HubService(endpoint="http://127.0.0.1:9"))):
            if isinstance(event, Log):
                shown.append(event.line)
    assert "Reading the GGUF failed: " in str(failed.value) and "Traceback" not in str(failed.value)
    assert not [line for line in shown if "Traceback" in line or line.lstrip().startswith('File "')], shown
    assert any(line.startswith("error: ") for line in shown), shown  # the one line, for the person
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Traceback (most recent call last)" in logged and 'File "' in logged and "convert/worker.py" in logged
