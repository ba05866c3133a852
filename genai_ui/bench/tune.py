"""`python -m genai_ui.bench tune`: Tune's winner against the best of an exhaustive sweep of the same
candidates, in one run, on the built-in model (or --model).

1. Tune, as the app runs it (measured, not applied): its winner W and how long it took.
2. The exhaustive sweep: every combination of the values Tune tries, in chunks of at most CHUNK variants
   (all of a chunk loaded at once and interleaved), the defaults in every chunk, each variant's speed read
   as its paired ratio to the defaults of its chunk; among those that answer the same, the best B.
3. The head-to-head: the defaults, W and B interleaved for FINAL_ROUNDS rounds; W / B is the target (≥ 0.97).
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from .common import save_result

CHUNK = 12  # variants loaded at once in the sweep (each holds the model and its KV cache)
FINAL_ROUNDS = 9


def bench_tune(output: Path, model_dir: Path | None = None, rounds: int = 5) -> dict:
    from ..builtin import BUILTIN_ID
    from ..engines.options import EngineOptions
    from ..engines.pipelines import load_llm
    from ..library import ModelEntry
    from ..run.probes import Tuner, Variant, paired_ratio, settings_to_try
    from ..services import create_services
    from ..settings import Settings
    from .common import install

    with tempfile.TemporaryDirectory(prefix="genai-ui-bench-tune-", ignore_cleanup_errors=True) as home, \
            contextlib.ExitStack() as closing:  # the tuners' engines, whatever happens
        model_id = BUILTIN_ID if model_dir is None else model_dir.name
        if model_dir is not None:
            install(Path(home), model_dir, model_id, "text-generation", weight_format="int4")
        services = create_services(Settings(home=Path(home), device="CPU", no_auto_tune=True))
        entry: ModelEntry = services.library.get(model_id)
        services.tune.rounds = rounds
        print(f"1. Tune, as the app runs it, on {model_id} ({services.devices.processor()})", flush=True)
        started = time.perf_counter()
        report = services.tune.tune(model=model_id, device="CPU", apply=False)
        tune_s = time.perf_counter() - started
        references = {report.answer, *_reference_texts(entry)}
        print(f"   {report.winner.describe()} in {tune_s:.0f} s", flush=True)

        steps = settings_to_try(services.devices, "CPU", entry, EngineOptions(), allow_stateful=True)
        combos = _combinations(steps)
        size = sum(f.stat().st_size for f in ([entry.load_path] if entry.load_path.is_file()
                                               else entry.load_path.rglob("*.bin")))
        cache = str(services.settings.compile_cache_dir)

        def load(variant: Variant):
            return load_llm(entry, "CPU", variant.options, cache)

        tuner = Tuner(load, size, rounds=rounds)  # it keeps the defaults loaded from one chunk to the next
        closing.callback(tuner.close)
        print(f"2. The exhaustive sweep: {len(combos)} combinations, in chunks of {CHUNK}", flush=True)
        ratios: dict[EngineOptions, float] = {}
        texts: dict[EngineOptions, str] = {}
        speeds: dict[EngineOptions, float] = {}
        others = [c for c in combos if c != EngineOptions()]
        for n in range(0, len(others), CHUNK - 1):
            chunk = [EngineOptions(), *others[n:n + CHUNK - 1]]
            probes = tuner.measure([Variant(o) for o in chunk], f"sweep {n // (CHUNK - 1) + 1}")
            for options, probe in zip(chunk, probes):
                if options == EngineOptions() and options in ratios:
                    continue
                ratios[options] = paired_ratio(probe.tokens_per_s, probes[0].tokens_per_s)
                texts[options] = probe.text
                speeds[options] = statistics.median(probe.tokens_per_s)
            print(f"   {min(n + CHUNK - 1, len(others))} of {len(others)} measured", flush=True)
        tuner.close()  # before the head to head loads its own
        same = [o for o in ratios if texts[o] in references]
        best = max(same, key=lambda o: ratios[o])

        print(f"3. Head to head: the defaults, Tune's winner and the sweep's best, {FINAL_ROUNDS} rounds", flush=True)
        final = Tuner(load, size, rounds=FINAL_ROUNDS)
        closing.callback(final.close)
        contenders = list(dict.fromkeys([EngineOptions(), report.winner, best]))
        probes = final.measure([Variant(o) for o in contenders], "final")
        final.close()
        measured = {o: p for o, p in zip(contenders, probes)}
        defaults, winner, top = measured[EngineOptions()], measured[report.winner], measured[best]
        services.pipelines.close()

    results = {
        "model": model_id, "cpu": services.devices.processor(), "rounds": rounds, "final_rounds": FINAL_ROUNDS,
        "tune_s": tune_s, "tune_variants": len(report.rows), "tune_winner": report.winner.describe(),
        "tune_rows": [r.to_api() for r in report.rows],
        "sweep": [{"options": o.describe(), "ratio": ratios[o], "tokens_per_s": speeds[o], "same_answer": o in same}
                  for o in sorted(ratios, key=lambda o: -ratios[o])],
        "sweep_best": best.describe(),
        "final": {name: {"tokens_per_s": statistics.median(p.tokens_per_s), "ttft_ms": statistics.median(p.ttft_ms)}
                  for name, p in (("defaults", defaults), ("tune", winner), ("sweep", top))},
        "tune_vs_sweep": paired_ratio(winner.tokens_per_s, top.tokens_per_s),
        "tune_vs_defaults": paired_ratio(winner.tokens_per_s, defaults.tokens_per_s),
        "sweep_vs_defaults": paired_ratio(top.tokens_per_s, defaults.tokens_per_s),
    }
    save_result(output, "tune", results)
    print(tune_table(results))
    return results


def _reference_texts(entry) -> list[str]:
    """The probe's texts Tune compares with: with the defaults, and with f32 and no dynamic quantization."""
    from ..engines.options import EngineOptions
    from ..engines.pipelines import load_llm
    from ..run.probes import Tuner, Variant

    exact = EngineOptions(inference_precision="f32", dq_group_size=0)
    with Tuner(lambda v: load_llm(entry, "CPU", v.options, ""), 1, rounds=0) as tuner:
        return [p.text for p in tuner.measure([Variant(EngineOptions()), Variant(exact)], "reference")]


def _combinations(steps) -> list:
    """Every combination of the values the steps try (each step varies one field of the defaults)."""
    from ..engines.options import EngineOptions

    axes = []
    for _, variants in steps:
        field = next(f for f in ("inference_precision", "engine", "dq_group_size", "kv_cache_precision", "threads")
                     if len({getattr(v, f) for v in variants}) > 1)
        axes.append((field, [getattr(v, field) for v in variants]))
    return [replace(EngineOptions(), **dict(zip([a for a, _ in axes], values)))
            for values in itertools.product(*[v for _, v in axes])]


def tune_table(r: dict) -> str:
    f = r["final"]
    same = sum(1 for s in r["sweep"] if s["same_answer"])
    lines = [f"{r['model']}: Tune tried {r['tune_variants']} variants in {r['tune_s']:.0f} s; the sweep measured "
             f"{len(r['sweep'])} combinations of the same values ({same} answered the same), {r['rounds']} rounds "
             f"each; then the three below, {r['final_rounds']} rounds interleaved",
             "", "| configuration | options | decode tokens/s | first token ms |", "| --- | --- | ---: | ---: |",
             f"| defaults | default options | {f['defaults']['tokens_per_s']:.1f} | {f['defaults']['ttft_ms']:.0f} |",
             f"| Tune's winner | {r['tune_winner']} | {f['tune']['tokens_per_s']:.1f} | {f['tune']['ttft_ms']:.0f} |",
             f"| the sweep's best | {r['sweep_best']} | {f['sweep']['tokens_per_s']:.1f} | "
             f"{f['sweep']['ttft_ms']:.0f} |",
             "", "| target | measured | |", "| --- | ---: | --- |",
             f"| Tune's winner / the sweep's best ≥ 0.97 | {r['tune_vs_sweep']:.3f} | "
             f"{'met' if r['tune_vs_sweep'] >= 0.97 else '**not met**'} |",
             f"| Tune's winner / the defaults | {r['tune_vs_defaults']:.3f} | |",
             f"| the sweep's best / the defaults | {r['sweep_vs_defaults']:.3f} | |",
             "", "The sweep's five fastest (paired ratio to the defaults of its chunk):", "",
             "| options | × defaults | same answer |", "| --- | ---: | --- |"]
    lines += [f"| {s['options']} | {s['ratio']:.3f} | {'yes' if s['same_answer'] else 'no'} |" for s in r["sweep"][:5]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit("run it as `python -m genai_ui.bench tune`")
