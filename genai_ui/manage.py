"""Changes to the library that someone asks for, each checked against who asks (access.py)."""

from __future__ import annotations

import hashlib
import threading
import time

from .access import Caller, check_delete
from .builtin import BUILTINS
from .engines.options import EngineOptionsStore
from .engines.pipelines import PipelineManager
from .errors import ModelNotFound
from .library import Library, ModelEntry


def check_may_delete(*, library: Library, model_id: str, caller: Caller) -> ModelEntry:
    """The entry, if `caller` may delete it; else a message that says why not."""
    entry = library.get(model_id)
    check_delete(caller, entry.id, entry.owner, builtin=entry.id in BUILTINS)
    return entry


def delete_model(*, library: Library, pipelines: PipelineManager, options: EngineOptionsStore, model_id: str,
                 caller: Caller) -> ModelEntry:
    """Delete a model with its loaded pipeline (its memory goes with it) and its engine options (and
    its place as another model's draft)."""
    entry = check_may_delete(library=library, model_id=model_id, caller=caller)
    pipelines.unload(entry.id)
    library.delete(entry.id)
    options.forget(entry.id)
    return entry


def restricted(entry: ModelEntry) -> str:
    """The Hub repo whose readers alone may use this model (it came from a gated or private repo), or ""."""
    return entry.source.get("repo_id", "") if entry.source.get("gated") or entry.source.get("private") else ""


class ModelAccess:
    """Which models of the library a caller may see and run. All of them, but on a shared deployment a
    model fetched from a gated or private repo only for the operator, the person who added it, and
    callers whose own token reaches the repo (the Hub's auth-check, remembered for a few minutes; a
    Hub that cannot be asked says no). A model a caller may not use is, to them, not in the library."""

    def __init__(self, library: Library, endpoint: str, remember_s: float = 300.0) -> None:
        self.library = library
        self.endpoint = endpoint
        self.remember_s = remember_s
        self._answers: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def allows(self, caller: Caller, entry: ModelEntry) -> bool:
        repo = restricted(entry)
        if not repo or not caller.shared or caller.operator or (entry.owner and entry.owner == caller.owner):
            return True
        return bool(caller.hub_token) and self._reaches(caller.hub_token, repo)

    def _reaches(self, token: str, repo: str) -> bool:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError

        key = (hashlib.sha256(token.encode()).hexdigest(), repo)  # no token kept in memory as a key
        with self._lock:
            when, answer = self._answers.get(key, (0.0, False))
        if time.monotonic() - when < self.remember_s:
            return answer
        try:
            HfApi(endpoint=self.endpoint).auth_check(repo, token=token)
            answer = True
        except (HfHubHTTPError, OSError, ValueError):  # refused, or no answer: closed either way
            answer = False
        with self._lock:
            if len(self._answers) > 4096:
                self._answers.clear()
            self._answers[key] = (time.monotonic(), answer)
        return answer

    def list(self, caller: Caller, task: str = "") -> list[ModelEntry]:
        return [e for e in self.library.list(task) if self.allows(caller, e)]

    def view(self, caller: Caller) -> "Library | SeenLibrary":
        """The library as `caller` sees it: what the services read models from."""
        return SeenLibrary(self, caller) if caller.shared and not caller.operator else self.library

    def get(self, caller: Caller, model_id: str, task: str = "") -> ModelEntry:
        """The entry, if the caller may use it; else the library's own "no such model", naming only what
        they may see."""
        try:
            entry = self.library.get(model_id)
        except ModelNotFound:
            entry = None
        if entry is None or not self.allows(caller, entry):
            raise ModelNotFound(model_id, [e.id for e in self.list(caller, task)])
        return self.library.get(model_id, task)  # a model of another task says so


class SeenLibrary:
    """The library, as one caller of a shared deployment sees it (ModelAccess)."""

    def __init__(self, access: ModelAccess, caller: Caller) -> None:
        self.access, self.caller = access, caller

    def list(self, task: str = "") -> list[ModelEntry]:
        return self.access.list(self.caller, task)

    def get(self, model_id: str, task: str = "") -> ModelEntry:
        return self.access.get(self.caller, model_id, task)

    def pick(self, model_id: str, task: str) -> str:
        return self.access.library.pick(model_id, task, models=self.list(task))

    def __contains__(self, model_id: str) -> bool:
        return model_id in self.access.library and self.access.allows(self.caller, self.access.library.get(model_id))
