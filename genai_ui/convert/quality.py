"""What a converted or compressed chat model is worth: the precision its weights are stored in
(precisions.py), and how far it strays from a reference model, measured two ways, as the field measures it:

- token by token (divergence.py, as llama.cpp's `llama-perplexity --kl-divergence`): both models' next-token
  distributions on a fixed text, as perplexity, KL divergence and top-1 agreement; the verdict comes from these;
- answer by answer (as OpenVINO's who-what-benchmark): greedy answers to prompts of several kinds, compared by
  the cosine similarity of their sentence embeddings (the built-in all-MiniLM-L6-v2, embedder.py).

`python -m genai_ui.convert.quality --reference DIR --candidate DIR [--depth quick|full]` prints the report
and the precisions as one JSON object, after `genai_ui: progress DONE TOTAL WHAT` lines: the convert job runs
it as a subprocess, so the models it loads never share the app's memory. `quick` (before a new model is
registered) is the token-level measure on one short chunk; `full` (after) is both measures. It exits with 2
and one line on stderr when a model is missing or cannot be loaded.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..errors import GenerationFailed, InvalidParameter, ModelLoadError, UserError, first_line
from ..gguf import read_gguf_info
from .precisions import weight_precisions

# Prompts of several kinds, each answered greedily by both models: facts, instructions, code, summaries and
# simple reasoning, short enough for a small model to answer well within MAX_NEW_TOKENS.
PROMPTS = (
    ("fact", "What is the capital of France?"),
    ("fact", "Which planet is known as the Red Planet?"),
    ("fact", "Who wrote the play Romeo and Juliet?"),
    ("fact", "At what temperature does water boil at sea level?"),
    ("instruction", "Name three primary colors."),
    ("instruction", "Give two tips for sleeping better."),
    ("instruction", "Write a short message for a friend's birthday card."),
    ("instruction", "List the four seasons of the year."),
    ("code", "Write a Python function that returns the square of a number."),
    ("code", "How do I reverse a list in Python?"),
    ("code", "What does the SQL statement SELECT do?"),
    ("summary", "Summarize in one sentence: The Sun is the star at the center of our solar system. It gives "
                "light and heat to the planets, and almost all life on Earth depends on its energy."),
    ("summary", "Summarize in one sentence: Bees collect nectar from flowers and turn it into honey. As they "
                "fly from flower to flower they carry pollen, which helps plants make fruit and seeds."),
    ("summary", "Summarize in one sentence: Trains were the fastest way to travel over land for most of the "
                "nineteenth century, and they changed where people lived and worked."),
    ("reasoning", "If I have three apples and buy two more, how many apples do I have?"),
    ("reasoning", "What is the opposite of hot?"),
)
MAX_NEW_TOKENS = 48

# The verdicts, best first: the most a model's KL divergence (mean, in nats) may be and the least its top-1
# agreement may be for each, calibrated on SmolLM2-135M-Instruct (docs/quality.md shows the cases).
VERDICTS = (("same", 0.02, 0.92), ("close", 0.1, 0.8), ("degraded", 1.0, 0.45))
# when only answers can be compared (a GGUF reference, whose logits the runtime does not give): the least
# mean embedding similarity of the answers for each verdict
ANSWER_VERDICTS = (("same", 0.93), ("close", 0.85), ("degraded", 0.6))
VERDICT_MEANS = {
    "same": "indistinguishable from the reference: nearly always the same next token, and the same answers",
    "close": "mostly the same next token and answers of the same meaning; small differences in wording",
    "degraded": "noticeably different: answers drift from the reference's, and some are worse",
    "broken": "the compression destroyed it: its predictions have little to do with the reference's",
}


def verdict_for(*, kl_mean: float | None = None, top1: float | None = None, answers: float | None = None) -> str:
    """The verdict from the token-level figures when there are any, else from the answers' similarity."""
    if kl_mean is not None and top1 is not None:
        return next((name for name, most_kl, least_top1 in VERDICTS if kl_mean <= most_kl and top1 >= least_top1),
                    "broken")
    if answers is not None:
        return next((name for name, least in ANSWER_VERDICTS if answers >= least), "broken")
    raise InvalidParameter("A verdict needs the token-level figures or the answers' similarity.")


@dataclass(frozen=True)
class QualityReport:
    """The candidate against its reference: token-level figures (None when a model is a GGUF) and, for the
    full evaluation, the greedy answers side by side with their similarity."""

    depth: str  # "quick": one chunk of the text, before registration; "full": all of it, and the answers
    tokens: dict | None = None  # divergence.Divergence.to_api()
    rows: tuple[dict, ...] = ()  # {kind, prompt, reference, candidate, similarity}
    candidate_tokens_per_s: float = 0.0
    reference_tokens_per_s: float = 0.0
    images: dict | None = None  # an image model's: pictures.compare_pictures()

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        if self.depth not in ("quick", "full"):
            raise InvalidParameter(f"depth is quick or full; got {self.depth!r}.")
        if self.tokens is None and not self.rows and not self.images:
            raise InvalidParameter("A quality report needs the token-level figures, an answered prompt or a "
                                   "compared picture.")
        for row in self.rows:
            if set(row) != {"kind", "prompt", "reference", "candidate", "similarity"}:
                raise InvalidParameter(f"A report row needs kind, prompt, reference, candidate and similarity; "
                                       f"got {sorted(row)}.")
            if not -1.0 <= row["similarity"] <= 1.0:
                raise InvalidParameter(f"Similarity must be between -1 and 1; got {row['similarity']}.")
        for name in ("candidate_tokens_per_s", "reference_tokens_per_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidParameter(f"{name} must be a speed of 0 or more; got {value}.")

    @property
    def answer_similarity(self) -> float | None:
        return round(sum(r["similarity"] for r in self.rows) / len(self.rows), 4) if self.rows else None

    @property
    def verdict(self) -> str:
        if self.images:
            from .pictures import image_verdict

            return image_verdict(self.images["ssim"])
        t = self.tokens or {}
        return verdict_for(kl_mean=t.get("kl_mean"), top1=t.get("top1_agreement"), answers=self.answer_similarity)

    def summary(self) -> str:
        parts = []
        if self.tokens:
            t = self.tokens
            parts.append(f"KL divergence {t['kl_mean']:.3f}, top-1 agreement {t['top1_agreement']:.0%}, perplexity "
                         f"{t['reference_perplexity']:.1f} → {t['candidate_perplexity']:.1f} on {t['tokens']} tokens")
        if self.rows:
            parts.append(f"answers {self.answer_similarity:.2f} similar on {len(self.rows)} prompts")
        if self.images:
            i = self.images
            parts.append(f"pictures {i['psnr']:.1f} dB PSNR, SSIM {i['ssim']:.3f} on {len(i['pairs'])} prompts")
        first = " (a first estimate: the full evaluation follows)" if self.depth == "quick" else ""
        return f"Quality: {self.verdict}{first}: " + "; ".join(parts)

    def to_api(self) -> dict:
        means = VERDICT_MEANS[self.verdict]
        if self.images:
            from .pictures import IMAGE_VERDICT_MEANS

            means = IMAGE_VERDICT_MEANS[self.verdict]
        return {"verdict": self.verdict, "means": means, "depth": self.depth,
                "summary": self.summary(), "tokens": self.tokens, "answer_similarity": self.answer_similarity,
                "candidate_tokens_per_s": round(self.candidate_tokens_per_s, 1),
                "reference_tokens_per_s": round(self.reference_tokens_per_s, 1), "rows": [dict(r) for r in self.rows],
                **({"images": self.images} if self.images else {})}


def evaluate(*, reference: Path, candidate: Path, depth: str = "full", device: str = "CPU",
             embedder: Path | None = None, prompts: tuple[tuple[str, str], ...] = PROMPTS,
             max_new_tokens: int = MAX_NEW_TOKENS, tokens: int = 0,
             progress: Callable[[int, int, str], None] | None = None,
             reference_answers: Path | None = None) -> QualityReport:
    """The candidate measured against the reference. Token-level when both are IR folders (`tokens` positions
    of the text, by default QUICK_TOKENS or FULL_TOKENS); at the full depth, also the answers, compared with
    the embedding model in `embedder` (an exported all-MiniLM-L6-v2). `reference_answers`: a file that keeps
    the reference's answers for the next candidate measured against the same reference (read when it holds
    the answers to the same prompts, written when it does not)."""
    from . import divergence as dv

    reference, candidate = Path(reference), Path(candidate)
    if depth not in ("quick", "full"):
        raise InvalidParameter(f"depth is quick or full; got {depth!r}.")
    for path in (candidate, reference):
        _check_model(path)
    progress = progress or (lambda done, total, what: None)
    token_level = reference.is_dir() and candidate.is_dir()
    if _is_vision(candidate) or _is_vision(reference):
        return _vision_report(reference, candidate, depth, device, tokens, progress)
    if _is_image(candidate) or _is_image(reference):
        return _image_report(reference, candidate, depth, device, progress)
    if depth == "quick" and not token_level:
        raise InvalidParameter("A quick check compares logits: both models must be OpenVINO IR folders.")
    figures = None
    if token_level:
        n = tokens or (dv.QUICK_TOKENS if depth == "quick" else dv.FULL_TOKENS)
        try:
            found = dv.divergence(reference=reference, candidate=candidate, device=device, max_tokens=n,
                                  progress=lambda done, total: progress(done, total, "Reading the evaluation text"))
        except ValueError as err:
            raise ModelLoadError(f"The two models cannot be compared token by token: {err}.") from err
        except RuntimeError as err:
            raise ModelLoadError(f"{candidate.name} could not be run on {device}: {first_line(err)}") from err
        figures = found.to_api()
    if depth == "quick":
        return QualityReport(depth="quick", tokens=figures)
    if not prompts or not all(isinstance(p, str) and p.strip() for _, p in prompts):
        raise InvalidParameter("Give at least one prompt, and no empty ones.")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= 4096:
        raise InvalidParameter(f"max_new_tokens must be a whole number from 1 to 4096; got {max_new_tokens!r}.")
    if embedder is None:
        raise InvalidParameter("The full evaluation needs the embedding model's folder.")
    texts = [p for _, p in prompts]
    steps = 2 * len(texts) + 1
    cand_answers, cand_speed = _answer(candidate, device, texts, max_new_tokens,
                                       lambda i: progress(i, steps, "Answering with the new model"))
    gc.collect()  # the candidate's weights go before the reference's arrive
    kept = _kept_answers(reference_answers, texts, max_new_tokens, device)
    if kept:
        ref_answers, ref_speed = kept
    else:
        ref_answers, ref_speed = _answer(reference, device, texts, max_new_tokens,
                                         lambda i: progress(len(texts) + i, steps, "Answering with the reference"))
        if reference_answers is not None:
            reference_answers.write_text(json.dumps({"prompts": texts, "max_new_tokens": max_new_tokens,
                                                     "device": device, "answers": ref_answers,
                                                     "tokens_per_s": ref_speed}))
    gc.collect()
    from ..embedder import Embedder, cosine

    vectors = Embedder(embedder).embed(ref_answers + cand_answers)
    progress(steps, steps, "Comparing the answers")
    rows = tuple({"kind": kind, "prompt": p, "reference": r, "candidate": c,
                  "similarity": 1.0 if r == c else round(cosine(vectors[i], vectors[len(texts) + i]), 4)}
                 for i, ((kind, p), r, c) in enumerate(zip(prompts, ref_answers, cand_answers)))
    return QualityReport(depth="full", tokens=figures, rows=rows, candidate_tokens_per_s=cand_speed,
                         reference_tokens_per_s=ref_speed)


def _is_vision(path: Path) -> bool:
    return path.is_dir() and (path / "openvino_language_model.xml").is_file()


def _is_image(path: Path) -> bool:
    return path.is_dir() and (path / "model_index.json").is_file()


IMAGE_STEPS = 20  # denoising steps of the compared pictures, or fewer when the model's default is fewer


def _image_report(reference: Path, candidate: Path, depth: str, device: str,
                  progress: Callable[[int, int, str], None]) -> QualityReport:
    """An image model: the same prompts and seed drawn by both, compared by PSNR and SSIM (pictures.py)."""
    import openvino_genai as og

    from .pictures import compare_pictures

    if not (_is_image(candidate) and _is_image(reference)):
        raise InvalidParameter("An image model is measured against another image model, as OpenVINO folders.")
    if depth == "quick":
        raise InvalidParameter("An image model has no quick check: its pictures are compared in full.")
    try:
        default = og.Text2ImagePipeline(str(reference), device).get_generation_config().num_inference_steps
        found = compare_pictures(reference=reference, candidate=candidate, device=device,
                                 steps=min(IMAGE_STEPS, default),
                                 progress=lambda done, total: progress(done, total, "Drawing the pictures"))
    except ValueError as err:
        raise ModelLoadError(f"The two image models cannot be compared: {err}.") from err
    except RuntimeError as err:
        raise ModelLoadError(f"{candidate.name} could not be run on {device}: {first_line(err)}") from err
    return QualityReport(depth="full", images=found)


def _vision_report(reference: Path, candidate: Path, depth: str, device: str, tokens: int,
                   progress: Callable[[int, int, str], None]) -> QualityReport:
    """A vision model: its language model token by token, with the picture in the prompt (divergence.py); its
    answers are not compared (an answer about one picture says little)."""
    from . import divergence as dv

    if not (_is_vision(candidate) and _is_vision(reference)):
        raise InvalidParameter("A vision model is measured against another vision model, as OpenVINO IR folders.")
    n = tokens or (dv.QUICK_TOKENS if depth == "quick" else dv.VLM_TOKENS)
    try:
        found = dv.vision_divergence(reference=reference, candidate=candidate, device=device, max_tokens=n,
                                     progress=lambda done, total: progress(done, total, "Reading the picture and text"))
    except (ValueError, TypeError, AttributeError, KeyError) as err:
        raise ModelLoadError(f"The two vision models cannot be compared token by token: {first_line(err)}.") from err
    except RuntimeError as err:
        raise ModelLoadError(f"{candidate.name} could not be run on {device}: {first_line(err)}") from err
    return QualityReport(depth=depth, tokens={**found.to_api(), "image": True})


def _kept_answers(path: Path | None, prompts: list[str], max_new_tokens: int,
                  device: str) -> tuple[list[str], float] | None:
    try:
        kept = json.loads(path.read_text()) if path is not None and path.is_file() else None
    except ValueError:
        return None
    if not kept or (kept.get("prompts"), kept.get("max_new_tokens"), kept.get("device")) != (
            prompts, max_new_tokens, device):
        return None
    return kept["answers"], kept["tokens_per_s"]


def _answer(path: Path, device: str, prompts: list[str], max_new_tokens: int,
            done: Callable[[int], None]) -> tuple[list[str], float]:
    """The greedy answers and the decode speed (tokens/s over all the answers)."""
    import openvino_genai as og

    pipe = _load(path, device)
    config = pipe.get_generation_config()
    config.max_new_tokens, config.do_sample = max_new_tokens, False
    answers, metrics = [], None
    try:
        pipe.generate("Hello", max_new_tokens=1)  # the first call pays one-time setup: keep it out of the speed
        for i, prompt in enumerate(prompts, 1):
            result = pipe.generate(og.ChatHistory([{"role": "user", "content": prompt}]), config)
            answers.append(result.texts[0].strip())
            metrics = result.perf_metrics if metrics is None else metrics + result.perf_metrics
            done(i)
    except RuntimeError as err:
        raise GenerationFailed(f"{path.name} failed while answering: {first_line(err)}") from err
    speed = metrics.get_throughput().mean
    return answers, speed if math.isfinite(speed) else 0.0


def _check_model(path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(f"There is no model at {path}.")
    if path.is_dir() and not _is_vision(path) and not _is_image(path) and not (path / "openvino_model.xml").is_file():
        raise ModelLoadError(f"{path} holds no openvino_model.xml: it is not an OpenVINO chat model.")
    if path.is_file():
        info = read_gguf_info(path)  # the engine would crash the process on a cut-short file
        if not info.complete:
            raise ModelLoadError(f"{path.name} is incomplete: it has {info.file_size:,} of the "
                                 f"{info.required_size:,} bytes it needs.")


def _load(path: Path, device: str) -> Any:
    import openvino_genai as og

    _check_model(path)
    try:
        return og.LLMPipeline(str(path), device)
    except RuntimeError as err:
        raise ModelLoadError(f"{path.name} could not be loaded on {device}: {first_line(err)}") from err


PROGRESS = "genai_ui: progress "  # a line that tells the app how far the evaluation is


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genai_ui.convert.quality",
                                     description="Measure a converted chat model against a reference and print "
                                                 "the report as JSON.")
    parser.add_argument("--reference", type=Path, required=True, help="IR folder or .gguf file to compare with")
    parser.add_argument("--candidate", type=Path, required=True, help="IR folder or .gguf file to judge")
    parser.add_argument("--depth", choices=("quick", "full"), default="full",
                        help="quick: the token-level measure on one chunk; full: all of it, and the answers")
    parser.add_argument("--embedder", type=Path, help="the exported embedding model (full depth)")
    parser.add_argument("--device", default="CPU", help="OpenVINO device (default: CPU)")
    parser.add_argument("--tokens", type=int, default=0, help="positions of the text to measure (default: the depth's)")
    parser.add_argument("--reference-answers", type=Path, help="a file keeping the reference's answers between "
                        "candidates (full depth)")
    args = parser.parse_args(argv)

    def show(done: int, total: int, what: str) -> None:
        print(f"{PROGRESS}{done} {total} {what}", flush=True)

    from concurrent.futures import ThreadPoolExecutor

    try:
        with ThreadPoolExecutor(1) as pool:  # the weights' precisions are read beside the measure (engines let go
            # of the GIL), not after it: the quick check stands between a person and their model
            precisions = pool.submit(weight_precisions, model_dir=args.candidate) if args.candidate.is_dir() else None
            report = evaluate(reference=args.reference, candidate=args.candidate, depth=args.depth,
                              device=args.device, embedder=args.embedder, tokens=args.tokens, progress=show,
                              reference_answers=args.reference_answers)
            when = datetime.now(timezone.utc).isoformat(timespec="seconds")
            result = {"quality": {**report.to_api(), "evaluated": when}}
            if precisions is not None:
                result["precisions"] = precisions.result()
    except UserError as err:
        print(" ".join(str(err).split()), file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
