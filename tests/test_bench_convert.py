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
        "raw": {"seconds": 100.0, "peak_rss_bytes": 1_500_000_000, "output_bytes": 110_000_000, "stages": {}},
        "app": {"seconds": 150.0, "peak_rss_bytes": 1_200_000_000, "output_bytes": 111_000_000,
                "stages": {"Check": 0.5, "Download": 1.0, "Export": 40.0, "Compress": 60.0, "Verify": 45.0,
                           "Register": 0.2}},
        "app_converting_s": 100.0, "time_ratio": 1.5, "converting_ratio": 1.0, "memory_ratio": 0.8,
        "size_ratio": 1.009, "quality": [{"verdict": "close", "score": 0.91, "reference_tokens_per_s": 40.0}] * 2,
        "tokens_per_s": 55.0, "app_page_s": 9.0,
    }
    table = convert_table(results)
    assert "| wall time | 100.0 s | 150.0 s | 1.50 |" in table
    assert "| … converting (Export + Compress) | | 100.0 s | 1.00 |" in table
    assert "| … verifying (quality check against the fp16 export) | | 45.0 s | |" in table
    assert "| … the rest (check, cached download, register, API) | | 5.0 s | |" in table
    assert "| 1.50 GB | 1.20 GB | 0.80 |" in table and "| 110.0 MB | 111.0 MB | 1.009 |" in table
    assert "close (0.91); close (0.91)" in table and "55.0 tokens/s (its fp16 export 40.0)" in table
