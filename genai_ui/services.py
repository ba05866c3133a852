"""Everything the UI calls, built once from Settings and passed to build_app()."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .benchmark import BenchmarkService
from .builtin import BUILTIN_ID, ensure_builtin
from .chat import ChatService
from .devices import Devices
from .engines.pipelines import PipelineManager
from .hub import HubService
from .image_gen import ImageService
from .library import Library
from .settings import Settings
from .vision import VisionService

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


def create_services(settings: Settings) -> Services:
    library = Library(settings.models_dir)
    ensure_builtin(library)
    devices = Devices(settings.device)
    pipelines = PipelineManager()
    chat = ChatService(library, devices, pipelines, default_model=BUILTIN_ID)
    hub = HubService(endpoint=settings.hub_endpoint, token=settings.hf_token, offline=settings.offline)
    vision = VisionService(library, devices, pipelines)
    return Services(settings, library, devices, pipelines, chat, BenchmarkService(chat), hub, vision,
                    ImageService(library, devices, pipelines))
