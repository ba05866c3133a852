"""One table of tasks (tasks.py): every part of the app that differs by task reads its row, so adding a
task is adding a row."""

from __future__ import annotations

import inspect

import pytest

from genai_ui import tasks
from genai_ui.convert.options import ExportOptions
from genai_ui.engines.pipelines import PipelineManager
from genai_ui.errors import InvalidParameter, NotAvailable
from genai_ui.hub.publish import usage_snippet
from genai_ui.hub.support import check_support
from genai_ui.library import Library, ModelEntry

EMBEDDINGS = tasks.Task(
    id="feature-extraction", label="Embeddings", tab="documents", export_task="feature-extraction",
    pipeline="TextEmbeddingPipeline", named_by="model_type", architectures=frozenset({"bert"}),
    loader="tests.test_tasks:load_embeddings", verify="tests.test_tasks:embed_hello",
    usage=((), 'pipe = openvino_genai.TextEmbeddingPipeline(model_dir, "CPU")\nprint(pipe.embed_query("hello"))\n'))


def load_embeddings(entry: ModelEntry, device: str, **extra) -> dict:
    return {"loaded": entry.id, "device": device, **extra}


def embed_hello(model, device: str) -> str:
    return f"384 numbers from {model} on {device}"


def test_every_row_names_code_that_exists():
    for row in tasks.TASKS.values():
        for name in (row.loader, row.verify):
            module, _, function = name.partition(":")
            assert callable(tasks._named(name)), name
            assert module.startswith("genai_ui.") and not function.startswith("_"), name
        assert "entry" in inspect.signature(tasks._named(row.loader)).parameters
        assert row.architectures and row.usage[1].startswith("pipe = openvino_genai." + row.pipeline)


def test_a_task_the_app_does_not_run_is_named_with_the_ones_it_does():
    with pytest.raises(NotAvailable, match=r"summarization is not run here: Chat \(text-generation\), Vision "
                                           r"\(image-text-to-text\) and Image \(text-to-image\) models are"):
        tasks.task("summarization")
    assert tasks.label("text-to-image") == "Image" and tasks.label("summarization") == "summarization"
    with pytest.raises(InvalidParameter, match="task must be one of text-generation, image-text-to-text"):
        ExportOptions(task="feature-extraction")


def test_adding_a_task_is_adding_a_row(monkeypatch, tmp_path):
    monkeypatch.setitem(tasks.TASKS, EMBEDDINGS.id, EMBEDDINGS)

    # the Hub's support marks and the conversion's options know it
    assert check_support(task="feature-extraction", config={"model_type": "bert"}).supported
    assert check_support(task="feature-extraction", config={"model_type": "t5"}).reason == \
        "architecture t5 is not run by openvino_genai's TextEmbeddingPipeline"
    assert ExportOptions(task="feature-extraction").task == "feature-extraction"

    # the library keeps it, lists it by task and names it in its messages
    library = Library(tmp_path / "models")
    with pytest.raises(NotAvailable, match="No embeddings model in the library yet"):
        library.pick("", "feature-extraction")
    folder = tmp_path / "minilm"
    folder.mkdir()
    (folder / "openvino_model.xml").write_text("<net/>")
    entry = library.install(folder, ModelEntry(id="minilm", task="feature-extraction", format="openvino",
                                               weight_format="fp16", location=""))
    assert [e.id for e in library.list("feature-extraction")] == ["minilm"]

    # its loader runs through the one pipeline owner, and the conversion's check through its row
    loaded = PipelineManager().get(entry, "CPU")
    assert loaded.pipeline == {"loaded": "minilm", "device": "CPU"}
    assert tasks.task("feature-extraction").check(folder, "CPU") == f"384 numbers from {folder} on CPU"

    # the model card's snippet, and the sentence of what runs here
    assert "TextEmbeddingPipeline(model_dir" in usage_snippet(task="feature-extraction", repo_id="me/minilm")
    assert tasks.run_here().endswith("Image and Embeddings")
