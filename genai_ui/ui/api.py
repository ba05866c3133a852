"""The named API endpoints (gradio_client and MCP). Names and parameters follow DESIGN.md."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import gradio as gr
from gradio.data_classes import FileData

from ..access import check_engine_options
from ..convert.jobs import Registered
from ..convert.options import ExportOptions
from ..engines.llm import GenerationParams
from ..engines.options import EngineOptions
from ..engines.pipelines import MAX_BATCH
from ..errors import InvalidParameter
from ..hub.client import details
from ..run.image import ImageParams, ImageResult
from ..run.vision import DEFAULT_PROMPT
from ..services import Services
from ..work.background import Finished, Progress, Stage
from ..work.queue import Waiting, WorkQueue
from .caller import caller_of
from .errors import user_errors
from .outputs import save_pngs

# Replies from the page and the API share one limit: as many as the engine batches together
# (the others wait in Gradio's queue and see their place in it).
CHAT_EVENTS = dict(concurrency_id="chat", concurrency_limit=MAX_BATCH)
# Long calls that return one result still stream something this often: Gradio's queue notices a
# client that went away only between two messages, and then stops the work.
HEARTBEAT = 1.0


def register_api(services: Services) -> None:
    """Call inside a gr.Blocks context: every endpoint, in the order of DESIGN.md's table."""
    from .documents_api import register_documents_api

    _run_endpoints(services)
    _hub_endpoints(services)
    _convert_endpoints(services)
    register_documents_api(services, CHAT_EVENTS)


def _run_endpoints(services: Services) -> None:
    """Devices, the library, and running models: chat, caption, images, benchmark, engine options."""

    @user_errors
    def devices() -> list[dict]:
        """List the devices OpenVINO can run models on here, as {id, name}."""
        return [d.to_api() for d in services.devices.list()]

    @user_errors
    def local_models(task: str = "", request: gr.Request | None = None) -> list[dict]:
        """List the models in the local library: id, task, format, weight format, size, source.

        Args:
            task: only models of this task (text-generation, image-text-to-text, text-to-image); empty for all.
        """
        return [e.to_api() for e in services.access.list(caller_of(services.settings, request), task)]

    @user_errors
    def chat(message: str, history: list[dict] | None = None, model: str = "", system_prompt: str = "",
             max_new_tokens: int = 512, temperature: float = 0.7, top_p: float = 0.9, top_k: int = 50,
             repetition_penalty: float = 1.0, seed: int = -1, device: str = "",
             request: gr.Request | None = None) -> Iterator[str]:
        """Chat with a text-generation model of the local library; streams the reply as it grows.

        Args:
            message: the new user message.
            history: the conversation so far, a list of {role, content} with roles user and assistant.
            model: a model id from local_models; empty for the default model.
            system_prompt: instructions for the model; empty for none.
            max_new_tokens: the longest reply, in tokens.
            temperature: randomness of sampling; 0 picks the likeliest token every time (greedy).
            top_p: sample only from the likeliest tokens whose probabilities add up to this.
            top_k: sample only from this many likeliest tokens; 0 for no limit.
            repetition_penalty: above 1.0 discourages repeating tokens.
            seed: the random seed, so a sampled reply can be reproduced; -1 draws a new one.
            device: CPU, GPU, NPU or AUTO (see devices); empty for the default.
        """
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                  top_k=top_k, repetition_penalty=repetition_penalty, seed=seed)
        for update in services.chat.reply(message=message, history=history or [], model=model, device=device,
                                          system_prompt=system_prompt, params=params, cancel=threading.Event(),
                                          caller=caller_of(services.settings, request)):
            yield update.text

    @user_errors
    def caption(image: FileData, prompt: str = DEFAULT_PROMPT, model: str = "", max_new_tokens: int = 256,
                device: str = "", request: gr.Request | None = None) -> Iterator[str]:
        """Ask a vision model of the local library about an image (by default, to describe it); streams the
        answer as it grows. The answer is greedy: the same image and prompt give the same answer.

        Args:
            image: the image file (PNG, JPEG, WebP, GIF, BMP or TIFF); in gradio_client, handle_file("photo.jpg").
            prompt: the question about the image.
            model: an image-text-to-text model id from local_models; empty for the first one.
            max_new_tokens: the longest answer, in tokens.
            device: CPU, GPU, NPU or AUTO (see devices); empty for the default.
        """
        path, name = uploaded_file(image)
        for update in services.vision.caption(image=path, name=name, prompt=prompt, model=model, device=device,
                                              max_new_tokens=max_new_tokens, cancel=threading.Event(),
                                              caller=caller_of(services.settings, request)):
            yield update.text

    @user_errors
    def generate_image(prompt: str, negative_prompt: str = "", model: str = "", width: int = 512, height: int = 512,
                       steps: int = 20, guidance_scale: float = 7.5, seed: int = -1, num_images: int = 1,
                       device: str = "", request: gr.Request | None = None) -> Iterator[list[FileData]]:
        """Generate images from a prompt with a text-to-image model of the local library. Ends with the PNG files
        (an empty list streams while the steps run; a client that leaves stops the work); each carries its
        parameters (prompt, negative prompt, seed, steps, guidance, size, model) in a text chunk.

        Args:
            prompt: what the image shows.
            negative_prompt: what it should not show.
            model: a text-to-image model id from local_models; empty for the first one.
            width: in pixels, a multiple of the model's step (8 for Stable Diffusion), 64 to 2048.
            height: in pixels, as width.
            steps: denoising steps, 1 to 150.
            guidance_scale: how closely to follow the prompt, 0 to 30.
            seed: the random seed, so an image can be made again; -1 draws a new one (it is in the PNG).
            num_images: how many images, 1 to 8.
            device: CPU, GPU, NPU or AUTO (see devices); empty for the default.
        """
        params = ImageParams(prompt=prompt, negative_prompt=negative_prompt, width=width, height=height, steps=steps,
                             guidance_scale=guidance_scale, seed=seed, num_images=num_images)
        last = time.monotonic()
        for event in services.images.generate(params=params, model=model, device=device,
                                              caller=caller_of(services.settings, request)):
            if isinstance(event, ImageResult):
                yield [FileData(path=path) for path in save_pngs(event)]
            elif time.monotonic() - last >= HEARTBEAT:  # a step: the queue sees whether its client is still there
                last = time.monotonic()
                yield []

    @user_errors
    def benchmark(model: str = "", device: str = "", prompt: str = "", max_new_tokens: int = 128,
                  runs: int = 3, engine: str = "genai", request: gr.Request | None = None) -> dict:
        """Measure a chat model's speed: medians of time to first token, time per output token and
        tokens/s, with its load time and the server's memory (peak_rss_bytes, and rss_bytes after the runs);
        also the model, device, engine and engine options measured, and the accepted tokens of speculative
        decoding or prompt lookup.

        Args:
            model: a model id from local_models; empty for the default model.
            device: CPU, GPU, NPU or AUTO; empty for the default.
            prompt: the prompt to answer; empty for a standard one.
            max_new_tokens: tokens to generate in each run.
            runs: how many runs to take the median of (1 to 20).
            engine: genai (openvino_genai, with the engine options remembered for the model) or optimum
                (optimum-intel's OVModelForCausalLM).
        """
        return services.benchmark.run(model=model, device=device, prompt=prompt, max_new_tokens=max_new_tokens,
                                      runs=runs, engine=engine, caller=caller_of(services.settings, request)).to_api()

    @user_errors
    def engine_options(model: str = "", device: str = "", request: gr.Request | None = None) -> dict:
        """The engine options remembered for a chat model of the library on a device (see set_engine_options).

        Args:
            model: a text-generation model id from local_models; empty for the default model.
            device: CPU, GPU, NPU or AUTO; empty for the default.
        """
        caller = caller_of(services.settings, request)
        entry = services.chat.access.view(caller).get(services.chat.model_id(model, caller), task="text-generation")
        device = services.devices.resolve(device)
        return {"model": entry.id, "device": device, **services.chat.options.get(entry.id, device).to_api()}

    @user_errors
    def set_engine_options(model: str = "", device: str = "", draft_model: str = "", assistant_tokens: int = 5,
                           prompt_lookup: bool = False, kv_cache_precision: str = "", dq_group_size: int = -1,
                           engine: str = "batching", inference_precision: str = "", threads: int = 0,
                           request: gr.Request | None = None) -> dict:
        """Choose how the engine runs a chat model, reload it once with that choice, and remember it for the
        model on that device (chat and benchmark then use it). Returns the options with the device and the load
        time (load_ms).

        Args:
            model: a text-generation model id from local_models; empty for the default model.
            device: CPU, GPU, NPU or AUTO; empty for the default.
            draft_model: speculative decoding with this smaller model of the library (same tokenizer); empty for none.
            assistant_tokens: tokens the draft (or prompt lookup) proposes per step, 1 to 32.
            prompt_lookup: propose tokens found in the prompt itself (not with a draft).
            kv_cache_precision: f16, u8 or u4; empty for the device's default.
            dq_group_size: dynamic quantization group size: 0 (off), 32, 64, 128 or 256; -1 for the device's default.
            engine: batching (openvino_genai, many replies at once), stateful (openvino_genai, one reply at a time,
                its compiled model cached) or optimum (optimum-intel's OVModelForCausalLM); draft and prompt lookup
                need batching.
            inference_precision: f32, bf16 or f16, what the device computes in (one it lists); empty for its default.
            threads: inference threads, 1 to 1024; 0 for all the device's cores.

        On a shared deployment (a Space, a share link, another address than the loopback one) the options are the
        operator's: refused unless the app was started with --allow-engine-options.
        """
        caller = caller_of(services.settings, request)
        check_engine_options(services.settings, caller)
        options = EngineOptions(draft_model=draft_model, assistant_tokens=assistant_tokens,
                                prompt_lookup=bool(prompt_lookup), kv_cache_precision=kv_cache_precision,
                                dq_group_size=dq_group_size, engine=engine, inference_precision=inference_precision,
                                threads=threads)
        loaded = services.chat.set_options(model=model, device=device, options=options, caller=caller)
        return {"model": loaded.entry.id, "device": loaded.device, "load_ms": loaded.load_ms, **options.to_api()}

    @user_errors
    def tune_model(model: str = "", device: str = "", apply: bool = True, request: gr.Request | None = None) -> dict:
        """Find the fastest engine options for a chat model on a device, measured on this machine: short greedy
        probes of each setting's values (inference precision, engine, dynamic quantization, KV-cache precision,
        threads), interleaved, medians. A variant whose greedy answer differs is reported and never chosen. The
        winner is applied and remembered for the model on the device. Takes one to a few minutes.

        Args:
            model: a text-generation model id from local_models; empty for the default model.
            device: CPU, GPU, NPU or AUTO; empty for the default.
            apply: apply and remember the winner (false: measure only).

        Returns the rows measured (tokens/s, first token, whether the answer was the same, which was chosen), the
        winner, its speed-up over the defaults and the processor it was measured on. On a shared deployment it
        changes the engine options, so it follows their rule (--allow-engine-options).
        """
        return services.tune.tune(model=model, device=device, apply=bool(apply),
                                  caller=caller_of(services.settings, request)).to_api()

    gr.api(chat, api_name="chat", **CHAT_EVENTS)
    for fn in (devices, local_models, caption, generate_image, benchmark, engine_options, set_engine_options,
               tune_model):
        gr.api(fn, api_name=fn.__name__)


def _hub_endpoints(services: Services) -> None:
    """Search, details and downloads, each with the caller's own token."""

    @user_errors
    def search_models(query: str = "", task: str = "", sort: str = "downloads", limit: int = 20,
                      openvino_only: bool = False, gguf_only: bool = False,
                      request: gr.Request | None = None) -> list[dict]:
        """Search the Hugging Face Hub for models, each with whether it runs here and its estimated size.

        Args:
            query: words in the repo id; empty lists the top models.
            task: text-generation, image-text-to-text or text-to-image; empty for all.
            sort: downloads, likes, trending or recent.
            limit: how many models, 1 to 100.
            openvino_only: only repos that already hold OpenVINO IR.
            gguf_only: only repos that hold GGUF files.
        """
        return [m.to_api() for m in services.hub.search(query=query, task=task, sort=sort, limit=limit,
                                                         openvino_only=openvino_only, gguf_only=gguf_only,
                                                         token=caller_of(services.settings, request).hub_token)]

    @user_errors
    def model_details(repo_id: str, request: gr.Request | None = None) -> dict:
        """One Hub model in detail: task, architecture, whether it runs here (and why not), its files
        with sizes, estimated sizes per weight format, license, model card, and its GGUF files; and the
        pre-flight: per precision, the download, the disk and peak memory to convert, the memory to run, the
        predicted decode speed on this machine, and whether each fits (the first call measures the machine).

        Args:
            repo_id: the Hub repo, as owner/name.
        """
        about = details(services.hub, repo_id, caller_of(services.settings, request).hub_token)
        return {**about.to_api(), "preflight": services.conversions.preflight(about)}

    @user_errors
    def download_model(repo_id: str, revision: str = "main", request: gr.Request | None = None) -> dict:
        """Fetch a Hub model that runs here into the local library: a repo holding OpenVINO IR, or the
        recommended GGUF file of a GGUF repo. Returns {id, location, size_bytes}; the id is what chat takes.

        Args:
            repo_id: the Hub repo, as owner/name.
            revision: a branch, tag, commit or refs/pr/N (shared: a branch or tag); not main: an id of its own.
        """
        caller = caller_of(services.settings, request)
        for event in services.downloads.download(caller=caller, repo_id=repo_id, revision=revision,
                                                 cancel=threading.Event()):
            entry = event.result if isinstance(event, Finished) else None
        return {"id": entry.id, "location": entry.location, "size_bytes": entry.size_bytes}

    for fn in (search_models, model_details):  # network-bound: several at once
        gr.api(fn, api_name=fn.__name__, concurrency_limit=4)
    gr.api(download_model, api_name="download_model", **line_events(services.downloads.line))


def _convert_endpoints(services: Services) -> None:
    """Conversions, which stream their progress and stop when their client leaves."""

    @user_errors
    def convert_model(repo_id: str, weight_format: str = "int4", group_size: int = 0, ratio: float = 1.0,
                      sym: bool = False, awq: bool = False, scale_estimation: bool = False, dataset: str = "",
                      trust_remote_code: bool = False, evaluate: bool = True, request: gr.Request | None = None,
                      profile: gr.OAuthProfile | None = None, oauth: gr.OAuthToken | None = None) -> Iterator[dict]:
        """Export a Hub checkpoint (Transformers or Diffusers) to OpenVINO IR with optimum-intel, compress its
        weights with NNCF, check it, and add it to the library. Streams its progress ({status, stage, done,
        total, unit, place}; from the registration on, also the new model's id) and ends with the report: id,
        location, task, seconds, source_bytes, output_bytes, peak_rss_bytes, options, and for a compressed chat
        model its quality against the uncompressed export (KL divergence, top-1 agreement, perplexity, and the
        answers side by side) and its speed. A client that leaves cancels it: nothing is added, or, once the
        model is registered, its evaluation stops and the model stays with the quick check's figures.

        Args:
            repo_id: the Hub repo of the checkpoint, as owner/name.
            weight_format: fp32, fp16, int8, int4, nf4, mxfp4 or cb4.
            group_size: weights per quantization group for 4-bit formats; 0 picks one that fits the model; -1 per channel.
            ratio: share of layers at 4 bits (the rest at 8 bits), above 0 and at most 1.
            sym: symmetric quantization (no zero points).
            awq: apply AWQ (activation-aware weight quantization); data-free without a dataset.
            scale_estimation: apply scale estimation (needs a dataset).
            dataset: calibration data: "auto" (the model's own generations) or empty for none.
            trust_remote_code: run Python code the repo carries; only for repos you trust.
            evaluate: after registering a compressed chat model, measure it fully (about a minute for a small
                model; the stage "evaluate"); False ends at the registration, with the quick check's figures.
        """
        options = ExportOptions(weight_format=weight_format, group_size=int(group_size), ratio=float(ratio),
                                sym=bool(sym), awq=bool(awq), scale_estimation=bool(scale_estimation),
                                dataset=dataset or "", trust_remote_code=bool(trust_remote_code))
        cancel = threading.Event()
        yield from followed(services.conversions.convert(
            caller=caller_of(services.settings, request, profile, oauth), repo_id=repo_id, options=options,
            cancel=cancel, tick=HEARTBEAT, evaluate=bool(evaluate)), cancel)

    @user_errors
    def compress_model(model: str, weight_format: str = "int4", group_size: int = 0, ratio: float = 1.0,
                       sym: bool = False, evaluate: bool = True, request: gr.Request | None = None,
                       profile: gr.OAuthProfile | None = None) -> Iterator[dict]:
        """Compress the weights of an OpenVINO model of the library again with NNCF, into a new library model (the
        original stays). Streams its progress and ends with the report, as convert_model.

        Args:
            model: a model id from local_models (an OpenVINO model with 16-bit weights).
            weight_format: int8, int4, nf4, mxfp4 or cb4.
            group_size: weights per quantization group for 4-bit formats; 0 picks one that fits the model; -1 per channel.
            ratio: share of layers at 4 bits (the rest at 8 bits), above 0 and at most 1.
            sym: symmetric quantization (no zero points).
            evaluate: after registering it, measure it fully against the original; False ends at the registration.
        """
        options = ExportOptions(weight_format=weight_format, group_size=int(group_size), ratio=float(ratio),
                                sym=bool(sym))
        cancel = threading.Event()
        yield from followed(services.conversions.compress(
            caller=caller_of(services.settings, request, profile), model=model, options=options, cancel=cancel,
            tick=HEARTBEAT, evaluate=bool(evaluate)), cancel)

    @user_errors
    def evaluate_model(model: str, reference: str = "", request: gr.Request | None = None,
                       profile: gr.OAuthProfile | None = None) -> Iterator[dict]:
        """Measure a chat model of the library against a reference, as a conversion's evaluation does: perplexity,
        KL divergence and top-1 agreement of their next-token distributions on a fixed text (when both are
        OpenVINO IR), and their greedy answers to 16 prompts compared by sentence embeddings (a vision model: its
        language model token by token, with a picture in the prompt; no answers). Streams its progress
        as convert_model does and ends with {model, reference, quality, precisions, saved}; the report is kept
        with the model (saved) when you may change it: you added it, or you run this machine.

        Args:
            model: a chat or vision model id from local_models.
            reference: the model to measure it against, of the same task; empty: the library model it was made
                from (a compressed model's 16-bit original).
        """
        cancel = threading.Event()
        yield from followed(services.conversions.evaluate(
            caller=caller_of(services.settings, request, profile), model=model, reference=reference or "",
            cancel=cancel, tick=HEARTBEAT), cancel)

    @user_errors
    def find_best_compression(repo_id: str, candidates: str = "", request: gr.Request | None = None,
                              profile: gr.OAuthProfile | None = None,
                              oauth: gr.OAuthToken | None = None) -> Iterator[dict]:
        """Find the best compression of a Hub checkpoint for this machine: one fp16 export, compressed at each
        candidate's settings, each measured (KL divergence, top-1 agreement, answers, decode speed on this
        machine). Streams its progress as convert_model does and ends with {search, repo_id, rows, recommended,
        rule, reference_bytes, seconds, stopped, device}; each row is {name, label, options, bytes, verdict, kl_mean,
        top1_agreement, answer_similarity, tokens_per_s, pareto, command, …} or {name, label, skipped}. Nothing
        enters the library until keep_candidates; the candidates are deleted after an hour. A client that leaves
        stops it.

        Args:
            repo_id: the Hub repo of the checkpoint, as owner/name.
            candidates: comma-separated names among int8, int4-g128, int4-g64, int4-awq, nf4, int4-mixed; empty
                for all.
        """
        cancel = threading.Event()
        yield from followed(services.conversions.find_best(
            caller=caller_of(services.settings, request, profile, oauth), repo_id=repo_id, names=candidates or "",
            cancel=cancel, tick=HEARTBEAT), cancel)

    @user_errors
    def keep_candidates(search: str, keep: str, request: gr.Request | None = None,
                        profile: gr.OAuthProfile | None = None) -> list[dict]:
        """Keep candidates of your own finished find_best_compression in the library; the others are deleted.
        Returns the new library entries.

        Args:
            search: the search's id, from find_best_compression's result.
            keep: comma-separated candidate names to keep (empty: keep none, delete all).
        """
        names = [n.strip() for n in (keep or "").split(",") if n.strip()]
        return [e.to_api() for e in services.conversions.keep_candidates(
            caller=caller_of(services.settings, request, profile), search=search, keep=names)]

    gr.api(keep_candidates, api_name="keep_candidates", concurrency_limit=2)
    # one at a time: the others wait in the app's own line
    for fn in (convert_model, compress_model, evaluate_model, find_best_compression):
        gr.api(fn, api_name=fn.__name__, **line_events(services.conversions.line))


def followed(events: Iterator, cancel: threading.Event) -> Iterator[dict]:
    """A conversion's progress for an API client: each stage as it starts, the rest at most every
    HEARTBEAT seconds and at least that often (so Gradio's queue sees a client that left, and closes
    this: the job stops), then its report."""
    state: dict = {"status": "starting"}
    last = time.monotonic()
    try:
        for event in events:
            if isinstance(event, Finished):
                yield event.result if isinstance(event.result, dict) else event.result.to_api()
                return
            if isinstance(event, Registered):  # the model is usable from here on; its evaluation follows
                state = {**state, "id": event.report.id}
                continue
            if isinstance(event, Waiting):
                state = {"status": "waiting", "place": event.place}
            elif isinstance(event, Stage):
                state = {"status": "running", "stage": event.name.lower(), "step": event.index, "steps": event.count,
                         **({"id": state["id"]} if "id" in state else {})}
            elif isinstance(event, Progress):
                state = {**state, "done": event.done, "total": event.total, "unit": event.unit}
            if isinstance(event, (Stage, Waiting)) or time.monotonic() - last >= HEARTBEAT:
                last = time.monotonic()
                yield dict(state)
    except GeneratorExit:  # the client went away
        cancel.set()
        raise


def line_events(queue: WorkQueue) -> dict:
    """The page's and the API's events of one kind of heavy work (conversions, downloads) share a
    Gradio limit wide enough for the app's own line, which runs them one at a time, tells each
    its place and refuses when full."""
    return dict(concurrency_id=f"{queue.kind}s", concurrency_limit=queue.slots + queue.max_waiting)


def uploaded_file(value) -> tuple[str, str]:
    """(path, original name) of a file sent with the call. Only files Gradio received with the
    request are read (it checks those): a bare path string could name any file on the server."""
    if isinstance(value, dict) and (value.get("meta") or {}).get("_type") == "gradio.FileData" and value.get("path"):
        return value["path"], value.get("orig_name") or ""
    raise InvalidParameter("image must be an image file sent with the call: in gradio_client, "
                           "handle_file('photo.jpg').")
