"""The Hub tab's core against the local Hub, through the real huggingface_hub client."""

import pytest

from genai_ui.errors import HubUnavailable, InvalidParameter
from genai_ui.hub.client import HubService, details, estimate_sizes
from genai_ui.hub.support import check_support


def listings(local_hub) -> int:
    return sum(1 for method, path in local_hub.requests if method == "GET" and path.rstrip("/") == "/api/models")


def test_search_sorts(hub):
    assert [m.id for m in hub.search(sort="downloads", limit=2)] == [
        "meta-llama/Llama-3.2-1B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"]
    likes = [m.likes for m in hub.search(sort="likes", limit=50)]
    assert likes == sorted(likes, reverse=True)
    assert hub.search(sort="trending", limit=1)[0].id == "Qwen/Qwen2.5-0.5B-Instruct"
    recent = [m.last_modified for m in hub.search(sort="recent", limit=50)]
    assert recent == sorted(recent, reverse=True)


def test_search_filters(hub):
    assert {m.id for m in hub.search(task="text-to-image")} == {"tiny-random/stable-diffusion", "stabilityai/sd-turbo"}
    assert {m.id for m in hub.search(gguf_only=True)} == {"bartowski/Qwen2.5-0.5B-Instruct-GGUF",
                                                         "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
                                                         "gated-org/SmolLM2-135M-Instruct-GGUF"}
    assert {m.id for m in hub.search(openvino_only=True)} == {"OpenVINO/Qwen2.5-0.5B-Instruct-int4-ov",
                                                             "OpenVINO/SmolLM2-135M-Instruct-int4-ov"}
    assert {m.id for m in hub.search(query="smollm2", task="text-generation")} == {
        "HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        "OpenVINO/SmolLM2-135M-Instruct-int4-ov", "gated-org/SmolLM2-135M-Instruct-GGUF"}


def test_support_marks_and_reasons(hub):
    found = {m.id: m for m in hub.search(limit=100)}
    for supported in ("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
                      "tiny-random/llava", "tiny-random/stable-diffusion", "tiny-random/bert-reranker"):
        assert found[supported].supported and found[supported].reason == "", supported
    # a text classifier of labels is tagged as rerankers are: its listing cannot tell, its details say so
    assert {m.id for m in hub.search(task="text-classification")} == {
        "tiny-random/bert-reranker", "nlptown/bert-base-multilingual-uncased-sentiment"}
    sentiment = details(hub, "nlptown/bert-base-multilingual-uncased-sentiment")
    assert not sentiment.supported and sentiment.reason == (
        "it sorts text into 5 labels (1 star, 2 stars, 3 stars, 4 stars, …): a classifier, not a reranker, which "
        "gives a question and a passage one score")
    assert details(hub, "tiny-random/bert-reranker").supported
    t5 = found["tiny-random/t5"]
    assert not t5.supported and t5.reason == "task text2text-generation is not run here (Chat, Vision, Image, Embeddings and Reranker models are)"


def test_support_table():
    one = check_support(task="text-classification", config={"model_type": "bert", "id2label": {"0": "LABEL_0"}})
    assert one.supported  # a cross-encoder: one score a pair
    assert check_support(task="text-classification", config={"model_type": "bert", "id2label": ["a", "b"]}).supported
    assert check_support(task="text-generation", config={"model_type": "mamba"}) .reason == \
        "architecture mamba is not run by openvino_genai's LLMPipeline"
    assert check_support(task="text-generation", gguf={"architecture": "gemma2"}).reason.startswith(
        "GGUF architecture gemma2 is not read by openvino_genai")
    assert not check_support(task="text-to-image", config={"diffusers": {"_class_name": "KandinskyPipeline"}}).supported
    assert check_support(task="image-text-to-text", config={"model_type": "llava"}).supported


def test_size_estimates(hub):
    (smollm2,) = hub.search(query="HuggingFaceTB/SmolLM2-135M-Instruct", gguf_only=False, task="text-generation",
                            limit=1, sort="likes")
    params = 134_515_008  # SmolLM2-135M with tied embeddings, as its safetensors header counts
    assert smollm2.sizes == estimate_sizes(params)
    assert smollm2.sizes["fp16"] == 2 * params and smollm2.sizes["int4"] < smollm2.sizes["int8"] < smollm2.sizes["fp16"]
    (sd,) = hub.search(query="tiny-random/stable", limit=1)
    assert sd.sizes["fp16"] > 0  # no parameter count: from the repo's size on disk


def test_one_listing_per_search_and_a_short_cache(hub, local_hub):
    before = listings(local_hub)
    first = hub.search(query="qwen", sort="likes")
    assert listings(local_hub) == before + 1
    assert hub.search(query="qwen", sort="likes") == first
    assert listings(local_hub) == before + 1


def test_bad_choices_and_an_unreachable_hub():
    with pytest.raises(InvalidParameter, match="sort must be one of downloads, likes, trending, recent"):
        HubService(endpoint="http://127.0.0.1:9").search(sort="stars")
    with pytest.raises(HubUnavailable, match="cannot be reached: the local library still works"):
        HubService(endpoint="http://127.0.0.1:9").search()
    with pytest.raises(HubUnavailable, match="HF_HUB_OFFLINE=1"):
        HubService(endpoint="http://127.0.0.1:9", offline=True).search()


def test_details_of_a_checkpoint(hub):
    from genai_ui.hub.client import details

    d = details(hub, "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert d.task == "text-generation" and d.architecture == "llama" and d.supported
    assert d.license == "apache-2.0" and d.card.startswith("# SmolLM2-135M-Instruct")
    files = {f["name"]: f["size"] for f in d.files}
    assert files["model.safetensors"] > 500_000_000 and "config.json" in files
    assert d.gguf_files == [] and d.gated is False


def test_details_of_a_gguf_repo(hub):
    from genai_ui.hub.client import details, gguf_quantization

    d = details(hub, "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF")
    assert d.architecture == "llama"
    assert d.gguf_files == [{"name": "SmolLM2-135M-Instruct.Q4_1.gguf", "size": 98362432, "quantization": "Q4_1",
                             "loadable": True}]
    assert [gguf_quantization(n) for n in ("m-Q4_K_M.gguf", "m.IQ2_XS.gguf", "m-f16.gguf", "model.gguf")] == [
        "Q4_K_M", "IQ2_XS", "F16", "unknown"]


def test_details_of_gated_unknown_and_malformed(hub, local_hub):
    from genai_ui.hub.client import details

    gated = details(hub, "gated-org/tiny-llava-gated")
    assert gated.gated == "manual" and "needs a token" in gated.card
    assert details(hub, "gated-org/tiny-llava-gated", token="hf_test_token").card.startswith("# Gated tiny LLaVA")
    # the card is in the Hugging Face cache now; a session without a token still does not see it
    assert "needs a token" in details(hub, "gated-org/tiny-llava-gated").card
    with pytest.raises(InvalidParameter, match="No model 'nobody/nothing' on the Hub"):
        details(hub, "nobody/nothing")
    with pytest.raises(InvalidParameter, match="is not a Hub repo id"):
        details(hub, "../etc/passwd")
