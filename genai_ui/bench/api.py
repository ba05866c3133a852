"""`python -m genai_ui.bench api`: the app's OpenAI-compatible /v1/chat/completions, streamed, against the
raw LLMPipeline on the built-in model, in one run: decode speed and first token as a client sees them."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .chat import PROMPT, Run, _median, _speed, raw_genai_run
from .common import launch_app, paired, save_result, stop


def openai_run(ai, model: str, tokenizer, max_new_tokens: int) -> Run:
    """Through the `openai` package, as its users call it: the time of each chunk with text."""
    stamps, text = [], ""
    start = time.perf_counter()
    for chunk in ai.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}],
                                            max_tokens=max_new_tokens, temperature=0, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
            text += chunk.choices[0].delta.content
    tokens = int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])
    return _speed(start, stamps[0], stamps[-1], tokens)


def sse_run(http, url: str, model: str, tokenizer, max_new_tokens: int) -> Run:
    """The same request read as raw server-sent events (httpx), without the SDK's parsing."""
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_new_tokens,
            "temperature": 0, "stream": True}
    stamps, text = [], ""
    start = time.perf_counter()
    with http.stream("POST", f"{url}v1/chat/completions", json=body) as events:
        for line in events.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:]).get("choices") or [{"delta": {}}]
                piece = choices[0]["delta"].get("content")
                if piece:
                    stamps.append(time.perf_counter())
                    text += piece
    tokens = int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])
    return _speed(start, stamps[0], stamps[-1], tokens)


def bench_api(runs: int, max_new_tokens: int, output: Path) -> dict:
    import httpx
    import openai
    import openvino_genai as og

    from ..builtin import BUILTIN_ID, builtin_gguf

    gguf = builtin_gguf()
    if gguf is None:
        sys.exit("The built-in model is not installed: run `make setup` first.")
    home = tempfile.TemporaryDirectory(prefix="genai-ui-bench-", ignore_cleanup_errors=True)
    server, url, _ = launch_app(home.name)
    try:
        ai = openai.OpenAI(base_url=f"{url}v1", api_key="none", max_retries=0)
        http = httpx.Client(timeout=120)
        pipe = og.LLMPipeline(str(gguf), "CPU")
        tokenizer = pipe.get_tokenizer()
        raw_genai_run(pipe, 8), openai_run(ai, BUILTIN_ID, tokenizer, 8), sse_run(http, url, BUILTIN_ID, tokenizer, 8)
        raw, sdk, sse = [], [], []
        for i in range(runs):
            raw.append(raw_genai_run(pipe, max_new_tokens))
            sdk.append(openai_run(ai, BUILTIN_ID, tokenizer, max_new_tokens))
            sse.append(sse_run(http, url, BUILTIN_ID, tokenizer, max_new_tokens))
            print(f"run {i + 1}: raw {raw[-1].decode_tokens_per_s:.1f} tok/s, /v1 through openai "
                  f"{sdk[-1].decode_tokens_per_s:.1f}, as raw SSE {sse[-1].decode_tokens_per_s:.1f}")
        del pipe
    finally:
        stop(server)
        home.cleanup()
    results = {
        "model": gguf.name, "runs": runs, "max_new_tokens": max_new_tokens,
        "raw_genai": asdict(_median(raw)), "v1_openai": asdict(_median(sdk)), "v1_sse": asdict(_median(sse)),
        # each interleaved pair's ratio or difference, then their median: the machine's drift cancels out
        "speed_ratio": paired(sdk, raw, lambda a, r: a.decode_tokens_per_s / r.decode_tokens_per_s),
        "speed_ratio_sse": paired(sse, raw, lambda a, r: a.decode_tokens_per_s / r.decode_tokens_per_s),
        "ttft_added_ms": paired(sdk, raw, lambda a, r: a.ttft_ms - r.ttft_ms),
        "ttft_added_sse_ms": paired(sse, raw, lambda a, r: a.ttft_ms - r.ttft_ms),
    }
    save_result(output, "api", results)
    print(api_table(results))
    return results


def api_table(r: dict) -> str:
    rows = [("openvino_genai LLMPipeline (raw)", r["raw_genai"]),
            ("genai_ui /v1/chat/completions through `openai`", r["v1_openai"]),
            ("genai_ui /v1/chat/completions as raw SSE (httpx)", r["v1_sse"])]

    def met(*ok: bool) -> str:
        return "; ".join("met" if o else "**not met**" for o in ok)

    lines = [f"{r['model']}, {r['max_new_tokens']} new tokens, greedy, streamed, median of {r['runs']} interleaved "
             "runs", "", "| path | decode tokens/s | time to first token |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {m['decode_tokens_per_s']:.1f} | {m['ttft_ms']:.0f} ms |" for name, m in rows]
    lines += ["", "| target | measured (openai; raw SSE) | |", "| --- | ---: | --- |",
              f"| /v1 speed / raw speed ≥ 0.97 | {r['speed_ratio']:.3f}; {r['speed_ratio_sse']:.3f} | "
              f"{met(r['speed_ratio'] >= 0.97, r['speed_ratio_sse'] >= 0.97)} |",
              f"| first token added by /v1 ≤ 20 ms | {r['ttft_added_ms']:.0f} ms; {r['ttft_added_sse_ms']:.0f} ms | "
              f"{met(r['ttft_added_ms'] <= 20, r['ttft_added_sse_ms'] <= 20)} |",
              "", "Differences and ratios are medians over the interleaved pairs of runs."]
    return "\n".join(lines)
