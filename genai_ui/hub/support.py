"""Will openvino_genai run it? One table per task: adding an architecture is adding a name.

The names are the Hub's `config.model_type` (or a diffusers pipeline class) of the
architectures openvino.genai's supported-models page lists as validated; similar ones may
work too, and the reason says so rather than promising.
"""

from __future__ import annotations

from dataclasses import dataclass

LLM_TYPES = frozenset({
    "aquila", "arctic", "baichuan", "bloom", "chatglm", "codegen", "cohere", "dbrx", "deci", "deepseek",
    "deepseek_v2", "deepseek_v3", "exaone", "exaone4", "falcon", "gemma", "gemma2", "gemma3", "gemma3_text", "glm",
    "gpt2", "gpt_bigcode", "gptj", "gpt_neo", "gpt_neox", "gpt_neox_japanese", "gpt_oss", "granite", "granitemoe",
    "internlm", "internlm2", "jais", "llama", "minicpm", "minicpm3", "mistral", "mixtral", "mpt", "olmo", "olmo2",
    "opt", "orion", "persimmon", "phi", "phi3", "phimoe", "qwen", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
    "stablelm", "starcoder2", "xglm",
})
# Causal LMs optimum-intel 2.2.0 exports with this transformers (5.5) that openvino_genai's list lacks: the app
# runs them with openvino_genai when it can, else on the Optimum Intel engine (engines/optimum.py)
OPTIMUM_LLM_TYPES = frozenset({
    "afmoe", "arcee", "biogpt", "cohere2", "glm4", "granitemoehybrid", "hunyuan_v1_dense", "smollm3",
})
VLM_TYPES = frozenset({
    "gemma3", "idefics3", "internvl_chat", "llava", "llava_next", "llava_next_video", "llava-qwen2", "minicpmv",
    "phi3_v", "phi4mm", "qwen2_vl", "qwen2_5_vl", "smolvlm",
})
IMAGE_PIPELINES = frozenset({
    "StableDiffusionPipeline", "StableDiffusionXLPipeline", "StableDiffusion3Pipeline", "FluxPipeline",
    "LatentConsistencyModelPipeline", "StableDiffusionLatentConsistencyPipeline",
})
# openvino_genai reads GGUF files of these architectures directly (FACTS.md)
GGUF_ARCHITECTURES = frozenset({"llama", "qwen2", "qwen3"})
TASKS = {"text-generation": "Chat", "image-text-to-text": "Vision", "text-to-image": "Image"}


@dataclass(frozen=True)
class Support:
    supported: bool
    reason: str = ""  # why not, in a sentence; or a caveat when supported


def check_support(*, task: str | None, config: dict | None = None, gguf: dict | None = None,
                  openvino_ready: bool = False) -> Support:
    """From what the Hub tells about a repo: its pipeline tag, config and GGUF blocks."""
    config = config or {}
    if gguf:
        arch = gguf.get("architecture") or "unknown"
        if arch in GGUF_ARCHITECTURES:
            return Support(True)
        return Support(False, f"GGUF architecture {arch} is not read by openvino_genai "
                              f"(it reads {', '.join(sorted(GGUF_ARCHITECTURES))})")
    if task not in TASKS:
        return Support(False, f"task {task or 'unknown'} is not run here (Chat, Vision and Image models are)")
    if task == "text-to-image":
        pipeline = (config.get("diffusers") or {}).get("_class_name")
        if pipeline in IMAGE_PIPELINES or (openvino_ready and not pipeline):
            return Support(True)
        return Support(False, f"diffusers pipeline {pipeline or 'unknown'} is not run by openvino_genai's "
                              "Text2ImagePipeline")
    model_type = config.get("model_type")
    known, pipeline = (LLM_TYPES, "LLMPipeline") if task == "text-generation" else (VLM_TYPES, "VLMPipeline")
    if model_type in known:
        return Support(True)
    if task == "text-generation" and model_type in OPTIMUM_LLM_TYPES:
        return Support(True, f"architecture {model_type} is not on openvino_genai's list: it runs there if it can, "
                             "else on the Optimum Intel engine (slower)")
    if model_type is None:
        return Support(openvino_ready, "" if openvino_ready else "the repo does not say its architecture")
    return Support(False, f"architecture {model_type} is not run by openvino_genai's {pipeline}")
