"""`python -m genai_ui.bench chat|api|vision|image|load|history|engines|convert|quality|preflight|tune|peers|documents`:
the app against the raw engine (or a peer), side by side, in one run.

chat (bench/chat.py): speed as a person sees it: the raw LLMPipeline's streamer callbacks against
the chunks a gradio_client receives from the app's /chat, same model file, same prompt, greedy.
api (bench/api.py): the OpenAI-compatible /v1/chat/completions, streamed (through the `openai` package and as
raw server-sent events), against the raw LLMPipeline, same model and prompt, greedy.
vision (bench/vision.py): the raw VLMPipeline against the app's /caption, same model, image and prompt.
image (bench/image.py): the raw Text2ImagePipeline against the app's /generate_image, and the previews' cost.
load (bench/load.py): many users chatting at once: errors, crosstalk, throughput, memory over time,
and the combined tokens/s of 4 users against 1.
history (bench/history.py): a hostile chat history refused or trimmed at once (2,000 messages refused, the
largest within the bounds trimmed to the context), and another user's first token meanwhile against alone.
engines (bench/engines.py): one chat model on openvino_genai and on optimum-intel's OVModelForCausalLM:
load, first token, tokens/s and memory of each, each engine in a process of its own; with --options,
also each engine option (KV cache, dynamic quantization, stateful, prompt lookup, speculative decoding).
convert (bench/convert.py): a Hub checkpoint to int4 by `optimum-cli export openvino` against the
app's /convert_model, both from the same warm Hugging Face cache: wall time, peak memory, output size.
quality (bench/quality.py): the quality verdicts' calibration: SmolLM2-135M compressed in several ways and damaged
on purpose, each measured against its fp16 export by the app's own evaluation (docs/quality.md).
preflight (bench/preflight.py): the pre-flight's predicted sizes, memory and decode speed against a measured
conversion and run of SmolLM2-135M at fp16, int8 and int4 (`--size 1.7b` adds a model of SmolLM2-1.7B's shapes).
tune (bench/tune.py): Tune's winner against the best of an exhaustive sweep of the same candidates.
peers (bench/peers.py): llama.cpp (llama-cpp-python; `make bench-peers` installs it), the raw openvino_genai
engine with its defaults and as Tune left it, and the app's /chat, on the built-in GGUF.
Runs are interleaved so both sides see the same machine.
documents (bench/documents.py): indexing against TextEmbeddingPipeline alone on the same chunks, the store's search
and an answer's first token at 1k and 100k chunks, recall and citations on the documents' evaluation set, and the
reranker's plumbing (a tiny random cross-encoder: its cost, not its effect).
report (bench/report.py): docs/speed.md's figures made from the benches' JSON files (`--take bench-output`
takes new ones first; `--check` only compares).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .api import bench_api
from .chat import bench_chat
from .common import free_port, wait_for_page
from .convert import CONVERT_REPO, bench_convert, convert_table
from .engines import bench_engines
from .history import bench_history
from .image import bench_image
from .load import bench_load
from .peers import SIZES, bench_peers
from .quality import CASES, bench_quality
from .tune import bench_tune
from .vision import bench_vision

__all__ = ["convert_table", "free_port", "main", "wait_for_page"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genai_ui.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    chat_args = sub.add_parser("chat", help="the app's /chat against the raw LLMPipeline on the built-in model")
    chat_args.add_argument("--runs", type=int, default=5)
    chat_args.add_argument("--max-new-tokens", type=int, default=128)
    chat_args.add_argument("--output", type=Path, default=Path("bench-output"))
    api_args = sub.add_parser("api", help="the app's /v1/chat/completions, streamed, against the raw LLMPipeline")
    api_args.add_argument("--runs", type=int, default=15, help="interleaved runs (default 15: one pair's ratio "
                          "varies by ±8%% on 2 cores, and the median of 5 pairs by ±4%%)")
    api_args.add_argument("--max-new-tokens", type=int, default=128)
    api_args.add_argument("--output", type=Path, default=Path("bench-output"))
    vision_args = sub.add_parser("vision", help="the app's /caption against the raw VLMPipeline")
    vision_args.add_argument("--runs", type=int, default=5)
    vision_args.add_argument("--max-new-tokens", type=int, default=128)
    vision_args.add_argument("--model", type=Path, help="an OpenVINO vision-language model folder "
                             "(default: the bench's own, a LLaVA on SmolLM2 built by the test set-up)")
    vision_args.add_argument("--image", type=Path, help="the image (default: a 1280x960 photo-like JPEG)")
    vision_args.add_argument("--output", type=Path, default=Path("bench-output"))
    image_args = sub.add_parser("image", help="the app's /generate_image against the raw Text2ImagePipeline")
    image_args.add_argument("--runs", type=int, default=5)
    image_args.add_argument("--size", type=int, default=256)
    image_args.add_argument("--steps", type=int, default=20)
    image_args.add_argument("--preview-every", type=int, default=5)
    image_args.add_argument("--model", type=Path, help="an OpenVINO text-to-image model folder (default: the "
                            "bench's own, a random Stable Diffusion built by the test set-up)")
    image_args.add_argument("--output", type=Path, default=Path("bench-output"))
    load_args = sub.add_parser("load", help="many users chatting with the app at once, on the built-in model")
    load_args.add_argument("--users", type=int, default=8)
    load_args.add_argument("--minutes", type=float, default=2.0)
    load_args.add_argument("--output", type=Path, default=Path("bench-output"))
    history_args = sub.add_parser("history", help="a hostile chat history refused or trimmed, and another user "
                                  "meanwhile, on the built-in model")
    history_args.add_argument("--runs", type=int, default=5)
    history_args.add_argument("--kept-tokens", type=int, default=1024, help="the context left to the trimmed "
                              "conversation beside the reply asked for (its first token is measured); 8192: "
                              "all that fits beside an 8-token reply")
    history_args.add_argument("--output", type=Path, default=Path("bench-output"))
    engines_args = sub.add_parser("engines", help="one chat model on openvino_genai and on optimum-intel")
    engines_args.add_argument("--rounds", type=int, default=3)
    engines_args.add_argument("--runs", type=int, default=3)
    engines_args.add_argument("--max-new-tokens", type=int, default=128)
    engines_args.add_argument("--model", type=Path, help="an OpenVINO chat model folder with its Hugging Face "
                              "tokenizer (default: SmolLM2-135M-Instruct int4, built by the test set-up)")
    engines_args.add_argument("--options", action="store_true", help="also KV-cache precision, dynamic "
                              "quantization, the stateful engine, prompt lookup and speculative decoding")
    engines_args.add_argument("--output", type=Path, default=Path("bench-output"))
    convert_args = sub.add_parser("convert", help="the app's /convert_model against optimum-cli, a Hub checkpoint to "
                             "int4 (the Hub at HF_ENDPOINT)")
    convert_args.add_argument("--runs", type=int, default=2)
    convert_args.add_argument("--repo", default=CONVERT_REPO)
    convert_args.add_argument("--output", type=Path, default=Path("bench-output"))
    tune_args = sub.add_parser("tune", help="Tune's winner against the best of an exhaustive sweep of the same "
                                            "candidates, on the built-in model")
    tune_args.add_argument("--rounds", type=int, default=5)
    tune_args.add_argument("--model", type=Path, help="an OpenVINO chat model folder (default: the built-in GGUF)")
    tune_args.add_argument("--output", type=Path, default=Path("bench-output"))
    peers_args = sub.add_parser("peers", help="llama.cpp, the raw openvino_genai engine (defaults and tuned) and the "
                                              "app's /chat on the built-in GGUF")
    peers_args.add_argument("--runs", type=int, default=7)
    peers_args.add_argument("--max-new-tokens", type=int, default=256)
    peers_args.add_argument("--output", type=Path, default=Path("bench-output"))
    peers_args.add_argument("--size", choices=SIZES, default="135m",
                            help="135m: the built-in model; 1.7b: a model of SmolLM2-1.7B's shapes, random weights "
                                 "(built and cached the first time, a few minutes)")
    preflight_args = sub.add_parser("preflight", help="the pre-flight's predictions against measured conversions and "
                                                      "runs")
    preflight_args.add_argument("--size", action="append", choices=("135m", "1.7b"),
                                help="checkpoints to measure (repeatable; default: 135m)")
    preflight_args.add_argument("--precision", action="append", choices=("fp16", "int8", "int4"),
                                help="precisions (repeatable; default: all three)")
    preflight_args.add_argument("--output", type=Path, default=Path("bench-output"))
    documents_args = sub.add_parser("documents", help="indexing against TextEmbeddingPipeline alone, query latency "
                                                      "at 1k and 100k chunks, and recall on the evaluation set")
    documents_args.add_argument("--rounds", type=int, default=12)
    documents_args.add_argument("--output", type=Path, default=Path("bench-output"))
    quality_args = sub.add_parser("quality", help="the quality verdicts' calibration on SmolLM2-135M")
    quality_args.add_argument("--case", action="append", choices=[c[0] for c in CASES],
                              help="only this case (repeatable; default: all)")
    quality_args.add_argument("--output", type=Path, default=Path("bench-output"))
    report_args = sub.add_parser("report", help="docs/speed.md's figures, made from the benches' JSON files")
    report_args.add_argument("--take", type=Path, metavar="FOLDER", help="first copy the JSON files in FOLDER "
                             "(bench-output) into docs/bench, the results the page is made from")
    report_args.add_argument("--check", action="store_true", help="only say whether the page shows those figures")
    args = parser.parse_args(argv)
    if args.what == "report":
        from .report import main as report

        raise SystemExit(report(args.take, args.check))
    if args.what == "documents":
        from .documents import bench_documents

        bench_documents(args.output, args.rounds)
        return
    if args.what == "quality":
        bench_quality(args.output, tuple(args.case or ()))
        return
    if args.what == "preflight":
        from .preflight import bench_preflight

        bench_preflight(args.output, tuple(args.size or ("135m",)), tuple(args.precision or ("fp16", "int8", "int4")))
        return
    if args.what == "tune":
        bench_tune(args.output, args.model, args.rounds)
        return
    if args.what == "peers":
        bench_peers(args.runs, args.max_new_tokens, args.output, args.size)
        return
    if args.what == "load":
        bench_load(args.users, args.minutes, args.output)
        return
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    if args.what == "history" and args.kept_tokens < 64:
        parser.error("--kept-tokens must be 64 or more")
    if args.what == "chat":
        bench_chat(args.runs, args.max_new_tokens, args.output)
    elif args.what == "api":
        bench_api(args.runs, args.max_new_tokens, args.output)
    elif args.what == "vision":
        bench_vision(args.runs, args.max_new_tokens, args.output, args.model, args.image)
    elif args.what == "history":
        bench_history(args.runs, args.output, args.kept_tokens)
    elif args.what == "engines":
        bench_engines(args.rounds, args.runs, args.max_new_tokens, args.output, args.model, args.options)
    elif args.what == "image":
        bench_image(args.runs, args.size, args.steps, args.preview_every, args.output, args.model)
    else:
        bench_convert(args.runs, args.repo, args.output)
