"""`python -m genai_ui.bench api`: /v1 streamed through `openai` and as raw SSE against the raw engine, every
figure measured in one run (the figures themselves are the bench's to report, not a test's to assert)."""

import json

import pytest

from genai_ui.bench import main

pytestmark = pytest.mark.layer("engine")  # real engines, and an app in a subprocess


def test_every_figure_is_measured_in_one_run(tmp_path, capsys):
    main(["api", "--runs", "1", "--max-new-tokens", "16", "--output", str(tmp_path)])
    result = json.loads((tmp_path / "api.json").read_text())
    for path in ("raw_genai", "v1_openai", "v1_sse"):
        assert result[path]["tokens"] > 8 and result[path]["decode_tokens_per_s"] > 0, path
        assert result[path]["ttft_ms"] > 0, path
    assert result["speed_ratio"] > 0 and result["speed_ratio_sse"] > 0 and result["machine"]["cores"] >= 1
    assert "| /v1 speed / raw speed ≥ 0.97 |" in capsys.readouterr().out
