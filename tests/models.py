"""Test models, built by the tests from a recipe and cached between runs under a folder
named by the recipe's hash: tiny random LLaVA (image-text-to-text), Stable Diffusion 1.x
(text-to-image), and a T5 (an encoder-decoder, a task no openvino_genai pipeline runs), each in
the standard Hub layout. `populate(hub)` serves them, with metadata-only repos beside
them, from a LocalHub."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

CACHE = Path(os.environ.get("GENAI_UI_TEST_CACHE", Path.home() / ".cache" / "genai_ui-tests"))
TEXT = ("the quick brown fox jumps over the lazy dog . a picture of a cat on a mat . describe this image . "
        "what is in the photo ? a red car , a blue sky , a green tree , a small house by the sea . ") * 4
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>"]


def cached(name: str, recipe: dict, build: Callable[[Path, dict], None]) -> Path:
    """The folder built from `recipe`, building it (once, atomically) when missing."""
    key = hashlib.sha256(json.dumps({"name": name, **recipe}, sort_keys=True).encode()).hexdigest()[:12]
    target = CACHE / f"{name}-{key}"
    if (target / ".complete").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=CACHE))
    try:
        build(staging, recipe)
        (staging / ".complete").write_text(json.dumps(recipe))
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _bpe_tokenizer(vocab_size: int, extra_special: list[str], model_max_length: int):
    """A small byte-level BPE tokenizer trained on a fixed text: no download needed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL + extra_special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", model_max_length=model_max_length)


LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{% if message['role'] == 'user' %} {% else %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}")


def build_llava(folder: Path, recipe: dict) -> None:
    import torch
    from transformers import LlamaConfig

    torch.manual_seed(recipe["seed"])
    tokenizer = _bpe_tokenizer(recipe["vocab"], ["<image>"], 512)
    tokenizer.chat_template = LLAVA_TEMPLATE
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    model = _llava_model(32, text, tokenizer, recipe)
    _save_llava(folder, model, tokenizer, LLAVA_TEMPLATE, recipe, model.generation_config)


def _llava_model(vision_hidden: int, text_config, tokenizer, recipe: dict):
    """A LLaVA with a small random CLIP vision tower (2 layers of `vision_hidden`) before `text_config`."""
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(hidden_size=vision_hidden, intermediate_size=2 * vision_hidden, num_hidden_layers=2,
                              num_attention_heads=4, image_size=recipe["image"], patch_size=recipe["patch"],
                              projection_dim=vision_hidden)
    config = LlavaConfig(vision_config=vision, text_config=text_config,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    return LlavaForConditionalGeneration(config).eval()


def _save_llava(folder: Path, model, tokenizer, template: str, recipe: dict, generation_config) -> None:
    from transformers import CLIPImageProcessor, LlavaProcessor

    model.save_pretrained(folder, safe_serialization=True)
    size = recipe["image"]
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}),
        tokenizer=tokenizer, patch_size=recipe["patch"], vision_feature_select_strategy="default",
        chat_template=template, num_additional_image_tokens=1)
    processor.save_pretrained(folder)
    # Hub LLaVA repos carry the image processor's own file too; openvino_genai reads only that one
    processor.image_processor.save_pretrained(folder)
    generation_config.save_pretrained(folder)


def build_stable_diffusion(folder: Path, recipe: dict) -> None:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(recipe["seed"])
    blocks = recipe.get("unet_blocks", [32, 64])  # the bench's model is larger: real work for each step
    vae_blocks = recipe.get("vae_blocks", [32, 64])
    attention = ["CrossAttnDownBlock2D"] * (len(blocks) - 1)
    unet = UNet2DConditionModel(block_out_channels=tuple(blocks), layers_per_block=recipe.get("layers", 1),
                                sample_size=recipe["latent"], in_channels=4, out_channels=4, cross_attention_dim=32,
                                attention_head_dim=8, down_block_types=("DownBlock2D", *attention),
                                up_block_types=(*[b.replace("Down", "Up") for b in attention], "UpBlock2D"),
                                norm_num_groups=32)
    vae = AutoencoderKL(block_out_channels=vae_blocks, in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * len(vae_blocks),
                        up_block_types=["UpDecoderBlock2D"] * len(vae_blocks),
                        sample_size=recipe["latent"] * 8, norm_num_groups=32)
    tokenizer = _bpe_tokenizer(recipe["vocab"], [], 77)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer),
        max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, projection_dim=32))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)


def build_t5(folder: Path, recipe: dict) -> None:
    """An encoder-decoder (text2text-generation): no openvino_genai pipeline runs that task."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(recipe["seed"])
    tokenizer = _bpe_tokenizer(recipe["vocab"], [], 256)
    config = T5Config(vocab_size=len(tokenizer), d_model=64, d_ff=128, d_kv=16, num_layers=2, num_decoder_layers=2,
                      num_heads=4, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    T5ForConditionalGeneration(config).eval().save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def build_smollm2(folder: Path, recipe: dict) -> None:
    """A Transformers checkpoint of the built-in GGUF. Transformers dequantizes the weights
    right, but the tokenizer it rebuilds is wrong (see FACTS.md), so the tokenizer is built
    here from the GGUF's own vocabulary, merges, control tokens and chat template."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from genai_ui.builtin import builtin_gguf

    gguf = builtin_gguf()
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(gguf, Path(tmp) / gguf.name)
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf.name)
    model.config.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    model.save_pretrained(folder, safe_serialization=True)

    reader = GGUFReader(gguf)

    def field(name):
        f = reader.fields[name]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data] if f.types[0].name == "ARRAY" and \
            f.types[-1].name == "STRING" else [int(f.parts[i][0]) for i in f.data] if f.types[0].name == "ARRAY" \
            else bytes(f.parts[f.data[0]]).decode("utf-8") if f.types[0].name == "STRING" else int(f.parts[f.data[0]][0])

    tokens, merges, types = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.merges"), field("tokenizer.ggml.token_type")
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split(" ", 1)) for m in merges],
                     fuse_unk=False, byte_fallback=False)
    tok = Tokenizer(bpe)
    # llama.cpp's "smollm" pre-tokenizer: digits one by one, then GPT-2's byte-level split
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, kind in zip(tokens, types) if kind == 3])
    ids = {k: field(f"tokenizer.ggml.{k}_token_id") for k in ("bos", "eos", "unknown", "padding")}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=tokens[ids["bos"]], eos_token=tokens[ids["eos"]],
                                   unk_token=tokens[ids["unknown"]], pad_token=tokens[ids["padding"]],
                                   model_max_length=model.config.max_position_embeddings,
                                   chat_template=field("tokenizer.chat_template"), clean_up_tokenization_spaces=False)
    fast.save_pretrained(folder)
    model.generation_config.bos_token_id, model.generation_config.eos_token_id = ids["bos"], ids["eos"]
    model.generation_config.save_pretrained(folder)


def smollm2_checkpoint() -> Path:
    from genai_ui.builtin import GGUF_NAME, builtin_gguf

    # keyed by the file, not by where this checkout's .venv put it
    return cached("smollm2-135m-instruct", {"gguf": GGUF_NAME, "size": builtin_gguf().stat().st_size, "v": 1},
                  build_smollm2)


def build_smollm2_ir(folder: Path, recipe: dict) -> None:
    import subprocess
    import sys

    group = ["--group-size", str(recipe["group_size"])] if "group_size" in recipe else []
    subprocess.run([str(Path(sys.executable).parent / "optimum-cli"), "export", "openvino", "--model",
                    str(smollm2_checkpoint()), "--task", "text-generation-with-past", "--weight-format",
                    recipe["weight_format"], *group, str(folder)],
                   check=True, capture_output=True)


def smollm2_ir() -> Path:
    """SmolLM2 as an int4 OpenVINO IR, as the OpenVINO organisation publishes models."""
    return cached("smollm2-135m-instruct-int4-ov", {"weight_format": "int4", "group_size": 64, "v": 1},
                  build_smollm2_ir)


def smollm2_ir_fp16() -> Path:
    """SmolLM2 as an uncompressed (fp16) OpenVINO IR: the reference a compressed export is judged by."""
    return cached("smollm2-135m-instruct-fp16-ov", {"weight_format": "fp16", "v": 1}, build_smollm2_ir)


def tiny_llava() -> Path:
    return cached("tiny-llava", {"seed": 0, "vocab": 400, "image": 30, "patch": 6, "v": 2}, build_llava)


SMOL_LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{ '<|im_start|>' + message['role'] + '\n' }}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}"
    "{{ '<image>\n' }}{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def build_smol_llava(folder: Path, recipe: dict) -> None:
    """A LLaVA whose language model is the real SmolLM2-135M-Instruct and whose vision tower is a small
    random CLIP: it decodes at the speed of a real small model (it writes English), so the vision
    bench measures the app against the engine on realistic work, not on a toy's microseconds."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    torch.manual_seed(recipe["seed"])
    source = smollm2_checkpoint()
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    tokenizer.chat_template = SMOL_LLAVA_TEMPLATE
    text = LlamaForCausalLM.from_pretrained(source, dtype=torch.float32)
    text.resize_token_embeddings(len(tokenizer))
    model = _llava_model(64, text.config, tokenizer, recipe)
    model.model.language_model.load_state_dict(text.model.state_dict())
    model.lm_head.weight.data.copy_(text.lm_head.weight.data)
    with torch.no_grad():  # faint image features: random ones of full strength derail the language model
        model.model.multi_modal_projector.linear_2.weight.mul_(recipe["projector_scale"])
        model.model.multi_modal_projector.linear_2.bias.zero_()
    _save_llava(folder, model, tokenizer, SMOL_LLAVA_TEMPLATE, recipe, text.generation_config)


def build_smol_llava_ir(folder: Path, recipe: dict) -> None:
    import subprocess
    import sys

    source = cached("smol-llava", recipe["source"], build_smol_llava)
    subprocess.run([str(Path(sys.executable).parent / "optimum-cli"), "export", "openvino", "--model", str(source),
                    "--task", "image-text-to-text", "--weight-format", recipe["weight_format"], "--group-size",
                    str(recipe["group_size"]), str(folder)], check=True, capture_output=True)
    # optimum with transformers 5 writes the image settings only where VLMPipeline does not read them
    shutil.copyfile(source / "preprocessor_config.json", folder / "preprocessor_config.json")


def smol_llava_ir() -> Path:
    """The SmolLM2 LLaVA as an int4 OpenVINO IR (the vision bench's model)."""
    return cached("smol-llava-int4-ov", {"source": {"seed": 0, "image": 224, "patch": 14, "projector_scale": 0.02,
                                                                    "v": 1},
                                         "weight_format": "int4", "group_size": 64, "v": 1}, build_smol_llava_ir)


def tiny_stable_diffusion() -> Path:
    return cached("tiny-sd", {"seed": 0, "vocab": 300, "latent": 8, "v": 1}, build_stable_diffusion)


def build_sd_ir(folder: Path, recipe: dict) -> None:
    import subprocess
    import sys

    source = cached("bench-sd", recipe["source"], build_stable_diffusion)
    subprocess.run([str(Path(sys.executable).parent / "optimum-cli"), "export", "openvino", "--model", str(source),
                    "--task", "text-to-image", "--weight-format", recipe["weight_format"], str(folder)],
                   check=True, capture_output=True)


def bench_sd_ir() -> Path:
    """A random Stable Diffusion 1.x with a UNet of 128/256/256 channels and an 8x VAE, as an int8 IR: the image
    bench's model, which does real work at every step (the tiny one takes milliseconds)."""
    return cached("bench-sd-int8-ov", {"source": {"seed": 0, "vocab": 300, "latent": 32, "unet_blocks": [128, 256, 256],
                                                  "vae_blocks": [64, 128, 256, 256], "layers": 2, "v": 1},
                                       "weight_format": "int8", "v": 1}, build_sd_ir)


def tiny_t5() -> Path:
    return cached("tiny-t5", {"seed": 0, "vocab": 300, "v": 1}, build_t5)


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
