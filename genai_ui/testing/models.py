"""The models the benches and the tests build from recipes: SmolLM2 as a Transformers checkpoint
rebuilt from the built-in GGUF and its OpenVINO exports, a LLaVA on SmolLM2 (the vision bench's), a
larger random Stable Diffusion (the image bench's), and the tiny random LLaVA, Stable Diffusion and T5
the tests serve from their local Hub. Each is built once, atomically, and cached under a folder named
by the recipe's hash in GENAI_UI_TEST_CACHE (default ~/.cache/genai_ui-tests). Building needs torch,
transformers and diffusers (`make test-setup`; `make setup` has them too)."""

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
    import fcntl

    key = hashlib.sha256(json.dumps({"name": name, **recipe}, sort_keys=True).encode()).hexdigest()[:12]
    target = CACHE / f"{name}-{key}"
    if (target / ".complete").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}-{key}.lock", "w") as lock:  # one builder at a time; the others wait, then read it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").is_file():
            return target
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


# SmolLM2-1.7B-Instruct's shapes (its config.json): the bench's model of a realistic size
SMOLLM2_1_7B = {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24, "num_attention_heads": 32,
                "num_key_value_heads": 32, "max_position_embeddings": 8192, "rope_theta": 130000.0}


def build_smollm2_1_7b_shaped(folder: Path, recipe: dict) -> None:
    """SmolLM2-1.7B-Instruct's shapes with the built-in model's tokenizer and random weights: decode speed
    depends on the shapes, not on the values. The special tokens' embeddings (tied to the output layer) are
    zero, so their logit is 0 while the largest of 49,000 random ones is above it: greedy decoding never
    stops early at an end token, in any engine, and every contender makes the tokens it was asked for."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    small = smollm2_checkpoint()
    config = LlamaConfig.from_pretrained(small)
    for key, value in recipe["shapes"].items():
        setattr(config, key, value)
    config.name_or_path = "genai-ui/SmolLM2-1.7B-shaped-random"
    torch.manual_seed(recipe["seed"])
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(small)
    with torch.no_grad():
        for token in {*tokenizer.all_special_ids, *tokenizer.added_tokens_decoder}:
            model.model.embed_tokens.weight[token].zero_()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    shutil.copy(small / "generation_config.json", folder / "generation_config.json")


def smollm2_1_7b_shaped() -> Path:
    """A Transformers checkpoint of SmolLM2-1.7B's shapes, random weights (3.4 GB, bf16)."""
    return cached("smollm2-1.7b-shaped", {"shapes": SMOLLM2_1_7B, "seed": 0, "v": 1}, build_smollm2_1_7b_shaped)


def build_shaped_ir(folder: Path, recipe: dict) -> None:
    import subprocess
    import sys

    subprocess.run([str(Path(sys.executable).parent / "optimum-cli"), "export", "openvino", "--model",
                    str(smollm2_1_7b_shaped()), "--task", "text-generation-with-past", "--weight-format",
                    recipe["weight_format"], "--group-size", str(recipe["group_size"]), str(folder)],
                   check=True, capture_output=True)


def smollm2_1_7b_ir_int4() -> Path:
    """The 1.7B-shaped model as the app's Convert tab makes it by default: int4 asym, group 128."""
    return cached("smollm2-1.7b-shaped-int4-ov", {"weight_format": "int4", "group_size": 128, "v": 1},
                  build_shaped_ir)


def build_shaped_gguf(folder: Path, recipe: dict) -> None:
    """llama.cpp's own converter (to f16) and quantizer, as llama-cpp-python's source ships them and as
    gguf-my-repo runs them. The converter comes from the llama-cpp-python sdist of the installed version."""
    import ctypes
    import subprocess
    import sys
    import tarfile

    import llama_cpp

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp,
                        f"llama-cpp-python=={llama_cpp.__version__}"], check=True, capture_output=True)
        with tarfile.open(next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))) as sdist:
            wanted = [m for m in sdist.getmembers() if "/vendor/llama.cpp/" in m.name and (
                m.name.endswith("/convert_hf_to_gguf.py") or "/gguf-py/gguf/" in m.name
                or "/vendor/llama.cpp/conversion/" in m.name)]
            sdist.extractall(tmp, members=wanted, filter="data")
        source = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))
        f16 = Path(tmp) / "f16.gguf"
        subprocess.run([sys.executable, str(source / "convert_hf_to_gguf.py"), str(smollm2_1_7b_shaped()),
                        "--outtype", "f16", "--outfile", str(f16)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(source / "gguf-py")})
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{recipe['type']}")
        params.nthread = os.cpu_count() or 1
        out = folder / f"SmolLM2-1.7B-shaped.{recipe['type']}.gguf"
        if llama_cpp.llama_model_quantize(str(f16).encode(), str(out).encode(), ctypes.byref(params)) != 0:
            raise RuntimeError(f"llama.cpp could not quantize {f16} to {recipe['type']}")


def smollm2_1_7b_gguf() -> Path:
    """The 1.7B-shaped model as a Q4_0 GGUF (needs llama-cpp-python and sentencepiece, which the converter
    imports: `make bench-peers` installs both)."""
    folder = cached("smollm2-1.7b-shaped-gguf", {"type": "Q4_0", "v": 1}, build_shaped_gguf)
    return next(folder.glob("*.gguf"))


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


def embedder_ir() -> Path:
    """all-MiniLM-L6-v2 exported once for every test home (the app exports it into its own home otherwise)."""
    import importlib.metadata

    from genai_ui.embedder import DISTRIBUTION, ensure_embedder

    def build(folder: Path, recipe: dict) -> None:
        shutil.copytree(ensure_embedder(folder / "home"), folder / "ir")
        shutil.rmtree(folder / "home")

    return cached("all-minilm-l6-v2-ir", {"package": importlib.metadata.version(DISTRIBUTION), "v": 1}, build) / "ir"


def machine_profile(device: str = "CPU") -> dict:
    """This machine measured once for every test home, as the app measures it on its first pre-flight
    (run/machine.py): {device: profile}, what HOME/machine.json holds."""
    from genai_ui.builtin import BUILTIN_ID, builtin_gguf
    from genai_ui.engines.devices import Devices
    from genai_ui.library import ModelEntry
    from genai_ui.run.machine import VERSION, measure_in_subprocess

    processor = Devices().processor()

    def build(folder: Path, recipe: dict) -> None:
        gguf = builtin_gguf()
        model = ModelEntry(id=BUILTIN_ID, task="text-generation", format="gguf", weight_format="Q4_1",
                           location=str(gguf.parent), model_file=gguf.name)
        found = measure_in_subprocess(device=device, processor=processor, model=model)
        (folder / "machine.json").write_text(json.dumps({device: found.to_api()}, indent=1))

    folder = cached("machine-profile", {"processor": processor, "device": device, "version": VERSION}, build)
    return json.loads((folder / "machine.json").read_text())


def build_tiny_reranker(folder: Path, recipe: dict) -> None:
    """A cross-encoder of random weights (BERT, 2 layers of 32, one relevance score) on all-MiniLM-L6-v2's
    tokenizer, exported as text-classification: a reranker for the plumbing only (its scores mean nothing)."""
    import subprocess
    import sys

    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(recipe["seed"])
    tokenizer = AutoTokenizer.from_pretrained(embedder_ir())  # a BERT tokenizer: it reads question-passage pairs
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1)
    checkpoint = folder / "checkpoint"
    BertForSequenceClassification(config).eval().save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    subprocess.run([sys.executable, "-m", "optimum.commands.optimum_cli", "export", "openvino", "--model",
                    str(checkpoint), "--task", "text-classification", "--weight-format", "fp32", str(folder / "ir")],
                   env=env, check=True, capture_output=True)


def tiny_reranker_ir() -> Path:
    return cached("tiny-reranker", {"seed": 0, "hidden": 32, "v": 2}, build_tiny_reranker) / "ir"
