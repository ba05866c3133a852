"""What compression costs, token by token: a compressed model's next-token distributions against its
reference's on a fixed text, as llama.cpp's `llama-perplexity --kl-divergence` reports them.

The text is the first two chapters of Lewis Carroll's *Alice's Adventures in Wonderland* (1865, public
domain), Project Gutenberg eBook #11 as the `wordcloud` package's source ships it (examples/alice.txt),
with Project Gutenberg's header and license left out: `data/alice_ch1-2.txt`, about 4,300 words.

Both models read the same tokens in chunks, each chunk continuing the last (the IR's own KV cache), and
their logits are compared position by position as they come: no model's distributions are kept whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EVAL_TEXT = Path(__file__).parent / "data" / "alice_ch1-2.txt"
MAX_TOKENS = 2048  # of the text: enough for stable figures, cheap next to an export
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
        return self.request.get_tensor("logits").data[0].astype(np.float32)


def _exact(core: Any, device: str) -> dict:
    """The device's most exact settings it takes: what is measured is the weights' compression, not the
    runtime's (a Xeon computes in bf16 by default, and a CPU may keep the KV cache in 8 bits)."""
    supported = set(core.get_property(device, "SUPPORTED_PROPERTIES"))
    wanted = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0}
    return {key: value for key, value in wanted.items() if key in supported}


def eval_tokens(folder: Path, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """The evaluation text in the model's own tokens (its openvino_tokenizer), at most `max_tokens`."""
    import openvino_genai as og

    tokenizer = og.Tokenizer(str(folder))
    ids = tokenizer.encode(EVAL_TEXT.read_text(encoding="utf-8"), add_special_tokens=True).input_ids.data
    return np.asarray(ids[0][:max_tokens], dtype=np.int64)


def divergence(*, reference: Path, candidate: Path, device: str = "CPU", max_tokens: int = MAX_TOKENS,
               context: int = 0, chunk: int = CHUNK) -> Divergence:
    """Perplexity of both, and the KL divergence and top-1 agreement of the candidate's next-token
    distributions against the reference's, on the evaluation text (within `context` tokens, when given)."""
    import openvino as ov

    ids = eval_tokens(reference, min(max_tokens, context) if context else max_tokens)
    if len(ids) < 2:
        raise ValueError("the evaluation text is shorter than two tokens")
    core = ov.Core()
    ref, cand = _Stepper(core, reference, device), _Stepper(core, candidate, device)
    nll_ref, nll_cand, kls, same = [], [], [], []
    for start in range(0, len(ids) - 1, chunk):
        piece = ids[start:start + chunk]
        targets = ids[start + 1:start + 1 + len(piece)]
        log_p, log_q = _log_softmax(ref.logits(piece)), _log_softmax(cand.logits(piece))
        log_p, log_q = log_p[:len(targets)], log_q[:len(targets)]  # the last token has nothing to predict
        rows = np.arange(len(targets))
        nll_ref.append(-log_p[rows, targets])
        nll_cand.append(-log_q[rows, targets])
        kls.append(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1))
        same.append(log_p.argmax(-1) == log_q.argmax(-1))
    kl = np.concatenate(kls)
    return Divergence(tokens=int(kl.size), reference_perplexity=float(np.exp(np.concatenate(nll_ref).mean())),
                      candidate_perplexity=float(np.exp(np.concatenate(nll_cand).mean())),
                      kl_mean=float(kl.mean()), kl_p99=float(np.percentile(kl, 99)),
                      top1_agreement=float(np.concatenate(same).mean()))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
