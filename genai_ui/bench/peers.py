"""`python -m genai_ui.bench peers`: genai_ui against llama.cpp (what LM Studio and Ollama run), on the same
model, in one run.

Four contenders, each in a process of its own (so each one's memory is its own), their runs interleaved so
that a drift of the machine's speed touches them alike:
- llama.cpp (llama-cpp-python, all the cores) on the GGUF;
- the raw openvino_genai engine (LLMPipeline) with its defaults;
- the raw engine as Tune left it: the options Tune chose for this model on this machine;
- the app's /chat over HTTP, the model loaded with those options (Tune runs first, in the app's home,
  and applies its winner, as a person's click would).
Every contender reads the same prompt, written out with the model's chat template, greedy.

llama-cpp-python compiles llama.cpp from source: `make bench-peers` installs it (about 6 minutes), never
`make setup`. A llama.cpp build that crashes on a prompt of more than one token (seen on a Xeon with
0.3.36) is run again with n_batch=1, and its prefill is then reported apart: it reads the prompt a token
at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .chat import PROMPT, Run, _median, _speed, http_run, timed_generation
from .common import launch_app, paired, save_result, stop, tree_rss


class Contender:
    """A worker process holding one engine and one model: `run(n)` times one greedy reply of n tokens."""

    def __init__(self, name: str, kind: str, path: Path, prompt: str, settings: dict | None = None) -> None:
        self.name, self.kind, self.path, self.prompt, self.settings = name, kind, path, prompt, settings or {}
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        job = json.dumps({"kind": self.kind, "path": str(self.path), "prompt": self.prompt, "settings": self.settings})
        return subprocess.Popen([sys.executable, "-c", "import sys, json; from genai_ui.bench.peers import _worker; "
                                 "_worker(json.loads(sys.argv[1]))", job], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} ended (exit code {self.process.wait()})")
        return json.loads(line)

    def run(self, max_new_tokens: int) -> Run:
        return Run(**self.ask(f"run {max_new_tokens}"))

    def peak_bytes(self) -> int:
        return self.ask("peak")["peak_bytes"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_llama(gguf: Path, prompt: str, max_new_tokens: int) -> tuple[Contender, bool]:
    """llama.cpp on the GGUF; (the contender, whether it had to read the prompt a token at a time)."""
    llama = Contender("llama.cpp", "llama", gguf, prompt)
    try:
        llama.run(8)
        return llama, False
    except RuntimeError as err:
        print(f"llama.cpp crashed on the prompt ({err}): running it again with n_batch=1", flush=True)
        llama = Contender("llama.cpp, n_batch=1", "llama", gguf, prompt, {"n_batch": 1})
        llama.run(8)
        return llama, True


SIZES = ("135m", "1.7b")
SHAPED_ID = "SmolLM2-1.7B-shaped-int4"


def bench_peers(runs: int, max_new_tokens: int, output: Path, size: str = "135m") -> dict:
    """`size` 135m: the built-in GGUF, and the IR the app saves beside it. 1.7b: a model of SmolLM2-1.7B's
    shapes (random weights, the built-in tokenizer; genai_ui/testing/models.py builds and caches it, about
    3 minutes the first time here), as a Q4_0 GGUF for llama.cpp and as the int4 IR the Convert tab makes."""
    import openvino_genai as og

    from ..builtin import BUILTIN_ID, builtin_gguf
    from ..engines.options import saved_ir_files
    from ..services import create_services
    from ..settings import Settings
    from .common import install

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        sys.exit("llama-cpp-python is not installed: run `make bench-peers` (it compiles llama.cpp, about 6 minutes).")
    if size == "1.7b":
        from ..testing.models import smollm2_1_7b_gguf, smollm2_1_7b_ir_int4

        print("The 1.7B-shaped model: its Q4_0 GGUF and int4 IR (built once, then cached)", flush=True)
        gguf, shaped_ir, model_id, name = smollm2_1_7b_gguf(), smollm2_1_7b_ir_int4(), SHAPED_ID, "peers_1_7b"
    else:
        gguf, shaped_ir, model_id, name = builtin_gguf(), None, BUILTIN_ID, "peers"
        if gguf is None:
            sys.exit("The built-in model is not installed: run `make setup` first.")
    contenders: list[Contender] = []
    server = None
    with tempfile.TemporaryDirectory(prefix="genai-ui-bench-peers-", ignore_cleanup_errors=True) as home:
        try:
            if shaped_ir is not None:
                install(Path(home), shaped_ir, model_id, "text-generation", weight_format="int4")
            services = create_services(Settings(home=Path(home), device="CPU", no_auto_tune=True))
            entry = services.library.get(model_id)
            print(f"Tune, in the app's home, on {services.devices.processor()}", flush=True)
            report = services.tune.tune(model=model_id, device="CPU")
            print(f"  {report.summary()}", flush=True)
            tuned = report.winner
            services.pipelines.close()
            if shaped_ir is not None:
                ir = entry.load_path
            else:
                ir = entry.load_path.parent
                assert all(f.is_file() for f in saved_ir_files(entry)), "Tune saves the IR beside the GGUF"
            prompt = og.Tokenizer(str(ir)).apply_chat_template([{"role": "user", "content": PROMPT}],
                                                              add_generation_prompt=True)
            server, url, _ = launch_app(home)
            llama, batch_one = start_llama(gguf, prompt, max_new_tokens)
            contenders = [llama, Contender("openvino_genai, defaults", "genai", ir, prompt),
                          Contender("openvino_genai, as Tune left it", "genai", ir, prompt,
                                    {"properties": tuned.properties(), "stateful": tuned.engine == "stateful"})]
            import httpx

            http = httpx.Client(timeout=300)
            tokenizer = og.Tokenizer(str(ir))
            for contender in contenders[1:]:
                contender.run(8)  # warm-up
            shaped = shaped_ir is not None  # never ends early: each reply is max_new_tokens long
            http_run(http, url, tokenizer, 8, model_id, shaped)
            measured: dict[str, list[Run]] = {c.name: [] for c in contenders} | {"app": []}
            for i in range(runs):
                for contender in contenders:
                    measured[contender.name].append(contender.run(max_new_tokens))
                measured["app"].append(http_run(http, url, tokenizer, max_new_tokens, model_id, shaped))
                print(f"run {i + 1}: " + ", ".join(f"{name} {r[-1].decode_tokens_per_s:.1f}"
                                                   for name, r in measured.items()), flush=True)
            peaks = {c.name: c.peak_bytes() for c in contenders} | {"app": tree_rss(server.pid)}
        finally:
            for contender in contenders:
                contender.close()
            if server is not None:
                stop(server)
    names = [c.name for c in contenders] + ["app"]
    labels = {contenders[0].name: contenders[0].name + " (llama-cpp-python)", "app": "genai_ui /chat over HTTP"}
    results = {
        "model": gguf.name, "ir": model_id if shaped_ir is not None else "the IR saved beside the GGUF",
        "runs": runs, "max_new_tokens": max_new_tokens, "cpu": services.devices.processor(),
        "tuned": tuned.describe(), "llama_batch_one": batch_one,
        "rows": [{"name": labels.get(n, n), **asdict(_median(measured[n])), "peak_bytes": peaks[n]} for n in names],
        # each contender against llama.cpp and against the raw defaults, pair by pair
        "vs_llama": {labels.get(n, n): paired(measured[n], measured[names[0]], _decode_ratio) for n in names[1:]},
        "vs_defaults": {labels.get(n, n): paired(measured[n], measured[names[1]], _decode_ratio) for n in names[2:]},
    }
    save_result(output, name, results)
    print(peers_table(results))
    return results


def _decode_ratio(a: Run, b: Run) -> float:
    return a.decode_tokens_per_s / b.decode_tokens_per_s


def peers_table(r: dict) -> str:
    lines = [f"llama.cpp: {r['model']}; openvino_genai and the app: {r.get('ir', 'the IR saved beside the GGUF')}; "
             f"{r['max_new_tokens']} new tokens, greedy, the same prompt with the model's chat template; "
             f"medians of {r['runs']} interleaved runs; Tune chose: {r['tuned']}",
             "", "| engine | decode tokens/s | × llama.cpp | × raw defaults | first token | peak memory |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in r["rows"]:
        vs_llama = r["vs_llama"].get(row["name"])
        vs_defaults = r["vs_defaults"].get(row["name"])
        lines.append(f"| {row['name']} | {row['decode_tokens_per_s']:.1f} | "
                     f"{'' if vs_llama is None else f'{vs_llama:.2f}'} | "
                     f"{'' if vs_defaults is None else f'{vs_defaults:.2f}'} | {row['ttft_ms']:.0f} ms | "
                     f"{row['peak_bytes'] / 1e9:.2f} GB |")
    if r["llama_batch_one"]:
        lines += ["", "llama.cpp crashed on a prompt of more than one token and ran with n_batch=1: its first token "
                      "includes reading the prompt a token at a time."]
    lines += ["", "Ratios are medians over the interleaved runs; memory is each process's peak (the app's: its RSS "
                  "after the runs, with the web server)."]
    return "\n".join(lines)


def _worker(job: dict) -> None:
    """In its own process: one engine, one model; commands on stdin, one JSON line each on stdout."""
    kind, path, prompt, settings = job["kind"], job["path"], job["prompt"], job["settings"]
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever the engines print stays off the answers' line
    if kind == "llama":
        from llama_cpp import Llama

        batch = settings.get("n_batch", 512)
        llm = Llama(model_path=path, n_ctx=2048, n_threads=os.cpu_count(), n_batch=batch, n_ubatch=batch,
                    verbose=False)

        def run(n: int) -> Run:
            stamps = []
            llm.reset()  # else it keeps the previous prompt in its cache and skips the prefill
            start = time.perf_counter()
            for chunk in llm.create_completion(prompt, max_tokens=n, temperature=0.0, stream=True):
                if chunk["choices"][0]["text"] or chunk["choices"][0].get("finish_reason") is None:
                    stamps.append(time.perf_counter())
            return _speed(start, stamps[0], stamps[-1], len(stamps))
    else:
        import openvino_genai as og

        properties = dict(settings.get("properties", {}))
        if settings.get("stateful"):
            properties["ATTENTION_BACKEND"] = "SDPA"
        pipe = og.LLMPipeline(path, "CPU", **properties)

        def generate(config, streamer):
            config.apply_chat_template = False  # the prompt is written out with the template already
            return pipe.generate([prompt], config, streamer)

        def run(n: int) -> Run:
            return timed_generation(pipe, n, generate)[0]

    for line in sys.stdin:
        command = line.split()
        if command[0] == "run":
            answer = asdict(run(int(command[1])))
        else:
            answer = {"peak_bytes": _own_peak()}
        out.write(json.dumps(answer) + "\n")
        out.flush()


def _own_peak() -> int:
    from ..work.background import own_peak_bytes

    return own_peak_bytes() or 0
