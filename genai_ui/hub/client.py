"""The Hugging Face Hub, as the Hub tab sees it: search with a support mark and size
estimates per model, in one listing request, cached briefly."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from ..errors import GatedModel, HubUnavailable, InvalidParameter
from ..tasks import TASKS
from .support import check_support

Sort = Literal["downloads", "likes", "trending", "recent"]
_SORTS = {"downloads": "downloads", "likes": "likes", "trending": "trending_score", "recent": "last_modified"}
_EXPAND = ["downloads", "likes", "lastModified", "pipeline_tag", "tags", "safetensors", "config", "gguf",
           "usedStorage", "gated", "library_name"]
# bytes per parameter: fp16 2; int8 1 plus a scale per row; int4 0.5 plus a scale and zero point per group
BYTES_PER_PARAMETER = {"fp16": 2.0, "int8": 1.01, "int4": 0.53}
STORED_BYTES_PER_PARAMETER = {**BYTES_PER_PARAMETER, "bf16": 2.0, "fp32": 4.0, "nf4": 0.53, "mxfp4": 0.53}
# searches remembered at once: every visitor's query is a key, so the cache must not grow with them;
# 256 listings of up to 100 models each are a few MB
CACHE_ENTRIES = 256
MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few kB; one larger is not read
REPO_ID_RULE = ("write it as owner/name, each part of letters, digits, '-', '_' and '.', neither starting nor "
                "ending with '-' or '.', without '--' or '..', and the name at most 96 characters")


@dataclass(frozen=True)
class ModelSummary:
    id: str
    task: str | None
    downloads: int
    likes: int
    last_modified: str
    supported: bool
    reason: str
    sizes: dict = field(default_factory=dict)  # estimated bytes per weight format

    def to_api(self) -> dict:
        return asdict(self)


def estimate_sizes(parameters: int | None, stored_bytes: int | None = None, stored_format: str = "fp16") -> dict:
    """Bytes at each weight format, from the parameter count the Hub reports, else from the
    repo's size on disk taken as weights of `stored_format`."""
    if not parameters and stored_bytes:
        parameters = int(stored_bytes / STORED_BYTES_PER_PARAMETER.get(stored_format, 2.0))
    if not parameters:
        return {}
    return {fmt: int(parameters * per) for fmt, per in BYTES_PER_PARAMETER.items()}


class HubService:
    def __init__(self, *, endpoint: str, offline: bool = False, cache_seconds: float = 60.0,
                 cache_entries: int = CACHE_ENTRIES) -> None:
        self.endpoint = endpoint
        self.offline = offline
        self.cache_seconds = cache_seconds
        self.cache_entries = cache_entries
        self._cache: OrderedDict[tuple, tuple[float, list[ModelSummary]]] = OrderedDict()  # oldest first
        self._lock = threading.Lock()

    @staticmethod
    def token_for(token: str = "") -> str | None:
        """The token a request may use (access.Caller.hub_token: its own, or the operator's HF_TOKEN
        where the request is this machine's user's), else none: the service holds no token itself."""
        return token or None

    def search(self, *, query: str = "", task: str = "", sort: Sort = "downloads", limit: int = 20,
               openvino_only: bool = False, gguf_only: bool = False, token: str = "") -> list[ModelSummary]:
        if sort not in _SORTS:
            raise InvalidParameter(f"sort must be one of {', '.join(_SORTS)}; got {sort!r}.")
        if task and task not in TASKS:
            raise InvalidParameter(f"task must be one of {', '.join(TASKS)} or empty; got {task!r}.")
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidParameter(f"limit must be a whole number from 1 to 100; got {limit!r}.")
        # per token: a token sees private repos, which must not reach a session without it
        who = hashlib.sha256((self.token_for(token) or "").encode()).hexdigest()
        key = (query.strip(), task, sort, limit, openvino_only, gguf_only, who)
        with self._lock:
            hit = self._cache.get(key)
            if hit and time.monotonic() - hit[0] < self.cache_seconds:
                return hit[1]
        tags = [t for t, wanted in (("openvino", openvino_only), ("gguf", gguf_only)) if wanted]
        infos = self.call(lambda api: list(api.list_models(
            search=query.strip() or None, pipeline_tag=task or None, filter=tags or None, sort=_SORTS[sort],
            limit=limit, expand=_EXPAND)), token)
        found = [summarize(info) for info in infos]
        with self._lock:
            self._remember(key, found)
        return found

    def _remember(self, key: tuple, found: list[ModelSummary]) -> None:
        """Keep a search's result, dropping the expired ones and then the oldest beyond cache_entries."""
        now = time.monotonic()
        self._cache[key] = (now, found)
        self._cache.move_to_end(key)
        while self._cache:  # oldest first, so the expired ones are at the front
            oldest_key, (stored, _) = next(iter(self._cache.items()))
            if now - stored < self.cache_seconds and len(self._cache) <= self.cache_entries:
                break
            del self._cache[oldest_key]

    def whoami(self, token: str) -> str:
        """The account a token belongs to; a wrong token is the user's error, not the Hub's."""
        from huggingface_hub.errors import HfHubHTTPError

        def ask(api):
            try:
                return api.whoami(token=token)["name"]
            except HfHubHTTPError as err:
                if err.response is not None and err.response.status_code == 401:
                    raise InvalidParameter("The Hub does not accept this token: check that it was copied whole "
                                           "(it starts with hf_).") from err
                raise
        return self.call(ask, token)

    def call(self, fn, token: str = ""):
        """Run fn(HfApi) with the right token, turning the Hub's failures into messages for a person."""
        if self.offline:
            raise HubUnavailable("The Hub is off (HF_HUB_OFFLINE=1): the local library still works.")
        import httpx
        from huggingface_hub import HfApi
        from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, HFValidationError

        api = HfApi(endpoint=self.endpoint, token=self.token_for(token) or False)
        try:
            return fn(api)
        except HFValidationError as err:  # a repo id huggingface_hub refuses before any request
            named = re.findall(r"'([^']*)'", str(err))  # its messages end with the id, quoted
            raise InvalidParameter(f"'{named[-1]}' is not a Hub repo id: {REPO_ID_RULE}." if named
                                   else f"That is not a Hub repo id: {REPO_ID_RULE}.") from err
        except GatedRepoError as err:
            raise GatedModel("This model is gated: accept its terms on its Hub page, then give a token with "
                             "access (HF_TOKEN, or the token box of your session).") from err
        except HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else "?"
            raise HubUnavailable(f"The Hub answered with an error ({status}); try again later.") from err
        except (httpx.RequestError, OSError) as err:  # connection refused, DNS, timeouts
            raise HubUnavailable(f"The Hub at {self.endpoint} cannot be reached: the local library still works.") \
                from err


def weight_format_in_name(repo_id: str) -> str:
    """OpenVINO repos name their precision (…-int4-ov); their config does not always say it."""
    found = re.search(r"(?i)(?<![a-z0-9])(int4|int8|nf4|mxfp4|fp16|bf16|fp32)(?![a-z0-9])", repo_id)
    return found.group(1).lower() if found else "unknown"


def summarize(info) -> ModelSummary:
    tags = set(info.tags or [])
    parameters = (info.safetensors.total if info.safetensors else None) or (info.gguf or {}).get("total")
    # a repo's size on disk tells the parameter count only when one copy of known precision is in it:
    # not for GGUF repos (one file per quantization)
    stored = None if info.gguf or "gguf" in tags else getattr(info, "used_storage", None)
    stored_format = weight_format_in_name(info.id) if "openvino" in tags else "fp16"
    support = check_support(task=info.pipeline_tag, config=info.config, gguf=info.gguf,
                            openvino_ready="openvino" in tags)
    modified = info.last_modified.isoformat(timespec="seconds") if info.last_modified else ""
    return ModelSummary(id=info.id, task=info.pipeline_tag, downloads=info.downloads or 0, likes=info.likes or 0,
                        last_modified=modified, supported=support.supported, reason=support.reason,
                        sizes=estimate_sizes(parameters, stored, stored_format))


# tensor types openvino_genai reads in a GGUF (FACTS.md); K-quant files name their mix, e.g. Q4_K_M
GGUF_LOADABLE = ("Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q6_K", "F16", "F32", "BF16")
_GGUF_QUANT = re.compile(r"(?i)(?<![A-Z0-9])(IQ\d_[A-Z]+|Q\d_K(?:_[SML])?|Q\d_\d|BF16|F16|F32)(?![A-Z0-9])")


@dataclass(frozen=True)
class ModelDetails:
    id: str
    task: str | None
    architecture: str
    supported: bool
    reason: str
    files: list = field(default_factory=list)  # [{name, size}]
    sizes: dict = field(default_factory=dict)
    card: str = ""
    license: str = ""
    gated: bool | str = False
    private: bool = False
    gguf_files: list = field(default_factory=list)  # [{name, size, quantization, loadable}]
    commit: str = ""
    parameters: int = 0  # as the Hub counts them (safetensors or GGUF), else from the repo's size
    config: dict = field(default_factory=dict, repr=False)  # its config.json: the pre-flight reads its shape

    def to_api(self) -> dict:
        found = asdict(self)
        del found["config"]
        return found


def gguf_quantization(filename: str) -> str:
    found = _GGUF_QUANT.findall(filename.rsplit("/", 1)[-1])
    return found[-1].upper() if found else "unknown"


def details(hub: HubService, repo_id: str, token: str = "", revision: str = "main",
            with_card: bool = True, with_config: bool = True) -> ModelDetails:
    """Everything the Hub tab shows about one repo: the info, its config.json (the pre-flight reads the model's
    shape in it), then the card; a download needs neither, a conversion no card."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    repo_id = check_repo_id(repo_id)

    def info_and_card(api):
        try:
            info = api.model_info(repo_id, revision=revision, files_metadata=True)
        except RepositoryNotFoundError as err:
            raise InvalidParameter(f"No model '{repo_id}' on the Hub (or it is private and needs a token).") from err
        except RevisionNotFoundError as err:
            raise InvalidParameter(f"{repo_id} has no revision '{revision}'.") from err
        card, config = "", {}
        sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
        try:
            if info.gated:
                # asked each time: the Hugging Face cache would hand out files another session fetched
                api.auth_check(repo_id)
        except GatedRepoError:
            return info, "*The model card of this gated model needs a token with access.*", {}
        if with_config and 0 < sizes.get("config.json", 0) <= MAX_CONFIG_BYTES:
            try:
                with open(api.hf_hub_download(repo_id, "config.json", revision=revision)) as f:
                    config = json.load(f)
            except (ValueError, OSError):  # not JSON, or not there after all: the figures do without it
                config = {}
            config = config if isinstance(config, dict) else {}
        if with_card and "README.md" in sizes:
            card = open(api.hf_hub_download(repo_id, "README.md", revision=revision)).read()
        return info, card, config

    info, card, config = hub.call(info_and_card, token)
    summary = summarize(info)
    row = TASKS.get(info.pipeline_tag or "")
    if summary.supported and row and row.one_score and config:  # what the listing cannot tell: a classifier's labels
        full = check_support(task=row.id, config={**(info.config or {}), **config})
        summary = replace(summary, supported=full.supported, reason=full.reason)
    parameters = ((info.safetensors.total if info.safetensors else None) or (info.gguf or {}).get("total")
                  or int(summary.sizes.get("fp16", 0) / BYTES_PER_PARAMETER["fp16"]))
    gguf_arch = (info.gguf or {}).get("architecture")
    files = [{"name": s.rfilename, "size": s.size or 0} for s in info.siblings or []]
    ggufs = [{**f, "quantization": gguf_quantization(f["name"])} for f in files if f["name"].endswith(".gguf")]
    for f in ggufs:
        f["loadable"] = summary.supported and f["quantization"].startswith(GGUF_LOADABLE)
    card_data = info.card_data.to_dict() if info.card_data else {}
    return ModelDetails(id=info.id, task=info.pipeline_tag, supported=summary.supported, reason=summary.reason,
                        architecture=gguf_arch or (info.config or {}).get("model_type")
                        or ((info.config or {}).get("diffusers") or {}).get("_class_name", ""),
                        files=files, sizes=summary.sizes, card=_strip_front_matter(card),
                        license=str(card_data.get("license", "")), gated=info.gated or False,
                        private=bool(info.private), gguf_files=ggufs, commit=info.sha or "", parameters=parameters,
                        config=config)


def check_repo_id(repo_id: str) -> str:
    """The id, stripped, if it is owner/name by huggingface_hub's own rule (validate_repo_id); else a message."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    text = repo_id.strip() if isinstance(repo_id, str) else ""
    try:
        validate_repo_id(text)
    except HFValidationError:
        text = ""
    if text.count("/") != 1:  # a bare name ("gpt2") is a Hub redirect this app does not follow
        raise InvalidParameter(f"'{repo_id}' is not a Hub repo id: {REPO_ID_RULE}.")
    return text


def branches_and_tags(hub: HubService, repo_id: str, token: str = "") -> tuple[list[str], list[str]]:
    """The full refs of a repo's branches (refs/heads/…) and of its tags (refs/tags/…), in one request."""
    from huggingface_hub.errors import RepositoryNotFoundError

    repo_id = check_repo_id(repo_id)

    def ask(api):
        try:
            refs = api.list_repo_refs(repo_id, token=hub.token_for(token) or False)
        except RepositoryNotFoundError as err:
            raise InvalidParameter(f"No model '{repo_id}' on the Hub (or it is private and needs a token).") from err
        return [r.ref for r in refs.branches], [r.ref for r in refs.tags]
    return hub.call(ask, token)


def _strip_front_matter(card: str) -> str:
    if card.startswith("---"):
        end = card.find("\n---", 3)
        if end != -1:
            return card[end + 4:].lstrip()
    return card
