"""A model loaded on a device: its pipeline, how long it took, and the lock its calls take."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

from ..library import ModelEntry
from .options import EngineOptions


@dataclass
class LoadedPipeline:
    pipeline: Any
    entry: ModelEntry
    device: str
    load_ms: float
    adapters: tuple[str, ...] = ()  # LoRA files the pipeline was built with (image models)
    options: EngineOptions | None = None  # how a chat model runs (engines/options.py)
    # openvino_genai pipelines run one generate() at a time, except the batching one
    lock: Any = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.concurrent:
            self.lock = contextlib.nullcontext()

    @property
    def engine(self) -> str:
        """genai (openvino_genai's pipelines) or optimum (optimum-intel's OVModelForCausalLM)."""
        return getattr(self.pipeline, "engine", "genai")

    @property
    def concurrent(self) -> bool:
        """Serves several calls at once (the batching engine): no lock."""
        return getattr(self.pipeline, "concurrent", False)

    def close(self, wait: float = 0.0) -> None:
        """Let the pipeline go: the replies still running finish first."""
        if hasattr(self.pipeline, "close"):
            self.pipeline.close(wait)
