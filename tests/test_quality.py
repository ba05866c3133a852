"""The quality report on real models: SmolLM2-135M as an fp16 IR (the reference), as an int4
IR, and as an int4 IR whose weight matrices were overwritten with random values."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genai_ui.convert.quality import PROMPTS, QualityReport, compare_answers, similarity, weight_precisions
from genai_ui.errors import InvalidParameter, ModelLoadError
from tests.models import smollm2_ir, smollm2_ir_fp16

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


def test_similarity_of_answers():
    assert similarity(reference="The capital of France is Paris.", candidate="the capital of France is Paris") == 1.0
    # the same answer, then talking on: not marked down much
    assert similarity(reference="The opposite of hot is cold.",
                      candidate="The opposite of hot is cold. This is a fundamental concept in science.") > 0.8
    # one matching word is not the same answer
    assert similarity(reference="The capital of France is Paris, a city on the Seine.", candidate="The") < 0.3
    assert similarity(reference="The capital of France is Paris.", candidate="") == 0.0


def test_report_checks_itself():
    with pytest.raises(InvalidParameter, match="at least one"):
        QualityReport(rows=(), candidate_tokens_per_s=1.0, reference_tokens_per_s=1.0)
    row = {"prompt": "p", "reference": "a", "candidate": "a", "similarity": 1.0}
    with pytest.raises(InvalidParameter, match="candidate_tokens_per_s"):
        QualityReport(rows=[row], candidate_tokens_per_s=math.nan, reference_tokens_per_s=1.0)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genai_ui.convert.quality", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def int4_vs_fp16() -> dict:
    """The report on the int4 IR as the convert job gets it: from the command line."""
    run = _cli("--reference", str(smollm2_ir_fp16()), "--candidate", str(smollm2_ir()))
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_cli_prints_quality_and_precisions(int4_vs_fp16):
    assert set(int4_vs_fp16) == {"quality", "precisions"}
    assert int4_vs_fp16["precisions"] == weight_precisions(model_dir=smollm2_ir())
    # gradio_client would take a dict holding a string under "path" for a file to download
    assert set(int4_vs_fp16["quality"]) == {"verdict", "score", "summary", "candidate_tokens_per_s",
                                            "reference_tokens_per_s", "rows"}
    for row in int4_vs_fp16["quality"]["rows"]:
        assert set(row) == {"prompt", "reference", "candidate", "similarity"}


def test_int4_answers_like_fp16(int4_vs_fp16):
    report = int4_vs_fp16["quality"]
    assert [r["prompt"] for r in report["rows"]] == list(PROMPTS)
    assert 0 < report["score"] <= 1 and report["verdict"] in ("same", "close", "degraded")
    france = next(r for r in report["rows"] if "France" in r["prompt"])
    assert "Paris" in france["candidate"] and "Paris" in france["reference"]
    assert report["candidate_tokens_per_s"] > 0 and report["reference_tokens_per_s"] > 0
    assert report["summary"].startswith(f"Quality: {report['verdict']} ({report['score']:.2f} similarity")


def test_cli_refuses_a_missing_model_in_one_line(tmp_path):
    run = _cli("--reference", str(smollm2_ir_fp16()), "--candidate", str(tmp_path / "nothing"))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == f"There is no model at {tmp_path / 'nothing'}."


def _scramble_weights(source: Path, target: Path) -> None:
    """A copy of an int4 IR whose int4 weight matrices are random: it loads and runs like the
    original, tokenizer and embedding included, and answers nonsense."""
    import openvino as ov

    target.mkdir()
    for f in source.iterdir():
        if f.is_file() and not f.name.startswith(("openvino_model.", ".")):
            shutil.copy(f, target / f.name)
    model = ov.Core().read_model(source / "openvino_model.xml")
    rng = np.random.default_rng(0)
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.u4 and \
                math.prod(op.get_output_shape(0)) >= 1024:
            tensor = ov.Tensor(ov.Type.u4, op.get_output_shape(0))
            tensor.data[:] = rng.integers(0, 256, tensor.data.shape, dtype=np.uint8)  # two values a byte
            op.output(0).replace(ov.op.Constant(tensor).output(0))
    ov.save_model(model, target / "openvino_model.xml", compress_to_fp16=False)


def test_scrambled_weights_are_broken(tmp_path):
    broken = tmp_path / "broken"
    _scramble_weights(smollm2_ir(), broken)
    assert weight_precisions(model_dir=broken) == weight_precisions(model_dir=smollm2_ir())  # same format
    report = compare_answers(reference=smollm2_ir_fp16(), candidate=broken, prompts=PROMPTS[:2], max_new_tokens=12)
    assert report.verdict == "broken", report.rows
    assert report.score < 0.3 and report.summary().startswith("Quality: broken (")
    assert report.to_api()["rows"][0]["candidate"] == report.rows[0]["candidate"]

