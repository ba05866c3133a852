"""The test models themselves: built in the standard layouts, and the SmolLM2 checkpoint
faithful to the built-in GGUF."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.models import smollm2_checkpoint, smollm2_ir_fp16, tiny_llava, tiny_stable_diffusion, tiny_t5

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own

# questions on which the GGUF engine and the exported checkpoint must agree word for word
QUESTIONS = {"What is the capital of France?": "Paris", "What is the capital of Japan?": "Tokyo",
             "What is the capital of Germany?": "Berlin"}


def test_tiny_models_are_in_hub_layouts():
    llava = tiny_llava()
    assert json.loads((llava / "config.json").read_text())["model_type"] == "llava"
    assert {"model.safetensors", "tokenizer.json", "processor_config.json", "chat_template.jinja"} <= \
        {p.name for p in llava.iterdir()}
    sd = tiny_stable_diffusion()
    index = json.loads((sd / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (sd / part).is_dir(), part
    assert json.loads((tiny_t5() / "config.json").read_text())["model_type"] == "t5"
    for folder in (llava, sd, tiny_t5()):
        assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 30_000_000


def test_smollm2_weights_are_the_ggufs(gguf):
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.numpy import load_file

    weights = load_file(smollm2_checkpoint() / "model.safetensors")
    names = {"token_embd.weight": "model.embed_tokens.weight", "blk.0.attn_v.weight": "model.layers.0.self_attn.v_proj.weight",
             "blk.29.ffn_down.weight": "model.layers.29.mlp.down_proj.weight",
             "blk.7.attn_q.weight": "model.layers.7.self_attn.q_proj.weight", "output_norm.weight": "model.norm.weight"}
    checked = 0
    for tensor in GGUFReader(gguf).tensors:
        if tensor.name in names:
            ours = weights[names[tensor.name]]
            theirs = dequantize(tensor.data, tensor.tensor_type).reshape(ours.shape)
            if "attn_q" in tensor.name:  # llama.cpp permutes q and k rows for its rotary layout
                assert np.array_equal(np.sort(theirs, axis=None), np.sort(ours, axis=None))
            else:
                assert np.array_equal(theirs, ours), tensor.name
            checked += 1
    assert checked == len(names)


def test_smollm2_tokenizer_is_the_ggufs(gguf):
    import openvino_genai as og
    from transformers import AutoTokenizer

    ours = AutoTokenizer.from_pretrained(smollm2_checkpoint())
    theirs = og.LLMPipeline(str(gguf), "CPU").get_tokenizer()
    for text in ["What is 12+30? Héllo wörld", "<|im_start|>user\nhi<|im_end|>\n", "  spaces   and\ttabs\n\nlines",
                 "emoji 🙂 and 中文", "def f(x):\n    return x**2  # square"]:
        assert list(theirs.encode(text, add_special_tokens=False).input_ids.data[0]) == \
            ours(text, add_special_tokens=False).input_ids, text
    assert (ours.bos_token, ours.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert ours.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True) \
        == theirs.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)


def test_smollm2_fp16_export_answers_like_the_gguf(gguf):
    """The checkpoint's fp16 export (optimum-cli, as build_smollm2_ir runs it; the other tests share it)."""
    import openvino_genai as og

    out = smollm2_ir_fp16()

    def answers(path):
        pipe = og.LLMPipeline(str(path), "CPU")
        return [pipe.generate(og.ChatHistory([{"role": "user", "content": q}]), max_new_tokens=32,
                              do_sample=False).texts[0] for q in QUESTIONS]

    # Greedy answers agree at least up to the fact. After it they may part: the GGUF runs Q4_1 with the runtime's
    # own kernels, the export holds the same weights dequantized to fp16, and two nearly equal logits can swap
    # (on December 8, on a Xeon that computes in f32: "Paris." against "Paris, capital of the French Republic.").
    for mine, theirs, city in zip(answers(out), answers(gguf), QUESTIONS.values()):
        assert city in os.path.commonprefix([mine, theirs]), (mine, theirs)


def _export(model: Path, task: str, out: Path) -> None:
    subprocess.run([str(Path(sys.executable).parent / "optimum-cli"), "export", "openvino", "--model", str(model),
                    "--task", task, "--weight-format", "fp16", str(out)], check=True, capture_output=True)


def test_tiny_llava_exports_and_answers_about_an_image(tmp_path):
    import openvino as ov
    import openvino_genai as og

    out = tmp_path / "llava"
    _export(tiny_llava(), "image-text-to-text", out)
    # optimum-intel with transformers 5 writes only processor_config.json; openvino_genai reads
    # the image processor's settings from preprocessor_config.json (the convert path must add it)
    assert not (out / "preprocessor_config.json").exists()
    (out / "preprocessor_config.json").write_bytes((tiny_llava() / "preprocessor_config.json").read_bytes())
    pipe = og.VLMPipeline(str(out), "CPU")
    image = ov.Tensor(np.random.default_rng(0).integers(0, 255, (1, 48, 64, 3), dtype=np.uint8))
    result = pipe.generate("Describe this image.", images=[image], max_new_tokens=8, do_sample=False)
    assert result.perf_metrics.get_num_generated_tokens() == 8  # random weights: any text, but all of it


def test_tiny_stable_diffusion_exports_and_draws(tmp_path):
    import openvino_genai as og

    out = tmp_path / "sd"
    _export(tiny_stable_diffusion(), "text-to-image", out)
    pipe = og.Text2ImagePipeline(str(out), "CPU")
    steps = []
    image = pipe.generate("a red car", width=64, height=64, num_inference_steps=3, rng_seed=7,
                          callback=lambda step, total, latent: steps.append(step) or False)
    assert list(image.shape) == [1, 64, 64, 3] and steps == [0, 1, 2]
    again = pipe.generate("a red car", width=64, height=64, num_inference_steps=3, rng_seed=7)
    assert np.array_equal(image.data, again.data)


def test_the_shaped_model_never_ends_early(tmp_path):
    """The peers bench's 1.7B-shaped model, built here at a small size by the same builder: the recipe's
    shapes, the built-in tokenizer, and greedy decoding that makes every token asked for (the special
    tokens' embeddings, tied to the output, are zero)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genai_ui.testing.models import build_smollm2_1_7b_shaped

    shapes = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 4}
    build_smollm2_1_7b_shaped(tmp_path, {"shapes": shapes, "seed": 0})
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert {k: getattr(model.config, k) for k in shapes} == shapes and model.config.tie_word_embeddings
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(smollm2_checkpoint()).get_vocab()
    special = sorted({*tokenizer.all_special_ids, *tokenizer.added_tokens_decoder})
    assert tokenizer.eos_token_id in special and not model.get_input_embeddings().weight[special].any()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=48, do_sample=False)
    new = out[0, prompt["input_ids"].shape[1]:].tolist()
    assert len(new) == 48 and not set(new) & set(special)
