"""One owner of loaded pipelines: loads lazily, keeps one per task, unloads what it replaces.

A table maps a task to the openvino_genai pipeline that runs it: adding a task is
adding a row.
"""

from __future__ import annotations

import gc
import logging
import re
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import tasks
from ..errors import ModelLoadError, first_line
from ..gguf import read_gguf_info
from ..library import ModelEntry
from .batching import BatchingLLM
from .loaded import LoadedPipeline
from .optimum import OptimumLLM, needs_optimum
from .options import EngineOptions, saved_ir_files
from .stateful import StatefulLLM
from .text2image import load_image_pipelines as image_pipelines

log = logging.getLogger(__name__)


def load_llm(entry: ModelEntry, device: str, options: EngineOptions | None = None, cache_dir: str = "",
             read_gguf: bool = False) -> Any:
    """Through the continuous batching scheduler, so the sessions' replies run together; on an
    NPU (which has no such scheduler), or when asked for the stateful engine, the plain
    LLMPipeline, one reply at a time; a model openvino_genai cannot run, through optimum-intel.
    A GGUF is read as it is the first time, while a background process saves the IR the engine
    builds from it beside it: later loads read that IR in less than half the time (`read_gguf`: the
    GGUF all the same, as tune compares them)."""
    options = options or EngineOptions()
    if entry.format != "gguf":
        return _load_ir(entry, device, options, cache_dir)
    if options.engine == "optimum":
        raise ModelLoadError(f"The Optimum Intel engine runs OpenVINO IR models; '{entry.id}' is a GGUF.")
    folder = entry.load_path.parent
    if read_gguf:
        check_gguf(entry)
        return _llm_pipeline(str(entry.load_path), device, options, cache_dir)
    if all(f.is_file() for f in saved_ir_files(entry)):
        try:
            return _llm_pipeline(str(folder), device, options, cache_dir)
        except RuntimeError:  # a save cut short: build it again from the GGUF
            log.warning("The IR saved beside %s is unreadable; reading the GGUF again", entry.id)
    for f in saved_ir_files(entry):
        f.unlink(missing_ok=True)
    check_gguf(entry)
    save_gguf_ir(entry)
    return _llm_pipeline(str(entry.load_path), device, options, cache_dir)


def _load_ir(entry: ModelEntry, device: str, options: EngineOptions, cache_dir: str) -> Any:
    """openvino_genai first; a model whose attention it cannot page runs on its stateful engine, and
    one it cannot run at all (no OpenVINO tokenizer, an architecture it does not know) on optimum-intel."""
    folder = entry.load_path
    why = needs_optimum(folder)
    if options.engine == "optimum" or why:
        if why:
            log.info("%s runs on the Optimum Intel engine: %s", entry.id, why)
        return OptimumLLM(folder, device, _properties(options, device, cache_dir, paged=False))
    try:
        return _llm_pipeline(str(folder), device, options, cache_dir)
    except RuntimeError as err:
        if "ScaledDotProductAttention" in str(err) and options.engine == "batching" and not options.assisted:
            log.info("%s has no attention the batching engine can page: one reply at a time", entry.id)
            try:
                return _llm_pipeline(str(folder), device, replace(options, engine="stateful"), cache_dir)
            except RuntimeError as stateful_err:
                err = stateful_err
        if not (folder / "tokenizer_config.json").is_file():
            raise err
        log.info("openvino_genai cannot run %s (%s): trying the Optimum Intel engine", entry.id, first_line(err))
        try:
            return OptimumLLM(folder, device, _properties(options, device, cache_dir, paged=False))
        except Exception:  # the first engine's reason is the one to tell
            raise err from None


def _properties(options: EngineOptions, device: str, cache_dir: str, paged: bool) -> dict[str, Any]:
    props = options.properties()
    if cache_dir and compile_cache_works(device, paged=paged):
        props["CACHE_DIR"] = cache_dir
    return props


def save_gguf_ir(entry: ModelEntry, wait: bool = False) -> None:
    """Save the IR openvino_genai builds from a GGUF beside it, in a process of its own at the lowest
    priority (only LLMPipeline saves the tokenizer with the model). Files appear when complete; a
    save cut short leaves a set the next load sees incomplete and rebuilds."""
    import os
    import subprocess
    import sys

    work = entry.load_path.parent / ".gguf"
    if work.exists():
        if time.time() - work.stat().st_mtime < 600:  # another load is saving it now
            return
        shutil.rmtree(work, ignore_errors=True)
    process = subprocess.Popen(
        ["nice", "-n", "19", sys.executable, "-m", "genai_ui.convert.worker", "gguf-ir", "--gguf",
         str(entry.load_path), "--output", str(entry.load_path.parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True,
        env={k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")},
        cwd=Path(__file__).resolve().parents[2])  # where genai_ui is found, wherever the app was started
    if wait:
        process.wait()
    else:  # reaped when it ends
        threading.Thread(target=process.wait, name="genai_ui-save-ir", daemon=True).start()


MAX_BATCH = 32  # sequences the engine runs at once; more wait in its queue, so memory stays bounded


def _llm_pipeline(source: str, device: str, options: EngineOptions, cache_dir: str) -> Any:
    import openvino_genai as og

    stateful = options.engine == "stateful" or device.startswith("NPU")
    props = _properties(options, device, cache_dir, paged=not stateful)
    if options.draft_path:
        props["draft_model"] = og.draft_model(options.draft_path, device, **options.properties())
    if options.prompt_lookup:
        props["prompt_lookup"] = True
    if stateful:
        if not device.startswith("NPU"):
            props["ATTENTION_BACKEND"] = "SDPA"  # LLMPipeline's default on CPU and GPU is the paged one
        return StatefulLLM(og.LLMPipeline(source, device, **props))

    scheduler = og.SchedulerConfig()
    scheduler.max_num_seqs = MAX_BATCH
    # As LLMPipeline does: a conversation's next prompt starts with the last one, whose KV blocks
    # are still there; freed blocks are reused before the cache grows (the load bench's memory).
    scheduler.enable_prefix_caching = True
    return BatchingLLM(og.ContinuousBatchingPipeline(source, scheduler, device, props), options.assisted)


def compile_cache_works(device: str, paged: bool) -> bool:
    """OpenVINO 2026.4 writes a paged-attention model compiled for the CPU to the cache but cannot
    read it back (its IR reader does not know the PagedAttentionExtension op), so every load would
    compile again and rewrite hundreds of megabytes: on the CPU only models without paged attention
    (the stateful engine, image models) use the cache. GPU and NPU caches hold their own blobs."""
    return not paged or device.startswith(("GPU", "NPU"))


def check_gguf(entry: ModelEntry) -> None:
    """The engine crashes the whole process on a cut-short GGUF: refuse it first."""
    info = read_gguf_info(entry.load_path)
    if not info.complete:
        raise ModelLoadError(f"'{entry.id}' is incomplete: its file has {info.file_size:,} of the "
                             f"{info.required_size:,} bytes it needs. Delete it and fetch it again.")


def load_image_pipelines(entry: ModelEntry, device: str, adapters: tuple[str, ...] = (), cache_dir: str = "") -> Any:
    return image_pipelines(entry, device, adapters, cache_dir if compile_cache_works(device, paged=False) else "")


def load_vlm(entry: ModelEntry, device: str, cache_dir: str = "") -> Any:
    import openvino_genai as og

    props = {"CACHE_DIR": cache_dir} if cache_dir and compile_cache_works(device, paged=True) else {}
    try:
        return og.VLMPipeline(str(entry.load_path), device, **props)
    except RuntimeError as err:
        unsupported = re.search(r"Unsupported '([^']+)' VLM model type", str(err))
        if unsupported:
            raise ModelLoadError(f"'{entry.id}' cannot run here: openvino_genai's VLMPipeline does not run the "
                                 f"{unsupported.group(1)} architecture.") from err
        raise


class PipelineManager:
    def __init__(self, cache_dir: Path | None = None) -> None:
        """`cache_dir`: where OpenVINO keeps compiled models, so a second load of one skips compiling. Each
        task's loader is named in its row of tasks.py."""
        self.cache_dir = cache_dir
        self._loaded: dict[str, LoadedPipeline] = {}
        self._lock = threading.Lock()

    def get(self, entry: ModelEntry, device: str, adapters: tuple[str, ...] = (),
            options: EngineOptions | None = None) -> LoadedPipeline:
        """The pipeline for this model on this device (with these LoRA adapters, or these engine
        options), loading it (and unloading the task's previous one) when needed."""
        with self._lock:
            current = self._loaded.get(entry.task)
            if (current and current.entry.location == entry.location and current.device == device
                    and current.adapters == adapters and current.options == options):
                return current
            if current:
                log.info("Unloading %s from %s", current.entry.id, current.device)
                del self._loaded[entry.task]
                current.close()
                del current
                gc.collect()  # release the old weights before the new ones arrive
            loaded = self._load(entry, device, adapters, options)
            self._loaded[entry.task] = loaded
            return loaded

    def loaded(self, task: str = "") -> list[tuple[str, str]]:
        """(model id, device) of every pipeline in memory, or of the one of this task."""
        with self._lock:
            return [(p.entry.id, p.device) for t, p in self._loaded.items() if not task or t == task]

    def current(self, task: str) -> LoadedPipeline | None:
        with self._lock:
            return self._loaded.get(task)

    def unload(self, model_id: str) -> None:
        """Let go of the model, and of any model that drafts with it."""
        with self._lock:
            for task, p in list(self._loaded.items()):
                if p.entry.id == model_id or (p.options and p.options.draft_model == model_id):
                    del self._loaded[task]
                    p.close()
            gc.collect()

    def close(self) -> None:
        """At exit: every pipeline let go once its engine is idle."""
        with self._lock:
            for loaded in self._loaded.values():
                loaded.close(wait=10.0)
            self._loaded.clear()

    def _load(self, entry: ModelEntry, device: str, adapters: tuple[str, ...] = (),
              options: EngineOptions | None = None) -> LoadedPipeline:
        row = tasks.task(entry.task)
        if not entry.load_path.exists():
            raise ModelLoadError(f"The files of '{entry.id}' are missing ({entry.load_path}); "
                                 "delete it from the library and fetch it again.")
        log.info("Loading %s on %s%s", entry.id, device, f" ({options.describe()})" if options else "")
        extra: dict[str, Any] = {"cache_dir": str(self.cache_dir)} if self.cache_dir else {}
        if adapters:  # LoRA adapters are part of the compiled model in openvino_genai: a new set means a new load
            extra["adapters"] = adapters
        if options is not None:
            extra["options"] = options
        start = time.perf_counter()
        try:
            pipeline = row.load(entry, device, **extra)
        except RuntimeError as err:
            raise ModelLoadError(f"'{entry.id}' could not be loaded on {device}: {first_line(err)}") from err
        return LoadedPipeline(pipeline, entry, device, (time.perf_counter() - start) * 1000, adapters, options)
