"""`python -m genai_ui.bench engines`: both engines really run, each in a process of its own, and the
table sets each variant beside the one it differs from."""

import json

import pytest

from genai_ui.bench import main
from genai_ui.bench.engines import engines_table

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own


def test_both_engines_are_measured_in_one_run(tmp_path, capsys):
    main(["engines", "--rounds", "1", "--runs", "1", "--max-new-tokens", "8", "--output", str(tmp_path)])
    result = json.loads((tmp_path / "engines.json").read_text())
    genai, optimum = result["variants"]["openvino_genai"], result["variants"]["Optimum Intel"]
    for m in (genai, optimum):
        assert m["tokens_per_s"] > 0 and m["ttft_ms"] > 0 and m["load_ms"] > 0
        assert abs(m["tpot_ms"] - 1000 / m["tokens_per_s"]) < 1e-6
    assert result["rounds"] == 1 and result["max_new_tokens"] == 8
    assert result["speed_ratio"] == genai["tokens_per_s"] / optimum["tokens_per_s"]
    # each in its own process: optimum-intel brings torch and transformers, openvino_genai does not
    assert optimum["peak_rss_bytes"] > genai["peak_rss_bytes"] + 100_000_000
    assert "| Optimum Intel | " in capsys.readouterr().out


def test_the_table_compares_each_variant_with_the_one_it_differs_from():
    def m(speed, against="openvino_genai", ratio=None, accepted=None):
        return {"tokens_per_s": speed, "ttft_ms": 30.0, "tpot_ms": 1000 / speed, "load_ms": 1500.0,
                "peak_rss_bytes": 400_000_000, "accepted_tokens": accepted, "against": against, "ratio": ratio}

    table = engines_table({"model": "m", "rounds": 3, "runs": 3, "max_new_tokens": 128, "variants": {
        "openvino_genai": m(80.0, ratio=None), "fp16": m(60.0, ratio=0.75),
        "fp16, int4 draft": m(30.0, against="fp16", ratio=0.5, accepted=82.0)}})
    assert "| openvino_genai | 80.0 |  |  | 30 | 1.50 | 0.40 |  |" in table
    assert "| fp16 | 60.0 | openvino_genai | 0.75 |" in table
    assert "| fp16, int4 draft | 30.0 | fp16 | 0.50 | 30 | 1.50 | 0.40 | 82 |" in table
