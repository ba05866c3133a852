"""`python -m genai_ui.bench engines`: one chat model through both engines, openvino_genai (the app's
batching engine) and optimum-intel's OVModelForCausalLM, in one run: load time, time to first token,
tokens/s and memory for each. With `--options`, also what each engine option buys: KV-cache
precision, dynamic quantization, the stateful engine, prompt lookup, speculative decoding.

Each variant runs in a process of its own (memory is then its engine's alone), through the app's
own BenchmarkService; the variants take turns, round after round, each round in another order,
so all see the same machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .common import install, paired, save_result

# prompt lookup proposes tokens the prompt already holds: a rewrite is where it pays, a story is not
REWRITE = ("Rewrite this paragraph in plain English, keeping every fact: The lighthouse on the northern cape "
           "was built in 1871 by the harbour board, and its lamp, first lit with whale oil and later with "
           "kerosene, could be seen from twenty-two nautical miles away on a clear night. The keeper and his "
           "family lived in the small stone cottage beside the tower until the light was automated in 1968.")


@dataclass(frozen=True)
class Variant:
    name: str
    model: str = "int4"  # which of the model folders
    engine: str = "genai"  # /benchmark's engine
    options: dict = field(default_factory=dict)  # EngineOptions' fields; a draft_model names a model folder
    prompt: str = ""  # empty: /benchmark's standard story prompt
    against: str = "openvino_genai"  # the variant whose speed this one is compared with


ENGINES = (Variant("openvino_genai"), Variant("Optimum Intel", engine="optimum"))
OPTIONS = (
    Variant("KV cache f16", options={"kv_cache_precision": "f16"}),
    Variant("KV cache u4", options={"kv_cache_precision": "u4"}),
    Variant("dynamic quantization off", options={"dq_group_size": 0}),
    Variant("stateful engine", options={"engine": "stateful"}),
    Variant("rewrite prompt", prompt=REWRITE, against=""),
    Variant("rewrite prompt, prompt lookup", options={"prompt_lookup": True}, prompt=REWRITE,
            against="rewrite prompt"),
    Variant("fp16", model="fp16"),
    Variant("fp16, int4 draft", model="fp16", options={"draft_model": "int4"}, against="fp16"),
)


def bench_engines(rounds: int, runs: int, max_new_tokens: int, output: Path, model: Path | None,
                  with_options: bool = False) -> dict:
    models = {"int4": model} if model else _default_models(with_options)
    variants = ENGINES + (OPTIONS if with_options else ())
    measured: dict[str, list[dict]] = {v.name: [] for v in variants}
    for n in range(rounds):
        order = variants[n % len(variants):] + variants[:n % len(variants)]
        for variant in order if n % 2 == 0 else order[::-1]:
            measured[variant.name].append(_run(variant, models, runs, max_new_tokens))
            print(f"round {n + 1}, {variant.name}: {measured[variant.name][-1]['tokens_per_s']:.1f} tokens/s",
                  flush=True)
    keys = ("load_ms", "ttft_ms", "tpot_ms", "tokens_per_s", "peak_rss_bytes")
    result = {"model": models["int4"].name, "rounds": rounds, "runs": runs, "max_new_tokens": max_new_tokens,
              "variants": {v.name: {**{k: statistics.median(r[k] for r in measured[v.name]) for k in keys},
                                    "accepted_tokens": _median_or_none(r["accepted_tokens"] for r in measured[v.name]),
                                    "model": v.model, "engine": v.engine, "options": v.options,
                                    "prompt": "rewrite" if v.prompt else "story", "against": v.against,
                                    "ratio": _paired_ratio(measured[v.name], measured.get(v.against)),
                                    "rounds": measured[v.name]} for v in variants}}
    result["speed_ratio"] = _paired_ratio(measured["openvino_genai"], measured["Optimum Intel"])
    save_result(output, "engines", result)
    print(engines_table(result))
    return result


def _default_models(with_options: bool) -> dict[str, Path]:
    """The built-in model's own int4 (and fp16) exports, as the test set-up builds them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from genai_ui.testing.models import smollm2_ir, smollm2_ir_fp16

    return {"int4": smollm2_ir(), **({"fp16": smollm2_ir_fp16()} if with_options else {})}


def _paired_ratio(runs: list[dict], against: list[dict] | None) -> float | None:
    """The median over rounds of the speed against the compared variant's in the same round."""
    if not against or runs is against:
        return None
    return paired(runs, against, lambda r, a: r["tokens_per_s"] / a["tokens_per_s"])


def _median_or_none(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _run(variant: Variant, models: dict[str, Path], runs: int, max_new_tokens: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="genai-ui-bench-engines-") as home:  # the worker's app home
        job = {"variant": variant.__dict__, "models": {k: str(v) for k, v in models.items()}, "runs": runs,
               "max_new_tokens": max_new_tokens, "home": home}
        out = subprocess.run([sys.executable, "-m", "genai_ui.bench.engines", json.dumps(job)], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[2])
    if out.returncode:
        sys.exit(f"{variant.name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def engines_table(r: dict) -> str:
    """Each variant's speed against the variant it differs from by one choice (× is the median of the
    rounds' ratios: the machine's drift between rounds cancels out)."""
    v = r["variants"]
    lines = [f"{r['model']}, {r['max_new_tokens']} new tokens, greedy; medians of {r['rounds']} rounds, each variant "
             f"in a process of its own, {r['runs']} runs each", "",
             "| engine, options | decode tokens/s | against | × | first token ms | load s | peak memory GB | "
             "accepted / run |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name, m in v.items():
        base, ratio = (m["against"], f"{m['ratio']:.2f}") if m["ratio"] is not None else ("", "")
        accepted = "" if m["accepted_tokens"] is None else f"{m['accepted_tokens']:.0f}"
        lines.append(f"| {name} | {m['tokens_per_s']:.1f} | {base} | {ratio} | {m['ttft_ms']:.0f} | "
                     f"{m['load_ms'] / 1000:.2f} | {m['peak_rss_bytes'] / 1e9:.2f} | {accepted} |")
    return "\n".join(lines)


def _worker(job: dict) -> None:
    """In its own process: the models in a library of their own, the variant's options remembered for its
    model, measured by the app's BenchmarkService."""
    from ..engines.options import EngineOptions
    from ..services import create_services
    from ..settings import Settings

    home = Path(job["home"])
    for model_id, folder in job["models"].items():
        install(home, Path(folder), model_id, "text-generation", weight_format=model_id)
    services = create_services(Settings(home=home, device="CPU", offline=True))
    variant = Variant(**job["variant"])
    services.chat.options.set(variant.model, EngineOptions(**variant.options))
    result = services.benchmark.run(model=variant.model, engine=variant.engine, prompt=variant.prompt,
                                    runs=job["runs"], max_new_tokens=job["max_new_tokens"])
    print(json.dumps(result.to_api()))
    os._exit(0)  # without tearing the engine down: its threads may still hold it


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
