"""`python -m genai_ui.bench convert` without converting anything: its one-line errors about the Hub,
and the table it prints. The conversions themselves are covered by test_convert.py."""

import pytest

from genai_ui.bench import convert_table, free_port, main
from tests.hub_server import LocalHub

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own


def test_a_hub_that_cannot_be_reached_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SystemExit, match=r"^The Hub at http://127\.0\.0\.1:\d+ cannot be reached") as exit:
        main(["convert", "--runs", "1"])
    assert "\n" not in str(exit.value)


def test_a_repo_missing_from_the_hub_is_one_line(monkeypatch):
    hub = LocalHub()
    monkeypatch.setenv("HF_ENDPOINT", hub.start())
    try:
        with pytest.raises(SystemExit, match="No model 'nobody/nothing' on the Hub"):
            main(["convert", "--repo", "nobody/nothing"])
    finally:
        hub.stop()


def test_the_table_sets_each_figure_beside_the_raw_one():
    results = {
        "repo": "HuggingFaceTB/SmolLM2-135M-Instruct", "runs": 2, "app_options": {"group_size": 64},
        "raw_command": "optimum-cli export openvino --model X --weight-format int4 <output folder>",
        "raw": {"seconds": 100.0, "peak_rss_bytes": 1_500_000_000, "output_bytes": 110_000_000, "stages": {},
                "usable_s": 100.0},
        "app": {"seconds": 180.0, "peak_rss_bytes": 1_200_000_000, "output_bytes": 111_000_000, "usable_s": 108.0,
                "stages": {"Check": 0.5, "Download": 1.0, "Export": 40.0, "Compress": 60.0, "Verify": 4.0,
                           "Register": 0.2, "Evaluate": 71.0}},
        "app_converting_s": 100.0, "app_rest_s": 4.0, "usable_ratio": 1.08, "verify_share": 0.04,
        "time_ratio": 1.8, "converting_ratio": 1.0, "memory_ratio": 0.8, "size_ratio": 1.009,
        "quality": [{"verdict": "degraded", "kl_mean": 0.318, "top1_agreement": 0.65, "answer_similarity": 0.81,
                     "reference_tokens_per_s": 40.0}] * 2,
        "tokens_per_s": 55.0, "app_page_s": 9.0,
    }
    table = convert_table(results)
    assert ("| until the model can be used (the app: registered) | 100.0 s | 108.0 s | **1.08** (target ≤ 1.15) |"
            in table)
    assert "| … converting (Export + Compress) | | 100.0 s | 1.00 |" in table
    assert "| … the quick check (Verify) | | 4.0 s | 4.0% of converting (target ≤ 10%) |" in table
    assert "| … the rest (check, cached download, register, API) | | 4.0 s | |" in table
    assert "| then the full evaluation (Evaluate; the model is usable meanwhile) | | 71.0 s | |" in table
    assert "| until the report is complete | | 180.0 s | 1.80 |" in table
    assert "| 1.50 GB | 1.20 GB | 0.80 |" in table and "| 110.0 MB | 111.0 MB | 1.009 |" in table
    assert "degraded (KL 0.318, top-1 65%, answers 0.81); degraded" in table
    assert "55.0 tokens/s (its fp16 export 40.0)" in table
