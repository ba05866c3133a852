"""The load bench's parts: a person reading the HTTP API as light as a browser tab, and the engine's own
scaling beside the app's (the bench itself runs for minutes: `python -m genai_ui.bench load`)."""

import pytest

from genai_ui.bench.load import MAX_NEW_TOKENS, engine_scaling, http_asker, load_table, service_scaling
from tests.models import smollm2_ir

pytestmark = pytest.mark.layer("engine")  # real engines; the app where a test asks for it


def test_a_light_client_gets_the_whole_answer(app_url):
    assert "Paris" in http_asker(app_url)("What is the capital of France?", [])


def test_the_engines_own_scaling_counts_each_replys_tokens():
    speeds = engine_scaling(smollm2_ir(), seconds=0.5, max_new_tokens=8)
    assert set(speeds) == {1, 4} and all(v > 0 for v in speeds.values())


def test_the_chat_services_own_scaling_counts_the_engines_tokens(tmp_path, gguf):
    speeds = service_scaling(tmp_path, seconds=0.5, max_new_tokens=8)
    assert set(speeds) == {1, 4} and all(v > 0 for v in speeds.values())


def test_the_table_shows_the_engines_ceiling_beside_the_apps_scaling():
    result = {"users": 8, "seconds": 120.0, "max_new_tokens": MAX_NEW_TOKENS, "replies": 10, "errors": 0,
              "crosstalk": 0, "own_city_missing": 0, "tokens_per_s": 100.0, "latency_median_s": 5.0,
              "latency_p95_s": 6.0, "rss_after_warmup_mb": 700, "rss_end_mb": 710, "memory_growth": 0.014,
              "scaling_tokens_per_s": {"1": 40.0, "4": 100.0}, "four_users_vs_one": 2.5,
              "service_tokens_per_s": {"1": 45.0, "4": 110.0}, "service_four_vs_one": 2.44,
              "engine_tokens_per_s": {"1": 50.0, "4": 150.0}, "engine_four_vs_one": 3.0}
    table = load_table(result)
    assert "**2.50×** one alone (target ≥ 2.5)" in table
    assert "| the engine alone, 4 replies started together | 150.0 tokens/s: 3.00× one alone (50.0) |" in table
    assert "no web server: 4 people | 110.0 tokens/s: 2.44× one alone (45.0) |" in table
