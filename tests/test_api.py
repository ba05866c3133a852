"""The launched app over gradio_client, as scripts and other programs use it."""

import pytest
from gradio_client.exceptions import AppError

from genai_ui.builtin import BUILTIN_ID

QUESTION = "What is the capital of France?"


def test_devices(client):
    devices = client.predict(api_name="/devices")
    assert {"id": "CPU", "name": devices[0]["name"]} == devices[0] and devices[0]["name"].startswith("CPU: ")
    assert devices[-1]["id"] == "AUTO"


def test_local_models_shows_the_builtin(client):
    models = client.predict(api_name="/local_models")
    builtin = next(m for m in models if m["id"] == BUILTIN_ID)
    assert builtin["task"] == "text-generation" and builtin["format"] == "gguf"
    assert builtin["weight_format"] == "Q4_1" and builtin["size_bytes"] > 90_000_000
    images = client.predict("text-to-image", api_name="/local_models")  # the Image tests may have added one
    assert {m["task"] for m in images} <= {"text-to-image"} and BUILTIN_ID not in [m["id"] for m in images]


def test_chat_streams_and_answers_paris(client):
    job = client.submit(QUESTION, [], "", "", 64, 0.0, api_name="/chat")
    updates = list(job)
    assert len(updates) > 1, "the reply should arrive in several updates"
    assert "Paris" in updates[-1]
    assert updates[-1].startswith(updates[0])


def test_chat_takes_history_and_system_prompt(client):
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Paris."}]
    reply = client.predict("And what is the capital of Italy?", history, "", "You are a geography teacher.", 64, 0.0,
                           api_name="/chat")
    assert "Rome" in reply


@pytest.mark.parametrize("args,message", [
    (("",), "Type a message first"),
    (("hi", [], "no-such-model"), "No model 'no-such-model' in the library"),
    (("hi", [], "", "", 64, 0.7, 0.9, 50, 1.0, -1, "TPU"), "Device 'TPU' is not available here"),
    (("hi", [], "", "", 64, 5.0), "temperature must be at least 0.0 and at most 2.0; got 5.0"),
    (("hi", [], "", "", 0), "max_new_tokens must be at least 1"),
    (("hi", [{"role": "robot", "content": "x"}]), r"history\[0\] must be a dict with a role"),
])
def test_bad_input_comes_back_as_an_error(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/chat")


def test_app_keeps_working_after_errors(client):
    with pytest.raises(AppError):
        client.predict("", api_name="/chat")
    assert "Paris" in client.predict(QUESTION, [], "", "", 64, 0.0, api_name="/chat")


def test_benchmark(client):
    result = client.predict(BUILTIN_ID, "CPU", "Count to twenty.", 16, 2, "genai", api_name="/benchmark")
    assert {"ttft_ms", "tpot_ms", "tokens_per_s", "load_ms", "peak_rss_bytes"} <= set(result)
    assert result["model"] == BUILTIN_ID and result["engine"] == "genai" and result["runs"] == 2
    assert result["ttft_ms"] > 0 and result["tokens_per_s"] > 0 and result["load_ms"] > 0
    assert abs(result["tpot_ms"] - 1000 / result["tokens_per_s"]) < 1e-6
    assert result["peak_rss_bytes"] > 100_000_000
    with pytest.raises(AppError, match="runs must be a whole number from 1 to 20"):
        client.predict("", "", "", 16, 0, api_name="/benchmark")


def test_engine_options_over_the_api(client, services):
    """Chosen over the API, remembered for the model, used by /chat; refused in words when wrong."""
    from genai_ui.engines.options import EngineOptions
    from tests.models import install_folder, smollm2_ir

    install_folder(services.library, "smollm2-int4", smollm2_ir(), "int4")
    try:
        result = client.predict("smollm2-int4", "CPU", "", 5, True, "u8", 64, "batching",
                                api_name="/set_engine_options")
        assert result["model"] == "smollm2-int4" and result["device"] == "CPU" and result["load_ms"] > 0
        assert result["prompt_lookup"] and result["kv_cache_precision"] == "u8" and result["dq_group_size"] == 64
        assert client.predict("smollm2-int4", api_name="/engine_options") == {"model": "smollm2-int4", "device": "CPU",
                                                                              **{k: result[k] for k in EngineOptions().to_api()}}
        assert "Paris" in client.predict(QUESTION, [], "smollm2-int4", "", 32, 0.0, api_name="/chat")
        assert services.pipelines.current("text-generation").options.prompt_lookup
        with pytest.raises(AppError, match="kv_cache_precision must be one of f16, u8, u4"):
            client.predict("smollm2-int4", "", "", 5, False, "q2", api_name="/set_engine_options")
        with pytest.raises(AppError, match="Speculative decoding and prompt lookup run on the batching engine"):
            client.predict("smollm2-int4", "", "", 5, True, "", -1, "optimum", api_name="/set_engine_options")
        with pytest.raises(AppError, match="inference_precision must be one of f32, bf16, f16"):
            client.predict("smollm2-int4", "", "", 5, False, "", -1, "batching", "fp8", api_name="/set_engine_options")
        assert client.predict("smollm2-int4", api_name="/engine_options")["kv_cache_precision"] == "u8"  # kept
    finally:
        services.chat.options.set("smollm2-int4", EngineOptions())
        services.pipelines.unload("smollm2-int4")
