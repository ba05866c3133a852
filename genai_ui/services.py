"""Everything the UI calls, built once from Settings and passed to build_app()."""

from __future__ import annotations

import atexit
import logging
from dataclasses import dataclass, field

from .builtin import BUILTIN_ID, ensure_builtin, ensure_builtin_embedder
from .documents.store import Collections
from .convert.service import ConvertService
from .engines.devices import Devices
from .engines.options import EngineOptionsStore
from .engines.pipelines import PipelineManager
from .engines.remote import RemoteModels, parse_remotes
from .hub.client import HubService
from .hub.downloads import DownloadService
from .library import Library
from .manage import ModelAccess
from .run.benchmark import BenchmarkService
from .run.chat import ChatService
from .run.documents import DocumentService
from .run.image import ImageService
from .run.tune import TuneService
from .run.vision import VisionService
from .settings import Settings
from .work.queue import WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    library: Library
    devices: Devices
    pipelines: PipelineManager
    chat: ChatService
    benchmark: BenchmarkService
    hub: HubService
    vision: VisionService
    images: ImageService
    conversions: ConvertService  # convert, compress, publish: one at a time in a bounded line
    downloads: DownloadService  # one at a time in a bounded line
    access: ModelAccess  # which models each caller may see and run
    remotes: RemoteModels = field(default_factory=RemoteModels)  # models on OpenAI-compatible servers (--remote)
    tune: TuneService | None = None  # the fastest engine options for a model on a device, measured here
    documents: DocumentService | None = None  # collections of a person's own files, and questions about them


def create_services(settings: Settings) -> Services:
    library = Library(settings.models_dir)
    library.sweep()  # here, not in Library(): other code opens a library that a running app is using
    ensure_builtin(library)
    devices = Devices(settings.device)
    pipelines = PipelineManager(cache_dir=settings.compile_cache_dir)
    atexit.register(pipelines.close)
    access = ModelAccess(library, settings.hub_endpoint)
    remotes = RemoteModels(parse_remotes(settings.remote))
    chat = ChatService(library, devices, pipelines, default_model=BUILTIN_ID,
                       options=EngineOptionsStore(settings.home / "engine_options.json"), access=access,
                       remotes=remotes)
    # No token of its own: each request brings the one it may use (access.identify), and the
    # operator's HF_TOKEN is lent only to this machine's own user, never to a shared request.
    hub = HubService(endpoint=settings.hub_endpoint, offline=settings.offline)
    if settings.public and settings.hf_token:
        log.info("HF_TOKEN is set but not lent to visitors of a shared deployment; each signs in with their own.")
    vision = VisionService(library, devices, pipelines, access=access, remotes=remotes)
    conversions = ConvertService(settings, hub, library, access, devices,
                                 WorkQueue("conversion", max_waiting=settings.queue_size))
    downloads = DownloadService(hub, library, WorkQueue("download", max_waiting=settings.queue_size))
    tune = TuneService(chat, settings)
    chat.on_load = tune.on_load  # a model's first load on a device tunes it in the background, once
    collections = Collections(settings.home / "documents")
    forgotten = collections.forget_sessions()
    if forgotten:
        log.info("Removed %d collections of visitors' sessions of the last run.", forgotten)
    ensure_builtin_embedder(library, settings.home)  # when `make setup` exported it; else at its first use
    documents = DocumentService(library, devices, pipelines, chat, collections, access, home=settings.home,
                                max_upload_bytes=settings.max_upload_mb * 2**20)
    return Services(settings, library, devices, pipelines, chat, BenchmarkService(chat), hub, vision,
                    ImageService(library, devices, pipelines, access=access), conversions, downloads, access, remotes,
                    tune, documents)

