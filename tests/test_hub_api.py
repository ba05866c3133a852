"""The Hub endpoints of the launched app over gradio_client, against the local Hub."""

import pytest
from gradio_client.exceptions import AppError

QUESTION = "What is the capital of France?"


@pytest.fixture
def library_cleanup(services):
    """Models a test downloads leave the shared library afterwards."""
    before = {e.id for e in services.library.list()}
    yield
    for entry in services.library.list():
        if entry.id not in before:
            services.pipelines.unload(entry.id)
            services.library.delete(entry.id)


def test_search_models(client):
    found = client.predict("smollm2", "text-generation", "likes", 3, False, False, api_name="/search_models")
    assert [m["id"] for m in found] == ["HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
                                        "OpenVINO/SmolLM2-135M-Instruct-int4-ov"]
    first = found[0]
    assert set(first) == {"id", "task", "downloads", "likes", "last_modified", "supported", "reason", "sizes"}
    assert first["supported"] and first["sizes"]["fp16"] == 2 * 134_515_008
    mamba = client.predict("mamba", api_name="/search_models")
    assert mamba[0]["reason"] == "architecture mamba is not run by openvino_genai's LLMPipeline"
    only_ir = client.predict("", "", "downloads", 20, True, False, api_name="/search_models")
    assert {m["id"] for m in only_ir} == {"OpenVINO/Qwen2.5-0.5B-Instruct-int4-ov",
                                          "OpenVINO/SmolLM2-135M-Instruct-int4-ov"}
    with pytest.raises(AppError, match="sort must be one of downloads, likes, trending, recent; got 'stars'"):
        client.predict("", "", "stars", api_name="/search_models")


def test_model_details(client):
    d = client.predict("bartowski/Qwen2.5-0.5B-Instruct-GGUF", api_name="/model_details")
    assert d["architecture"] == "qwen2" and d["supported"] and d["task"] == "text-generation"
    assert {f["name"]: (f["quantization"], f["loadable"]) for f in d["gguf_files"]} == {
        "Qwen2.5-0.5B-Instruct-IQ4_XS.gguf": ("IQ4_XS", False), "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf": ("Q4_K_M", True),
        "Qwen2.5-0.5B-Instruct-Q5_K_M.gguf": ("Q5_K_M", False), "Qwen2.5-0.5B-Instruct-Q8_0.gguf": ("Q8_0", True),
        "Qwen2.5-0.5B-Instruct-f16.gguf": ("F16", True)}
    assert d["card"].startswith("# bartowski/Qwen2.5-0.5B-Instruct-GGUF") and d["license"] == "apache-2.0"
    # the pre-flight: each file that loads, fetched as it is (the local Hub's files are a few bytes each)
    pre = d["preflight"]
    assert [(p["precision"], p["how"], p["convert_peak_bytes"]) for p in pre["plans"]] == [
        ("Q4_K_M", "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", 0), ("Q8_0", "Qwen2.5-0.5B-Instruct-Q8_0.gguf", 0),
        ("F16", "Qwen2.5-0.5B-Instruct-f16.gguf", 0)]
    assert all(p["fits"] and p["tokens_per_s"] > 0 and p["download_bytes"] == 4 for p in pre["plans"])
    assert pre["device"] == "CPU" and pre["machine"]["processor"] == pre["processor"] and pre["free_memory_bytes"] > 0
    with pytest.raises(AppError, match="No model 'nobody/nothing' on the Hub"):
        client.predict("nobody/nothing", api_name="/model_details")


def test_download_a_gguf_and_chat_with_it(client, library_cleanup):
    got = client.predict("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", api_name="/download_model")
    assert got["id"] == "SmolLM2-135M-Instruct-GGUF-Q4_1" and got["size_bytes"] == 98362432
    assert set(got) == {"id", "location", "size_bytes"}
    assert got["id"] in [m["id"] for m in client.predict(api_name="/local_models")]
    assert "Paris" in client.predict(QUESTION, [], got["id"], "", 32, 0.0, api_name="/chat")
    # fetching it again is done at once, and gives the same model
    assert client.predict("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", api_name="/download_model") == got


def test_download_an_ir_repo_and_chat_with_it(client, library_cleanup):
    got = client.predict("OpenVINO/SmolLM2-135M-Instruct-int4-ov", "main", api_name="/download_model")
    assert got["id"] == "SmolLM2-135M-Instruct-int4-ov"
    (entry,) = [m for m in client.predict(api_name="/local_models") if m["id"] == got["id"]]
    assert entry["format"] == "openvino" and entry["weight_format"] == "int4"
    assert entry["source"]["repo_id"] == "OpenVINO/SmolLM2-135M-Instruct-int4-ov" and len(entry["source"]["commit"]) == 40
    assert "Paris" in client.predict(QUESTION, [], got["id"], "", 32, 0.0, api_name="/chat")


@pytest.mark.parametrize("repo_id,message", [
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "holds a checkpoint, not an OpenVINO model: convert it"),
    ("state-spaces/mamba-130m-hf", "cannot run here: architecture mamba is not run by openvino_genai's LLMPipeline"),
    ("gated-org/SmolLM2-135M-Instruct-GGUF", "This model is gated: accept its terms on its Hub page, then give a token"),
    ("nobody/nothing", "No model 'nobody/nothing' on the Hub"),
    ("not a repo", "is not a Hub repo id"),
])
def test_what_cannot_be_downloaded_says_why(client, services, repo_id, message):
    before = [e.id for e in services.library.list()]
    with pytest.raises(AppError, match=message):
        client.predict(repo_id, api_name="/download_model")
    assert [e.id for e in services.library.list()] == before


@pytest.fixture(scope="module")
def hubless_client(hubless_app):
    from gradio_client import Client

    return Client(hubless_app, verbose=False)


def test_the_hub_down_is_one_clear_line_and_the_library_keeps_working(hubless_client):
    with pytest.raises(AppError, match=r"The Hub at http://127\.0\.0\.1:\d+ cannot be reached: the local library "
                                       r"still works\."):
        hubless_client.predict("qwen", api_name="/search_models")
    with pytest.raises(AppError, match="cannot be reached"):
        hubless_client.predict("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", api_name="/download_model")
    assert [m["id"] for m in hubless_client.predict(api_name="/local_models")] == ["SmolLM2-135M-Instruct-Q4_1"]
    assert "Paris" in hubless_client.predict(QUESTION, [], "", "", 32, 0.0, api_name="/chat")
