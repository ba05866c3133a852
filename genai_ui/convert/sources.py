"""What a conversion starts from: a Hub checkpoint checked before anything is downloaded (its task, its weights,
the disk and memory it needs), its files fetched, a free id in the library, and the files an export needs beside
the model."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

from ..errors import NotAvailable, NothingToConvert
from ..hub.client import HubService, details
from ..hub.downloads import fetch_files
from ..library import Library, check_disk, check_model_id
from ..tasks import TASKS, run_here
from ..work.background import Finished, run_job
from .options import ExportOptions
from .preflight import PRECISIONS, WEIGHTS, Shape, convert_disk, convert_peak, export_files


def unique_id(library: Library, base: str) -> str:
    base = check_model_id(re.sub(r"[^A-Za-z0-9._-]", "-", base)[:100])
    candidate, n = base, 2
    while candidate in library:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def checked_source(hub: HubService, library: Library, repo_id: str, options: ExportOptions, token: str,
                   outputs: list[str]):
    """A Hub checkpoint that converts here, and the files its export reads: (its details, its task, the files),
    or a refusal that says why, before anything is downloaded; the disk must hold the download, the 16-bit
    export and the `outputs` (weight formats)."""
    about = details(hub, repo_id, token, with_card=False)
    task = options.task or about.task
    if task not in TASKS:
        raise NotAvailable(f"{about.id} is a {about.task or 'model without a task'}: only "
                           f"{run_here(ids=True).lower()} models convert here.")
    if not about.supported and not options.task:
        raise NotAvailable(f"{about.id} cannot run here: {about.reason}.")
    if about.gguf_files:
        raise NotAvailable(f"{about.id} holds GGUF files: fetch one in the Hub tab (it runs as it is), then turn it "
                           "into OpenVINO IR here.")
    if any(f["name"].endswith(("openvino_model.xml", "openvino_language_model.xml")) for f in about.files):
        raise NotAvailable(f"{about.id} is an OpenVINO model already: fetch it in the Hub tab, then compress it here.")
    files = export_files(about, options.trust_remote_code)
    if not any(WEIGHTS.search(f["name"]) for f in files):  # before the download: the export would fail on it
        raise NothingToConvert(f"{about.id} has no weights to convert: it holds {holdings(about.files)}. A conversion "
                               "reads .safetensors or PyTorch .bin weights; ONNX, TensorFlow, Flax, Core ML, "
                               "OpenVINO and GGUF files, and the .fp16 and .ema copies, are not read.")
    source_bytes = sum(f["size"] for f in files)
    shape = Shape.of(about.parameters or int((about.sizes.get("fp16") or source_bytes) / 2), about.config)
    precisions = [fmt if fmt in PRECISIONS else "int4" if fmt in ("nf4", "mxfp4") else "fp16" for fmt in outputs]
    check_disk(library.models_dir, convert_disk(source_bytes, shape, precisions))
    checkpoint = sum(f["size"] for f in files if WEIGHTS.search(f["name"]))
    check_memory(about.id, convert_peak(checkpoint, shape.parameters))
    return about, task, files


def check_memory(repo_id: str, need: int) -> None:
    """Refused before the download when the export's peak (pre-flight's rule) is more than the free memory."""
    import psutil

    free = psutil.virtual_memory().available
    if need > free:
        raise NotAvailable(f"Converting {repo_id} needs about {need / 1e9:.1f} GB of memory at its peak and "
                           f"{free / 1e9:.1f} GB are free: close other programs, or take a model already in "
                           "OpenVINO or GGUF form from the Hub tab.")


def download_files(hub: HubService, about, files: list[dict], token: str, cache_dir: Path | None, cancel):
    """The checkpoint's files into the Hugging Face cache, with byte progress; returns its snapshot folder."""
    paths = None
    for event in run_job(lambda report, stop: hub.call(lambda api: fetch_files(
            hub, about.id, about.commit or "main", files, token, cache_dir, report, stop), token), cancel=cancel):
        if isinstance(event, Finished):
            paths = event.result
        else:
            yield event
    return Path(paths[0]).parents[len(Path(files[0]["name"]).parts) - 1]


def holdings(files: list[dict]) -> str:
    """What a repo holds, in a few words: "no files", or "2 .onnx files, 1 .json file and 1 .gitattributes"."""
    if not files:
        return "no files"
    kinds = Counter(Path(f["name"]).suffix.lower() or Path(f["name"]).name for f in files)
    parts = [f"{n} {kind} file{'s' if n > 1 else ''}" if kind.startswith(".") else f"{n} {kind}"
             for kind, n in kinds.most_common(6)]
    if len(kinds) > 6:
        parts.append(f"{len(kinds) - 6} more kinds")
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def add_preprocessor_config(source: Path, exported: Path) -> None:
    """With transformers 5, optimum-cli writes a VLM's image settings only into processor_config.json,
    while openvino_genai's VLMPipeline reads preprocessor_config.json."""
    target = exported / "preprocessor_config.json"
    if target.exists() or not (exported / "processor_config.json").exists():
        return
    if (source / "preprocessor_config.json").is_file():
        shutil.copyfile(source / "preprocessor_config.json", target)
        return
    image = read_json(exported / "processor_config.json").get("image_processor")
    if image:
        target.write_text(json.dumps(image, indent=2))
