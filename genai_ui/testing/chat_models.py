"""Chat models: SmolLM2 as a Transformers checkpoint rebuilt from the built-in GGUF and its OpenVINO exports, and a
model of SmolLM2-1.7B's shapes with random weights (the peers' and pre-flight benches')."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .cache import cached


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


# SmolLM2-1.7B-Instruct's shapes (its config.json): the bench's model of a realistic size
SMOLLM2_1_7B = {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24, "num_attention_heads": 32,
                "num_key_value_heads": 32, "max_position_embeddings": 8192, "rope_theta": 130000.0}
