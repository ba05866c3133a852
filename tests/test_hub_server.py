"""The local Hub, driven by the real huggingface_hub client: the ground the Hub, convert,
vision and image features are tested on."""

import hashlib
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

from tests.models import tiny_llava


@pytest.fixture(scope="module")
def api(local_hub):
    return HfApi(endpoint=local_hub.endpoint)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_snapshot_download_gets_every_file(local_hub, tmp_path):
    folder = snapshot_download("tiny-random/llava", endpoint=local_hub.endpoint, cache_dir=tmp_path)
    source = tiny_llava()
    got = {p.name for p in Path(folder).iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json", "README.md"} <= got
    assert sha256(Path(folder) / "model.safetensors") == sha256(source / "model.safetensors")
    # a second call finds everything in the cache: no file is fetched again
    before = sum(1 for m, p in local_hub.requests if m == "GET" and "/resolve/" in p)
    snapshot_download("tiny-random/llava", endpoint=local_hub.endpoint, cache_dir=tmp_path)
    assert sum(1 for m, p in local_hub.requests if m == "GET" and "/resolve/" in p) == before


def test_list_models_sorts_and_filters(api):
    by_downloads = [m.id for m in api.list_models(sort="downloads", limit=3)]
    assert by_downloads == ["meta-llama/Llama-3.2-1B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "llava-hf/llava-1.5-7b-hf"]
    by_likes = [m.likes for m in api.list_models(sort="likes")]
    assert by_likes == sorted(by_likes, reverse=True)
    trending = [m.id for m in api.list_models(sort="trending_score", limit=1)]
    assert trending == ["Qwen/Qwen2.5-0.5B-Instruct"]
    recent = [m.last_modified for m in api.list_models(sort="last_modified")]
    assert recent == sorted(recent, reverse=True)
    assert [m.id for m in api.list_models(filter="gguf", sort="downloads")] == [
        "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        "gated-org/SmolLM2-135M-Instruct-GGUF"]
    assert {m.id for m in api.list_models(pipeline_tag="text-to-image")} == \
        {"tiny-random/stable-diffusion", "stabilityai/sd-turbo"}
    assert {m.id for m in api.list_models(search="smollm2")} == {
        "HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        "OpenVINO/SmolLM2-135M-Instruct-int4-ov", "gated-org/SmolLM2-135M-Instruct-GGUF"}
    assert {m.id for m in api.list_models(search="qwen")} == {
        "Qwen/Qwen2.5-0.5B-Instruct", "OpenVINO/Qwen2.5-0.5B-Instruct-int4-ov", "bartowski/Qwen2.5-0.5B-Instruct-GGUF"}
    assert [m.id for m in api.list_models(author="tiny-random", sort="likes")] == [
        "tiny-random/stable-diffusion", "tiny-random/llava", "tiny-random/t5", "tiny-random/bert-reranker"]


def test_list_models_expand_and_metadata(api):
    (llava,) = [m for m in api.list_models(search="tiny-random/llava", expand=["downloads", "likes", "safetensors",
                                                                                "pipeline_tag", "gated", "siblings"])]
    assert llava.downloads >= 1200 and llava.likes == 15 and llava.pipeline_tag == "image-text-to-text"
    assert llava.safetensors.total > 100_000 and "F32" in llava.safetensors.parameters
    assert "config.json" in [s.rfilename for s in llava.siblings]


def test_model_info_tree_and_revisions(api):
    info = api.model_info("tiny-random/llava", files_metadata=True)
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes["model.safetensors"] == (tiny_llava() / "model.safetensors").stat().st_size
    assert info.sha and api.model_info("tiny-random/llava", revision=info.sha).sha == info.sha
    tree = {e.path for e in api.list_repo_tree("tiny-random/stable-diffusion", recursive=True)}
    assert {"unet", "unet/config.json", "vae/diffusion_pytorch_model.safetensors", "model_index.json"} <= tree
    with pytest.raises(RevisionNotFoundError):
        api.model_info("tiny-random/llava", revision="0123456789abcdef")


def test_unknown_repo_and_file(api, local_hub, tmp_path):
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("tiny-random/llava", "missing.bin", endpoint=local_hub.endpoint, cache_dir=tmp_path)


def test_gated_repo_needs_a_granted_token(local_hub, tmp_path):
    assert HfApi(endpoint=local_hub.endpoint).model_info("gated-org/tiny-llava-gated").gated == "manual"
    with pytest.raises(GatedRepoError):
        hf_hub_download("gated-org/tiny-llava-gated", "config.json", endpoint=local_hub.endpoint, cache_dir=tmp_path)
    with pytest.raises(GatedRepoError):
        hf_hub_download("gated-org/tiny-llava-gated", "config.json", endpoint=local_hub.endpoint,
                        cache_dir=tmp_path, token="hf_other_token")
    path = hf_hub_download("gated-org/tiny-llava-gated", "config.json", endpoint=local_hub.endpoint,
                           cache_dir=tmp_path, token="hf_test_token")
    assert b"llava" in open(path, "rb").read()


def test_whoami(local_hub):
    assert HfApi(endpoint=local_hub.endpoint, token="hf_test_token").whoami()["name"] == "tester"
    with pytest.raises(Exception):
        HfApi(endpoint=local_hub.endpoint, token="hf_wrong").whoami()


def test_byte_ranges_resume_a_download(local_hub):
    source = (tiny_llava() / "model.safetensors").read_bytes()
    url = f"{local_hub.endpoint}/tiny-random/llava/resolve/main/model.safetensors"
    head = httpx.head(url)
    assert head.headers["X-Repo-Commit"] and head.headers["ETag"]
    assert int(head.headers["Content-Length"]) == len(source)
    part = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == source[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(source)}"


def test_upload_and_read_back(local_hub, tmp_path):
    api = HfApi(endpoint=local_hub.endpoint, token="hf_test_token")
    repo = api.create_repo("tester/uploaded-model", private=True)
    assert repo.repo_id == "tester/uploaded-model"
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "openvino_model.xml").write_text("<net name='x'/>")
    (folder / "openvino_model.bin").write_bytes(bytes(range(256)) * 100)
    (folder / "README.md").write_text("# uploaded\n")
    api.upload_folder(repo_id="tester/uploaded-model", folder_path=folder, commit_message="Add the IR")
    assert sorted(api.list_repo_files("tester/uploaded-model")) == [
        ".gitattributes", "README.md", "openvino_model.bin", "openvino_model.xml"]
    back = snapshot_download("tester/uploaded-model", endpoint=local_hub.endpoint, token="hf_test_token",
                             cache_dir=tmp_path / "cache")
    assert (Path(back) / "openvino_model.bin").read_bytes() == bytes(range(256)) * 100
    # private: others cannot see it
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=local_hub.endpoint).model_info("tester/uploaded-model")


def test_list_direction_and_http_errors(local_hub):
    ascending = httpx.get(f"{local_hub.endpoint}/api/models", params={"sort": "likes", "direction": "1"}).json()
    likes = [m["likes"] for m in ascending]
    assert likes == sorted(likes)
    missing = httpx.get(f"{local_hub.endpoint}/api/models/nobody/nothing")
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "RepoNotFound"
    gated = httpx.head(f"{local_hub.endpoint}/gated-org/tiny-llava-gated/resolve/main/config.json")
    assert gated.status_code == 401 and gated.headers["X-Error-Code"] == "GatedRepo"


def test_started_by_hand(tmp_path):
    """`python -m tests.hub_server` serves the same repos for trying the app offline."""
    import subprocess
    import sys

    from genai_ui.bench import free_port

    port = free_port()
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "tests.hub_server", "--port", str(port)], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        # the first start builds the test models, whose libraries print a few lines of their own first
        lines = iter(process.stdout.readline, "")
        assert any("Local Hub on" in line for line in lines)
        models = httpx.get(f"http://127.0.0.1:{port}/api/models", params={"search": "tiny-random"}).json()
        assert {m["id"] for m in models} == {"tiny-random/llava", "tiny-random/stable-diffusion",
                                             "tiny-random/t5", "tiny-random/bert-reranker"}
    finally:
        process.terminate()
        process.wait(10)


def test_a_gguf_fetched_from_the_local_hub_answers(local_hub, tmp_path):
    import openvino_genai as og

    from genai_ui.builtin import GGUF_NAME

    path = hf_hub_download("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", GGUF_NAME, endpoint=local_hub.endpoint,
                           cache_dir=tmp_path)
    pipe = og.LLMPipeline(path, "CPU")
    answer = pipe.generate(og.ChatHistory([{"role": "user", "content": "What is the capital of France?"}]),
                           max_new_tokens=32, do_sample=False).texts[0]
    assert "Paris" in answer


def test_listing_carries_config_gguf_and_storage(api):
    found = {m.id: m for m in api.list_models(author="HuggingFaceTB", expand=["config", "gguf", "usedStorage"])}
    assert found["HuggingFaceTB/SmolLM2-135M-Instruct"].config["model_type"] == "llama"
    gguf = found["HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"].gguf
    assert gguf["architecture"] == "llama" and gguf["context_length"] == 8192
    assert found["HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"].used_storage > 98_000_000
    (sd,) = api.list_models(search="tiny-random/stable", expand=["config"])
    assert sd.config == {"diffusers": {"_class_name": "StableDiffusionPipeline"}}
