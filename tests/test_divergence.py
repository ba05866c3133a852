"""The token-level measure of what compression costs, on real IRs of SmolLM2 and its checkpoint."""

import numpy as np
import pytest

from genai_ui.bench.quality import CASES, build_case
from genai_ui.convert.divergence import EVAL_TEXT, divergence, eval_tokens
from tests.models import smollm2_checkpoint, smollm2_ir, smollm2_ir_fp16

pytestmark = pytest.mark.layer("engine")

TOKENS = 512  # of the evaluation text: enough to order the cases, quick for the tests


def test_a_model_against_itself_diverges_nowhere():
    same = divergence(reference=smollm2_ir_fp16(), candidate=smollm2_ir_fp16(), max_tokens=TOKENS)
    assert same.tokens == TOKENS - 1 and same.top1_agreement == 1.0
    assert same.kl_mean < 1e-6 and same.kl_p99 < 1e-5
    assert same.candidate_perplexity == same.reference_perplexity > 1.0


def test_int8_costs_less_than_int4_which_costs_less_per_channel(tmp_path):
    """int8 (per channel), int4 asym in groups of 64 (the published form), int4 sym per channel on every
    layer, the embeddings too: each a coarser compression of the same fp16 weights (the calibration's cases)."""
    fp16 = smollm2_ir_fp16()
    cases = {name: how for name, _, how in CASES}
    int8, channel = tmp_path / "int8", tmp_path / "int4-channel"
    build_case(fp16, smollm2_ir(), int8, cases["int8"])
    build_case(fp16, smollm2_ir(), channel, cases["int4-sym-channel-all"])
    measured = {name: divergence(reference=fp16, candidate=folder, max_tokens=TOKENS)
                for name, folder in (("int8", int8), ("int4", smollm2_ir()), ("channel", channel))}
    assert measured["int8"].kl_mean < measured["int4"].kl_mean < measured["channel"].kl_mean
    assert measured["int8"].top1_agreement > measured["int4"].top1_agreement > measured["channel"].top1_agreement
    assert measured["int8"].kl_mean < 0.01 and measured["int8"].top1_agreement > 0.92


def test_the_fp16_exports_perplexity_is_the_checkpoints():
    """Computed by transformers on the same tokens: within 1%."""
    import torch
    from transformers import AutoModelForCausalLM

    ids = eval_tokens(smollm2_ir_fp16(), TOKENS)
    model = AutoModelForCausalLM.from_pretrained(smollm2_checkpoint(), torch_dtype=torch.float32)
    with torch.no_grad():
        loss = model(torch.from_numpy(ids).unsqueeze(0), labels=torch.from_numpy(ids).unsqueeze(0)).loss
    theirs = float(np.exp(loss.item()))
    ours = divergence(reference=smollm2_ir_fp16(), candidate=smollm2_ir_fp16(), max_tokens=TOKENS)
    assert ours.reference_perplexity == pytest.approx(theirs, rel=0.01)
    assert "Alice was beginning to get very tired" in EVAL_TEXT.read_text()
