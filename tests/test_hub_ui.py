"""What the Hub tab writes about a model, from the core's real results against the local Hub."""

from genai_ui.hub.client import HubService, details
from genai_ui.ui.format import human_bytes, human_count, human_seconds
from genai_ui.ui.hub_tab import describe, kind, rows


def test_what_the_details_say(local_hub):
    hub = HubService(endpoint=local_hub.endpoint)
    checkpoint = details(hub, "HuggingFaceTB/SmolLM2-135M-Instruct")
    text = describe(checkpoint, ["SmolLM2-135M-Instruct-Q4_1"])
    assert kind(checkpoint) == "checkpoint" and "runs here once converted to OpenVINO IR" in text
    assert "In your library from this repo: **SmolLM2-135M-Instruct-Q4_1**" in text
    assert "**License** apache-2.0" in text and "fp16 269 MB" in text
    mamba = describe(details(hub, "state-spaces/mamba-130m-hf"), [])
    assert "✗ **Does not run here**: architecture mamba is not run by openvino_genai's LLMPipeline." in mamba
    assert kind(details(hub, "OpenVINO/SmolLM2-135M-Instruct-int4-ov")) == "openvino"
    assert "needs a token with access" in describe(details(hub, "gated-org/tiny-llava-gated"), [])


def test_result_rows(local_hub):
    (row,) = rows(HubService(endpoint=local_hub.endpoint).search(query="mamba"))
    assert row == ["state-spaces/mamba-130m-hf", "Chat", "70k", "50", "2026-07-15",
                   "✗ architecture mamba is not run by openvino_genai's LLMPipeline", "258 MB", "130 MB", "68.4 MB"]


def test_numbers_for_people():
    assert [human_bytes(n) for n in (0, 512, 98_362_432, 2.6e9)] == ["–", "512 B", "98.4 MB", "2.6 GB"]
    assert [human_count(n) for n in (12, 45_000, 1_234_567, 10_000_000)] == ["12", "45k", "1.2M", "10M"]
    assert [human_seconds(s) for s in (None, 5, 75, 5000)] == ["–", "5s", "1m 15s", "1h 23m"]
