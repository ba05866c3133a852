"""Fetch a Hub model into the library, with byte progress and cancel.

Files go to the standard Hugging Face cache (shared with other tools; an interrupted
download resumes there), then are linked into a staging folder of the library and moved
into place only when complete: a cancelled or failed download leaves nothing in the library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Callable

from .errors import NotAvailable, UserError
from .gguf_meta import read_gguf_info
from .hub import HubService, details
from .library import Library, ModelEntry, check_model_id

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)
IR_MARKERS = ("openvino_model.xml", "openvino_language_model.xml")


class DownloadCancelled(UserError):
    def __init__(self) -> None:
        super().__init__("Download cancelled: nothing was added to the library (what came so far stays in the "
                         "Hugging Face cache, so a new download resumes it).")


class _Quiet:
    """A stream that drops what tqdm draws (an open os.devnull per file would leak a descriptor)."""

    def write(self, _: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _tracking(on_progress: Progress | None, cancel: threading.Event | None):
    """A tqdm class that reports bytes and raises when cancelled (huggingface_hub updates it per chunk)."""
    from tqdm.auto import tqdm

    class Tracked(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = False
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs, file=_Quiet())  # counts bytes, draws nothing

        def update(self, n=1):
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled()
            super().update(n)
            if on_progress and self.total:
                on_progress(int(self.n), int(self.total))

    return Tracked


def download_model(*, hub: HubService, library: Library, repo_id: str, revision: str = "main", filename: str = "",
                   token: str = "", cache_dir: Path | None = None, on_progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> ModelEntry:
    """An OpenVINO IR repo or a GGUF file into the library, ready to run."""
    about = details(hub, repo_id, token)
    if not about.supported:
        raise NotAvailable(f"{repo_id} cannot run here: {about.reason}.")
    names = [f["name"] for f in about.files]
    local_id = check_model_id(about.id.split("/")[-1] + (f"-{Path(filename).stem}" if filename else ""))
    if about.gguf_files:
        chosen = filename or next((f["name"] for f in about.gguf_files if f["loadable"]), "")
        if chosen not in names:
            raise UserError(f"{repo_id} has no GGUF file '{chosen}' that openvino_genai can load.")
        wanted = [f for f in about.files if f["name"] == chosen]
    elif any(n.split("/")[-1] in IR_MARKERS for n in names):
        wanted = about.files
    else:
        raise NotAvailable(f"{repo_id} holds a checkpoint, not an OpenVINO model: convert it to OpenVINO first.")
    paths = hub.call(lambda api: _fetch(hub, about.id, revision, wanted, token, cache_dir, on_progress, cancel), token)
    if about.gguf_files:
        (path,) = paths
        quant = next(f["quantization"] for f in about.gguf_files if f["name"] == chosen)
        return _install(library, local_id, {chosen: path}, about, "gguf", chosen, quant,
                        context_length=read_gguf_info(path).context_length)
    config = json.loads(paths[names.index("config.json")].read_text()) if "config.json" in names else {}
    return _install(library, local_id, dict(zip(names, paths)), about, "openvino", "", _weight_format(about.id),
                    context_length=config.get("max_position_embeddings"))


def _fetch(hub: HubService, repo_id: str, revision: str, files: list[dict], token: str, cache_dir: Path | None,
           on_progress: Progress | None, cancel: threading.Event | None) -> list[Path]:
    """One file after the other into the Hugging Face cache, reporting bytes of the whole."""
    from huggingface_hub import hf_hub_download

    total, done, paths = sum(f["size"] for f in files), 0, []
    for f in files:
        report = (lambda n, _, base=done: on_progress(base + n, total)) if on_progress else None
        paths.append(Path(hf_hub_download(repo_id, f["name"], revision=revision, cache_dir=cache_dir,
                                          token=hub.token_for(token), endpoint=hub.endpoint,
                                          tqdm_class=_tracking(report, cancel))))
        done += f["size"]
        if on_progress:
            on_progress(done, total)
    return paths


def _install(library: Library, local_id: str, files: dict[str, Path], about, fmt: str, model_file: str, quant: str,
             context_length: int | None = None) -> ModelEntry:
    if local_id in library:
        raise UserError(f"'{local_id}' is already in the library.")
    with library.staging() as staged:
        for name, f in files.items():
            target = (staged / name).resolve()
            if not target.is_relative_to(staged.resolve()):  # a hostile repo naming "../…"
                raise UserError(f"{about.id} names a file outside its folder ({name}); refused.")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f.resolve(), target)  # the cache keeps its copy; no second one on the same disk
            except OSError:
                shutil.copyfile(f, target)
        entry = ModelEntry(id=local_id, task=about.task, format=fmt, weight_format=quant, location=str(staged),
                           model_file=model_file, context_length=context_length,
                           source={"repo_id": about.id, "license": about.license})
        return library.install(staged, entry)


def _weight_format(repo_id: str) -> str:
    """OpenVINO repos name their precision (…-int4-ov); optimum's config does not always say it."""
    found = re.search(r"(?i)(int4|int8|nf4|mxfp4|fp16|bf16|fp32)", repo_id)
    return found.group(1).lower() if found else "unknown"
