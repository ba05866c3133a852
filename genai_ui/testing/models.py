"""The models the benches and the tests build from recipes: SmolLM2 as a Transformers checkpoint
rebuilt from the built-in GGUF and its OpenVINO exports, a LLaVA on SmolLM2 (the vision bench's), a
larger random Stable Diffusion (the image bench's), and the tiny random LLaVA, Stable Diffusion and T5
the tests serve from their local Hub, all-MiniLM-L6-v2's export and a tiny random reranker; one module a family
(chat_models, vision_models, image_models, text_models), and this machine's measured profile here. Each is built
once, atomically, and cached under a folder named by the recipe's hash in GENAI_UI_TEST_CACHE (default
~/.cache/genai_ui-tests; cache.py). Building needs torch, transformers and diffusers (`make test-setup`;
`make setup` has them too)."""

from __future__ import annotations

import json
from pathlib import Path

# one module a family; these names are where the benches and the tests take them from
from .cache import CACHE, SPECIAL, TEXT, _bpe_tokenizer, cached  # noqa: F401
from .chat_models import (SMOLLM2_1_7B, build_smollm2_1_7b_shaped, smollm2_1_7b_gguf,  # noqa: F401
                          smollm2_1_7b_ir_int4, smollm2_1_7b_shaped, smollm2_checkpoint, smollm2_ir, smollm2_ir_fp16)
from .image_models import bench_sd_ir, tiny_stable_diffusion  # noqa: F401
from .text_models import embedder_ir, tiny_reranker_checkpoint, tiny_reranker_ir, tiny_t5  # noqa: F401
from .vision_models import smol_llava_ir, tiny_llava  # noqa: F401


def machine_profile(device: str = "CPU") -> dict:
    """This machine measured once for every test home, as the app measures it on its first pre-flight
    (run/machine.py): {device: profile}, what HOME/machine.json holds."""
    from genai_ui.builtin import BUILTIN_ID, builtin_gguf
    from genai_ui.engines.devices import Devices
    from genai_ui.library import ModelEntry
    from genai_ui.run.machine import VERSION, measure_in_subprocess

    processor = Devices().processor()

    def build(folder: Path, recipe: dict) -> None:
        gguf = builtin_gguf()
        model = ModelEntry(id=BUILTIN_ID, task="text-generation", format="gguf", weight_format="Q4_1",
                           location=str(gguf.parent), model_file=gguf.name)
        found = measure_in_subprocess(device=device, processor=processor, model=model)
        (folder / "machine.json").write_text(json.dumps({device: found.to_api()}, indent=1))

    folder = cached("machine-profile", {"processor": processor, "device": device, "version": VERSION}, build)
    return json.loads((folder / "machine.json").read_text())


