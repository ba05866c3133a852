"""`python -m genai_ui.bench preflight`: the pre-flight's figures (convert/preflight.py) against what a conversion and
a run measure, on the checkpoints the tests can build: SmolLM2-135M (fp32) and, with `--size 1.7b`, a model of
SmolLM2-1.7B's shapes (bf16, random weights).

For each checkpoint and precision: the prediction, made from the checkpoint's config and files exactly as for a Hub
model, then the app's own conversion step (its peak memory and the size of what it writes), then the result loaded by
openvino_genai in a process of its own (its memory after a reply, without the KV cache, which is computed, and its
decode speed). The machine's reading speeds are measured first, as the app measures them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .common import save_result

TOKENS = 32
# the memory a loaded model holds is read after this reply, so the KV cache of TOKENS tokens is left in; a
# conversation of 4,096 (what the pre-flight counts) adds the rest, computed from the shapes


def checkpoint_facts(folder: Path) -> tuple[int, list[dict], dict]:
    """(parameters, files as the Hub lists them, config) of a checkpoint folder."""
    from safetensors import safe_open

    parameters = 0
    for path in folder.glob("*.safetensors"):
        with safe_open(str(path), "np") as f:
            for name in f.keys():
                shape = f.get_slice(name).get_shape()
                count = 1
                for d in shape:
                    count *= d
                parameters += count
    files = [{"name": p.name, "size": p.stat().st_size} for p in folder.iterdir() if p.is_file()]
    return parameters, files, json.loads((folder / "config.json").read_text())


def export(checkpoint: Path, precision: str, config: dict, out: Path) -> dict:
    """The app's own conversion step (convert/jobs.py runs the same command): the fp16 export, then, in the same
    process, its compression into another folder."""
    from ..convert.options import ExportOptions
    from ..library import folder_size
    from ..work.background import ProcessResult, run_process

    reference = out.parent / "reference" if precision != "fp16" else out
    cmd = [sys.executable, "-m", "genai_ui.convert.worker", "export", "--source", str(checkpoint), "--task",
           "text-generation-with-past", "--weight-format", "fp16", "--reference", str(reference)]
    if precision != "fp16":
        options = ExportOptions(weight_format=precision)
        cmd += ["--output", str(out), "--config", json.dumps(options.quantization_config(options.group_size_for(
            config)))]
    result = ProcessResult()
    for _ in run_process(cmd, cancel=threading.Event(), result=result, cwd=str(Path(__file__).resolve().parents[2])):
        pass
    if result.returncode != 0:
        sys.exit(f"The conversion failed on {checkpoint.name} at {precision}: {result.tail[-1:]}")
    weights = sum(p.stat().st_size for p in out.glob("openvino_model.bin"))
    return {"seconds": result.seconds, "peak_rss_bytes": result.peak_rss_bytes, "output_bytes": folder_size(out),
            "weight_bytes": weights}


RUN = """
import json, sys, psutil, openvino_genai as og
p = psutil.Process(); before = p.memory_info().rss
pipe = og.LLMPipeline(sys.argv[1], "CPU")
config = og.GenerationConfig(max_new_tokens={tokens}, min_new_tokens={tokens})
steps = []
for _ in range(2):
    steps.append(pipe.generate(["Tell me about the sea."], config).perf_metrics.get_tpot().mean)
print(json.dumps({{"rss_bytes": p.memory_info().rss - before, "tokens_per_s": 1000 / min(steps)}}))
"""


def run(model: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN.format(tokens=TOKENS), str(model)], capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        sys.exit(f"Running {model} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_preflight(output: Path, sizes: tuple[str, ...], precisions: tuple[str, ...]) -> dict:
    from ..builtin import builtin_gguf
    from ..convert.preflight import Shape, plans
    from ..engines.devices import Devices
    from ..hub.client import ModelDetails
    from ..library import ModelEntry
    from ..run.machine import measure_in_subprocess
    from ..testing.models import smollm2_1_7b_shaped, smollm2_checkpoint

    gguf = builtin_gguf()
    model = ModelEntry(id="builtin", task="text-generation", format="gguf", weight_format="Q4_1",
                       location=str(gguf.parent), model_file=gguf.name) if gguf else None
    began = time.perf_counter()
    profile = measure_in_subprocess(device="CPU", processor=Devices().processor(), model=model)
    profile_seconds = round(time.perf_counter() - began, 1)
    print(f"This machine, measured in {time.perf_counter() - began:.0f} s: "
          + ", ".join(f"{p} {v / 1e9:.1f} GB/s" for p, v in profile.bytes_per_s.items())
          + f"; {profile.layer_s * 1e3:.2f} ms a layer; the runtime holds {profile.runtime_bytes / 1e6:.0f} MB",
          flush=True)
    checkpoints = {"135m": smollm2_checkpoint, "1.7b": smollm2_1_7b_shaped}
    rows = []
    for size in sizes:
        checkpoint = checkpoints[size]()
        parameters, files, config = checkpoint_facts(checkpoint)
        shape = Shape.of(parameters, config)
        about = ModelDetails(id=f"bench/{size}", task="text-generation", architecture="llama", supported=True,
                             reason="", files=files, parameters=parameters, config=config)
        checkpoint_bytes = sum(f["size"] for f in files if f["name"].endswith(".safetensors"))
        # as the Hub tab works them out, on this machine's profile; free memory and disk do not matter here
        planned = {p.precision: p for p in plans(about, config, profile=profile, free_memory=1 << 50,
                                                 free_disk=1 << 50)}
        for precision in precisions:
            with tempfile.TemporaryDirectory() as work:
                out = Path(work) / "model"
                print(f"{size} at {precision}: exporting…", flush=True)
                made = export(checkpoint, precision, config, out)
                ran = run(out)
                shutil.rmtree(out, ignore_errors=True)
            plan = planned[precision]
            predicted = {"weight_bytes": shape.weight_bytes(precision), "convert_peak_bytes": plan.convert_peak_bytes,
                         "run_bytes_without_kv": plan.run_bytes - shape.kv_bytes("CPU"),
                         "tokens_per_s": plan.tokens_per_s, "disk_bytes": plan.disk_bytes}
            measured = {"weight_bytes": made["weight_bytes"], "convert_peak_bytes": made["peak_rss_bytes"],
                        "run_bytes_without_kv": ran["rss_bytes"], "tokens_per_s": ran["tokens_per_s"],
                        "export_seconds": made["seconds"], "output_bytes": made["output_bytes"]}
            errors = {k: round(predicted[k] / measured[k] - 1, 3) for k in
                      ("weight_bytes", "convert_peak_bytes", "run_bytes_without_kv", "tokens_per_s")}
            row = {"size": size, "precision": precision, "parameters": parameters,
                   "checkpoint_bytes": checkpoint_bytes, "predicted": predicted, "measured": measured,
                   "errors": errors}
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {"profile": profile.to_api(), "profile_seconds": profile_seconds, "rows": rows}
    print(f"Saved {save_result(output, 'preflight', result)}")
    return result


def preflight_table(result: dict) -> str:
    """Each checkpoint and precision: predicted against measured, and the error of each figure."""
    p = result["profile"]
    head = (f"This machine's measure ({result['profile_seconds']:.0f} s, once): weights read at "
            + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in p["bytes_per_s"].items())
            + f"; {p['layer_s'] * 1e3:.2f} ms a layer; the runtime holds {p['runtime_bytes'] / 2**20:.0f} MB beside "
            "the weights.\n\n| model | precision | weights | peak to convert | memory to run (no KV) | decode |\n"
            "| --- | --- | ---: | ---: | ---: | ---: |\n")
    lines = []
    mb = 2**20

    def cell(row, key, unit=mb, fmt="{:,.0f} MB"):
        predicted, measured = row["predicted"][key], row["measured"][key]
        return (f"{fmt.format(predicted / unit)} / {fmt.format(measured / unit)} "
                f"({row['errors'][key]:+.0%})")

    for r in result["rows"]:
        name = "SmolLM2-135M (fp32 checkpoint)" if r["size"] == "135m" else "SmolLM2-1.7B's shapes (bf16 checkpoint)"
        lines.append(f"| {name} | {r['precision']} | {cell(r, 'weight_bytes')} | {cell(r, 'convert_peak_bytes')} | "
                     f"{cell(r, 'run_bytes_without_kv')} | {cell(r, 'tokens_per_s', 1, '{:.1f} t/s')} |")
    errors = [abs(r["errors"]["tokens_per_s"]) for r in result["rows"]]
    return (head + "\n".join(lines) + "\n\nEach cell: predicted / measured (the prediction's error). Decode speed "
            f"error: {max(errors):.0%} at most, {sum(errors) / len(errors):.0%} on average.")
