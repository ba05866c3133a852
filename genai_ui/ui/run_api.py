"""The endpoints of the models that run here (gradio_client and MCP): devices, the library, chat, caption,
images, benchmark and engine options."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import gradio as gr
from gradio.data_classes import FileData

from ..access import check_engine_options
from ..engines.llm import GenerationParams
from ..engines.options import EngineOptions
from ..run.image import ImageParams, ImageResult
from ..run.vision import DEFAULT_PROMPT
from ..services import Services
from .caller import caller_of
from .endpoints import CHAT_EVENTS, HEARTBEAT, uploaded_file
from .errors import user_errors
from .outputs import save_pngs


def register_run_api(services: Services) -> None:
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
