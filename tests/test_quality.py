"""The quality report on real models: SmolLM2-135M as an fp16 IR (the reference), as an int4
IR, and as an int4 IR whose weight matrices were overwritten with random values. (The full evaluation, with
the answers, runs in test_convert.py, on a conversion.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genai_ui.bench.quality import scramble
from genai_ui.convert.precisions import weight_precisions
from genai_ui.convert.quality import evaluate, verdict_for
from genai_ui.errors import ModelLoadError
from tests.models import smollm2_ir, smollm2_ir_fp16, tiny_llava

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own

# SmolLM2-135M's weight matrices (its 61 norm vectors aside), of which its tied embedding,
# 49152 × 576, is the part NNCF keeps in int8 when it compresses the rest to int4
WEIGHT_ELEMENTS = 134_479_872
EMBEDDING_ELEMENTS = 49152 * 576
ROOT = Path(__file__).resolve().parent.parent


def test_int4_ir_is_int4_but_its_embedding():
    shares = weight_precisions(model_dir=smollm2_ir())
    assert set(shares) == {"int4", "int8"}
    assert shares["int8"] == pytest.approx(EMBEDDING_ELEMENTS / WEIGHT_ELEMENTS, abs=1e-4)  # 0.2105
    assert list(shares) == ["int4", "int8"] and shares["int4"] + shares["int8"] == 1.0


def test_fp16_ir_is_all_fp16():
    assert weight_precisions(model_dir=smollm2_ir_fp16()) == {"fp16": 1.0}


def test_precisions_add_up_every_model_of_a_pipeline_folder(tmp_path):
    """A diffusers or VLM export is several IRs; its tokenizers' IRs hold no weights to count."""
    import openvino as ov
    from openvino import opset13 as ops

    def layers(n: int):
        x = y = ops.parameter([1, 128], np.float32)
        for _ in range(n):
            y = ops.matmul(y, ops.constant(np.ones((128, 128), np.float32)), False, True)
        return ov.Model([y], [x])

    for part, n, fp16 in (("text_encoder", 1, True), ("unet", 3, False)):
        (tmp_path / part).mkdir()
        ov.save_model(layers(n), tmp_path / part / "openvino_model.xml", compress_to_fp16=fp16)
    (tmp_path / "openvino_tokenizer.xml").write_text("not read")
    (tmp_path / "openvino_tokenizer.bin").write_bytes(b"")
    assert weight_precisions(model_dir=tmp_path) == {"fp32": 0.75, "fp16": 0.25}


def test_precisions_of_a_folder_without_a_model(tmp_path):
    with pytest.raises(ModelLoadError, match="holds no OpenVINO model"):
        weight_precisions(model_dir=tmp_path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genai_ui.convert.quality", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def int4_vs_fp16() -> tuple[dict, list[str]]:
    """The quick check of the int4 IR as the convert job gets it: from the command line."""
    run = _cli("--reference", str(smollm2_ir_fp16()), "--candidate", str(smollm2_ir()), "--depth", "quick")
    assert run.returncode == 0, run.stderr
    *progress, last = run.stdout.strip().splitlines()
    return json.loads(last), progress


def test_the_quick_check_prints_the_token_level_figures_and_precisions(int4_vs_fp16):
    found, progress = int4_vs_fp16
    assert set(found) == {"quality", "precisions"}
    assert found["precisions"] == weight_precisions(model_dir=smollm2_ir())
    q = found["quality"]
    # gradio_client would take a dict holding a string under "path" for a file to download
    assert set(q) == {"verdict", "means", "depth", "summary", "tokens", "answer_similarity", "candidate_tokens_per_s",
                      "reference_tokens_per_s", "rows", "evaluated"}
    assert q["depth"] == "quick" and q["rows"] == [] and q["tokens"]["tokens"] == 63
    t = q["tokens"]
    assert 0 < t["kl_mean"] < 1 and 0.5 < t["top1_agreement"] < 1 and t["candidate_perplexity"] > 1
    assert q["verdict"] == verdict_for(kl_mean=t["kl_mean"], top1=t["top1_agreement"])
    assert q["summary"].startswith(f"Quality: {q['verdict']} (a first estimate")
    assert progress and progress[-1] == "genai_ui: progress 63 63 Reading the evaluation text"


def test_cli_refuses_a_missing_model_in_one_line(tmp_path):
    run = _cli("--reference", str(smollm2_ir_fp16()), "--candidate", str(tmp_path / "nothing"))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == f"There is no model at {tmp_path / 'nothing'}."


def test_models_that_read_the_text_as_other_tokens_are_not_compared(tmp_path):
    """Logits of different vocabularies cannot be compared position by position: a clear refusal, not figures."""
    import openvino as ov
    from openvino_tokenizers import convert_tokenizer
    from transformers import AutoTokenizer

    other = tmp_path / "other"
    shutil.copytree(smollm2_ir(), other)
    tokenizer, detokenizer = convert_tokenizer(AutoTokenizer.from_pretrained(tiny_llava()), with_detokenizer=True)
    ov.save_model(tokenizer, other / "openvino_tokenizer.xml")
    ov.save_model(detokenizer, other / "openvino_detokenizer.xml")
    with pytest.raises(ModelLoadError, match="their tokenizers differ"):
        evaluate(reference=smollm2_ir_fp16(), candidate=other, depth="quick")


def test_scrambled_weights_are_broken(tmp_path):
    import openvino as ov

    broken = tmp_path / "broken"
    broken.mkdir()
    for f in smollm2_ir().iterdir():
        if f.is_file() and not f.name.startswith(("openvino_model.", ".")):
            shutil.copy(f, broken / f.name)
    model = scramble(ov.Core().read_model(smollm2_ir() / "openvino_model.xml"), None)
    ov.save_model(model, broken / "openvino_model.xml", compress_to_fp16=False)
    assert weight_precisions(model_dir=broken) == weight_precisions(model_dir=smollm2_ir())  # same format
    report = evaluate(reference=smollm2_ir_fp16(), candidate=broken, depth="quick")
    assert report.verdict == "broken", report.tokens
    assert report.tokens["top1_agreement"] < 0.2 and report.tokens["candidate_perplexity"] > 1000
