"""The tasks the app runs, one row each: adding a task is adding a row here, and the code its row names.

Everything that differs by task reads its row: the Hub's support marks, the library, the export,
the loader, the conversion's check, the tab that opens a model, and the model card's snippet. The
loader and the check are code above this module (engines/, convert/), so a row names them as
"module:function" and they are imported when first used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Literal

from .errors import NotAvailable


@dataclass(frozen=True)
class Task:
    id: str  # the Hub's pipeline tag, kept in each model's manifest
    label: str  # what the page calls it: the name of the tab that runs it, or what the Documents tab uses it for
    tab: str  # the id of that tab
    export_task: str  # optimum-cli export openvino --task
    pipeline: str  # the openvino_genai class that runs it
    named_by: Literal["model_type", "diffusers"]  # where a Hub config names the architecture
    architectures: frozenset[str]  # what that pipeline runs (openvino.genai's validated list)
    loader: str  # "module:function" (entry, device, **extra) -> the loaded pipeline
    verify: str  # "module:function" (model folder, device) -> a sample output, run after a conversion
    usage: tuple[tuple[str, ...], str]  # the model card's snippet: what it imports, how it runs the model
    fallback: frozenset[str] = frozenset()  # architectures another engine of the app runs (slower)
    compares_tokens: bool = False  # a compression is measured token by token against its original (logits)
    compares_answers: bool = False  # a conversion compares the new model's greedy answers with the original's
    compares_pictures: bool = False  # ... or its pictures, drawn from the same prompts and seed
    one_score: bool = False  # the model gives one number a pair (a cross-encoder): a classifier of labels is not one

    @property
    def evaluated(self) -> bool:
        """Whether a compressed model of this task is measured against its original (convert/quality.py)."""
        return self.compares_tokens or self.compares_pictures

    def load(self, *args, **kwargs) -> Any:
        return _named(self.loader)(*args, **kwargs)

    def check(self, *args, **kwargs) -> str:
        return _named(self.verify)(*args, **kwargs)

    def architecture(self, config: dict) -> str | None:
        if self.named_by == "diffusers":
            return (config.get("diffusers") or {}).get("_class_name")
        return config.get("model_type")


def _named(name: str) -> Callable:
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


CHAT = Task(
    id="text-generation", label="Chat", tab="chat", export_task="text-generation-with-past", pipeline="LLMPipeline",
    named_by="model_type",
    architectures=frozenset({
        "aquila", "arctic", "baichuan", "bloom", "chatglm", "codegen", "cohere", "dbrx", "deci", "deepseek",
        "deepseek_v2", "deepseek_v3", "exaone", "exaone4", "falcon", "gemma", "gemma2", "gemma3", "gemma3_text",
        "glm", "gpt2", "gpt_bigcode", "gptj", "gpt_neo", "gpt_neox", "gpt_neox_japanese", "gpt_oss", "granite",
        "granitemoe", "internlm", "internlm2", "jais", "llama", "minicpm", "minicpm3", "mistral", "mixtral", "mpt",
        "olmo", "olmo2", "opt", "orion", "persimmon", "phi", "phi3", "phimoe", "qwen", "qwen2", "qwen2_moe", "qwen3",
        "qwen3_moe", "stablelm", "starcoder2", "xglm",
    }),
    # causal LMs optimum-intel 2.2.0 exports with this transformers (5.5) that openvino_genai's list lacks: the
    # app runs them with openvino_genai when it can, else on the Optimum Intel engine (engines/optimum.py)
    fallback=frozenset({"afmoe", "arcee", "biogpt", "cohere2", "glm4", "granitemoehybrid", "hunyuan_v1_dense",
                        "smollm3"}),
    loader="genai_ui.engines.pipelines:load_llm", verify="genai_ui.convert.worker:answer_llm", compares_tokens=True,
    compares_answers=True,
    usage=((), """\
pipe = openvino_genai.LLMPipeline(model_dir, "CPU")
print(pipe.generate("What is OpenVINO?", max_new_tokens=100))
"""))

VISION = Task(
    id="image-text-to-text", label="Vision", tab="vision", export_task="image-text-to-text", pipeline="VLMPipeline",
    named_by="model_type",
    architectures=frozenset({
        "gemma3", "idefics3", "internvl_chat", "llava", "llava_next", "llava_next_video", "llava-qwen2", "minicpmv",
        "phi3_v", "phi4mm", "qwen2_vl", "qwen2_5_vl", "smolvlm",
    }),
    loader="genai_ui.engines.pipelines:load_vlm", verify="genai_ui.convert.worker:answer_vlm", compares_tokens=True,
    usage=(("import numpy as np", "import openvino as ov", "from PIL import Image"), """\
pipe = openvino_genai.VLMPipeline(model_dir, "CPU")
image = ov.Tensor(np.array(Image.open("photo.jpg").convert("RGB"))[None])
print(pipe.generate("Describe this image.", image=image, max_new_tokens=100))
"""))

IMAGE = Task(
    id="text-to-image", label="Image", tab="image", export_task="text-to-image", pipeline="Text2ImagePipeline",
    named_by="diffusers",
    architectures=frozenset({
        "StableDiffusionPipeline", "StableDiffusionXLPipeline", "StableDiffusion3Pipeline", "FluxPipeline",
        "LatentConsistencyModelPipeline", "StableDiffusionLatentConsistencyPipeline",
    }),
    loader="genai_ui.engines.pipelines:load_image_pipelines", verify="genai_ui.convert.worker:draw_image",
    compares_pictures=True,
    usage=(("from PIL import Image",), """\
pipe = openvino_genai.Text2ImagePipeline(model_dir, "CPU")
image = pipe.generate("a lighthouse on a cliff at sunset", width=512, height=512, num_inference_steps=20)
Image.fromarray(image.data[0]).save("image.png")
"""))

EMBEDDINGS = Task(
    id="feature-extraction", label="Embeddings", tab="documents", export_task="feature-extraction",
    pipeline="TextEmbeddingPipeline", named_by="model_type",
    # sentence encoders openvino.genai validates (BERT: all-MiniLM, bge; XLM-RoBERTa: bge-m3, e5; MPNet; Qwen3)
    architectures=frozenset({"bert", "xlm-roberta", "roberta", "mpnet", "qwen3"}),
    loader="genai_ui.engines.embeddings:load_embeddings", verify="genai_ui.engines.embeddings:embed_sentence",
    usage=((), """\
pipe = openvino_genai.TextEmbeddingPipeline(model_dir, "CPU")
vectors = pipe.embed_documents(["OpenVINO runs models on this machine.", "Bananas are yellow."])
"""))

RERANK = Task(
    id="text-classification", label="Reranker", tab="documents", export_task="text-classification",
    pipeline="TextRerankPipeline", named_by="model_type",
    # cross-encoders (ms-marco MiniLM: bert; bge-reranker: xlm-roberta)
    architectures=frozenset({"bert", "xlm-roberta", "roberta"}),
    loader="genai_ui.engines.embeddings:load_reranker", verify="genai_ui.engines.embeddings:rerank_pair",
    one_score=True,
    usage=((), """\
pipe = openvino_genai.TextRerankPipeline(model_dir, "CPU")
print(pipe.rerank("What is the capital of France?", ["Paris is the capital of France.", "Bananas are yellow."]))
"""))

TASKS: dict[str, Task] = {t.id: t for t in (CHAT, VISION, IMAGE, EMBEDDINGS, RERANK)}


def task(task_id: str) -> Task:
    """The row of a task the app runs; any other gets a message naming the ones it does."""
    row = TASKS.get(task_id)
    if row is None:
        raise NotAvailable(f"{task_id or 'A model without a task'} is not run here: {run_here(ids=True)} models are.")
    return row


def run_here(*, ids: bool = False) -> str:
    """"Chat, Vision and Image": the tasks the app runs, for a sentence."""
    names = [f"{t.label} ({t.id})" if ids else t.label for t in TASKS.values()]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def label(task_id: str | None, default: str = "") -> str:
    """What the page calls a task: its tab's name, or the Hub's tag for one the app does not run."""
    row = TASKS.get(task_id or "")
    return row.label if row else (task_id or default)
