"""Fetch a Hub model into the library, with byte progress and cancel.

Files go to the standard Hugging Face cache (shared with other tools; an interrupted
download resumes there), then are linked into a staging folder of the library and moved
into place only when complete: a cancelled or failed download leaves nothing in the library.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..access import Caller
from ..errors import Cancelled, NotAllowed, NotAvailable, UserError
from ..gguf import read_gguf_info
from ..library import Library, ModelEntry, check_disk, check_model_id, context_length_of
from ..work import background as work
from ..work.queue import Waiting, WorkQueue
from .client import HubService, branches_and_tags, details, weight_format_in_name

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)
MAIN = ("main", "refs/heads/main")  # the default branch, whose models keep the repo's plain name
IR_MARKERS = ("openvino_model.xml", "openvino_language_model.xml")
DOWNLOAD_CANCELLED = ("Download cancelled: nothing was added to the library (what came so far stays in the "
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
                raise Cancelled(DOWNLOAD_CANCELLED)
            super().update(n)
            if on_progress and self.total:
                on_progress(int(self.n), int(self.total))

    return Tracked


def _check_space(library: Library, cache_dir: Path | None, need: int) -> None:
    """Room for every wanted byte on the cache's disk and on the library's (on another disk the files are
    copied, not linked). Files the cache holds already would need none: counting them errs on the safe side."""
    from huggingface_hub import constants

    cache = Path(cache_dir or constants.HF_HUB_CACHE)
    cache = next((p for p in (cache, *cache.parents) if p.exists()), cache)  # a first download creates it
    for folder in (cache, library.models_dir):
        check_disk(folder, need)


@dataclass
class DownloadService:
    """Downloads for the Hub tab and /download_model alike: one at a time in a bounded line, each with
    the caller's own token and under their rules."""

    hub: HubService
    library: Library
    line: WorkQueue  # one at a time: each takes the whole link

    def download(self, *, caller: Caller, repo_id: str, revision: str = "main", filename: str = "",
                 cancel: threading.Event) -> Iterator[Waiting | work.Progress | work.Finished]:
        """Waiting (its place) until its turn, then byte progress, and Finished(the library entry) last. Closing
        the iterator early cancels the download."""
        with self.line.place(cancel) as ticket:
            yield from ticket.turn()
            yield from work.run_job(lambda on_progress, stop: download_model(
                hub=self.hub, library=self.library, repo_id=repo_id, revision=revision, filename=filename,
                token=caller.hub_token, owner=caller.owner, shared=caller.shared, on_progress=on_progress,
                cancel=stop), cancel=cancel)


def download_model(*, hub: HubService, library: Library, repo_id: str, revision: str = "main", filename: str = "",
                   token: str = "", cache_dir: Path | None = None, on_progress: Progress | None = None,
                   cancel: threading.Event | None = None, owner: str = "", shared: bool = False) -> ModelEntry:
    """An OpenVINO IR repo or a GGUF file into the library, ready to run; `owner` is who asked, `shared` whether
    under a shared deployment's rules (a branch or a tag only). A revision other than main gets an id of its own."""
    revision = revision.strip() or "main"
    asked = revision
    if shared and revision not in MAIN:
        revision = shared_revision(hub, repo_id, revision, token)
    about = details(hub, repo_id, token, revision, with_card=False, with_config=False)  # the files alone
    if not about.supported:
        raise NotAvailable(f"{repo_id} cannot run here: {about.reason}.")
    names = [f["name"] for f in about.files]
    if about.gguf_files:
        chosen = filename or recommended_gguf(about.gguf_files)
        picked = next((f for f in about.gguf_files if f["name"] == chosen), None)
        if picked is None or not picked["loadable"]:
            loadable = ", ".join(f["name"] for f in about.gguf_files if f["loadable"]) or "none"
            raise UserError(f"{repo_id} has no GGUF file '{chosen}' that openvino_genai can load "
                            f"(loadable: {loadable}).")
        quant = picked["quantization"]
        local_id = with_revision(about.id.split("/")[-1] + (f"-{quant}" if quant != "unknown" else
                                                            f"-{Path(chosen).stem}"), asked)
        wanted = [f for f in about.files if f["name"] == chosen]
    elif any(n.split("/")[-1] in IR_MARKERS for n in names):
        local_id = with_revision(about.id.split("/")[-1], asked)
        wanted = about.files
    else:
        raise NotAvailable(f"{repo_id} holds a checkpoint, not an OpenVINO model: convert it to OpenVINO first.")
    if local_id in library:  # before fetching gigabytes, not after
        present = library.get(local_id)
        if present.source.get("repo_id") != about.id or \
                ref_name(present.source.get("revision") or "main") != ref_name(asked):
            raise UserError(f"Another model named '{local_id}' is already in the library: delete it first.")
        if present.source.get("commit") not in ("", None, about.commit):
            raise UserError(f"An older version of {about.id} is in the library as '{local_id}': "
                            "delete it to fetch this one.")
        return present  # fetching what is there already is done at once
    _check_space(library, cache_dir, sum(f["size"] for f in wanted))
    # by commit, so the files match the listing just read even if the repo changes meanwhile
    paths = hub.call(lambda api: fetch_files(hub, about.id, about.commit or revision, wanted, token, cache_dir,
                                        on_progress, cancel), token)
    if about.gguf_files:
        (path,) = paths
        return _install(library, local_id, {chosen: path}, about, "gguf", chosen, quant,
                        context_length=read_gguf_info(path).context_length, revision=asked, owner=owner)
    config = json.loads(paths[names.index("config.json")].read_text()) if "config.json" in names else {}
    return _install(library, local_id, dict(zip(names, paths)), about, "openvino", "", weight_format_in_name(about.id),
                    context_length=context_length_of(config), revision=asked, owner=owner)


def shared_revision(hub: HubService, repo_id: str, revision: str, token: str = "") -> str:
    """The full ref of the branch or tag `revision` names, else refused: only the repo's owners write its branches
    and tags, while anyone may open a pull request on any repo, and its commits are served by id like any other."""
    branches, tags = branches_and_tags(hub, repo_id, token)
    for ref in (revision, f"refs/heads/{revision}", f"refs/tags/{revision}"):
        if ref in branches or ref in tags:
            return ref  # by full ref, so the Hub reads the very branch or tag checked here
    raise NotAllowed(f"On this shared deployment only a branch or a tag of the repo can be fetched (branches: "
                     f"{_names(branches)}; tags: {_names(tags)}): '{revision}' is neither. Pull requests (refs/pr/N) "
                     "and single commits can be fetched only when the app runs locally.")


def _names(refs: list[str], most: int = 10) -> str:
    names = [ref_name(ref) for ref in refs]
    shown = ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")
    return shown or "none"


def ref_name(revision: str) -> str:
    """A branch or a tag by its short name (refs/tags/v1.0 → v1.0); "" is main."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if revision.startswith(prefix):
            return revision[len(prefix):]
    return revision or "main"


def with_revision(base: str, revision: str) -> str:
    """The local id of a model fetched at `revision`: `base` for main, else `base` and a suffix of its own, so it
    cannot take the main model's name: refs/pr/3 → -pr-3, a branch or tag v1.0 → -rev-v1.0, a commit → -rev- and
    its first 12 characters."""
    if revision in MAIN:
        return check_model_id(base)
    name = ref_name(revision)
    if pr := re.fullmatch(r"refs/pr/(\d+)", name):
        suffix = f"-pr-{pr.group(1)}"
    else:
        if re.fullmatch(r"[0-9a-f]{40}", name):
            name = name[:12]
        safe = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "-", name))[:40].strip("-.")
        suffix = f"-rev-{safe or hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return check_model_id(base[:128 - len(suffix)].rstrip("-.") + suffix)  # ids have at most 128 characters


# the first of these a repo holds is what a download without a file name takes: 4-bit first
# (the usual best trade of size and quality), then bigger ones
GGUF_PREFERENCE = ("Q4_K_M", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K", "Q6_K", "Q8_0", "F16", "BF16", "F32")


def recommended_gguf(gguf_files: list[dict]) -> str:
    loadable = [f for f in gguf_files if f["loadable"]]
    for quant in GGUF_PREFERENCE:
        for f in loadable:
            if f["quantization"] == quant:
                return f["name"]
    return loadable[0]["name"] if loadable else ""


def fetch_files(hub: HubService, repo_id: str, revision: str, files: list[dict], token: str, cache_dir: Path | None,
           on_progress: Progress | None, cancel: threading.Event | None) -> list[Path]:
    """One file after the other into the Hugging Face cache, reporting bytes of the whole."""
    from huggingface_hub import HfApi, hf_hub_download

    # the client hands out cached files when the Hub refuses them: ask first, so a gated model that
    # one session fetched with its token never reaches a session without access
    HfApi(endpoint=hub.endpoint).auth_check(repo_id, token=hub.token_for(token) or False)

    total, done, paths = sum(f["size"] for f in files), 0, []
    for f in files:
        report = (lambda n, _, base=done: on_progress(base + n, total)) if on_progress else None
        paths.append(Path(hf_hub_download(repo_id, f["name"], revision=revision, cache_dir=cache_dir,
                                          token=hub.token_for(token) or False, endpoint=hub.endpoint,
                                          tqdm_class=_tracking(report, cancel))))
        done += f["size"]
        if on_progress:
            on_progress(done, total)
    return paths


def restriction(about) -> dict:
    """What a manifest records of a repo that not everyone may read: a gated or private repo's models are
    shown and run, on a shared deployment, only for callers whose own token reaches the repo."""
    return {k: v for k, v in (("gated", about.gated or False), ("private", bool(about.private))) if v}


def _install(library: Library, local_id: str, files: dict[str, Path], about, fmt: str, model_file: str, quant: str,
             context_length: int | None = None, revision: str = "main", owner: str = "") -> ModelEntry:
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
                           source={"repo_id": about.id, "revision": revision, "commit": about.commit,
                                   "license": about.license, **restriction(about)}, owner=owner)
        return library.install(staged, entry)

