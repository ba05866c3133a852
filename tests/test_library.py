import json
import os
import shutil

import pytest

from genai_ui.builtin import BUILTIN_ID, ensure_builtin
from genai_ui.errors import InvalidParameter, ModelLoadError, ModelNotFound, WrongTask
from genai_ui.gguf import read_gguf_info
from genai_ui.library import MANIFEST, ModelEntry


def test_builtin_enters_library_with_manifest(library, gguf):
    entry = ensure_builtin(library, gguf)
    assert entry.id == BUILTIN_ID and entry.task == "text-generation" and entry.format == "gguf"
    assert entry.weight_format == "Q4_1" and entry.context_length == 8192
    assert entry.size_bytes == gguf.stat().st_size
    manifest = json.loads((library.models_dir / BUILTIN_ID / MANIFEST).read_text())
    assert manifest["source"]["repo_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert manifest["created"]
    assert [e.id for e in library.list()] == [BUILTIN_ID]
    assert ensure_builtin(library, gguf) == entry  # idempotent


def test_api_view_has_no_path_key(library, gguf):
    api = ensure_builtin(library, gguf).to_api()
    assert set(api) == {"id", "task", "format", "weight_format", "size_bytes", "source", "location"}
    assert "path" not in api["source"]


def test_list_filters_by_task(library, gguf):
    ensure_builtin(library, gguf)
    assert library.list("text-to-image") == []
    assert [e.id for e in library.list("text-generation")] == [BUILTIN_ID]
    with pytest.raises(InvalidParameter, match="Unknown task 'chat'"):
        library.list("chat")


def test_get_names_the_known_models(library, gguf):
    ensure_builtin(library, gguf)
    with pytest.raises(ModelNotFound, match=f"No model 'nope'.*{BUILTIN_ID}"):
        library.get("nope")
    with pytest.raises(WrongTask, match="text-generation model; this needs a text-to-image"):
        library.get(BUILTIN_ID, task="text-to-image")


@pytest.mark.parametrize("bad", ["../etc", "/abs", "a/b", "", ".hidden", "x" * 200])
def test_ids_that_could_escape_are_refused(library, bad):
    with pytest.raises(InvalidParameter):
        library.get(bad)


def test_failed_build_leaves_nothing(library):
    with pytest.raises(RuntimeError):
        with library.staging() as staged:
            (staged / "openvino_model.bin").write_bytes(b"half")
            raise RuntimeError("export died")
    assert library.list() == []
    assert os.listdir(library.models_dir) == []


def test_install_moves_into_place_and_delete_removes(library):
    with library.staging() as staged:
        (staged / "openvino_model.xml").write_text("<net/>")
        entry = library.install(staged, ModelEntry(id="tiny", task="text-generation", format="openvino",
                                                   weight_format="int4", location=""))
    assert entry.location == str(library.models_dir / "tiny") and entry.size_bytes == 6
    assert [e.id for e in library.list()] == ["tiny"]
    with library.staging() as staged, pytest.raises(InvalidParameter, match="already in the library"):
        library.install(staged, ModelEntry(id="tiny", task="text-generation", format="openvino",
                                           weight_format="int4", location=""))
    library.delete("tiny")
    assert library.list() == [] and os.listdir(library.models_dir) == []


def test_a_report_that_comes_later_replaces_the_old_one_whole(library):
    """A conversion's evaluation ends after its registration: its report is written into the manifest."""
    with library.staging() as staged:
        (staged / "openvino_model.xml").write_text("<net/>")
        entry = library.install(staged, ModelEntry(id="tiny", task="text-generation", format="openvino",
                                                   weight_format="int4", location="", report={"quality": "quick"}))
    updated = library.update_report("tiny", {"quality": {"verdict": "close"}})
    assert updated.report == {"quality": {"verdict": "close"}} and library.get("tiny").report == updated.report
    assert library.get("tiny").created == entry.created and library.get("tiny").size_bytes == entry.size_bytes
    assert not [p for p in (library.models_dir / "tiny").iterdir() if p.name.endswith(".partial")]
    library.delete("tiny")
    with pytest.raises(ModelNotFound):  # deleted meanwhile: said, never a manifest in a missing folder
        library.update_report("tiny", {})


def test_unreadable_manifest_is_skipped(library, gguf):
    ensure_builtin(library, gguf)
    broken = library.models_dir / "broken"
    broken.mkdir()
    (broken / MANIFEST).write_text("{not json")
    assert [e.id for e in library.list()] == [BUILTIN_ID]


def test_gguf_header(gguf, tmp_path):
    info = read_gguf_info(gguf)
    assert info.architecture == "llama" and info.context_length == 8192 and info.weight_format == "Q4_1"
    assert info.metadata["llama.block_count"] == 30 and info.metadata["tokenizer.ggml.eos_token_id"] == 2
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(gguf.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="cut.gguf is damaged"):
        read_gguf_info(truncated)
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        read_gguf_info(text)


def install(library, model_id: str, weight_format: str, **source) -> ModelEntry:
    with library.staging() as staged:
        (staged / "openvino_model.xml").write_text("<net/>")
        return library.install(staged, ModelEntry(id=model_id, task="text-generation", format="openvino",
                                                  weight_format=weight_format, location="", source=source))


def test_a_listing_reads_again_only_the_manifests_that_changed(library, monkeypatch, caplog):
    install(library, "a", "int4", repo_id="x/a")
    install(library, "b", "int8", repo_id="x/b")
    parsed = []
    parse = library._parse
    monkeypatch.setattr(library, "_parse", lambda folder, manifest: parsed.append(folder.name) or parse(folder, manifest))
    assert [e.id for e in library.list()] == ["a", "b"] and parsed == ["a", "b"]
    assert [e.id for e in library.list()] == ["a", "b"] and library.get("a").id == "a" and parsed == ["a", "b"]

    library.list()[0].source["repo_id"] = "changed by a caller"  # what one caller does to its copy stays there
    assert library.get("a").source == {"repo_id": "x/a"}

    library.delete("a")
    install(library, "a", "fp16", repo_id="x/a2")  # the same folder, a new manifest
    assert [(e.id, e.weight_format) for e in library.list()] == [("a", "fp16"), ("b", "int8")]
    assert parsed == ["a", "b", "a"]

    (library.models_dir / "b" / MANIFEST).write_text("{not json")
    with caplog.at_level("WARNING"):
        assert [e.id for e in library.list()] == ["a"] and [e.id for e in library.list()] == ["a"]
    assert sum("its manifest is unreadable" in r.message for r in caplog.records) == 1  # once, not each listing
    library.delete("a")
    shutil.rmtree(library.models_dir / "b")
    assert library.list() == [] and library._read_cache == {}  # what left the library leaves the memory too
