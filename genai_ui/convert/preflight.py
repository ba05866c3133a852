"""The pre-flight: before anything is downloaded, what a Hub model costs here at each precision (the download,
the disk and the peak memory to convert it, the memory to run it) and how fast it would answer on this machine,
each marked when this machine cannot give it. A conversion that would not fit is refused with these figures.

The rules (docs/guide.md gives them in words; `python -m genai_ui.bench preflight` measures their error):
- Weights: fp16 2 bytes a parameter; int8 1.01 (a scale per row); int4 0.53 (a scale and a zero point per group)
  but the embeddings (and an untied head) at int8, as the default conversion keeps them.
- Disk to convert: the download, the fp16 export the compressed model is measured against, and the result.
- Peak memory to convert: the checkpoint's weights as torch holds them (the export loads them in their own
  precision), the fp16 model it builds from them (2 bytes a parameter), and CONVERT_BASE_BYTES for Python, torch
  and optimum: measured by bench preflight at 135M (an fp32 checkpoint) and 1.7B (bf16).
- Memory to run: the weights (an IR's twice on the CPU: the pages of its file, which the system may take back
  under pressure, and the CPU plugin's own copy), what the runtime holds beyond them (measured once,
  run/machine.py), and the KV
  cache of one conversation of KV_TOKENS tokens (or the model's context, if shorter) at 1 byte a value on the CPU
  (its default KV precision, u8), 2 elsewhere.
- Decode speed: one step reads every weight but the embedding table (looked up, not read, unless the head is the
  same matrix); its time is those bytes over the machine's measured reading speed for the precision, plus the
  measured fixed cost of a layer times the layers.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from ..hub.client import ModelDetails

PRECISIONS = ("fp16", "int8", "int4")
BYTES = {"fp16": 2.0, "int8": 1.01, "int4": 0.53}
# optimum-cli's peak beyond the two copies of the weights, by `python -m genai_ui.bench preflight` on the 2-core
# EPYC (docs/speed.md#the-pre-flights-predictions): 0.63 GB at 135M (fp32), 0.56 GB at 1.7B (bf16)
CONVERT_BASE_BYTES = 0.6e9
IR_COPIES_ON_CPU = 2  # measured 1.9 to 2.2 times an IR's weights at 135M and 1.7B (but 1.1 at 135M int4)
KV_TOKENS = 4096
MIN_BYTES_PER_PARAMETER = 0.4  # less than any checkpoint's (a 4-bit GPTQ one holds 0.55): the sizes are missing
LAYERS_IF_UNKNOWN = 32  # a GGUF repo's Hub record does not say; most chat models of 1B to 8B have 16 to 32
# what a checkpoint repo holds that an export does not read
SKIPPED = re.compile(r"(?i)(\.(gguf|onnx|onnx_data|msgpack|h5|ot|tflite|mlmodel|md|png|jpe?g|gif|pdf)$"
                     r"|^(onnx|openvino|original|flax|tf|coreml)/|\.(fp16|non_ema|ema)\.(safetensors|bin)$)")
WEIGHTS = re.compile(r"(?i)\.(safetensors|bin)$")  # what transformers and diffusers load weights from
GGUF_PRECISION = (("Q8", "int8"), ("F16", "fp16"), ("BF16", "fp16"), ("F32", "fp16"))


@dataclass(frozen=True)
class Shape:
    """What the figures need of a model, from its config.json (a VLM's language model: its text_config)."""
    parameters: int
    layers: int = 0
    hidden: int = 0
    vocab: int = 0
    kv_width: int = 0  # key and value heads times the head's width
    context: int = 0
    tied: bool = False

    @classmethod
    def of(cls, parameters: int, config: dict | None) -> "Shape":
        text = (config or {}).get("text_config") or config or {}
        heads = text.get("num_attention_heads") or 0
        hidden = text.get("hidden_size") or text.get("d_model") or 0
        head_dim = text.get("head_dim") or (hidden // heads if heads else 0)
        return cls(parameters=parameters, layers=text.get("num_hidden_layers") or 0, hidden=hidden,
                   vocab=text.get("vocab_size") or 0, kv_width=(text.get("num_key_value_heads") or heads) * head_dim,
                   context=text.get("max_position_embeddings") or 0,
                   tied=bool((config or {}).get("tie_word_embeddings", text.get("tie_word_embeddings", False))))

    @property
    def embedding(self) -> int:
        return self.vocab * self.hidden

    def weight_bytes(self, precision: str) -> int:
        if precision != "int4" or not self.embedding:
            return int(self.parameters * BYTES[precision])
        kept = self.embedding * (1 if self.tied else 2)  # at int8, as the default conversion keeps them
        return int((self.parameters - kept) * BYTES["int4"] + kept * BYTES["int8"])

    def read_per_token(self, precision: str) -> int:
        """A decode step's weight bytes: all but an untied embedding table, of which one row is read."""
        if self.tied or not self.embedding:
            return self.weight_bytes(precision)
        return self.weight_bytes(precision) - int(self.embedding * BYTES["int8" if precision == "int4" else precision])

    def kv_bytes(self, device: str) -> int:
        tokens = min(KV_TOKENS, self.context or KV_TOKENS)
        return 2 * self.layers * self.kv_width * tokens * (1 if device.startswith("CPU") else 2)


@dataclass(frozen=True)
class Plan:
    """One way to get the model running here, with what it costs and whether this machine has it."""
    precision: str  # fp16, int8, int4, or a GGUF file's quantization
    how: str  # "convert", "download" (an OpenVINO repo) or the GGUF file's name
    download_bytes: int
    disk_bytes: int
    convert_peak_bytes: int  # 0: nothing to convert
    run_bytes: int
    tokens_per_s: float | None  # None: no chat model, or the machine is not measured
    fits: bool
    why: str  # what does not fit, in words; "" when it all does

    def to_api(self) -> dict:
        return asdict(self)


def export_files(about: ModelDetails, trust_remote_code: bool = False) -> list[dict]:
    """The files of a checkpoint that its export reads (one copy of the weights: the safetensors)."""
    files = [f for f in about.files if not SKIPPED.search(f["name"])
             and (trust_remote_code or not f["name"].endswith(".py"))]
    if any(f["name"].endswith(".safetensors") for f in files):
        files = [f for f in files if not re.search(r"(pytorch_model|diffusion_pytorch_model)[-.\w]*\.bin$", f["name"])]
    return files


def convert_disk(download: int, shape: Shape, precisions: list[str]) -> int:
    """The download, the fp16 export (the reference a compressed model is measured against) and each result."""
    return download + shape.weight_bytes("fp16") + sum(shape.weight_bytes(p) for p in precisions if p != "fp16")


def convert_peak(checkpoint_bytes: int, parameters: int) -> int:
    return int(CONVERT_BASE_BYTES + checkpoint_bytes + parameters * BYTES["fp16"])


def plans(about: ModelDetails, config: dict | None, *, profile=None, device: str = "CPU", free_memory: int,
          free_disk: int, chat: bool = True) -> list[Plan]:
    """The ways to run `about` here: each precision of a conversion, the repo as it is (OpenVINO IR), or each
    GGUF file that loads."""
    shape = Shape.of(about.parameters, config)
    runtime = profile.runtime_bytes if profile else 0
    found = []

    def plan(precision, how, download, disk, convert, weights, read, speed_as):
        # an IR's weights twice on the CPU: the file's pages it read, and the plugin's own copy (a GGUF is read
        # into memory once, converted as it goes)
        held = weights * (IR_COPIES_ON_CPU if device.startswith("CPU") and how in ("convert", "download") else 1)
        run = held + runtime + shape.kv_bytes(device)
        speed = None
        if chat and profile is not None and read:
            seconds = profile.seconds_per_token(weight_bytes=read, precision=speed_as,
                                                layers=shape.layers or LAYERS_IF_UNKNOWN)
            speed = round(1 / seconds, 1)
        short = [f"{what} needs {need / 1e9:.1f} GB and {have / 1e9:.1f} GB are free"
                 for what, need, have in (("the disk", disk, free_disk), ("converting", convert, free_memory),
                                          ("running", run, free_memory)) if need > have]
        found.append(Plan(precision, how, download, disk, convert, run, speed, not short, "; ".join(short)))

    if about.gguf_files:
        for f in about.gguf_files:
            if f.get("loadable"):
                kind = next((p for q, p in GGUF_PRECISION if f["quantization"].startswith(q)), "int4")
                plan(f["quantization"], f["name"], f["size"], f["size"], 0, f["size"], f["size"], kind)
    elif any(f["name"].endswith(("openvino_model.xml", "openvino_language_model.xml")) for f in about.files):
        size = sum(f["size"] for f in about.files)
        weights = sum(f["size"] for f in about.files if f["name"].endswith(".bin"))
        precision = _ir_precision(about.id, shape, weights)
        plan(precision, "download", size, size, 0, weights, weights, precision)
    elif shape.parameters:
        files = export_files(about)
        download = sum(f["size"] for f in files)
        checkpoint = sum(f["size"] for f in files if WEIGHTS.search(f["name"]))
        if checkpoint < shape.parameters * MIN_BYTES_PER_PARAMETER:  # the Hub gave no file sizes: 16-bit weights
            download += shape.parameters * 2 - checkpoint
            checkpoint = shape.parameters * 2
        for precision in PRECISIONS:
            plan(precision, "convert", download, convert_disk(download, shape, [precision]),
                 convert_peak(checkpoint, shape.parameters),
                 shape.weight_bytes(precision), shape.read_per_token(precision), precision)
    return found


def _ir_precision(repo_id: str, shape: Shape, weights: int) -> str:
    from ..hub.client import weight_format_in_name

    named = weight_format_in_name(repo_id)
    if named in PRECISIONS:
        return named
    if shape.parameters:  # the bytes a parameter tell the precision
        per = weights / shape.parameters
        return "int4" if per < 0.8 else "int8" if per < 1.5 else "fp16"
    return "int4"
