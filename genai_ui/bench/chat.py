"""`python -m genai_ui.bench chat`: the app's /chat against the raw LLMPipeline on the built-in model."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .common import launch_app, paired, save_result, sse_call, stop, tree_rss

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
FIRST_QUESTION = "What is the capital of France?"


@dataclass
class Run:
    ttft_ms: float
    decode_tokens_per_s: float
    tokens: int
    total_s: float = 0.0  # from the request to the whole answer


def _median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.ttft_ms for r in runs), statistics.median(r.decode_tokens_per_s for r in runs),
               int(statistics.median(r.tokens for r in runs)))


def _speed(start: float, first: float, last: float, tokens: int) -> Run:
    decode = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return Run((first - start) * 1000, decode, tokens)


def timed_generation(pipe, max_new_tokens: int, generate) -> tuple[Run, object]:
    """Greedy `generate(config, streamer)` with each streamed token timed: (its Run, the engine's result)."""
    import openvino_genai as og

    stamps: list[float] = []

    def streamer(_: str):
        stamps.append(time.perf_counter())
        return og.StreamingStatus.RUNNING

    config = pipe.get_generation_config()
    config.max_new_tokens, config.do_sample = max_new_tokens, False
    start = time.perf_counter()
    result = generate(config, streamer)
    run = _speed(start, stamps[0], stamps[-1], result.perf_metrics.get_num_generated_tokens())
    return replace(run, total_s=stamps[-1] - start), result


def raw_genai_run(pipe, max_new_tokens: int) -> Run:
    import openvino_genai as og

    history = og.ChatHistory([{"role": "user", "content": PROMPT}])
    run, _ = timed_generation(pipe, max_new_tokens, lambda config, streamer: pipe.generate(history, config, streamer))
    return run


def app_run(client, tokenizer, max_new_tokens: int) -> Run:
    from ..ui.client import chat_stream

    start = time.perf_counter()
    first = last = None
    text = ""
    for text in chat_stream(client, PROMPT, max_new_tokens):
        now = time.perf_counter()
        first = first or now
        last = now
    tokens = int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])
    return _speed(start, first, last, tokens)


def http_run(http, base_url: str, tokenizer, max_new_tokens: int, model: str = "", full_length: bool = False) -> Run:
    """The same call over Gradio's plain HTTP API (server-sent events), without gradio_client,
    whose reader polls for new messages every 50 ms. `http` is an open httpx.Client (opening
    one loads the CA bundle, which takes longer than the request). The reply's tokens are its text
    encoded again, or, with `full_length` (a model that never ends early, as the random ones the
    benches build), max_new_tokens: random tokens do not always encode back to as many."""
    data = [PROMPT, [], model, "", max_new_tokens, 0.0, 1.0, 0, 1.0, -1, ""]
    start = time.perf_counter()
    first, last, text = sse_call(http, base_url, "chat", data)
    tokens = max_new_tokens if full_length else \
        int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])
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


def start_app(home: str) -> tuple[subprocess.Popen, str, float, float]:
    """Start app.py on `home`; return the process, its URL, seconds until the page answered,
    and seconds from then until the first reply (the model loads on first use)."""
    from ..ui.client import chat_stream, connect

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


def bench_chat(runs: int, max_new_tokens: int, output: Path) -> dict:
    import httpx
    import openvino_genai as og

    from ..builtin import BUILTIN_ID, builtin_gguf
    from ..ui.client import connect, import_gradio_seconds

    gguf = builtin_gguf()
    if gguf is None:
        sys.exit("The built-in model is not installed: run `make setup` first.")
    # the app's home holds a copy of the model and its IR: removed at the end, as every bench's is
    with tempfile.TemporaryDirectory(prefix="genai-ui-bench-", ignore_cleanup_errors=True) as home:
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
            app_rss = tree_rss(server.pid)
            del pipe
        finally:
            stop(server)
        # a second start on the same home reads the IR that the first load saved beside the GGUF
        start["raw_ir"] = raw_cold_start(Path(home) / "models" / BUILTIN_ID)
        server, _, start["page_again_s"], start["first_reply_again_s"] = start_app(home)
        stop(server)
    llama = _llama_cpp(gguf, runs, max_new_tokens)

    raw_m, app_m, http_m = _median(raw), _median(app), _median(http)
    results = {
        "model": gguf.name, "runs": runs, "max_new_tokens": max_new_tokens,
        "raw_genai": asdict(raw_m), "app_chat": asdict(app_m), "app_chat_http": asdict(http_m),
        "llama_cpp": asdict(llama) if llama else None,
        # ratios and differences of each interleaved pair, then their median: a drift of the
        # machine's speed during the run cancels out within a pair
        "speed_ratio": paired(app, raw, lambda a, r: a.decode_tokens_per_s / r.decode_tokens_per_s),
        "speed_ratio_http": paired(http, raw, lambda a, r: a.decode_tokens_per_s / r.decode_tokens_per_s),
        "ttft_added_ms": paired(app, raw, lambda a, r: a.ttft_ms - r.ttft_ms),
        "ttft_added_http_ms": paired(http, raw, lambda a, r: a.ttft_ms - r.ttft_ms),
        "start": start, "app_rss_bytes": app_rss,
    }
    save_result(output, "chat", results)
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
    def met(*ok: bool) -> str:
        return "; ".join("met" if o else "**not met**" for o in ok)

    lines += ["", "| target | measured | the raw engine, same run | |", "| --- | ---: | ---: | --- |",
              f"| app speed / raw speed ≥ 0.95 (gradio_client; HTTP) | {r['speed_ratio']:.3f}; "
              f"{r['speed_ratio_http']:.3f} | 1 | {met(r['speed_ratio'] >= 0.95, r['speed_ratio_http'] >= 0.95)} |",
              f"| first token added by the app ≤ 30 ms (gradio_client; HTTP) | {r['ttft_added_ms']:.0f} ms; "
              f"{r['ttft_added_http_ms']:.0f} ms | 0 | "
              f"{met(r['ttft_added_ms'] <= 30, r['ttft_added_http_ms'] <= 30)} |",
              f"| page up after start ≤ 5 s | {st['page_s']:.2f} s | `import gradio` alone: "
              f"{st['import_gradio_s']:.2f} s | {met(st['page_s'] <= 5)} |",
              f"| first reply of a fresh app, load included ≤ 3 s | {st['first_reply_s']:.2f} s | "
              f"load GGUF + reply: {raw_gguf:.2f} s | {met(st['first_reply_s'] <= 3)} |",
              f"| the same, next start (IR saved at first load) | {st['first_reply_again_s']:.2f} s | "
              f"load IR + reply: {raw_ir:.2f} s | {met(st['first_reply_again_s'] <= 3)} |",
              f"| app RSS with the model loaded ≤ 1.2 GB | {r['app_rss_bytes'] / 1e9:.2f} GB | | "
              f"{met(r['app_rss_bytes'] <= 1.2e9)} |",
              "", "Differences and ratios are medians over the interleaved pairs of runs."]
    return "\n".join(lines)
