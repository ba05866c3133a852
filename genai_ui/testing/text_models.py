"""Text models: a tiny random T5 (a task the app does not run), all-MiniLM-L6-v2 exported once, and a tiny random
cross-encoder (a reranker for the plumbing only)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .cache import _bpe_tokenizer, cached


def build_t5(folder: Path, recipe: dict) -> None:
    """An encoder-decoder (text2text-generation): no openvino_genai pipeline runs that task."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(recipe["seed"])
    tokenizer = _bpe_tokenizer(recipe["vocab"], [], 256)
    config = T5Config(vocab_size=len(tokenizer), d_model=64, d_ff=128, d_kv=16, num_layers=2, num_decoder_layers=2,
                      num_heads=4, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    T5ForConditionalGeneration(config).eval().save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def tiny_t5() -> Path:
    return cached("tiny-t5", {"seed": 0, "vocab": 300, "v": 1}, build_t5)


def embedder_ir() -> Path:
    """all-MiniLM-L6-v2 exported once for every test home (the app exports it into its own home otherwise)."""
    import importlib.metadata

    from genai_ui.embedder import DISTRIBUTION, ensure_embedder

    def build(folder: Path, recipe: dict) -> None:
        shutil.copytree(ensure_embedder(folder / "home"), folder / "ir")
        shutil.rmtree(folder / "home")

    return cached("all-minilm-l6-v2-ir", {"package": importlib.metadata.version(DISTRIBUTION), "v": 1}, build) / "ir"


def build_tiny_reranker(folder: Path, recipe: dict) -> None:
    """A cross-encoder of random weights (BERT, 2 layers of 32, one relevance score) on all-MiniLM-L6-v2's
    tokenizer, exported as text-classification: a reranker for the plumbing only (its scores mean nothing)."""
    import subprocess
    import sys

    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(recipe["seed"])
    tokenizer = AutoTokenizer.from_pretrained(embedder_ir())  # a BERT tokenizer: it reads question-passage pairs
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1)
    checkpoint = folder / "checkpoint"
    BertForSequenceClassification(config).eval().save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    subprocess.run([sys.executable, "-m", "optimum.commands.optimum_cli", "export", "openvino", "--model",
                    str(checkpoint), "--task", "text-classification", "--weight-format", "fp32", str(folder / "ir")],
                   env=env, check=True, capture_output=True)


def tiny_reranker_ir() -> Path:
    return cached("tiny-reranker", {"seed": 0, "hidden": 32, "v": 2}, build_tiny_reranker) / "ir"


def tiny_reranker_checkpoint() -> Path:
    """The tiny reranker's Transformers checkpoint, before its export: what a Hub repo of a cross-encoder holds."""
    return tiny_reranker_ir().parent / "checkpoint"
