"""`python -m genai_ui.bench engines`: one chat model through both engines, openvino_genai (the app's
batching engine) and optimum-intel's OVModelForCausalLM, in one run: load time, time to first token,
tokens/s and memory for each.

Each engine runs in a process of its own (memory is then each engine's alone), through the app's
own BenchmarkService; the processes alternate, rounds after rounds, so both see the same machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ENGINES = ("genai", "optimum")


def bench_engines(rounds: int, runs: int, max_new_tokens: int, output: Path, model: Path | None) -> dict:
    if model is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from tests.models import smollm2_ir  # the built-in model's own int4 export

        model = smollm2_ir()
    measured: dict[str, list[dict]] = {engine: [] for engine in ENGINES}
    for n in range(rounds):
        for engine in ENGINES if n % 2 == 0 else ENGINES[::-1]:
            measured[engine].append(_run(engine, model, runs, max_new_tokens))
            print(f"round {n + 1}, {engine}: {measured[engine][-1]['tokens_per_s']:.1f} tokens/s", flush=True)
    keys = ("load_ms", "ttft_ms", "tpot_ms", "tokens_per_s", "peak_rss_bytes")
    result = {"model": model.name, "rounds": rounds, "runs": runs, "max_new_tokens": max_new_tokens,
              **{engine: {k: statistics.median(r[k] for r in measured[engine]) for k in keys} for engine in ENGINES}}
    result["speed_ratio"] = result["genai"]["tokens_per_s"] / result["optimum"]["tokens_per_s"]
    output.mkdir(parents=True, exist_ok=True)
    (output / "engines.json").write_text(json.dumps(result, indent=1))
    print(engines_table(result))
    return result


def _run(engine: str, model: Path, runs: int, max_new_tokens: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "genai_ui.bench.engines", engine, str(model), str(runs),
                          str(max_new_tokens)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    if out.returncode:
        sys.exit(f"The {engine} engine failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def engines_table(r: dict) -> str:
    g, o = r["genai"], r["optimum"]
    lines = [f"{r['model']}, {r['max_new_tokens']} new tokens, greedy; medians of {r['rounds']} alternating "
             f"processes of {r['runs']} runs each",
             "", "| | openvino_genai | Optimum Intel | openvino_genai / Optimum Intel |", "|---|---|---|---|"]
    for key, label, fmt in (("tokens_per_s", "decode tokens/s", "{:.1f}"), ("ttft_ms", "first token (ms)", "{:.0f}"),
                            ("tpot_ms", "per token (ms)", "{:.2f}"), ("load_ms", "load (ms)", "{:.0f}")):
        lines.append(f"| {label} | {fmt.format(g[key])} | {fmt.format(o[key])} | {g[key] / o[key]:.2f} |")
    lines.append(f"| peak memory (GB) | {g['peak_rss_bytes'] / 1e9:.2f} | {o['peak_rss_bytes'] / 1e9:.2f} | "
                 f"{g['peak_rss_bytes'] / o['peak_rss_bytes']:.2f} |")
    return "\n".join(lines)


def _worker(engine: str, model: Path, runs: int, max_new_tokens: int) -> None:
    """In its own process: the model in a library of its own, measured by the app's BenchmarkService."""
    from ..benchmark import BenchmarkService
    from ..chat import ChatService
    from ..devices import Devices
    from ..engines.pipelines import PipelineManager
    from ..library import Library, ModelEntry

    home = Path(tempfile.mkdtemp(prefix="genai-ui-bench-engines-"))
    library = Library(home / "models")
    with library.staging() as staged:
        for f in model.iterdir():
            if f.is_file() and not f.name.startswith("."):
                os.symlink(f, staged / f.name)
        library.install(staged, ModelEntry(id="model", task="text-generation", format="openvino",
                                           weight_format="", location="", context_length=8192))
    chat = ChatService(library, Devices("CPU"), PipelineManager(cache_dir=None))
    result = BenchmarkService(chat).run(model="model", engine=engine, runs=runs, max_new_tokens=max_new_tokens)
    print(json.dumps(result.to_api()))
    os._exit(0)  # without tearing the engine down: its threads may still hold it


if __name__ == "__main__":
    _worker(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
