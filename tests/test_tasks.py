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

SPEECH = tasks.Task(
    id="automatic-speech-recognition", label="Speech", tab="speech", export_task="automatic-speech-recognition",
    pipeline="WhisperPipeline", named_by="model_type", architectures=frozenset({"whisper"}),
    loader="tests.test_tasks:load_whisper", verify="tests.test_tasks:hear_hello",
    usage=((), 'pipe = openvino_genai.WhisperPipeline(model_dir, "CPU")\nprint(pipe.generate(raw_speech))\n'))


def load_whisper(entry: ModelEntry, device: str, **extra) -> dict:
    return {"loaded": entry.id, "device": device, **extra}


def hear_hello(model, device: str) -> str:
    return f"'hello' heard by {model} on {device}"


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
                                           r"\(image-text-to-text\), Image \(text-to-image\), Embeddings "
                                           r"\(feature-extraction\) and Reranker \(text-classification\) models are"):
        tasks.task("summarization")
    assert tasks.label("text-to-image") == "Image" and tasks.label("summarization") == "summarization"
    with pytest.raises(InvalidParameter, match="task must be one of text-generation, image-text-to-text"):
        ExportOptions(task="automatic-speech-recognition")


def test_adding_a_task_is_adding_a_row(monkeypatch, tmp_path):
    """As the Documents tab's two tasks (feature-extraction, text-classification) were added: a row each."""
    monkeypatch.setitem(tasks.TASKS, SPEECH.id, SPEECH)

    # the Hub's support marks and the conversion's options know it
    assert check_support(task="automatic-speech-recognition", config={"model_type": "whisper"}).supported
    assert check_support(task="automatic-speech-recognition", config={"model_type": "t5"}).reason == \
        "architecture t5 is not run by openvino_genai's WhisperPipeline"
    assert ExportOptions(task="automatic-speech-recognition").task == "automatic-speech-recognition"

    # the library keeps it, lists it by task and names it in its messages
    library = Library(tmp_path / "models")
    with pytest.raises(NotAvailable, match="No speech model in the library yet"):
        library.pick("", "automatic-speech-recognition")
    folder = tmp_path / "whisper"
    folder.mkdir()
    (folder / "openvino_model.xml").write_text("<net/>")
    entry = library.install(folder, ModelEntry(id="whisper", task="automatic-speech-recognition", format="openvino",
                                               weight_format="fp16", location=""))
    assert [e.id for e in library.list("automatic-speech-recognition")] == ["whisper"]

    # its loader runs through the one pipeline owner, and the conversion's check through its row
    loaded = PipelineManager().get(entry, "CPU")
    assert loaded.pipeline == {"loaded": "whisper", "device": "CPU"}
    assert tasks.task("automatic-speech-recognition").check(folder, "CPU") == f"'hello' heard by {folder} on CPU"

    # the model card's snippet, and the sentence of what runs here
    assert "WhisperPipeline(model_dir" in usage_snippet(task="automatic-speech-recognition", repo_id="me/whisper")
    assert tasks.run_here().endswith("Reranker and Speech")
