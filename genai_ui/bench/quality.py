"""`python -m genai_ui.bench quality`: the verdicts' calibration. SmolLM2-135M-Instruct's fp16 export (the
faithful checkpoint the tests build from the built-in GGUF) compressed by NNCF in the ways people compress,
and damaged on purpose, each measured against the fp16 export by the app's own evaluation, quick and full.

The cases run from the least to the most damage, so that the verdicts' thresholds (convert/quality.py) can
be read against them: each row says which verdict the thresholds give, and the quick check's first estimate.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path

from .common import save_result

# name, what it is, and how: an NNCF compress_weights call on the fp16 export, or a damage
CASES = (
    ("fp16", "the reference itself", None),
    ("int8", "int8 asym, per channel (data-free)", {"mode": "INT8_ASYM"}),
    ("int4-g64-r0.2", "int4 asym g64 on 20% of the layers, int8 on the rest",
     {"mode": "INT4_ASYM", "group_size": 64, "ratio": 0.2}),
    ("int4-g64-r0.5", "int4 asym g64 on half of the layers, int8 on the rest",
     {"mode": "INT4_ASYM", "group_size": 64, "ratio": 0.5}),
    ("int4-g64-r0.8", "int4 asym g64 on 80% of the layers, int8 on the rest",
     {"mode": "INT4_ASYM", "group_size": 64, "ratio": 0.8}),
    ("int4-g64", "int4 asym, groups of 64, embeddings int8 (/convert_model's default for this model)",
     {"mode": "INT4_ASYM", "group_size": 64, "ratio": 1.0}),
    ("int4-sym-g64", "int4 sym, groups of 64", {"mode": "INT4_SYM", "group_size": 64, "ratio": 1.0}),
    ("nf4-g64", "nf4, groups of 64", {"mode": "NF4", "group_size": 64, "ratio": 1.0}),
    ("int4-sym-channel", "int4 sym per channel, ratio 1", {"mode": "INT4_SYM", "group_size": -1, "ratio": 1.0}),
    ("int4-sym-channel-all", "int4 sym per channel, ratio 1, embeddings too",
     {"mode": "INT4_SYM", "group_size": -1, "ratio": 1.0, "all_layers": True}),
    ("damaged-one", "int4 g64 with one weight matrix (layer 0's MLP gate) scrambled", {"damage": 1}),
    ("damaged-all", "int4 g64 with every int4 weight matrix scrambled", {"damage": None}),
)


def build_case(fp16: Path, int4: Path, target: Path, how: dict | None) -> None:
    """`target` as the case says: compressed from `fp16` by NNCF, or `int4` with weights scrambled."""
    import nncf
    import openvino as ov

    if how is None:
        shutil.copytree(fp16, target)
        return
    target.mkdir(parents=True)
    source = int4 if "damage" in how else fp16
    for f in source.iterdir():
        if f.is_file() and not f.name.startswith(("openvino_model.", ".")):
            shutil.copy(f, target / f.name)
    if "damage" in how:
        ov.save_model(scramble(ov.Core().read_model(source / "openvino_model.xml"), how["damage"]),
                      target / "openvino_model.xml", compress_to_fp16=False)
        return
    options = {k: v for k, v in how.items() if k != "mode"}
    model = nncf.compress_weights(ov.Core().read_model(fp16 / "openvino_model.xml"),
                                  mode=getattr(nncf.CompressWeightsMode, how["mode"]), **options)
    ov.save_model(model, target / "openvino_model.xml", compress_to_fp16=False)


def scramble(model, matrices: int | None, seed: int = 0):
    """The model with random values in its int4 weight matrices: the first `matrices` of the MLP's (all of
    them: None). It loads and runs like the original, tokenizer and embedding included."""
    import numpy as np
    import openvino as ov

    rng = np.random.default_rng(seed)
    done = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Constant" or op.get_element_type() != ov.Type.u4 \
                or math.prod(op.get_output_shape(0)) < 1024:
            continue
        name = op.get_friendly_name()
        if matrices is not None and ("mlp" not in name or "zero_point" in name or done >= matrices):
            continue
        tensor = ov.Tensor(ov.Type.u4, op.get_output_shape(0))
        tensor.data[:] = rng.integers(0, 256, tensor.data.shape, dtype=np.uint8)  # two values a byte
        op.output(0).replace(ov.op.Constant(tensor).output(0))
        done += 1
    if not done:
        raise ValueError("the model has no int4 weight matrix to scramble")
    return model


def bench_quality(output: Path, cases: tuple[str, ...] = ()) -> dict:
    from ..convert.precisions import weight_precisions
    from ..convert.quality import evaluate
    from ..embedder import ensure_embedder
    from ..library import folder_size
    from ..testing.models import smollm2_ir, smollm2_ir_fp16

    fp16, int4 = smollm2_ir_fp16(), smollm2_ir()
    rows = []
    with tempfile.TemporaryDirectory(prefix="genai-ui-bench-quality-") as work:
        embedder = ensure_embedder(Path(work) / "home")
        for name, what, how in CASES:
            if cases and name not in cases:
                continue
            folder = Path(work) / name
            build_case(fp16, int4, folder, how)
            started = time.perf_counter()
            quick = evaluate(reference=fp16, candidate=folder, depth="quick")
            quick_s = time.perf_counter() - started
            started = time.perf_counter()
            full = evaluate(reference=fp16, candidate=folder, depth="full", embedder=embedder)
            full_s = time.perf_counter() - started
            row = {"case": name, "what": what, "precisions": weight_precisions(model_dir=folder),
                   "bytes": folder_size(folder), "quick": quick.to_api(), "full": full.to_api(),
                   "quick_s": round(quick_s, 2), "full_s": round(full_s, 2)}
            rows.append(row)
            t = full.tokens
            print(f"{name:<22} KL {t['kl_mean']:.4f} (p99 {t['kl_p99']:.3f}), top-1 {t['top1_agreement']:.1%}, "
                  f"ppl {t['candidate_perplexity']:.2f}, answers {full.answer_similarity:.3f}: {full.verdict} "
                  f"(quick: {quick.verdict}, KL {quick.tokens['kl_mean']:.4f}) in {quick_s:.1f} + {full_s:.1f} s",
                  flush=True)
            shutil.rmtree(folder)
    result = {"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "reference": "its fp16 OpenVINO export", "rows": rows}
    save_result(output, "quality", result)
    return result


def quality_table(result: dict) -> str:
    """The cases with their figures and the verdicts the thresholds give them now (convert/quality.py)."""
    from ..convert.quality import VERDICTS, verdict_for

    first = result["rows"][0]
    head = (f"{result['model']} against {result['reference']} (perplexity "
            f"{first['full']['tokens']['reference_perplexity']:.2f}): the token-level figures on "
            f"{first['full']['tokens']['tokens']} positions of the evaluation text, the answers' embedding similarity "
            f"on {len(first['full']['rows'])} prompts, the verdict, and the quick check's first estimate before "
            f"registration ({first['quick']['tokens']['tokens']} positions)\n\n"
            "| case | weights | size | KL mean | KL p99 | top-1 | perplexity | answers | verdict | quick check |\n"
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
    lines = []
    for r in result["rows"]:
        t, q = r["full"]["tokens"], r["quick"]["tokens"]
        weights = ", ".join(f"{k} {v:.0%}" for k, v in r["precisions"].items())
        ppl = t["candidate_perplexity"]
        verdict = verdict_for(kl_mean=t["kl_mean"], top1=t["top1_agreement"])
        quick = verdict_for(kl_mean=q["kl_mean"], top1=q["top1_agreement"])
        lines.append(f"| {r['case']}: {r['what']} | {weights} | {r['bytes'] / 2**20:.0f} MB | {t['kl_mean']:.4f} | "
                     f"{t['kl_p99']:.3f} | {t['top1_agreement']:.1%} | {ppl:,.2f} | "
                     f"{r['full']['answer_similarity']:.3f} | **{verdict}** | {quick} "
                     f"(KL {q['kl_mean']:.3f}, {q['top1_agreement']:.0%}) |")
    rule = "; ".join(f"**{name}**: KL ≤ {kl} and top-1 ≥ {top1:.0%}" for name, kl, top1 in VERDICTS)
    times = [r["quick_s"] for r in result["rows"]], [r["full_s"] for r in result["rows"]]
    return (head + "\n".join(lines) + f"\n\nThe thresholds: {rule}; anything else is **broken**. Time per case: "
            f"quick check {min(times[0]):.1f}–{max(times[0]):.1f} s, full evaluation "
            f"{min(times[1]):.0f}–{max(times[1]):.0f} s.")
