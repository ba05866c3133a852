"""Documents with the real engines: all-MiniLM-L6-v2 (the built-in embedding model) finds the passages, the
built-in chat model answers from them; the evaluation set's recall; Cancel, bad files, long questions,
sessions kept apart, and a restart."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from genai_ui.access import Caller
from genai_ui.builtin import BUILTINS
from genai_ui.documents.store import Collections
from genai_ui.embedder import EMBEDDER_ID
from genai_ui.errors import Cancelled, InvalidParameter, NotAllowed, NotAvailable, UnreadableDocument
from genai_ui.manage import check_may_delete
from genai_ui.run.answers import AskSettings
from genai_ui.run.documents import DocumentService, Upload
from genai_ui.testing.documents_eval import CASES, recall, write_cases
from genai_ui.work.background import Finished, Progress, Stage
from tests.document_files import write_encrypted_pdf, write_pdf

pytestmark = pytest.mark.layer("engine")

ALICE = Caller(shared=True, operator=False, session="alice-session")
BOB = Caller(shared=True, operator=False, session="bob-session")


def finished(events) -> dict:
    result = None
    for event in events:
        if isinstance(event, Finished):
            result = event.result
    return result


@pytest.fixture(scope="module")
def eval_files(tmp_path_factory) -> list[Path]:
    return write_cases(tmp_path_factory.mktemp("eval"))


@pytest.fixture(scope="module")
def evaluated(services, eval_files):
    """The evaluation set in a collection of this machine's user."""
    documents = services.documents
    documents.create(name="Evaluation")
    result = finished(documents.add(name="Evaluation", files=[Upload(p, p.name) for p in eval_files]))
    assert len(result["added"]) == len(CASES)
    return documents


def test_the_built_in_embedding_model_is_in_the_library_and_stays(services):
    entry = services.library.get(EMBEDDER_ID, task="feature-extraction")
    assert entry.source["repo_id"] == "sentence-transformers/all-MiniLM-L6-v2" and EMBEDDER_ID in BUILTINS
    with pytest.raises(NotAllowed, match="built-in model: it cannot be deleted"):
        check_may_delete(library=services.library, model_id=EMBEDDER_ID, caller=Caller())


def test_the_library_model_embeds_as_the_raw_pipeline_does(services):
    import openvino_genai as og

    loaded = services.documents._embedder("", Caller())
    assert loaded.pipeline.max_tokens == 256 and loaded.pipeline.dimensions == 384
    raw = og.TextEmbeddingPipeline(str(loaded.entry.load_path), "CPU",
                                   pooling_type=og.TextEmbeddingPipeline.PoolingType.MEAN, normalize=True)
    texts = ["The capital of France is Paris.", "Bananas are yellow fruit."]
    ours = loaded.pipeline.embed_documents(texts)
    theirs = [list(v) for v in raw.embed_documents(texts)]
    assert max(abs(a - b) for u, v in zip(ours, theirs) for a, b in zip(u, v)) < 1e-5
    query = loaded.pipeline.embed_query("Which city is the French capital?")
    assert sum(a * b for a, b in zip(query, ours[0])) > 0.8 > 0.1 > sum(a * b for a, b in zip(query, ours[1]))


def test_the_evaluation_set_is_found(evaluated):
    """Recall over the set's 30 questions, each answered by one document (the figures: docs/documents.md)."""
    ranked = []
    for case in CASES:
        found = evaluated.search(name="Evaluation", question=case.question, k=5, rerank=False)
        ranked.append(list(dict.fromkeys(h.document for h in found.hits)))
    assert recall(ranked, 5) >= 0.95
    assert recall(ranked, 1) >= 0.85


def test_an_answer_comes_from_the_passage_and_cites_it(evaluated):
    case = CASES[0]  # Velmora's lighthouse
    updates = list(evaluated.ask(name="Evaluation", question=case.question))
    last = updates[-1]
    assert len(updates) > 2 and last.done and last.answered
    assert case.answer in last.text
    assert last.found.hits[0].document == case.file
    sources = [last.found.hits[n - 1].document for n in last.cited]
    assert sources and sources[0] == case.file and last.cited_by in ("model", "similarity")
    api = last.to_api()
    assert api["sources"][0]["document"] == case.file and api["sources"][0]["text"].startswith("Velmora")


def test_nothing_close_enough_is_said_without_asking_a_model(evaluated, monkeypatch):
    def no_chat(**kwargs):
        raise AssertionError("the chat model was asked")

    monkeypatch.setattr(evaluated.chat, "reply", no_chat)
    [answer] = evaluated.ask(name="Evaluation", question="What is the boiling point of liquid nitrogen on Mars?")
    assert not answer.answered and answer.done and answer.found.hits == ()
    assert answer.text.startswith("Nothing in 'Evaluation' is close enough to this question to answer it from "
                                  "(the closest passage scores 0.")
    assert "the threshold is 0.25" in answer.text


def test_a_question_longer_than_the_model_reads_is_cut_and_says_so(evaluated):
    question = CASES[1].question + " " + "and also tell me more " * 100
    found = evaluated.search(name="Evaluation", question=question, k=3)
    assert found.truncated and found.hits[0].document == CASES[1].file
    assert not evaluated.search(name="Evaluation", question=CASES[1].question, k=3).truncated


def test_cancel_leaves_nothing_half_indexed(services, tmp_path):
    documents = services.documents
    documents.create(name="Cancelled", caller=ALICE)
    long = write_pdf(tmp_path / "long.pdf", [f"Page {n}. " + "Words about harbours and boats. " * 60
                                             for n in range(12)])
    short = tmp_path / "short.txt"
    short.write_text("A short note about kites.")
    cancel = threading.Event()
    seen = []
    with pytest.raises(Cancelled, match=r"^Stopped: 'long.pdf' was not added; 1 file added before it stay\.$"):
        for event in documents.add(name="Cancelled", files=[Upload(short, "short.txt"), Upload(long, "long.pdf")],
                                   cancel=cancel, caller=ALICE):
            seen.append(event)
            if isinstance(event, Progress) and event.label == "Embedding long.pdf":
                cancel.set()
    assert [e.name for e in seen if isinstance(e, Stage)] == ["Reading short.txt", "Reading long.pdf"]
    assert [d["name"] for d in documents.documents(name="Cancelled", caller=ALICE)] == ["short.txt"]
    collection = documents.collections.find("Cancelled", "session:alice-session")
    assert collection.table.count_rows() == 1  # the short note's one chunk, none of the PDF's


def test_bad_files_get_a_message_and_leave_nothing(services, tmp_path):
    documents = services.documents
    documents.create(name="Bad files", caller=ALICE)
    locked = write_encrypted_pdf(tmp_path / "locked.pdf", ["Secret."])
    with pytest.raises(UnreadableDocument, match="'locked.pdf' is an encrypted PDF"):
        finished(documents.add(name="Bad files", files=[Upload(locked, "locked.pdf")], caller=ALICE))
    same = tmp_path / "note.txt"
    same.write_text("Kites fly in May.")
    result = finished(documents.add(name="Bad files", files=[Upload(same, "note.txt"), Upload(same, "copy.txt")],
                                    caller=ALICE))
    assert [a["name"] for a in result["added"]] == ["note.txt"]
    assert result["skipped"] == [{"name": "copy.txt", "reason": "the same file as 'note.txt', already here"}]
    assert [d["name"] for d in documents.documents(name="Bad files", caller=ALICE)] == ["note.txt"]
    # from a folder, a file of another kind is skipped and named, not refused
    picture = tmp_path / "picture.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    kites = tmp_path / "kites.md"
    kites.write_text("# Kites\n\nThe kite festival is in May.")
    result = finished(documents.add(name="Bad files", files=[Upload(picture, "picture.png"), Upload(kites, "kites.md")],
                                    caller=ALICE, folder=True))
    assert [a["name"] for a in result["added"]] == ["kites.md"]
    assert result["skipped"] == [{"name": "picture.png", "reason": "not a format read here"}]


def test_sessions_are_kept_apart_and_a_restart_keeps_collections(services, settings, tmp_path):
    documents = services.documents
    documents.create(name="Diary", caller=BOB)
    note = tmp_path / "diary.md"
    note.write_text("# Tuesday\n\nI planted three apple trees behind the barn.")
    finished(documents.add(name="Diary", files=[Upload(note, "diary.md")], caller=BOB))
    assert "Diary" not in [c["name"] for c in documents.list(ALICE)]
    with pytest.raises(NotAvailable, match="No collection 'Diary'"):
        documents.search(name="Diary", question="What did I plant?", caller=ALICE)
    with pytest.raises(NotAvailable):
        documents.remove(name="Diary", document="diary.md", caller=ALICE)

    # this machine's user keeps theirs across a restart; a visitor's session does not outlive the app
    documents.create(name="Kept")
    finished(documents.add(name="Kept", files=[Upload(note, "diary.md")]))
    restarted = DocumentService(services.library, services.devices, services.pipelines, services.chat,
                                Collections(settings.home / "documents"), services.access)
    assert restarted.search(name="Kept", question="What did I plant?", k=1).hits[0].document == "diary.md"
    assert Collections(settings.home / "documents").forget_sessions() >= 1
    assert "Diary" not in [c["name"] for c in restarted.list(BOB)]


def test_retrieval_settings_are_checked_and_bound_what_the_model_reads(evaluated, monkeypatch):
    for bad, message in [(dict(k=0), "k is 0: pick 1 to 20 passages"), (dict(k=21), "k is 21: pick 1 to 20"),
                         (dict(threshold=1.5), "The similarity threshold is 1.5: pick a value from -1 to 1")]:
        with pytest.raises(InvalidParameter, match=message):
            AskSettings(**bad)
    case = CASES[5]
    found = evaluated.search(name="Evaluation", question=case.question, k=2)
    assert len(found.hits) == 2 and not found.reranked  # no reranker in this library
    prompts = []
    reply = evaluated.chat.reply
    monkeypatch.setattr(evaluated.chat, "reply", lambda **kw: prompts.append(kw["system_prompt"]) or reply(**kw))
    *_, last = evaluated.ask(name="Evaluation", question=case.question, settings=AskSettings(k=1))
    assert last.answered and [h.document for h in last.found.hits] == [case.file]
    assert "[1] " in prompts[0] and "[2] " not in prompts[0] and case.text[:40] in prompts[0]
    [refused] = evaluated.ask(name="Evaluation", question=case.question, settings=AskSettings(threshold=0.99))
    assert not refused.answered and "the threshold is 0.99" in refused.text and len(prompts) == 1


def test_answers_cite_the_document_that_holds_the_answer(evaluated):
    """Citation accuracy on a fifth of the evaluation set, answered by the built-in chat model (the whole set's
    figure, at 100k chunks: docs/documents.md)."""
    cases = CASES[::5]
    cited = []
    for case in cases:
        *_, last = evaluated.ask(name="Evaluation", question=case.question)
        assert last.done and last.answered and last.cited_by in ("model", "similarity")
        cited.append(bool(last.cited) and last.found.hits[last.cited[0] - 1].document == case.file)
    assert sum(cited) >= len(cases) - 1, [c.file for c, right in zip(cases, cited) if not right]


def test_a_reranker_converted_from_the_hub_reorders_the_passages(services, settings, tmp_path, eval_files):
    """A cross-encoder checkpoint on the local Hub, converted as the Convert tab converts it (export, int8, the
    task's check), then used by asking. Its weights are random, so this tests the plumbing (its scores, as
    TextRerankPipeline gives them, decide the order), not the effect, which a real reranker would have."""
    import openvino_genai as og

    from genai_ui.builtin import ensure_builtin_embedder
    from genai_ui.convert.jobs import convert_model, drain
    from genai_ui.convert.options import ExportOptions
    from genai_ui.engines.pipelines import PipelineManager
    from genai_ui.library import Library

    library = Library(tmp_path / "models")
    ensure_builtin_embedder(library, settings.home)
    report = drain(convert_model(hub=services.hub, library=library, repo_id="tiny-random/bert-reranker",
                                 options=ExportOptions(weight_format="int8")))
    entry = library.get(report.id, task="text-classification")
    assert report.task == "text-classification" and entry.weight_format == "int8"
    assert list(report.stages) == ["Check", "Download", "Export", "Compress", "Verify", "Register"]
    assert report.precisions.get("int8", 0) > 0 and not report.quality  # rerankers get no quality measure
    documents = DocumentService(library, services.devices, PipelineManager(), services.chat,
                                Collections(tmp_path / "documents"))
    documents.create(name="Reranked")
    finished(documents.add(name="Reranked", files=[Upload(p, p.name) for p in eval_files[:8]]))
    question = CASES[3].question
    plain = documents.search(name="Reranked", question=question, k=4, rerank=False)
    ranked = documents.search(name="Reranked", question=question, k=4, rerank=True)
    assert not plain.reranked and all(h.score is None for h in plain.hits)
    assert ranked.reranked and [h.score for h in ranked.hits] == sorted((h.score for h in ranked.hits), reverse=True)
    raw = og.TextRerankPipeline(str(entry.load_path), "CPU", og.TextRerankPipeline.Config(top_n=100))
    candidates = documents.search(name="Reranked", question=question, k=16, rerank=False).hits
    expected = sorted(((score, candidates[n].text) for n, score in raw.rerank(question, [h.text for h in candidates])),
                      reverse=True)[:4]
    assert [h.text for h in ranked.hits] == [text for _, text in expected]
    assert [h.score for h in ranked.hits] == pytest.approx([score for score, _ in expected], abs=1e-3)


def test_reindex_cuts_again_and_stop_leaves_the_collection_as_it_was(services, tmp_path):
    documents = services.documents
    documents.create(name="Reindexed", chunk_size=128, chunk_overlap=0)
    long = write_pdf(tmp_path / "towns.pdf", [" ".join(case.text for case in CASES[:10]),
                                              " ".join(case.text for case in CASES[10:20])])
    finished(documents.add(name="Reindexed", files=[Upload(long, "towns.pdf")]))
    collection = documents.collections.find("Reindexed", "local")
    before, table = collection.info.chunks, collection.info.table

    cancel = threading.Event()
    with pytest.raises(Cancelled, match="'Reindexed' is as it was before the re-index"):
        for event in documents.reindex(name="Reindexed", chunk_size=32, cancel=cancel):
            if isinstance(event, Progress):
                cancel.set()
    assert (collection.info.chunks, collection.info.table, collection.info.rule.size) == (before, table, 128)

    result = finished(documents.reindex(name="Reindexed", chunk_size=32, chunk_overlap=8))
    assert result["collection"]["chunk_size"] == 32 and result["collection"]["chunk_overlap"] == 8
    assert result["collection"]["chunks"] > 2 * before and collection.info.table != table
    hits = documents.search(name="Reindexed", question=CASES[10].question, k=3).hits  # Hollin Bridge, on page 2
    assert any(h.page == 2 and CASES[10].answer in h.text for h in hits)
    with pytest.raises(Exception, match="reads 256 tokens at most: pick a chunk size up to 254"):
        finished(documents.reindex(name="Reindexed", chunk_size=300))
