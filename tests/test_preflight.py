"""The pre-flight's rules, on Hub records written out by hand: what each precision costs, what fits, and the refusal
of a conversion that would not (the figures against measured conversions: test_convert.py and bench preflight)."""

import pytest

from genai_ui.convert.preflight import CONVERT_BASE_BYTES, KV_TOKENS, Shape, convert_peak, plans
from genai_ui.errors import NotAvailable
from genai_ui.hub.client import ModelDetails
from genai_ui.run.machine import MachineProfile

# SmolLM2-135M-Instruct's config.json, as far as the figures read it
SMOLLM2 = {"hidden_size": 576, "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
           "num_hidden_layers": 30, "vocab_size": 49152, "max_position_embeddings": 8192, "tie_word_embeddings": True}
PARAMETERS = 134_515_008
PROFILE = MachineProfile(processor="test", device="CPU", bytes_per_s={"fp16": 10e9, "int8": 8e9, "int4": 5e9},
                         layer_s=0.0002, runtime_bytes=300_000_000, measured="2026-12-07")
ROOMY = dict(free_memory=64 << 30, free_disk=1 << 40)


def checkpoint(files=None, config=SMOLLM2, parameters=PARAMETERS, task="text-generation") -> ModelDetails:
    files = files if files is not None else [{"name": "model.safetensors", "size": 538_090_408},
                                             {"name": "config.json", "size": 800},
                                             {"name": "README.md", "size": 9000},
                                             {"name": "onnx/model.onnx", "size": 540_000_000}]
    return ModelDetails(id="HuggingFaceTB/SmolLM2-135M-Instruct", task=task, architecture="llama", supported=True,
                        reason="", files=files, parameters=parameters, config=config)


def test_each_precision_of_a_checkpoint():
    found = {p.precision: p for p in plans(checkpoint(), SMOLLM2, profile=PROFILE, **ROOMY)}
    assert list(found) == ["fp16", "int8", "int4"] and all(p.fits and not p.why for p in found.values())
    fp16, int8, int4 = found["fp16"], found["int8"], found["int4"]
    # the download is what the export reads: not the card, not the ONNX copy
    assert {p.download_bytes for p in found.values()} == {538_090_408 + 800}
    assert fp16.disk_bytes == fp16.download_bytes + PARAMETERS * 2  # the export is the result
    assert int4.disk_bytes == int4.download_bytes + PARAMETERS * 2 + Shape.of(PARAMETERS, SMOLLM2).weight_bytes("int4")
    assert fp16.convert_peak_bytes == int4.convert_peak_bytes == int(CONVERT_BASE_BYTES + 538_090_408 + PARAMETERS * 2)
    kv = 2 * 30 * 3 * 64 * KV_TOKENS  # layers × key and value widths × tokens, a byte each on the CPU
    assert fp16.run_bytes == 2 * PARAMETERS * 2 + 300_000_000 + kv
    # the embeddings stay at int8 in an int4 model: 28M of its 135M parameters
    assert int4.run_bytes - kv - 300_000_000 == 2 * int((PARAMETERS - 49152 * 576) * 0.53 + 49152 * 576 * 1.01)
    # tied embeddings: the head reads the whole table, so a step reads every weight
    assert fp16.tokens_per_s == round(1 / (PARAMETERS * 2 / 10e9 + 30 * 0.0002), 1)
    assert fp16.tokens_per_s < int8.tokens_per_s and int4.tokens_per_s > fp16.tokens_per_s
    # on a GPU the weights are held once (the CPU keeps the file's pages beside its own copy), the KV in 16 bits
    gpu = {p.precision: p for p in plans(checkpoint(), SMOLLM2, profile=PROFILE, device="GPU", **ROOMY)}
    assert gpu["fp16"].run_bytes == PARAMETERS * 2 + 300_000_000 + 2 * kv


def test_an_untied_head_reads_all_but_one_embedding_row():
    untied = {**SMOLLM2, "tie_word_embeddings": False}
    shape = Shape.of(PARAMETERS, untied)
    assert shape.read_per_token("fp16") == shape.weight_bytes("fp16") - 49152 * 576 * 2
    # an int4 model keeps both the table and the head at int8
    assert shape.weight_bytes("int4") == int((PARAMETERS - 2 * 49152 * 576) * 0.53 + 2 * 49152 * 576 * 1.01)


def test_a_vision_models_language_model_is_read_from_its_text_config():
    shape = Shape.of(7_000_000_000, {"model_type": "llava", "text_config": {**SMOLLM2, "num_hidden_layers": 32}})
    assert shape.layers == 32 and shape.kv_width == 3 * 64 and shape.context == 8192


def test_what_does_not_fit_is_marked_with_its_figures():
    found = {p.precision: p for p in plans(checkpoint(), SMOLLM2, profile=PROFILE, free_memory=int(0.5e9),
                                           free_disk=int(0.9e9))}
    assert not any(p.fits for p in found.values())
    assert found["fp16"].why == ("converting needs 1.4 GB and 0.5 GB are free; running needs 0.9 GB and 0.5 GB "
                                 "are free")
    assert found["int8"].why.startswith("the disk needs 0.9 GB and 0.9 GB are free")


def test_an_openvino_repo_and_a_gguf_repo_are_fetched_not_converted():
    ov = ModelDetails(id="OpenVINO/SmolLM2-135M-Instruct-int4-ov", task="text-generation", architecture="llama",
                      supported=True, reason="", parameters=PARAMETERS,
                      files=[{"name": "openvino_model.xml", "size": 2_000_000},
                             {"name": "openvino_model.bin", "size": 92_000_000}])
    [plan] = plans(ov, SMOLLM2, profile=PROFILE, **ROOMY)
    assert (plan.precision, plan.how, plan.download_bytes, plan.convert_peak_bytes) == ("int4", "download",
                                                                                        94_000_000, 0)
    assert plan.tokens_per_s == round(1 / (92_000_000 / 5e9 + 30 * 0.0002), 1)
    gguf = ModelDetails(id="bartowski/Qwen2.5-0.5B-Instruct-GGUF", task="text-generation", architecture="qwen2",
                        supported=True, reason="", parameters=494_032_768,
                        gguf_files=[{"name": "q8.gguf", "size": 531_000_000, "quantization": "Q8_0", "loadable": True},
                                    {"name": "iq4.gguf", "size": 350_000_000, "quantization": "IQ4_XS",
                                     "loadable": False}])
    [plan] = plans(gguf, {}, profile=PROFILE, **ROOMY)
    # no config: the layers are taken as 32 and the KV cache is not counted
    assert (plan.precision, plan.how, plan.run_bytes) == ("Q8_0", "q8.gguf", 531_000_000 + 300_000_000)
    assert plan.tokens_per_s == round(1 / (531_000_000 / 8e9 + 32 * 0.0002), 1)


def test_no_speed_without_a_measured_machine_or_for_an_image_model():
    assert all(p.tokens_per_s is None for p in plans(checkpoint(), SMOLLM2, profile=None, **ROOMY))
    assert all(p.tokens_per_s is None for p in plans(checkpoint(task="text-to-image"), {}, profile=PROFILE,
                                                      chat=False, **ROOMY))


def test_a_hub_record_without_file_sizes_counts_16_bit_weights():
    """The Hub lists a size for each file with `blobs=true`; without one, the parameters tell the download."""
    files = [{"name": "model.safetensors", "size": 0}, {"name": "config.json", "size": 0}]
    found = plans(checkpoint(files=files), SMOLLM2, profile=PROFILE, **ROOMY)
    assert {p.download_bytes for p in found} == {PARAMETERS * 2}
    assert {p.convert_peak_bytes for p in found} == {convert_peak(PARAMETERS * 2, PARAMETERS)}


def test_a_conversion_that_would_not_fit_in_memory_is_refused_with_its_figures(monkeypatch):
    import psutil

    from genai_ui.convert.sources import check_memory

    class Tight:
        available = int(1.2e9)

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tight)
    with pytest.raises(NotAvailable, match=r"^Converting org/big needs about 3\.0 GB of memory at its peak and 1\.2 GB "
                                           r"are free: close other programs"):
        check_memory("org/big", int(3e9))
    check_memory("org/small", int(1e9))  # fits: no refusal
