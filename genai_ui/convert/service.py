"""ConvertService: who may convert, compress and publish, with which token, which job runs, and the
line it waits in. The Convert tab and the API endpoints only draw its events."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Iterator

from ..access import Caller, check_remote_code, check_signed_in
from ..engines.devices import Devices
from ..errors import InvalidParameter
from ..hub.client import HubService, ModelDetails, check_repo_id
from ..hub.publish import PublishResult, publish
from ..library import Library, ModelEntry
from ..manage import ModelAccess
from ..run.machine import MachineProfiles
from ..settings import Settings
from ..work.background import Finished, Log, Progress, Stage, in_background
from ..work.queue import Waiting, WorkQueue, in_line
from .best import PendingCandidates, candidates, find_best
from .jobs import compress_model, convert_model, evaluate_model, gguf_to_ir
from .options import ExportOptions
from .preflight import plans

# What a running conversion reports, in order: Waiting (its place in line) until its turn, then Stage,
# Progress and Log as the steps go, None every `tick` seconds without news, and Finished(report) last.
Event = Waiting | Stage | Progress | Log | Finished | None
log = logging.getLogger(__name__)


@dataclass
class ConvertService:
    settings: Settings
    hub: HubService
    library: Library
    access: ModelAccess
    devices: Devices
    line: WorkQueue  # one at a time: each takes both cores and gigabytes
    pending: PendingCandidates | None = None  # Find the best's candidates, until their owner keeps some
    profiles: MachineProfiles | None = None  # how fast this machine reads weights: the pre-flight's speeds

    def __post_init__(self) -> None:
        self.pending = self.pending or PendingCandidates(self.library)
        if self.profiles is None:
            from ..builtin import BUILTIN_ID

            self.profiles = MachineProfiles(self.settings.home / "machine.json", self.devices.processor,
                                            lambda: self.library.get(BUILTIN_ID) if BUILTIN_ID in self.library
                                            else None)

    def preflight(self, about: ModelDetails) -> dict:
        """What `about` costs here at each precision, and whether this machine has it (convert/preflight.py);
        the machine is measured on the first call and remembered."""
        import psutil

        device = self.devices.resolve("")
        try:
            profile, note = self.profiles.get(device), ""
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            log.warning("The pre-flight has no speeds: %s", err)
            profile, note = None, "This machine could not be measured, so no speed is predicted."
        free = {"memory": psutil.virtual_memory().available, "disk": shutil.disk_usage(self.library.models_dir).free}
        found = plans(about, about.config, profile=profile, device=device, free_memory=free["memory"],
                      free_disk=free["disk"], chat=about.task in ("text-generation", "image-text-to-text"))
        return {"plans": [p.to_api() for p in found], "device": device, "processor": self.devices.processor(),
                "free_memory_bytes": free["memory"], "free_disk_bytes": free["disk"], "note": note,
                "machine": profile.to_api() if profile else None}

    def convert(self, *, caller: Caller, repo_id: str, options: ExportOptions, cancel: threading.Event,
                tick: float = 1.0, evaluate: bool = True) -> Iterator[Event]:
        """A Hub checkpoint exported and compressed into a new library model. The checks are made here, at
        the call, so a refusal comes before anything waits in line."""
        check_signed_in(self.settings, caller, "convert")
        check_remote_code(self.settings, caller, options.trust_remote_code)
        if not repo_id:
            raise InvalidParameter("Type the Hub repo of the checkpoint to convert (owner/name).")
        repo_id = check_repo_id(repo_id)  # before the line: a bad id need not wait its turn to be refused
        # a visitor's own token only: the operator's HF_TOKEN is lent to this machine's own user alone
        return self._queued(cancel, tick, lambda: convert_model(
            hub=self.hub, library=self.library, repo_id=repo_id, options=options, token=caller.hub_token,
            cancel=cancel, device=self.devices.resolve(""), owner=caller.owner, evaluate=evaluate))

    def compress(self, *, caller: Caller, model: str, options: ExportOptions, cancel: threading.Event,
                 tick: float = 1.0, evaluate: bool = True) -> Iterator[Event]:
        """An OpenVINO model of the library compressed again into a new one (the original stays)."""
        model = self._source(caller, model).id
        return self._queued(cancel, tick, lambda: compress_model(
            library=self.library, hub=self.hub, model=model, options=options, cancel=cancel,
            device=self.devices.resolve(""), owner=caller.owner, evaluate=evaluate))

    def from_library(self, *, caller: Caller, model: str, options: ExportOptions, cancel: threading.Event,
                     tick: float = 1.0, evaluate: bool = True) -> Iterator[Event]:
        """A library model made anew: a GGUF turned into OpenVINO IR, an IR compressed again."""
        source = self._source(caller, model)
        if source.format != "gguf":
            return self._queued(cancel, tick, lambda: compress_model(
                library=self.library, hub=self.hub, model=source.id, options=options, cancel=cancel,
                device=self.devices.resolve(""), owner=caller.owner, evaluate=evaluate))
        return self._queued(cancel, tick, lambda: gguf_to_ir(
            library=self.library, hub=self.hub, model=source.id, cancel=cancel, device=self.devices.resolve(""),
            owner=caller.owner, evaluate=evaluate))

    def evaluate(self, *, caller: Caller, model: str, reference: str = "", cancel: threading.Event,
                 tick: float = 1.0) -> Iterator[Event]:
        """A chat model measured against a reference, both models this caller may use; the report is kept with
        the model only when the caller may change it (who added it, or the operator): a visitor's measure of
        someone else's model is theirs alone."""
        check_signed_in(self.settings, caller, "evaluate models")
        if not (model or "").strip():
            raise InvalidParameter("Pick the model to evaluate.")
        entry = self.access.get(caller, model.strip())
        reference = (reference or "").strip() or entry.source.get("library_model", "")  # by default, its source
        base = self.access.get(caller, reference) if reference else None
        save = caller.operator or bool(entry.owner and entry.owner == caller.owner)
        return self._queued(cancel, tick, lambda: evaluate_model(
            library=self.library, hub=self.hub, model=entry.id, reference=base.id if base else "", cancel=cancel,
            device=self.devices.resolve(""), save=save))

    def find_best(self, *, caller: Caller, repo_id: str, names: str = "", cancel: threading.Event,
                  tick: float = 1.0, trust_remote_code: bool = False) -> Iterator[Event]:
        """A Hub checkpoint converted at several settings and each measured; the candidates wait, outside the
        library, for their owner to keep some (keep_candidates)."""
        check_signed_in(self.settings, caller, "find the best compression")
        check_remote_code(self.settings, caller, trust_remote_code)
        if not repo_id:
            raise InvalidParameter("Type the Hub repo of the checkpoint (owner/name).")
        repo_id = check_repo_id(repo_id)
        chosen = [c.name for c in candidates(names)]  # a bad name is refused before the line
        return self._queued(cancel, tick, lambda: find_best(
            hub=self.hub, library=self.library, pending=self.pending, repo_id=repo_id, names=chosen,
            token=caller.hub_token, cancel=cancel, device=self.devices.resolve(""), owner=caller.owner,
            trust_remote_code=trust_remote_code))

    def keep_candidates(self, *, caller: Caller, search: str, keep: list[str]) -> list[ModelEntry]:
        """The caller's own search's candidates they name into the library; the others deleted."""
        check_signed_in(self.settings, caller, "keep candidates")
        return self.pending.keep(search=(search or "").strip(), names=keep, owner=caller.owner)

    def publish(self, *, caller: Caller, model: str, repo_name: str = "", private: bool = True) -> PublishResult:
        """A library model pushed to the caller's own Hub account, with their own token, never the operator's."""
        check_signed_in(self.settings, caller, "publish")
        return publish(hub=self.hub, entry=self.access.get(caller, model), token=caller.hub_token,
                       repo_name=repo_name or "", private=bool(private))

    def _source(self, caller: Caller, model: str) -> ModelEntry:
        check_signed_in(self.settings, caller, "convert")
        if not (model or "").strip():
            raise InvalidParameter("Pick a model of the library.")
        return self.access.get(caller, model.strip())  # a gated model they cannot read is not there for them

    def _queued(self, cancel: threading.Event, tick: float, job) -> Iterator[Event]:
        return in_background(in_line(self.line, cancel, job), tick=tick)
