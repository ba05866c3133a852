"""What compression costs, token by token: a compressed model's next-token distributions against its
reference's on a fixed text, as llama.cpp's `llama-perplexity --kl-divergence` reports them.

The text is the first two chapters of Lewis Carroll's *Alice's Adventures in Wonderland* (1865, public
domain), Project Gutenberg eBook #11 as the `wordcloud` package's source ships it (examples/alice.txt),
with Project Gutenberg's header and license left out: `data/alice_ch1-2.txt`, about 4,300 words.

Both models read the same tokens in chunks, each chunk continuing the last on the IR's own KV cache, and
their logits are compared position by position as they come, by a small OpenVINO graph (log-softmax,
KL divergence, the target's log-likelihood, the top token): no model's distributions are kept whole, and
the comparison runs on every core.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

EVAL_TEXT = Path(__file__).parent / "data" / "alice_ch1-2.txt"
QUICK_TOKENS = 64  # the check before a new model is registered: one short chunk, about a second of inference
FULL_TOKENS = 1024  # the evaluation after it: the figures stable to about a percent
CHUNK = 256  # tokens a forward pass reads


@dataclass(frozen=True)
class Divergence:
    """The candidate against the reference on the same `tokens` positions."""
    tokens: int
    reference_perplexity: float
    candidate_perplexity: float
    kl_mean: float  # KL(reference ‖ candidate) per position, in nats
    kl_p99: float
    top1_agreement: float  # share of positions whose most likely next token is the same

    def to_api(self) -> dict:
        return {"tokens": self.tokens, "reference_perplexity": round(self.reference_perplexity, 4),
                "candidate_perplexity": round(self.candidate_perplexity, 4), "kl_mean": round(self.kl_mean, 6),
                "kl_p99": round(self.kl_p99, 6), "top1_agreement": round(self.top1_agreement, 4)}


class _Stepper:
    """One LLM IR (optimum-intel's stateful export) read chunk by chunk on its own KV cache."""

    def __init__(self, core: Any, folder: Path, device: str) -> None:
        model = core.read_model(str(folder / "openvino_model.xml"))
        self.request = core.compile_model(model, device, _exact(core, device)).create_infer_request()
        self.inputs = {i.get_any_name() for i in model.inputs}
        self.request.reset_state()
        self.seen = 0

    def logits(self, ids: np.ndarray) -> np.ndarray:
        n = ids.shape[-1]
        feed = {"input_ids": ids.reshape(1, n)}
        if "attention_mask" in self.inputs:
            feed["attention_mask"] = np.ones((1, self.seen + n), dtype=np.int64)
        if "position_ids" in self.inputs:
            feed["position_ids"] = np.arange(self.seen, self.seen + n, dtype=np.int64).reshape(1, n)
        if "beam_idx" in self.inputs:
            feed["beam_idx"] = np.zeros((1,), dtype=np.int32)
        self.request.infer(feed)
        self.seen += n
        return self.request.get_tensor("logits").data[0]


def _exact(core: Any, device: str) -> dict:
    """The device's most exact settings it takes: what is measured is the weights' compression, not the
    runtime's (a Xeon computes in bf16 by default, and a CPU may keep the KV cache in 8 bits)."""
    supported = set(core.get_property(device, "SUPPORTED_PROPERTIES"))
    wanted = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0}
    return {key: value for key, value in wanted.items() if key in supported}


def _comparison(core: Any) -> Any:
    """The per-position figures of two models' logits (n × vocabulary each) and the n next tokens: the KL
    divergence of the second's distribution from the first's, each one's negative log-likelihood of the
    next token, and whether their top tokens agree."""
    import openvino as ov
    import openvino.opset15 as ops

    ref = ops.parameter([-1, -1], ov.Type.f32, name="reference")
    cand = ops.parameter([-1, -1], ov.Type.f32, name="candidate")
    targets = ops.parameter([-1], ov.Type.i64, name="targets")
    log_p, log_q = ops.log_softmax(ref, -1), ops.log_softmax(cand, -1)
    kl = ops.reduce_sum(ops.multiply(ops.exp(log_p), ops.subtract(log_p, log_q)), -1, False)
    column = ops.unsqueeze(targets, -1)
    nll_p = ops.negative(ops.squeeze(ops.gather_elements(log_p, column, 1), -1))
    nll_q = ops.negative(ops.squeeze(ops.gather_elements(log_q, column, 1), -1))
    top_p = ops.topk(ref, 1, -1, "max", "none", ov.Type.i64).output(1)
    top_q = ops.topk(cand, 1, -1, "max", "none", ov.Type.i64).output(1)
    same = ops.squeeze(ops.equal(top_p, top_q), -1)
    model = ov.Model([kl, nll_p, nll_q, same], [ref, cand, targets], "divergence")
    return core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def _same_tokenizer(a: Path, b: Path) -> bool:
    """Whether two model folders hold the very same tokenizer files (a compression copies them unchanged)."""
    files = [(a / name, b / name) for name in ("openvino_tokenizer.xml", "openvino_tokenizer.bin")]
    return all(x.is_file() and y.is_file() and x.stat().st_size == y.stat().st_size
               and x.read_bytes() == y.read_bytes() for x, y in files)


def eval_tokens(folder: Path, max_tokens: int = FULL_TOKENS) -> np.ndarray:
    """The evaluation text in the model's own tokens (its openvino_tokenizer), at most `max_tokens`."""
    import openvino_genai as og

    tokenizer = og.Tokenizer(str(folder))
    ids = tokenizer.encode(EVAL_TEXT.read_text(encoding="utf-8"), add_special_tokens=True).input_ids.data
    return np.asarray(ids[0][:max_tokens], dtype=np.int64)


def divergence(*, reference: Path, candidate: Path, device: str = "CPU", max_tokens: int = FULL_TOKENS,
               context: int = 0, chunk: int = CHUNK,
               progress: Callable[[int, int], None] | None = None) -> Divergence:
    """Perplexity of both, and the KL divergence and top-1 agreement of the candidate's next-token
    distributions against the reference's, on the evaluation text (within `context` tokens, when given).
    Both must read the text as the same tokens; `progress(done, total)` counts positions."""
    import openvino as ov

    core = ov.Core()
    with ThreadPoolExecutor(2) as pool:  # compiling is mostly one thread's work: both at once take half the time
        steppers = pool.map(lambda folder: _Stepper(core, folder, device), (reference, candidate))
        # meanwhile (compiling lets go of the GIL), the text in tokens
        ids = eval_tokens(reference, min(max_tokens, context) if context else max_tokens)
        if len(ids) < 2:
            raise ValueError("the evaluation text is shorter than two tokens")
        if not _same_tokenizer(reference, candidate) and not np.array_equal(ids, eval_tokens(candidate, len(ids))):
            raise ValueError("the two models read the evaluation text as different tokens: their tokenizers differ")
        ref, cand = steppers
    compare = _comparison(core).create_infer_request()
    kls, nll_ref, nll_cand, same = [], [], [], []
    total = len(ids) - 1  # the last token has nothing to predict
    for start in range(0, total, chunk):
        piece = ids[start:start + chunk]
        targets = ids[start + 1:start + 1 + len(piece)]
        n = len(targets)
        compare.infer({"reference": ref.logits(piece)[:n], "candidate": cand.logits(piece)[:n], "targets": targets})
        for out, kept in zip(compare.output_tensors, (kls, nll_ref, nll_cand, same)):
            kept.append(np.array(out.data))
        if progress:
            progress(start + n, total)
    kl = np.concatenate(kls).astype(np.float64)
    return Divergence(tokens=int(kl.size), reference_perplexity=float(np.exp(np.concatenate(nll_ref).mean())),
                      candidate_perplexity=float(np.exp(np.concatenate(nll_cand).mean())),
                      kl_mean=float(max(kl.mean(), 0.0)), kl_p99=float(max(np.percentile(kl, 99), 0.0)),
                      top1_agreement=float(np.concatenate(same).mean()))


VLM_TOKENS = 256  # text positions read after the image in the full evaluation of a vision model (one pass)


def eval_image() -> Any:
    """The picture a vision model's measure reads, drawn the same each time (no file to ship): a sky, a sun, a
    house with a roof, a door and a window, a tree, and grass, in flat colours, 448 pixels square."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (448, 448), (110, 170, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 330, 448, 448), fill=(70, 150, 60))
    draw.ellipse((330, 40, 410, 120), fill=(250, 210, 60))
    draw.rectangle((90, 210, 250, 340), fill=(200, 80, 60))
    draw.polygon([(70, 210), (170, 130), (270, 210)], fill=(120, 60, 40))
    draw.rectangle((150, 270, 190, 340), fill=(90, 50, 30))
    draw.rectangle((105, 230, 140, 260), fill=(230, 240, 250))
    draw.rectangle((320, 240, 345, 340), fill=(100, 70, 40))
    draw.ellipse((285, 170, 380, 265), fill=(40, 120, 50))
    return image


class _VisionReader:
    """A vision model's IR as optimum-intel reads it (its vision encoder, the merge of the image's features into
    the prompt, its language model): the logits of one prompt that holds the picture, then text."""

    def __init__(self, folder: Path, device: str, loader: Any) -> None:
        self.model = loader.from_pretrained(
            str(folder), device=device, ov_config={"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"})
        try:
            self.model.config.pad_token_id
        except AttributeError:  # transformers 5 moved it to the text config; optimum-intel 2.2 still reads it here
            self.model.config.pad_token_id = None

    def logits(self, inputs: dict) -> np.ndarray:
        return self.model(**inputs).logits[0].numpy()


def vision_divergence(*, reference: Path, candidate: Path, device: str = "CPU", max_tokens: int = VLM_TOKENS,
                      progress: Callable[[int, int], None] | None = None) -> Divergence:
    """The token-level figures of a vision model's language model with an image in the prompt: the picture
    of `eval_image`, then the evaluation text (its first `max_tokens` tokens), in one pass of each model; only
    the text's positions after the picture are compared. The prompt is written as LLaVA models were trained
    (the image as one `<image>` token that the model widens into the image's features), the form optimum-intel
    2.2 merges; a model it cannot run that way is said, not measured."""
    import openvino as ov
    import torch
    from optimum.intel import OVModelForVisualCausalLM  # here, not in the threads: its lazy import is not safe there
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(str(reference))
    tokenizer = processor.tokenizer
    image_token = getattr(processor, "image_token", None) or "<image>"
    if tokenizer.convert_tokens_to_ids(image_token) in (None, tokenizer.unk_token_id):
        raise ValueError(f"its tokenizer has no {image_token} token to place the picture with")
    text_ids = tokenizer(EVAL_TEXT.read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"][:max_tokens]
    prefix = tokenizer(f"{image_token}\n", add_special_tokens=True)["input_ids"]
    ids = torch.tensor([prefix + text_ids])
    pixels = processor.image_processor(eval_image(), return_tensors="pt")["pixel_values"]
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "pixel_values": pixels}
    with ThreadPoolExecutor(2) as pool:
        ref, cand = pool.map(lambda folder: _VisionReader(folder, device, OVModelForVisualCausalLM),
                             (reference, candidate))
    n = len(text_ids) - 1  # each text token but the last predicts the next one
    if progress:
        progress(0, n)
    ref_logits = ref.logits(inputs)
    cand_logits = cand.logits(inputs)
    if ref_logits.shape != cand_logits.shape:
        raise ValueError("the two models widen the picture into different numbers of positions")
    # the last n + 1 positions are the text's; the ones before, the prompt's start and the picture's features
    compare = _comparison(ov.Core()).create_infer_request()
    compare.infer({"reference": ref_logits[-n - 1:-1], "candidate": cand_logits[-n - 1:-1],
                   "targets": np.asarray(text_ids[1:], dtype=np.int64)})
    kl, nll_ref, nll_cand, same = (np.array(t.data) for t in compare.output_tensors)
    if progress:
        progress(n, n)
    kl = kl.astype(np.float64)
    return Divergence(tokens=int(kl.size), reference_perplexity=float(np.exp(nll_ref.mean())),
                      candidate_perplexity=float(np.exp(nll_cand.mean())), kl_mean=float(max(kl.mean(), 0.0)),
                      kl_p99=float(max(np.percentile(kl, 99), 0.0)), top1_agreement=float(same.mean()))
