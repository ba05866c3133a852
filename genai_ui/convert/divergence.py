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

    ids = eval_tokens(reference, min(max_tokens, context) if context else max_tokens)
    if len(ids) < 2:
        raise ValueError("the evaluation text is shorter than two tokens")
    if not _same_tokenizer(reference, candidate) and not np.array_equal(ids, eval_tokens(candidate, len(ids))):
        raise ValueError("the two models read the evaluation text as different tokens: their tokenizers differ")
    core = ov.Core()
    with ThreadPoolExecutor(2) as pool:  # compiling is mostly one thread's work: both at once take half the time
        ref, cand = pool.map(lambda folder: _Stepper(core, folder, device), (reference, candidate))
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
