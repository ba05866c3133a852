"""Test models, built from recipes (genai_ui/testing/models.py, which the benches share) and cached
between runs under a folder named by the recipe's hash: tiny random LLaVA (image-text-to-text),
Stable Diffusion 1.x (text-to-image), and a T5 (an encoder-decoder, a task no openvino_genai pipeline
runs), each in the standard Hub layout. `populate(hub)` serves them, with metadata-only repos beside
them, from a LocalHub."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from genai_ui.testing.models import (_bpe_tokenizer, cached,  # noqa: F401 (the tests'; names for them)
                                     smollm2_checkpoint, smollm2_ir, smollm2_ir_fp16, tiny_llava,
                                     tiny_reranker_checkpoint, tiny_stable_diffusion, tiny_t5)


def folder_files(folder: Path) -> dict[str, Path]:
    """A model folder as the files of a Hub repo (paths relative to it)."""
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def parameters(folder: Path) -> dict:
    """The Hub's `safetensors` block: parameter counts by dtype, read from the files' headers."""
    import struct

    counts: dict[str, int] = {}
    for f in folder.rglob("*.safetensors"):
        with open(f, "rb") as fh:
            header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        for name, t in header.items():
            if name == "__metadata__":
                continue
            n = 1
            for d in t["shape"]:
                n *= d
            counts[t["dtype"]] = counts.get(t["dtype"], 0) + n
    return {"parameters": counts, "total": sum(counts.values())}


def card(title: str, base: str = "", license: str = "apache-2.0") -> bytes:
    front = f"---\nlicense: {license}\n" + (f"base_model: {base}\n" if base else "") + "---\n"
    return (front + f"# {title}\n\nA tiny random model for genai_ui's tests.\n").encode()


# the Hub counts a GGUF's parameters from its tensors; this GGUF's header does not state it
SMOLLM2_GGUF_TOTAL = {"total": 134_515_008}


def populate(hub) -> None:
    """The repos the tests (and `python -m tests.hub_server`) serve."""
    from genai_ui.builtin import GGUF_NAME, builtin_gguf

    llava, sd, t5, smollm2 = tiny_llava(), tiny_stable_diffusion(), tiny_t5(), smollm2_checkpoint()
    hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct", {**folder_files(smollm2), "README.md": card("SmolLM2-135M-Instruct")},
                 pipeline_tag="text-generation", library_name="transformers", tags=["llama", "transformers", "conversational"],
                 downloads=250_000, likes=180, trendingScore=15, createdAt="2024-10-31T00:00:00.000Z",
                 lastModified="2025-02-01T00:00:00.000Z", safetensors=parameters(smollm2))
    ir = smollm2_ir()
    hub.add_repo("OpenVINO/SmolLM2-135M-Instruct-int4-ov", {**folder_files(ir), "README.md": card(
                     "SmolLM2-135M-Instruct int4 OpenVINO", base="HuggingFaceTB/SmolLM2-135M-Instruct")},
                 pipeline_tag="text-generation", library_name="openvino", tags=["openvino", "llama", "conversational"],
                 downloads=3_000, likes=4, trendingScore=3, createdAt="2025-03-02T00:00:00.000Z",
                 lastModified="2025-03-02T00:00:00.000Z", safetensors=parameters(smollm2))
    hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", {GGUF_NAME: builtin_gguf(),
                                                             "README.md": card("SmolLM2-135M-Instruct GGUF")},
                 pipeline_tag="text-generation", library_name="gguf", tags=["gguf", "llama", "conversational"],
                 downloads=40_000, likes=25, trendingScore=5, createdAt="2024-11-02T00:00:00.000Z",
                 lastModified="2025-02-02T00:00:00.000Z", gguf=SMOLLM2_GGUF_TOTAL)
    hub.add_repo("tiny-random/llava", {**folder_files(llava), "README.md": card("Tiny LLaVA")},
                 pipeline_tag="image-text-to-text", library_name="transformers", tags=["llava", "transformers"],
                 downloads=1200, likes=15, trendingScore=8, createdAt="2026-01-10T10:00:00.000Z",
                 lastModified="2026-03-01T10:00:00.000Z", safetensors=parameters(llava))
    hub.add_repo("tiny-random/stable-diffusion", {**folder_files(sd), "README.md": card("Tiny SD")},
                 pipeline_tag="text-to-image", library_name="diffusers",
                 tags=["diffusers", "stable-diffusion", "diffusers:StableDiffusionPipeline"],
                 downloads=900, likes=30, trendingScore=12, createdAt="2026-02-10T10:00:00.000Z",
                 lastModified="2026-04-01T10:00:00.000Z")
    hub.add_repo("tiny-random/t5", {**folder_files(t5), "README.md": card("Tiny T5")},
                 pipeline_tag="text2text-generation", library_name="transformers", tags=["t5", "transformers"],
                 downloads=50, likes=2, trendingScore=1, createdAt="2025-11-10T10:00:00.000Z",
                 lastModified="2025-12-01T10:00:00.000Z", safetensors=parameters(t5))
    reranker = tiny_reranker_checkpoint()
    hub.add_repo("tiny-random/bert-reranker", {**folder_files(reranker), "README.md": card("Tiny BERT cross-encoder")},
                 pipeline_tag="text-classification", library_name="transformers", tags=["bert", "text-classification"],
                 downloads=40, likes=1, trendingScore=1, createdAt="2026-07-10T10:00:00.000Z",
                 lastModified="2026-07-11T10:00:00.000Z", safetensors=parameters(reranker))
    hub.add_repo("gated-org/tiny-llava-gated", {**folder_files(llava), "README.md": card("Gated tiny LLaVA")},
                 pipeline_tag="image-text-to-text", library_name="transformers", tags=["llava"], gated="manual",
                 downloads=10, likes=1, createdAt="2026-05-10T10:00:00.000Z", safetensors=parameters(llava))
    hub.add_repo("gated-org/SmolLM2-135M-Instruct-GGUF", {GGUF_NAME: builtin_gguf(), "README.md": card("Gated GGUF")},
                 pipeline_tag="text-generation", library_name="gguf", tags=["gguf", "llama"], gated="auto",
                 downloads=5, likes=0, createdAt="2026-06-10T10:00:00.000Z", gguf=SMOLLM2_GGUF_TOTAL)
    # metadata-only repos, so that search, sort and filters have something to rank: real names,
    # configs and parameter counts, files as small stand-ins (they are never downloaded)
    def cfg(model_type: str, arch: str) -> bytes:
        return json.dumps({"model_type": model_type, "architectures": [arch]}).encode()

    def st(n: int) -> dict:
        return {"parameters": {"BF16": n}, "total": n}

    qwen = {"config.json": cfg("qwen2", "Qwen2ForCausalLM")}
    for i, (name, task, downloads, likes, trending, lib, files, extra) in enumerate([
        ("meta-llama/Llama-3.2-1B-Instruct", "text-generation", 5_000_000, 1_200, 40, "transformers",
         {"config.json": cfg("llama", "LlamaForCausalLM"), "model.safetensors": b"\0" * 64},
         {"safetensors": st(1_235_814_400)}),
        ("Qwen/Qwen2.5-0.5B-Instruct", "text-generation", 3_000_000, 400, 90, "transformers",
         {**qwen, "model.safetensors": b"\0" * 64}, {"safetensors": st(494_032_768)}),
        ("OpenVINO/Qwen2.5-0.5B-Instruct-int4-ov", "text-generation", 20_000, 12, 30, "openvino",
         {**qwen, "openvino_model.xml": b"<net/>", "openvino_model.bin": b"\0" * 64}, {"usedStorage": 365_000_000}),
        ("bartowski/Qwen2.5-0.5B-Instruct-GGUF", "text-generation", 150_000, 60, 20, "gguf",
         {f"Qwen2.5-0.5B-Instruct-{q}.gguf": b"GGUF" for q in ("IQ4_XS", "Q4_K_M", "Q5_K_M", "Q8_0", "f16")},
         {"gguf": {"architecture": "qwen2", "context_length": 32768, "total": 494_032_768}}),
        ("llava-hf/llava-1.5-7b-hf", "image-text-to-text", 800_000, 300, 10, "transformers",
         {"config.json": cfg("llava", "LlavaForConditionalGeneration")}, {"safetensors": st(7_063_427_072)}),
        ("stabilityai/sd-turbo", "text-to-image", 600_000, 700, 25, "diffusers",
         {"model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline"}).encode()},
         {"usedStorage": 2_600_000_000}),
        ("state-spaces/mamba-130m-hf", "text-generation", 70_000, 50, 2, "transformers",
         {"config.json": cfg("mamba", "MambaForCausalLM")}, {"safetensors": st(129_135_360)}),
        # a BERT text classifier of five labels: tagged text-classification like a reranker, and not one
        ("nlptown/bert-base-multilingual-uncased-sentiment", "text-classification", 400_000, 90, 3, "transformers",
         {"config.json": json.dumps({"model_type": "bert", "architectures": ["BertForSequenceClassification"],
                                     "id2label": {str(n): f"{n + 1} star{'s' * (n > 0)}" for n in range(5)}}).encode(),
          "model.safetensors": b"\0" * 64}, {"safetensors": st(167_360_261)}),
    ]):
        hub.add_repo(name, {**files, "README.md": card(name)}, pipeline_tag=task, library_name=lib,
                     tags=[lib, task], downloads=downloads, likes=likes, trendingScore=trending,
                     createdAt=f"2025-0{i + 1}-01T00:00:00.000Z", lastModified=f"2026-0{i + 1}-15T00:00:00.000Z",
                     **extra)


def copy_as_architecture(library, entry, new_id: str, model_type: str):
    """A library model's copy whose config names another architecture (one a pipeline may not run)."""
    import json
    import shutil

    from genai_ui.library import ModelEntry

    with library.staging() as staged:
        shutil.copytree(entry.load_path, staged, dirs_exist_ok=True)
        (staged / "genai_ui.json").unlink()
        config = json.loads((staged / "config.json").read_text())
        (staged / "config.json").write_text(json.dumps({**config, "model_type": model_type}))
        return library.install(staged, ModelEntry(id=new_id, task=entry.task, format=entry.format,
                                                  weight_format=entry.weight_format, location="",
                                                  context_length=entry.context_length))


def build_tiny_sd_lora(path: Path, seed: int = 0, rank: int = 4) -> Path:
    """A LoRA for the tiny Stable Diffusion's UNet in the kohya format (lora_down, lora_up, alpha for each
    attention projection), random but strong enough to change every image."""
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(tiny_stable_diffusion() / "unet" / "diffusion_pytorch_model.safetensors"), "np") as unet:
        shapes = {k: unet.get_slice(k).get_shape() for k in unet.keys()
                  if "attentions" in k and k.endswith(("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight"))}
    rng = np.random.default_rng(seed)
    tensors = {}
    for key, (rows, columns) in shapes.items():
        name = "lora_unet_" + key.removesuffix(".weight").replace(".", "_")
        tensors[f"{name}.lora_down.weight"] = rng.normal(0, 0.5, (rank, columns)).astype(np.float32)
        tensors[f"{name}.lora_up.weight"] = rng.normal(0, 0.5, (rows, rank)).astype(np.float32)
        tensors[f"{name}.alpha"] = np.array(float(rank), np.float32)
    save_file(tensors, str(path))
    return path


def install_folder(library, model_id: str, folder: Path, weight_format: str, replace: dict[str, Path] | None = None):
    """An OpenVINO chat model's folder into the library under `model_id` (hard links where the
    file system allows: the files are never written), with some files swapped for others."""
    import os
    import shutil

    from genai_ui.library import ModelEntry

    if model_id in library:
        return library.get(model_id)
    files = {**folder_files(folder), **(replace or {})}
    with library.staging() as staged:
        for name, source in files.items():
            try:
                os.link(source, staged / name)
            except OSError:
                shutil.copy(source, staged / name)
        return library.install(staged, ModelEntry(id=model_id, task="text-generation", format="openvino",
                                                  weight_format=weight_format, location="", context_length=8192))


NEOX_JA_WORDS = ["Hello", "world", "the", "The", "is", "a", "of", "and", "to", "in", "model", "tiny", "test", "OpenVINO",
                 "chat", "Paris", "France", "capital", "what", "What", "you", "are", "helpful", "assistant", "user",
                 "こんにちは", "世界", "日本"]
SIMPLE_TEMPLATE = ("{{ bos_token }}{% for message in messages %}"
                   "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
                   "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")


def build_neox_japanese(folder: Path, recipe: dict) -> None:
    """A tiny random GPT-NeoX-Japanese, exported. Two things openvino_genai cannot do with it: its
    attention is plain matrix products (the batching engine pages only ScaledDotProductAttention),
    and its tokenizer (GPTNeoXJapaneseTokenizer, as abeja's checkpoints ship) does not convert to an
    OpenVINO tokenizer. optimum-intel runs it with the Hugging Face tokenizer."""
    import string
    import subprocess
    import sys

    import torch
    from transformers import (GenerationConfig, GPTNeoXJapaneseConfig, GPTNeoXJapaneseForCausalLM,
                              GPTNeoXJapaneseTokenizer)

    source = Path(tempfile.mkdtemp(prefix="neox-ja-"))
    try:
        specials = ["<|endoftext|>", "<|startoftext|>", "<|user|>", "<|assistant|>", "<|system|>",
                    "<SP>", "<BR>", "<TAB>", "<BLOCK>", "<KIGOU>", "<U2000U2BFF>"]
        chars = [c for c in string.printable if c not in " \t\n\r\x0b\x0c"]
        vocab = list(dict.fromkeys(specials + NEOX_JA_WORDS + chars + [f"<|byte{i}|>" for i in range(256)]))
        (source / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        (source / "emoji.json").write_text(json.dumps({"emoji": {}, "emoji_inv": {}}), encoding="utf-8")
        tok = GPTNeoXJapaneseTokenizer(str(source / "vocab.txt"), str(source / "emoji.json"))
        tok.chat_template = SIMPLE_TEMPLATE
        tok.save_pretrained(source)
        ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        config = GPTNeoXJapaneseConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, intermediate_multiple_size=2,
                                       max_position_embeddings=512, **ids)
        torch.manual_seed(recipe["seed"])
        model = GPTNeoXJapaneseForCausalLM(config).eval()
        model.generation_config = GenerationConfig(**ids)
        model.save_pretrained(source)
        subprocess.run([str(Path(sys.executable).parent / "optimum-cli"), "export", "openvino", "--model", str(source),
                        "--task", "text-generation-with-past", str(folder)], check=True, capture_output=True)
    finally:
        shutil.rmtree(source, ignore_errors=True)


def tiny_neox_japanese() -> Path:
    return cached("tiny-neox-japanese-ov", {"seed": 0, "v": 1}, build_neox_japanese)


def openvino_tokenizer_files(folder: Path) -> dict[str, Path]:
    """An OpenVINO tokenizer and detokenizer converted from a small BPE tokenizer with a chat template:
    what a model whose own tokenizer converts would carry."""
    import openvino as ov
    from openvino_tokenizers import convert_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tok = _bpe_tokenizer(300, ["<|user|>", "<|assistant|>", "<|system|>"], 512)
    tok.chat_template = SIMPLE_TEMPLATE
    tokenizer, detokenizer = convert_tokenizer(tok, with_detokenizer=True)
    ov.save_model(tokenizer, folder / "openvino_tokenizer.xml")
    ov.save_model(detokenizer, folder / "openvino_detokenizer.xml")
    return {f"openvino_{kind}.{ext}": folder / f"openvino_{kind}.{ext}"
            for kind in ("tokenizer", "detokenizer") for ext in ("xml", "bin")}
