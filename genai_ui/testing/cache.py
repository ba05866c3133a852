"""The test and bench models' cache: a folder built once from a recipe, atomically, under a name the recipe's
hash makes (GENAI_UI_TEST_CACHE, default ~/.cache/genai_ui-tests); and the tiny tokenizer the random models share."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

CACHE = Path(os.environ.get("GENAI_UI_TEST_CACHE", Path.home() / ".cache" / "genai_ui-tests"))


TEXT = ("the quick brown fox jumps over the lazy dog . a picture of a cat on a mat . describe this image . "
        "what is in the photo ? a red car , a blue sky , a green tree , a small house by the sea . ") * 4


SPECIAL = ["<unk>", "<s>", "</s>", "<pad>"]


def cached(name: str, recipe: dict, build: Callable[[Path, dict], None]) -> Path:
    """The folder built from `recipe`, building it (once, atomically) when missing."""
    import fcntl

    key = hashlib.sha256(json.dumps({"name": name, **recipe}, sort_keys=True).encode()).hexdigest()[:12]
    target = CACHE / f"{name}-{key}"
    if (target / ".complete").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}-{key}.lock", "w") as lock:  # one builder at a time; the others wait, then read it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").is_file():
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=CACHE))
        try:
            build(staging, recipe)
            (staging / ".complete").write_text(json.dumps(recipe))
            shutil.rmtree(target, ignore_errors=True)
            os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _bpe_tokenizer(vocab_size: int, extra_special: list[str], model_max_length: int):
    """A small byte-level BPE tokenizer trained on a fixed text: no download needed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL + extra_special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", model_max_length=model_max_length)
