"""What a converted or compressed chat model is worth: the precision its weights are stored
in, and how close its answers come to a reference model's.

`python -m genai_ui.convert.quality --reference DIR --candidate DIR` prints both as one JSON object:
the convert job runs it as a subprocess, so the two pipelines it loads never share the app's
memory. It exits with 2 and one line on stderr when a model is missing or cannot be loaded.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import GenerationFailed, InvalidParameter, ModelLoadError, UserError, first_line
from ..gguf import read_gguf_info

# Short questions a small instruct model answers correctly in a few words, so that a greedy
# answer changes when the weights are damaged rather than from one run to the next.
PROMPTS = ("What is the capital of France?", "Name three primary colors.", "How many days are in a week?",
           "What is the opposite of hot?")
# the lowest score of each verdict, best first
VERDICTS = ((0.95, "same"), (0.6, "close"), (0.3, "degraded"), (0.0, "broken"))
# answers are compared on at least this many words, so that a reply cut to one matching word
# does not pass for the same answer
MIN_COMPARED_WORDS = 8
# constants this small are norms, biases, scales or zero points, not weight matrices
MIN_WEIGHT_ELEMENTS = 1024

# OpenVINO element type of the stored weights -> precision name (NNCF's names for its modes)
_PRECISIONS = {"u4": "int4", "i4": "int4", "u8": "int8", "i8": "int8", "u2": "int2", "i2": "int2",
               "u3": "int3", "nf4": "nf4", "f4e2m1": "fp4", "f8e4m3": "fp8_e4m3", "f8e5m2": "fp8_e5m2",
               "f16": "fp16", "bf16": "bf16", "f32": "fp32", "f64": "fp64"}
# which input of each op holds a weight
_WEIGHT_INPUTS = {"MatMul": (0, 1), "Gather": (0,), "Convolution": (1,), "GroupConvolution": (1,),
                  "ConvolutionBackpropData": (1,), "GroupConvolutionBackpropData": (1,)}
# ops a weight decompression subgraph is built from (Gather: a codebook lookup)
_DECOMPRESSION = {"Convert", "Reshape", "Transpose", "Multiply", "Subtract", "Unsqueeze", "Squeeze", "Gather"}
_MAX_CHAIN = 8


def weight_precisions(*, model_dir: Path) -> dict[str, float]:
    """The share of weight elements stored at each precision, largest first, e.g.
    `{"int4": 0.79, "int8": 0.21}`: read from the IR's graph, without compiling it.

    `model_dir` is an exported folder: its `openvino_model.xml`, or every model of a
    VLM or diffusers folder (the tokenizers aside).
    """
    import openvino as ov

    core = ov.Core()
    counts: dict[str, int] = {}
    for xml in _model_files(Path(model_dir)):
        try:
            model = core.read_model(xml)
        except RuntimeError as err:
            raise ModelLoadError(f"{xml.name} in {xml.parent} cannot be read: {first_line(err)}") from err
        for precision, elements in _weights(model):
            counts[precision] = counts.get(precision, 0) + elements
        del model
    total = sum(counts.values())
    if not total:
        return {}
    shares = {k: round(n / total, 4) for k, n in sorted(counts.items(), key=lambda kv: -kv[1])}
    largest = next(iter(shares))
    shares[largest] = round(1.0 - sum(v for k, v in shares.items() if k != largest), 4)
    return shares


def _model_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ModelLoadError(f"There is no model folder at {folder}.")
    if (folder / "openvino_model.xml").is_file():
        return [folder / "openvino_model.xml"]
    found = sorted(p for p in folder.rglob("*.xml")
                   if "tokenizer" not in p.name and p.with_suffix(".bin").is_file())
    if not found:
        raise ModelLoadError(f"{folder} holds no OpenVINO model (an .xml file with its .bin).")
    return found


def _weights(model: Any) -> Iterator[tuple[str, int]]:
    """(precision, element count) of each weight constant, each counted once even when shared
    (tied embeddings feed both a Gather and a MatMul)."""
    seen: set[str] = set()
    for op in model.get_ordered_ops():
        for index in _WEIGHT_INPUTS.get(op.get_type_name(), ()):
            found = _decompression(op.input_value(index).get_node(), _MAX_CHAIN)
            if not found:
                continue
            constants, kinds = found
            weight = max(constants, key=_elements)
            if _elements(weight) < MIN_WEIGHT_ELEMENTS or weight.get_name() in seen:
                continue
            seen.add(weight.get_name())
            yield _precision(weight, constants, kinds), _elements(weight)


def _decompression(node: Any, depth: int) -> tuple[list, set[str]] | None:
    """The constants and op kinds of a subgraph that only turns constants into a weight;
    None when it reads anything else (activations)."""
    kind = node.get_type_name()
    if kind == "Constant":
        return [node], set()
    if kind not in _DECOMPRESSION or depth == 0:
        return None
    constants, kinds = [], {kind}
    for value in node.input_values():
        found = _decompression(value.get_node(), depth - 1)
        if found is None:
            return None
        constants += found[0]
        kinds |= found[1]
    return constants, kinds


def _precision(weight: Any, constants: list, kinds: set[str]) -> str:
    stored = weight.get_element_type().get_type_name()
    name = _PRECISIONS.get(stored, stored)
    scales = {c.get_element_type().get_type_name() for c in constants if c is not weight}
    if "Gather" in kinds:  # the stored values are indices into a codebook
        return "cb4" if name == "int4" else "codebook"
    if "f8e8m0" in scales and name in ("fp4", "fp8_e4m3"):
        return "mx" + name
    if name == "fp4" and "f8e4m3" in scales:
        return "nvfp4"
    return name


def _elements(constant: Any) -> int:
    return math.prod(constant.get_output_shape(0))


def similarity(*, reference: str, candidate: str) -> float:
    """difflib's ratio between the two answers' words (lowercased, punctuation dropped), both
    cut to the shorter answer's length but to no fewer than 8 words, so that a model that
    gives the same answer and then stops earlier or talks on is not marked down."""
    ref, cand = _words(reference), _words(candidate)
    n = max(min(len(ref), len(cand)), MIN_COMPARED_WORDS)
    return round(difflib.SequenceMatcher(None, ref[:n], cand[:n], autojunk=False).ratio(), 4)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def verdict_for(score: float) -> str:
    return next(name for low, name in VERDICTS if score >= low)


@dataclass(frozen=True)
class QualityReport:
    """The candidate's and the reference's greedy answers to the same prompts, side by side."""

    rows: tuple[dict, ...]  # {prompt, reference, candidate, similarity}
    candidate_tokens_per_s: float
    reference_tokens_per_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        if not self.rows:
            raise InvalidParameter("A quality report needs at least one answered prompt.")
        for row in self.rows:
            if set(row) != {"prompt", "reference", "candidate", "similarity"}:
                raise InvalidParameter(f"A report row needs prompt, reference, candidate and similarity; "
                                       f"got {sorted(row)}.")
            if not 0.0 <= row["similarity"] <= 1.0:
                raise InvalidParameter(f"Similarity must be between 0 and 1; got {row['similarity']}.")
        for name in ("candidate_tokens_per_s", "reference_tokens_per_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidParameter(f"{name} must be a speed of 0 or more; got {value}.")

    @property
    def score(self) -> float:
        return round(sum(r["similarity"] for r in self.rows) / len(self.rows), 4)

    @property
    def verdict(self) -> str:
        return verdict_for(self.score)

    def summary(self) -> str:
        return (f"Quality: {self.verdict} ({self.score:.2f} similarity to the reference model on "
                f"{len(self.rows)} prompts); {self.candidate_tokens_per_s:.0f} tokens/s "
                f"(reference {self.reference_tokens_per_s:.0f})")

    def to_api(self) -> dict:
        return {"verdict": self.verdict, "score": self.score, "summary": self.summary(),
                "candidate_tokens_per_s": round(self.candidate_tokens_per_s, 1),
                "reference_tokens_per_s": round(self.reference_tokens_per_s, 1),
                "rows": [dict(r) for r in self.rows]}


def compare_answers(*, reference: Path, candidate: Path, device: str = "CPU", prompts: tuple[str, ...] = PROMPTS,
                    max_new_tokens: int = 32) -> QualityReport:
    """Answer each prompt (as a one-message chat, greedily) with the candidate, then with the
    reference, one model in memory at a time, and compare the answers with `similarity`.
    Each may be an OpenVINO IR folder or a .gguf file."""
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise InvalidParameter("Give at least one prompt, and no empty ones.")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= 4096:
        raise InvalidParameter(f"max_new_tokens must be a whole number from 1 to 4096; got {max_new_tokens!r}.")
    prompts = tuple(prompts)
    cand_answers, cand_speed = _answer(Path(candidate), device, prompts, max_new_tokens)
    gc.collect()  # the candidate's weights go before the reference's arrive
    ref_answers, ref_speed = _answer(Path(reference), device, prompts, max_new_tokens)
    gc.collect()
    rows = tuple({"prompt": p, "reference": r, "candidate": c, "similarity": similarity(reference=r, candidate=c)}
                 for p, r, c in zip(prompts, ref_answers, cand_answers))
    return QualityReport(rows=rows, candidate_tokens_per_s=cand_speed, reference_tokens_per_s=ref_speed)


def _answer(path: Path, device: str, prompts: tuple[str, ...], max_new_tokens: int) -> tuple[list[str], float]:
    """The greedy answers and the decode speed (tokens/s over all the answers)."""
    import openvino_genai as og

    pipe = _load(path, device)
    config = pipe.get_generation_config()
    config.max_new_tokens, config.do_sample = max_new_tokens, False
    answers, metrics = [], None
    try:
        pipe.generate("Hello", max_new_tokens=1)  # the first call pays one-time setup: keep it out of the speed
        for prompt in prompts:
            result = pipe.generate(og.ChatHistory([{"role": "user", "content": prompt}]), config)
            answers.append(result.texts[0].strip())
            metrics = result.perf_metrics if metrics is None else metrics + result.perf_metrics
    except RuntimeError as err:
        raise GenerationFailed(f"{path.name} failed while answering: {first_line(err)}") from err
    speed = metrics.get_throughput().mean
    return answers, speed if math.isfinite(speed) else 0.0


def _load(path: Path, device: str) -> Any:
    import openvino_genai as og

    if not path.exists():
        raise ModelLoadError(f"There is no model at {path}.")
    if path.is_dir() and not (path / "openvino_model.xml").is_file():
        raise ModelLoadError(f"{path} holds no openvino_model.xml: it is not an OpenVINO chat model.")
    if path.is_file():
        info = read_gguf_info(path)  # the engine would crash the process on a cut-short file
        if not info.complete:
            raise ModelLoadError(f"{path.name} is incomplete: it has {info.file_size:,} of the "
                                 f"{info.required_size:,} bytes it needs.")
    try:
        return og.LLMPipeline(str(path), device)
    except RuntimeError as err:
        raise ModelLoadError(f"{path.name} could not be loaded on {device}: {first_line(err)}") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genai_ui.convert.quality",
                                     description="Compare a converted chat model's answers with a reference's "
                                                 "and print the report as JSON.")
    parser.add_argument("--reference", type=Path, required=True, help="IR folder or .gguf file to compare with")
    parser.add_argument("--candidate", type=Path, required=True, help="IR folder or .gguf file to judge")
    parser.add_argument("--device", default="CPU", help="OpenVINO device (default: CPU)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens per answer (default: 32)")
    args = parser.parse_args(argv)
    try:
        report = compare_answers(reference=args.reference, candidate=args.candidate, device=args.device,
                                 max_new_tokens=args.max_new_tokens)
        result = {"quality": report.to_api()}
        if args.candidate.is_dir():
            result["precisions"] = weight_precisions(model_dir=args.candidate)
    except UserError as err:
        print(" ".join(str(err).split()), file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
