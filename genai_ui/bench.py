"""`python -m genai_ui.bench chat|convert`: the app against the raw engine, side by side, in one run.

chat: speed as a person sees it: the raw LLMPipeline's streamer callbacks against the chunks a
gradio_client receives from the app's /chat, same model file, same prompt, greedy.
convert: a Hub checkpoint to int4 by `optimum-cli export openvino` against the app's
/convert_model, both from the same warm Hugging Face cache: wall time, peak memory, output size.
Runs are interleaved so both sides see the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
FIRST_QUESTION = "What is the capital of France?"


@dataclass
class Run:
    ttft_ms: float
    decode_tokens_per_s: float
    tokens: int


def _median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.ttft_ms for r in runs), statistics.median(r.decode_tokens_per_s for r in runs),
               int(statistics.median(r.tokens for r in runs)))


def _paired(app: list[Run], raw: list[Run], measure) -> float:
    return statistics.median(measure(a, r) for a, r in zip(app, raw))


def _speed(start: float, first: float, last: float, tokens: int) -> Run:
    decode = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return Run((first - start) * 1000, decode, tokens)


def raw_genai_run(pipe, max_new_tokens: int) -> Run:
    import openvino_genai as og

    stamps: list[float] = []

    def streamer(_: str):
        stamps.append(time.perf_counter())
        return og.StreamingStatus.RUNNING

    config = pipe.get_generation_config()
    config.max_new_tokens, config.do_sample = max_new_tokens, False
    start = time.perf_counter()
    result = pipe.generate(og.ChatHistory([{"role": "user", "content": PROMPT}]), config, streamer)
    return _speed(start, stamps[0], stamps[-1], result.perf_metrics.get_num_generated_tokens())


def app_run(client, tokenizer, max_new_tokens: int) -> Run:
    from .ui.client import chat_stream

    start = time.perf_counter()
    first = last = None
    text = ""
    for text in chat_stream(client, PROMPT, max_new_tokens):
        now = time.perf_counter()
        first = first or now
        last = now
    tokens = int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])
    return _speed(start, first, last, tokens)


def http_run(http, base_url: str, tokenizer, max_new_tokens: int) -> Run:
    """The same call over Gradio's plain HTTP API (server-sent events), without gradio_client,
    whose reader polls for new messages every 50 ms. `http` is an open httpx.Client (opening
    one loads the CA bundle, which takes longer than the request)."""
    data = [PROMPT, [], "", "", max_new_tokens, 0.0, 1.0, 0, 1.0, -1, ""]
    start = time.perf_counter()
    event_id = http.post(f"{base_url}gradio_api/call/chat", json={"data": data}).json()["event_id"]
    first = last = None
    text = ""
    with http.stream("GET", f"{base_url}gradio_api/call/chat/{event_id}") as events:
        for line in events.iter_lines():
            if line.startswith("data:") and line[5:].strip().startswith("["):
                now = time.perf_counter()
                first, last = first or now, now
                text = json.loads(line[5:])[0]
    tokens = int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])
    return _speed(start, first, last, tokens)


def raw_llama_cpp_run(llm, max_new_tokens: int) -> Run:
    stamps = []  # one per token: chunks without text (the role, the finish) are not tokens
    llm.reset()  # otherwise it keeps the previous run's prompt in its cache and skips the prefill
    start = time.perf_counter()
    for chunk in llm.create_chat_completion([{"role": "user", "content": PROMPT}], max_tokens=max_new_tokens,
                                            temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            stamps.append(time.perf_counter())
    return _speed(start, stamps[0], stamps[-1], len(stamps))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the app did not answer in time")


def _tree_rss(pid: int) -> int:
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


RAW_COLD_START = """
import json, sys, time
start = time.perf_counter()
import openvino_genai as og
imported = time.perf_counter()
pipe = og.LLMPipeline(sys.argv[1], "CPU")
loaded = time.perf_counter()
history = og.ChatHistory([{"role": "user", "content": sys.argv[2]}])
pipe.generate(history, max_new_tokens=32, do_sample=False)
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported,
                  "first_reply_s": time.perf_counter() - loaded}))
"""


def raw_cold_start(model_path: Path) -> dict:
    """The engine alone in a fresh process: import, load, answer the first question."""
    out = subprocess.run([sys.executable, "-c", RAW_COLD_START, str(model_path), FIRST_QUESTION],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def import_gradio_seconds() -> float:
    code = "import time; t = time.perf_counter(); import gradio; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.strip().splitlines()[-1])


def launch_app(home: str, env: dict | None = None, log=subprocess.DEVNULL) -> tuple[subprocess.Popen, str, float]:
    """Start app.py on `home`; return the process, its URL and seconds until the page answered."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    app_py = Path(__file__).resolve().parent.parent / "app.py"
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, str(app_py), "--port", str(port), "--home", home],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_page(url, server)
    except BaseException:
        server.terminate()
        raise
    return server, url, time.perf_counter() - started


def start_app(home: str) -> tuple[subprocess.Popen, str, float, float]:
    """Start app.py on `home`; return the process, its URL, seconds until the page answered,
    and seconds from then until the first reply (the model loads on first use)."""
    from .ui.client import chat_stream, connect

    server, url, page_s = launch_app(home)
    try:
        t0 = time.perf_counter()
        *_, reply = chat_stream(connect(url), FIRST_QUESTION, 32)
        first_reply_s = time.perf_counter() - t0
    except BaseException:
        server.terminate()
        raise
    print(f"page up in {page_s:.2f} s; first reply {first_reply_s:.2f} s later, load included: {reply!r}")
    return server, url, page_s, first_reply_s


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(10)


def bench_chat(runs: int, max_new_tokens: int, output: Path) -> dict:
    import httpx
    import openvino_genai as og

    from .builtin import BUILTIN_ID, builtin_gguf
    from .ui.client import connect

    gguf = builtin_gguf()
    if gguf is None:
        sys.exit("The built-in model is not installed: run `make setup` first.")
    home = tempfile.mkdtemp(prefix="genai-ui-bench-")
    start = {"import_gradio_s": import_gradio_seconds(), "raw_gguf": raw_cold_start(gguf)}
    server, url, start["page_s"], start["first_reply_s"] = start_app(home)
    try:
        client = connect(url)
        http_client = httpx.Client(timeout=120)
        pipe = og.LLMPipeline(str(gguf), "CPU")
        tokenizer = pipe.get_tokenizer()
        raw_genai_run(pipe, 8), app_run(client, tokenizer, 8), http_run(http_client, url, tokenizer, 8)  # warm-up
        raw, app, http = [], [], []
        for i in range(runs):
            raw.append(raw_genai_run(pipe, max_new_tokens))
            app.append(app_run(client, tokenizer, max_new_tokens))
            http.append(http_run(http_client, url, tokenizer, max_new_tokens))
            print(f"run {i + 1}: raw {raw[-1].decode_tokens_per_s:.1f} tok/s, app over gradio_client "
                  f"{app[-1].decode_tokens_per_s:.1f}, over HTTP {http[-1].decode_tokens_per_s:.1f}")
        app_rss = _tree_rss(server.pid)
        del pipe
    finally:
        _stop(server)
    # a second start on the same home reads the IR that the first load saved beside the GGUF
    start["raw_ir"] = raw_cold_start(Path(home) / "models" / BUILTIN_ID)
    server, _, start["page_again_s"], start["first_reply_again_s"] = start_app(home)
    _stop(server)
    llama = _llama_cpp(gguf, runs, max_new_tokens)

    raw_m, app_m, http_m = _median(raw), _median(app), _median(http)
    results = {
        "model": gguf.name, "runs": runs, "max_new_tokens": max_new_tokens,
        "raw_genai": asdict(raw_m), "app_chat": asdict(app_m), "app_chat_http": asdict(http_m),
        "llama_cpp": asdict(llama) if llama else None,
        # ratios and differences of each interleaved pair, then their median: a drift of the
        # machine's speed during the run cancels out within a pair
        "speed_ratio": _paired(app, raw, lambda a, r: a.decode_tokens_per_s / r.decode_tokens_per_s),
        "speed_ratio_http": _paired(http, raw, lambda a, r: a.decode_tokens_per_s / r.decode_tokens_per_s),
        "ttft_added_ms": _paired(app, raw, lambda a, r: a.ttft_ms - r.ttft_ms),
        "ttft_added_http_ms": _paired(http, raw, lambda a, r: a.ttft_ms - r.ttft_ms),
        "start": start, "app_rss_bytes": app_rss,
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "chat.json").write_text(json.dumps(results, indent=2))
    print(chat_table(results))
    return results


def _llama_cpp(gguf: Path, runs: int, max_new_tokens: int) -> Run | None:
    try:
        from llama_cpp import Llama
    except ImportError:
        print("llama-cpp-python is not installed: skipping it.")
        return None
    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=2, verbose=False)
    raw_llama_cpp_run(llm, 8)
    return _median([raw_llama_cpp_run(llm, max_new_tokens) for _ in range(runs)])


def chat_table(r: dict) -> str:
    rows = [("openvino_genai LLMPipeline (raw)", r["raw_genai"]), ("genai_ui /chat over gradio_client", r["app_chat"]),
            ("genai_ui /chat over HTTP (SSE)", r["app_chat_http"])]
    if r["llama_cpp"]:
        rows.append(("llama.cpp (llama-cpp-python, 2 threads)", r["llama_cpp"]))
    st = r["start"]
    raw_gguf = st["raw_gguf"]["load_s"] + st["raw_gguf"]["first_reply_s"]
    raw_ir = st["raw_ir"]["load_s"] + st["raw_ir"]["first_reply_s"]
    lines = [f"{r['model']}, {r['max_new_tokens']} new tokens, greedy, median of {r['runs']} interleaved runs",
             "", "| path | decode tokens/s | time to first token |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {m['decode_tokens_per_s']:.1f} | {m['ttft_ms']:.0f} ms |" for name, m in rows]
    lines += ["", "| target | measured | the raw engine, same run |", "| --- | ---: | ---: |",
              f"| app speed / raw speed ≥ 0.95 (gradio_client; HTTP) | {r['speed_ratio']:.3f}; "
              f"{r['speed_ratio_http']:.3f} | 1 |",
              f"| first token added by the app ≤ 30 ms (gradio_client; HTTP) | {r['ttft_added_ms']:.0f} ms; "
              f"{r['ttft_added_http_ms']:.0f} ms | 0 |",
              f"| page up after start ≤ 5 s | {st['page_s']:.2f} s | `import gradio` alone: "
              f"{st['import_gradio_s']:.2f} s |",
              f"| first reply of a fresh app, load included ≤ 3 s | {st['first_reply_s']:.2f} s | "
              f"load GGUF + reply: {raw_gguf:.2f} s |",
              f"| the same, next start (IR saved at first load) | {st['first_reply_again_s']:.2f} s | "
              f"load IR + reply: {raw_ir:.2f} s |",
              f"| app RSS with the model loaded ≤ 1.2 GB | {r['app_rss_bytes'] / 1e9:.2f} GB | |",
              "", "Differences and ratios are medians over the interleaved pairs of runs."]
    return "\n".join(lines)


CONVERT_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
WARM_IMPORTS = "import nncf, openvino_genai; from optimum.intel import OVModelForCausalLM"
GROUP_SIZE = 64  # what the app picks for SmolLM2 (group size 0): its 576 wide layers rule out 128


@dataclass
class Conversion:
    seconds: float  # wall time, as the caller waits for it
    peak_rss_bytes: int
    output_bytes: int
    stages: dict = field(default_factory=dict)  # the app's seconds per stage

    @property
    def converting_s(self) -> float:
        return self.stages.get("Export", 0.0) + self.stages.get("Compress", 0.0)


def raw_convert_args(repo: str) -> list[str]:
    return ["export", "openvino", "--model", repo, "--task", "text-generation-with-past", "--weight-format", "int4",
            "--group-size", str(GROUP_SIZE)]


def raw_convert_run(repo: str, out: Path, env: dict) -> Conversion:
    from .jobs import ProcessResult, run_process
    from .library import folder_size

    result = ProcessResult()
    cmd = [sys.executable, "-m", "optimum.commands.optimum_cli", *raw_convert_args(repo), str(out)]
    for _ in run_process(cmd, cancel=threading.Event(), result=result, env=env):
        pass
    if result.returncode != 0:
        sys.exit(f"optimum-cli failed (exit code {result.returncode}): "
                 f"{result.tail[-1] if result.tail else 'no output'}")
    size = folder_size(out)
    shutil.rmtree(out)
    return Conversion(result.seconds, result.peak_rss_bytes, size)


def app_convert_run(client, repo: str, library) -> tuple[Conversion, dict]:
    from gradio_client.exceptions import AppError

    start = time.perf_counter()
    try:
        report = client.predict(repo, "int4", 0, api_name="/convert_model")
    except AppError as err:
        sys.exit(f"The app's /convert_model failed: {err}")
    seconds = time.perf_counter() - start
    library.delete(report["id"])  # the next run starts from the same library, and gets the same id
    return Conversion(seconds, report["peak_rss_bytes"], report["output_bytes"], report["stages"]), report


def warm_hub_cache(repo: str, endpoint: str, hf_home: Path) -> None:
    """Check that the Hub has the repo, then put it in the cache both sides read, so neither pays the
    download."""
    from huggingface_hub import snapshot_download

    from .errors import UserError
    from .hub import HubService, HubUnavailable, details

    try:
        details(HubService(endpoint=endpoint, token=os.environ.get("HF_TOKEN", "")), repo)
    except HubUnavailable:
        sys.exit(f"The Hub at {endpoint} cannot be reached: start one (`python -m tests.hub_server`) "
                 "and point HF_ENDPOINT at it.")
    except UserError as err:
        sys.exit(f"{endpoint}: {err}")
    snapshot_download(repo, cache_dir=hf_home / "hub", endpoint=endpoint)


def _median_conversion(runs: list[Conversion]) -> Conversion:
    return Conversion(statistics.median(r.seconds for r in runs),
                      int(statistics.median(r.peak_rss_bytes for r in runs)),
                      int(statistics.median(r.output_bytes for r in runs)),
                      {name: statistics.median(r.stages[name] for r in runs) for name in runs[0].stages})


def bench_convert(runs: int, repo: str, output: Path) -> dict:
    from .library import Library
    from .ui.client import connect

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    # a Hugging Face cache of its own: a local Hub serves test repos under real names, which must not
    # land in the user's cache
    work = Path(tempfile.mkdtemp(prefix="genai-ui-bench-convert-"))
    env = {**os.environ, "HF_HOME": str(work / "hf"), "HF_ENDPOINT": endpoint}
    output.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        warm_hub_cache(repo, endpoint, work / "hf")
        t0 = time.perf_counter()  # the first run would otherwise read the libraries from a cold disk
        subprocess.run([sys.executable, "-c", WARM_IMPORTS], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        print(f"checkpoint cached, libraries read once ({time.perf_counter() - t0:.1f} s)")
        with open(output / "convert-app.log", "w") as log:
            server, url, page_s = launch_app(str(work / "home"), env, log)
        client, library = connect(url), Library(work / "home" / "models")
        raw, app, reports = [], [], []
        for i in range(runs):
            raw.append(raw_convert_run(repo, work / "raw", env))
            conversion, report = app_convert_run(client, repo, library)
            app.append(conversion)
            reports.append(report)
            print(f"run {i + 1}: raw {raw[-1].seconds:.1f} s, {raw[-1].peak_rss_bytes / 1e9:.2f} GB; "
                  f"app {app[-1].seconds:.1f} s, {app[-1].peak_rss_bytes / 1e9:.2f} GB", flush=True)
    finally:
        if server is not None:
            _stop(server)
        shutil.rmtree(work, ignore_errors=True)

    raw_command = " ".join(["optimum-cli", *raw_convert_args(repo), "<output folder>"])
    if reports[0]["command"] != raw_command:
        print(f"Note: the app's own equivalent is `{reports[0]['command']}`, not `{raw_command}`.")
    results = {
        "repo": repo, "runs": runs, "raw_command": raw_command, "app_options": reports[0]["options"],
        "raw": asdict(_median_conversion(raw)), "app": asdict(_median_conversion(app)),
        "app_converting_s": statistics.median(a.converting_s for a in app),
        # ratios of each interleaved pair, then their median: a drift of the machine cancels out within a pair
        "time_ratio": _paired(app, raw, lambda a, r: a.seconds / r.seconds),
        "converting_ratio": _paired(app, raw, lambda a, r: a.converting_s / r.seconds),
        "memory_ratio": _paired(app, raw, lambda a, r: a.peak_rss_bytes / r.peak_rss_bytes),
        "size_ratio": _paired(app, raw, lambda a, r: a.output_bytes / r.output_bytes),
        "quality": [{k: rep["quality"].get(k) for k in ("verdict", "score", "reference_tokens_per_s")}
                    for rep in reports],
        "tokens_per_s": statistics.median(rep["tokens_per_s"] for rep in reports),
        "app_page_s": page_s,
    }
    (output / "convert.json").write_text(json.dumps(results, indent=2))
    print(convert_table(results))
    return results


def convert_table(r: dict) -> str:
    raw, app = r["raw"], r["app"]
    verify = app["stages"].get("Verify", 0.0)
    rest = app["seconds"] - r["app_converting_s"] - verify
    quality = "; ".join(f"{q['verdict']} ({q['score']:.2f})" for q in r["quality"])
    reference = statistics.median(q["reference_tokens_per_s"] or 0.0 for q in r["quality"])
    lines = [f"{r['repo']} to int4, group size {r['app_options'].get('group_size')}, "
             f"median of {r['runs']} interleaved runs", "",
             "| | optimum-cli (raw) | genai_ui /convert_model | app / raw |", "| --- | ---: | ---: | ---: |",
             f"| wall time | {raw['seconds']:.1f} s | {app['seconds']:.1f} s | {r['time_ratio']:.2f} |",
             f"| … converting (Export + Compress) | | {r['app_converting_s']:.1f} s | {r['converting_ratio']:.2f} |",
             f"| … verifying (quality check against the fp16 export) | | {verify:.1f} s | |",
             f"| … the rest (check, cached download, register, API) | | {rest:.1f} s | |",
             f"| peak memory (app: its job's largest step) | {raw['peak_rss_bytes'] / 1e9:.2f} GB | "
             f"{app['peak_rss_bytes'] / 1e9:.2f} GB | {r['memory_ratio']:.2f} |",
             f"| output size | {raw['output_bytes'] / 1e6:.1f} MB | {app['output_bytes'] / 1e6:.1f} MB | "
             f"{r['size_ratio']:.3f} |", "",
             "App stages (s): " + ", ".join(f"{name} {s:.1f}" for name, s in app["stages"].items()),
             f"App quality verdict (score) per run: {quality}; the int4 model decodes {r['tokens_per_s']:.1f} "
             f"tokens/s (its fp16 export {reference:.1f})",
             f"Raw: `{r['raw_command']}`", "", "Ratios are medians over the interleaved pairs of runs."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genai_ui.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    chat = sub.add_parser("chat", help="the app's /chat against the raw LLMPipeline on the built-in model")
    chat.add_argument("--runs", type=int, default=5)
    chat.add_argument("--max-new-tokens", type=int, default=128)
    chat.add_argument("--output", type=Path, default=Path("bench-output"))
    convert = sub.add_parser("convert", help="the app's /convert_model against optimum-cli, a Hub checkpoint to "
                             "int4 (the Hub at HF_ENDPOINT)")
    convert.add_argument("--runs", type=int, default=2)
    convert.add_argument("--repo", default=CONVERT_REPO)
    convert.add_argument("--output", type=Path, default=Path("bench-output"))
    args = parser.parse_args(argv)
    if args.what == "chat":
        bench_chat(args.runs, args.max_new_tokens, args.output)
    elif args.runs < 1:
        parser.error("--runs must be 1 or more")
    else:
        bench_convert(args.runs, args.repo, args.output)


if __name__ == "__main__":
    main()
