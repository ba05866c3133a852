"""How fast this machine reads a model's weights, measured once and remembered: what the pre-flight's predicted
decode speed and memory to run rest on (hub/preflight.py).

A decode step reads every weight once, so its time is about the weights' bytes over the speed at which the device
reads (and unpacks) weights of that precision, plus a fixed cost per layer (the attention, norms and the calls
between them). Both are measured here, in a subprocess so that the app's memory does not count:
- the reading speed per precision, on a chain of matrix products with weights of each kind (fp16; int8 per
  channel; int4 asymmetric in groups of 128), each ~130 MB, larger than any processor's cache;
- the cost per layer and the memory the runtime adds to the weights, on the built-in chat model.
`python -m genai_ui.run.machine` prints them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# kept beside the app's other files (HOME/machine.json); measured again when the processor or this changes
VERSION = 1
PRECISIONS = ("fp16", "int8", "int4")
BYTES_PER_WEIGHT = {"fp16": 2.0, "int8": 1.0, "int4": 0.5}
WIDTH = 4096
WEIGHTS_BYTES = 128 * 2**20  # read per product: far larger than a cache, small enough to build in a second
REPEATS = 15
OVERHEAD_TOKENS = 48


@dataclass(frozen=True)
class MachineProfile:
    processor: str
    device: str
    bytes_per_s: dict  # weights read (and unpacked) per second in a decode step, per precision
    layer_s: float  # a decode step's fixed cost per decoder layer
    runtime_bytes: int  # what a loaded chat model holds beyond its weights (the runtime, its buffers)
    measured: str  # when, as an ISO date
    version: int = VERSION

    def seconds_per_token(self, *, weight_bytes: float, precision: str, layers: int) -> float:
        return weight_bytes / self.bytes_per_s[precision] + layers * self.layer_s

    def to_api(self) -> dict:
        return asdict(self)


class MachineProfiles:
    """The profile of each device, read from HOME/machine.json, else measured (once at a time) and kept there."""

    def __init__(self, path: Path, processor, builtin, measure=None) -> None:
        self.path = Path(path)
        self.processor = processor  # () -> the processor's name, what a profile was measured on
        self.builtin = builtin  # () -> the built-in chat model's library entry, or None
        self.measure = measure or measure_in_subprocess
        self._lock = threading.Lock()

    def known(self, device: str) -> MachineProfile | None:
        try:
            kept = json.loads(self.path.read_text()).get(device)
        except (OSError, ValueError):
            return None
        if not kept or kept.get("version") != VERSION or kept.get("processor") != self.processor():
            return None
        return MachineProfile(**kept)

    def get(self, device: str) -> MachineProfile:
        with self._lock:
            found = self.known(device)
            if found is None:
                found = self.measure(device=device, processor=self.processor(), model=self.builtin())
                try:
                    kept = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    kept = {}
                kept[device] = found.to_api()
                from ..atomic import write_text

                write_text(self.path, json.dumps(kept, indent=1))
            return found


def measure_in_subprocess(*, device: str, processor: str, model=None) -> MachineProfile:
    import subprocess

    cmd = [sys.executable, "-m", "genai_ui.run.machine", "--device", device]
    if model is not None:
        from ..gguf import read_gguf_info

        info = read_gguf_info(model.load_path)
        layers = info.metadata.get(f"{info.architecture}.block_count")
        if layers:  # else the layers' cost is not measured: the speeds count the weights alone
            cmd += ["--model", str(model.load_path), "--weight-bytes", str(info.required_size), "--layers",
                    str(layers)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"Measuring this machine failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as err:
        raise RuntimeError(f"Measuring this machine gave no result: {err}") from err
    return MachineProfile(processor=processor, device=device, measured=time.strftime("%Y-%m-%d"), **found)


def _products(precision: str, layers: int):
    """`layers` products of a [1, WIDTH] row with WIDTH×WIDTH weights stored at `precision`, unpacked as an
    OpenVINO IR of a compressed model unpacks them (the CPU plugin fuses the unpacking into the product)."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, WIDTH], np.float32, name="x")
    h, n = x, WIDTH
    cheap = (np.arange(n * n, dtype=np.uint32) * 2654435761 >> 24).astype(np.uint8)  # varied, built fast
    for _ in range(layers):
        if precision == "fp16":
            w = ops.convert(ops.constant((cheap.view(np.int8).astype(np.float16) / 128).reshape(n, n)), "f32")
        elif precision == "int8":
            w = ops.multiply(ops.subtract(ops.convert(ops.constant(cheap.reshape(n, n)), "f16"),
                                          ops.constant(np.full((n, 1), 128, np.float16))),
                             ops.constant(np.full((n, 1), 0.01, np.float16)))
            w = ops.convert(w, "f32")
        else:
            groups = n // 128
            packed = ov.Tensor(ov.Type.u4, ov.Shape([n, groups, 128]))
            packed.data[:] = cheap[:packed.data.size]
            zero = ov.Tensor(ov.Type.u4, ov.Shape([n, groups, 1]))
            zero.data[:] = 0x88
            w = ops.multiply(ops.subtract(ops.convert(ov.op.Constant(packed), "f16"),
                                          ops.convert(ov.op.Constant(zero), "f16")),
                             ops.constant(np.full((n, groups, 1), 0.01, np.float16)))
            w = ops.convert(ops.reshape(w, [n, n], False), "f32")
        h = ops.matmul(h, w, False, True)
    return ov.Model([h], [x])


def measure_bytes_per_s(device: str) -> dict:
    import numpy as np
    import openvino as ov

    core, found = ov.Core(), {}
    x = np.random.default_rng(0).random((1, WIDTH), dtype=np.float32)
    for precision in PRECISIONS:
        per_layer = WIDTH * WIDTH * BYTES_PER_WEIGHT[precision]
        layers = max(1, round(WEIGHTS_BYTES / per_layer))
        request = core.compile_model(_products(precision, layers), device,
                                     {"PERFORMANCE_HINT": "LATENCY"}).create_infer_request()
        for _ in range(5):  # the first runs settle the caches and the clock
            request.infer({0: x})
        times = []
        for _ in range(REPEATS):
            begun = time.perf_counter()
            request.infer({0: x})
            times.append(time.perf_counter() - begun)
        # the fastest run: what the device can do; the slower ones are a busy machine's noise (medians of runs a
        # minute apart on the EPYC differed by half for int4)
        found[precision] = layers * per_layer / min(times)
    return found


def measure_layer_cost(device: str, model: str, weight_bytes: int, layers: int, int4_bytes_per_s: float):
    """(the fixed cost per layer, the memory beyond the weights) of a real chat model: its decode step's time
    less its weights' reading time, over its layers; its memory once loaded and run, less its weights."""
    import openvino_genai as og
    import psutil

    process = psutil.Process()
    before = process.memory_info().rss
    pipe = og.LLMPipeline(model, device)
    config = og.GenerationConfig(max_new_tokens=OVERHEAD_TOKENS, min_new_tokens=OVERHEAD_TOKENS)
    steps = []
    for _ in range(2):
        result = pipe.generate(["Tell me about the sea."], config)
        steps.append(result.perf_metrics.get_tpot().mean / 1000)
    runtime = max(0, process.memory_info().rss - before - weight_bytes)
    per_token = min(steps)
    return max(0.0, (per_token - weight_bytes / int4_bytes_per_s) / layers), runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genai_ui.run.machine", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="CPU")
    parser.add_argument("--model", default="", help="a chat model to measure the cost per layer on")
    parser.add_argument("--weight-bytes", type=int, default=0)
    parser.add_argument("--layers", type=int, default=0)
    args = parser.parse_args(argv)
    bytes_per_s = measure_bytes_per_s(args.device)
    layer_s, runtime = 0.0, 0
    if args.model:
        layer_s, runtime = measure_layer_cost(args.device, args.model, args.weight_bytes, args.layers,
                                              bytes_per_s["int4"])
    print(json.dumps({"bytes_per_s": bytes_per_s, "layer_s": layer_s, "runtime_bytes": runtime}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
