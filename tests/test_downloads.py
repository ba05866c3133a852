"""Fetching Hub models into the library: the real huggingface_hub client against the local Hub."""

import os
import threading

import pytest

from genai_ui.engines.llm import GenerationParams
from genai_ui.errors import Cancelled, NotAvailable
from genai_ui.hub.downloads import download_model

GREEDY = GenerationParams(temperature=0.0, max_new_tokens=32)


def test_an_ir_repo_goes_straight_into_the_library_and_answers(hub, library, tmp_path, services):
    seen = []
    entry = download_model(hub=hub, library=library, repo_id="OpenVINO/SmolLM2-135M-Instruct-int4-ov",
                           cache_dir=tmp_path / "hf", on_progress=lambda done, total: seen.append((done, total)))
    assert entry.format == "openvino" and entry.weight_format == "int4" and entry.task == "text-generation"
    assert entry.context_length == 8192 and (entry.load_path / "openvino_model.xml").is_file()
    assert seen and seen[-1][0] == seen[-1][1] and seen[-1][1] > 50_000_000  # bytes, up to all of them
    assert [e.id for e in library.list()] == ["SmolLM2-135M-Instruct-int4-ov"]
    import openvino_genai as og
    pipe = og.LLMPipeline(str(entry.load_path), "CPU")
    answer = pipe.generate(og.ChatHistory([{"role": "user", "content": "What is the capital of France?"}]),
                           max_new_tokens=32, do_sample=False).texts[0]
    assert "Paris" in answer


def test_a_gguf_goes_into_the_library(hub, library, tmp_path):
    entry = download_model(hub=hub, library=library, repo_id="HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
                           cache_dir=tmp_path / "hf")
    assert entry.format == "gguf" and entry.weight_format == "Q4_1" and entry.context_length == 8192
    assert entry.load_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and entry.size_bytes == 98362432


def test_a_cancelled_download_leaves_nothing(hub, library, tmp_path):
    cancel = threading.Event()

    def stop_halfway(done, total):
        if done > total // 2:
            cancel.set()

    with pytest.raises(Cancelled, match="nothing was added to the library"):
        download_model(hub=hub, library=library, repo_id="HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
                       cache_dir=tmp_path / "hf", on_progress=stop_halfway, cancel=cancel)
    assert library.list() == [] and os.listdir(library.models_dir) == []
    # the next try resumes from what came, and completes
    entry = download_model(hub=hub, library=library, repo_id="HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
                           cache_dir=tmp_path / "hf")
    assert entry.size_bytes == 98362432


def test_a_checkpoint_or_an_unsupported_model_is_not_downloaded(hub, library, tmp_path):
    with pytest.raises(NotAvailable, match="holds a checkpoint, not an OpenVINO model: convert it"):
        download_model(hub=hub, library=library, repo_id="tiny-random/llava", cache_dir=tmp_path / "hf")
    with pytest.raises(NotAvailable, match="tiny-random/t5 cannot run here: task text2text-generation"):
        download_model(hub=hub, library=library, repo_id="tiny-random/t5", cache_dir=tmp_path / "hf")
    assert library.list() == []


def test_a_gated_model_needs_a_token_with_access(hub, library, tmp_path):
    from genai_ui.errors import GatedModel

    for token in ("", "hf_other_token"):
        with pytest.raises(GatedModel, match="This model is gated: accept its terms"):
            download_model(hub=hub, library=library, repo_id="gated-org/SmolLM2-135M-Instruct-GGUF",
                           cache_dir=tmp_path / "hf", token=token)
    assert library.list() == []
    entry = download_model(hub=hub, library=library, repo_id="gated-org/SmolLM2-135M-Instruct-GGUF",
                           cache_dir=tmp_path / "hf", token="hf_test_token")
    assert entry.size_bytes == 98362432
    # the files are in the shared Hugging Face cache now: a session without access still gets nothing
    library.delete(entry.id)
    with pytest.raises(GatedModel):
        download_model(hub=hub, library=library, repo_id="gated-org/SmolLM2-135M-Instruct-GGUF",
                       cache_dir=tmp_path / "hf")
    assert library.list() == []
