"""The local model library: one folder per model under <home>/models, each with a manifest.

It is the single place the app learns what it can run. Work in progress is built in a
hidden staging folder beside the models and renamed into place only when complete, so a
failed or cancelled job never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Literal

from . import atomic
from .errors import InvalidParameter, ModelNotFound, NotAvailable, WrongTask
from .tasks import TASKS, label

log = logging.getLogger(__name__)

MANIFEST = "genai_ui.json"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ModelEntry:
    id: str
    task: str  # a row of tasks.TASKS
    format: Literal["openvino", "gguf"]
    weight_format: str
    location: str
    model_file: str = ""  # the file to load inside the folder (a .gguf); "" loads the folder (IR)
    size_bytes: int = 0
    context_length: int | None = None
    source: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    created: str = ""
    owner: str = ""  # who added it (access.Caller.owner): on a shared deployment, who may delete it

    def __post_init__(self) -> None:
        check_model_id(self.id)
        if self.task not in TASKS:
            raise InvalidParameter(f"Unknown task '{self.task}'; known tasks: {', '.join(TASKS)}.")

    @property
    def load_path(self) -> Path:
        folder = Path(self.location)
        return folder / self.model_file if self.model_file else folder

    def to_api(self) -> dict:
        """The API's view. No key is named `path`: gradio_client would take the dict for a file."""
        return {
            "id": self.id, "task": self.task, "format": self.format, "weight_format": self.weight_format,
            "size_bytes": self.size_bytes, "source": self.source, "location": self.location,
        }

    def label(self) -> str:
        return f"{self.id} ({self.format}, {self.weight_format}, {self.size_bytes / 2**20:,.0f} MB)"


def context_length_of(config: dict) -> int | None:
    """The longest prompt and reply a model reads, from its config.json (a VLM keeps it in text_config)."""
    return config.get("max_position_embeddings") or (config.get("text_config") or {}).get("max_position_embeddings")


def check_disk(folder: Path, need: int) -> None:
    """Room for `need` bytes on the disk that holds `folder`, with a tenth to spare."""
    free = shutil.disk_usage(folder).free
    if free < need * 1.1:
        raise NotAvailable(f"Not enough free disk: this needs about {need / 1e9:.1f} GB and "
                           f"{free / 1e9:.1f} GB are free in {folder}.")


def check_model_id(model_id: str) -> str:
    if not isinstance(model_id, str) or not _ID.match(model_id) or ".." in model_id:
        raise InvalidParameter(
            f"'{model_id}' is not a valid local model id: use letters, digits, '.', '_' and '-' only.")
    return model_id


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class Library:
    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # folder → (the manifest's inode, mtime and size, its entry): a listing parses only what changed.
        # Manifests are replaced whole (atomic.write_text renames), so a new one has a new inode.
        self._read_cache: dict[Path, tuple[tuple[int, int, int], ModelEntry | None]] = {}

    def list(self, task: str = "") -> list[ModelEntry]:
        if task and task not in TASKS:
            raise InvalidParameter(f"Unknown task '{task}'; known tasks: {', '.join(TASKS)}.")
        entries, folders = [], set()
        for folder in sorted(self.models_dir.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            folders.add(folder)
            entry = self._read(folder)
            if entry and (not task or entry.task == task):
                entries.append(entry)
        with self._lock:
            for gone in self._read_cache.keys() - folders:
                del self._read_cache[gone]
        return entries

    def pick(self, model_id: str, task: str, models: list[ModelEntry] | None = None) -> str:
        """The model asked for, else the library's first of this task (of `models`, when given: what one
        caller may see); none gets a message saying where to find one."""
        if model_id:
            return model_id
        models = self.list(task) if models is None else models
        if not models:
            kind = label(task, "Chat")
            raise NotAvailable(f"No {kind.lower()} model in the library yet: fetch one in the Hub tab (task {kind}) "
                               "or convert one in the Convert tab.")
        return models[0].id

    def get(self, model_id: str, task: str = "") -> ModelEntry:
        folder = self.models_dir / check_model_id(model_id)
        entry = self._read(folder) if folder.is_dir() else None
        if entry is None:
            raise ModelNotFound(model_id, [e.id for e in self.list(task)])
        if task and entry.task != task:
            raise WrongTask(model_id, entry.task, task)
        return entry

    def __contains__(self, model_id: str) -> bool:
        try:
            check_model_id(model_id)
        except InvalidParameter:  # a path, not an id: nothing of the library
            return False
        return (self.models_dir / model_id / MANIFEST).is_file()

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A private folder to build a model in; removed unless `install` moved it into place."""
        tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.models_dir))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def install(self, staged: Path, entry: ModelEntry) -> ModelEntry:
        """Write the manifest into a staged folder and move it into the library in one rename."""
        target = self.models_dir / entry.id
        entry = replace(entry, location=str(target), size_bytes=folder_size(staged),
                         created=entry.created or datetime.now(timezone.utc).isoformat(timespec="seconds"))
        # replaced, not written into: a repo's own genai_ui.json is a hard link to the Hugging Face cache
        atomic.write_text(staged / MANIFEST, json.dumps(asdict(entry), indent=2))
        with self._lock:
            if target.exists():
                raise InvalidParameter(f"A model '{entry.id}' is already in the library; delete it first.")
            os.rename(staged, target)
        atomic.sync_folder(self.models_dir)
        return entry

    def update_report(self, model_id: str, report: dict) -> ModelEntry:
        """A model's report replaced (its evaluation came later than its registration), the manifest rewritten
        whole; ModelNotFound when the model went meanwhile."""
        entry = replace(self.get(model_id), report=dict(report))
        with self._lock:  # a delete renames the folder under this lock: the write goes before, or not at all
            if not (Path(entry.location) / MANIFEST).is_file():
                raise ModelNotFound(model_id, [])
            atomic.write_text(Path(entry.location) / MANIFEST, json.dumps(asdict(entry), indent=2))
        return entry

    def delete(self, model_id: str) -> None:
        entry = self.get(model_id)
        # a name of its own: a crash may have left a `.deleting-<id>` of an earlier model of this id
        trash = self.models_dir / f".deleting-{entry.id}-{uuid.uuid4().hex[:12]}"
        with self._lock:
            os.rename(entry.location, trash)  # the model leaves the listing at once
        shutil.rmtree(trash, ignore_errors=True)

    def sweep(self) -> list[Path]:
        """Remove what a crash left behind: the staging folders of jobs that never ended and the
        models whose deletion never ended. Only at start-up, before any job: a running job's staging
        folder looks the same as a dead one's."""
        removed = []
        for folder in sorted(self.models_dir.iterdir()):
            if not folder.name.startswith((".staging-", ".deleting-")):
                continue
            what = "an unfinished job's work" if folder.name.startswith(".staging-") else "an unfinished delete"
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)
            if os.path.lexists(folder):
                log.warning("Could not remove %s (%s a crash left behind)", folder, what)
            else:
                log.warning("Removed %s: %s a crash left behind", folder, what)
                removed.append(folder)
        return removed

    def _read(self, folder: Path) -> ModelEntry | None:
        manifest = folder / MANIFEST
        try:
            stat = manifest.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            known = self._read_cache.get(folder)
        if known and known[0] == signature:
            entry = known[1]
        else:
            entry = self._parse(folder, manifest)
            with self._lock:
                self._read_cache[folder] = (signature, entry)
        # a copy of its source: the caller may change it without changing what the next caller reads
        return replace(entry, source=dict(entry.source)) if entry else None

    def _parse(self, folder: Path, manifest: Path) -> ModelEntry | None:
        try:
            data = json.loads(manifest.read_text())
            data["location"] = str(folder)  # the folder may have been moved with its home
            return ModelEntry(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, InvalidParameter) as err:
            log.warning("Skipping %s: its manifest is unreadable (%s)", folder, err)
            return None

