"""Documents without an engine: each format read by its parser, bad files refused in words, the chunking rule,
and collections in LanceDB (whole files or nothing, names that cannot be paths, owners kept apart)."""

from __future__ import annotations

import json
import zipfile

import pytest

from genai_ui.documents.chunk import ChunkRule, Tokens, chunk_pages
from genai_ui.documents.read import Page, read_document
from genai_ui.documents.store import MANIFEST, Collections, DocumentInfo, check_name
from genai_ui.errors import InvalidParameter, NotAllowed, NotAvailable, UnreadableDocument
from tests.document_files import write_docx, write_encrypted_pdf, write_pdf

pytestmark = pytest.mark.layer("unit")


# 1. each format, read by its parser

def test_a_pdf_is_read_page_by_page(tmp_path):
    path = write_pdf(tmp_path / "guide.pdf", ["Velmora has a lighthouse.\nIt was built in 1871.", "",
                                              "The kite festival is in May."])
    document = read_document(path)
    assert document.format == "PDF"
    # the empty second page is left out; the others keep their numbers (citations name them)
    assert [(p.number, p.text) for p in document.pages] == [
        (1, "Velmora has a lighthouse.\nIt was built in 1871."), (3, "The kite festival is in May.")]


def test_an_encrypted_pdf_is_read_when_its_password_is_empty_and_refused_otherwise(tmp_path):
    locked = write_encrypted_pdf(tmp_path / "locked.pdf", ["Secret plans."])
    with pytest.raises(UnreadableDocument, match=r"^'locked.pdf' is an encrypted PDF: save a copy without its "
                                                 r"password and add that\.$"):
        read_document(locked)
    opened = write_encrypted_pdf(tmp_path / "open.pdf", ["Open plans."], password="")
    assert read_document(opened).pages[0].text == "Open plans."


def test_word_html_markdown_and_text_are_read(tmp_path):
    docx = write_docx(tmp_path / "report.docx", ["Quarterly report", "Sales rose by a third.", "Costs fell."],
                      table=[["Region", "Sales"], ["North", "120"]])
    assert read_document(docx).pages[0].text == ("Quarterly report\n\nSales rose by a third.\n\nCosts fell.\n\n"
                                                 "Region | Sales\n\nNorth | 120")
    html = tmp_path / "page.html"
    html.write_text("<html><head><title>T</title><style>p{}</style></head><body><nav>Home | About</nav>"
                    "<h1>Merrow College</h1><script>var x = 1;</script><p>Founded in 1723.</p></body></html>")
    assert read_document(html).pages[0].text == "Merrow College\nFounded in 1723."
    md = tmp_path / "notes.md"
    md.write_text("# Notes\n\n\n\nFirst   \n\nSecond\n")
    assert read_document(md).pages == (Page(None, "# Notes\n\nFirst\n\nSecond"),)
    latin = tmp_path / "old.txt"
    latin.write_bytes("Café crème, déjà vu à Orléans, garçon, hôtel.".encode("cp1252"))
    assert read_document(latin).pages[0].text == "Café crème, déjà vu à Orléans, garçon, hôtel."


# 2. bad files get a message, never a traceback

@pytest.mark.parametrize("name, data, message", [
    ("empty.txt", b"", "'empty.txt' is empty: there is nothing to read in it."),
    ("photo.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "'photo.pdf' is not a PDF file: it is a PNG image."),
    ("notes.txt", b"%PDF-1.4\n" + b"x" * 64, "'notes.txt' is not text: it is a PDF."),
    ("binary.md", b"abc\0def" * 10, "'binary.md' is not text: it holds binary data."),
    ("report.docx", b"plain words, no zip", "'report.docx' is not a DOCX file: it is something else."),
    ("broken.pdf", b"%PDF-1.4\nnot really a pdf at all", "'broken.pdf' is a damaged PDF"),
    ("spaces.txt", b"   \n\n  \t ", "'spaces.txt' holds no text to index."),
    ("scan.pdf", None, "'scan.pdf' holds no text to index (a scan without a text layer?"),
    ("tool.exe", b"MZ", "'tool.exe' is not a format read here: add PDF, DOCX, HTML, Markdown or text files"),
])
def test_bad_files_are_refused_in_words(tmp_path, name, data, message):
    path = tmp_path / name
    if data is None:
        write_pdf(path, [""])
    else:
        path.write_bytes(data)
    with pytest.raises(UnreadableDocument) as refused:
        read_document(path)
    assert str(refused.value).startswith(message)


def test_a_zip_that_is_not_a_word_document_says_so(tmp_path):
    with zipfile.ZipFile(tmp_path / "fake.docx", "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(UnreadableDocument, match="'fake.docx' is a ZIP archive, not a Word document"):
        read_document(tmp_path / "fake.docx")


# 3. the chunking rule

def test_chunks_keep_to_the_size_split_at_sentences_overlap_and_never_span_pages():
    tokens = Tokens()  # words and punctuation: the rule is the same with the model's tokenizer
    sentence = "The quick brown fox jumps over the lazy dog."  # 10 tokens
    pages = [Page(1, " ".join([sentence] * 9)), Page(2, "A short page.")]
    chunks = chunk_pages(pages, tokens, ChunkRule(size=32, overlap=10))
    assert [c.page for c in chunks] == [1, 1, 1, 1, 2]
    assert all(c.tokens <= 32 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)  # cut at sentence ends
    # each chunk after the first starts with the last sentence of the one before
    for before, after in zip(chunks[:3], chunks[1:4]):
        assert after.text.startswith(sentence) and before.text.endswith(sentence)
    assert chunks[-1].text == "A short page."
    # a sentence longer than a chunk is cut at token boundaries, nothing lost
    long = " ".join(f"word{n}" for n in range(100))
    pieces = chunk_pages([Page(None, long)], tokens, ChunkRule(size=32, overlap=0))
    assert [c.tokens for c in pieces] == [32, 32, 32, 4]
    assert " ".join(c.text for c in pieces) == long


def test_the_rule_checks_itself():
    with pytest.raises(InvalidParameter, match="A chunk of 8 tokens: pick a size from 16 to 2048"):
        ChunkRule(size=8)
    with pytest.raises(InvalidParameter, match=r"An overlap of 70 tokens: pick 0 to half the chunk size \(64\)"):
        ChunkRule(size=128, overlap=70)


# 4. collections

def info(doc_id: str, chunks: int = 2, name: str = "") -> DocumentInfo:
    return DocumentInfo(id=doc_id, name=name or f"{doc_id}.txt", format="text", size_bytes=10, sha256=doc_id,
                        pages=1, chunks=chunks, added=0.0)


def unit(*values: float) -> list[float]:
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


def chunks_of(*texts: str):
    tokens = Tokens()
    return [c for t in texts for c in chunk_pages([Page(None, t)], tokens)]


@pytest.mark.parametrize("bad", ["../escape", "a/b", "..", ".hidden", "back\\slash", "x" * 65, "", "   "])
def test_a_collection_name_cannot_be_a_path(bad):
    with pytest.raises(InvalidParameter, match="collection"):
        check_name(bad)
    assert check_name("  Trip notes (2026)  ") == "Trip notes (2026)"


def test_a_collection_keeps_whole_files_searches_and_survives_a_restart(tmp_path):
    store = Collections(tmp_path)
    notes = store.create(name="Notes", owner="local", embedder="e", dimensions=3, rule=ChunkRule())
    notes.add(info("a", 2), [Page(None, "Lighthouse.\n\nHarbour.")], chunks_of("Lighthouse.", "Harbour."),
              [unit(1, 0, 0), unit(1, 1, 0)])
    notes.add(info("b", 1), [Page(None, "Bakery.")], chunks_of("Bakery."), [unit(0, 0, 1)])
    hits = notes.search(unit(1, 0, 0), k=2)
    assert [(h.document, h.text, h.similarity) for h in hits] == [("a.txt", "Lighthouse.", 1.0),
                                                                  ("a.txt", "Harbour.", 0.7071)]

    reopened = Collections(tmp_path).find("notes", "local")  # a restart: read from disk, any case of the name
    assert [d.id for d in reopened.info.documents] == ["a", "b"] and reopened.info.chunks == 3
    assert reopened.search(unit(0, 0, 1), k=1)[0].document == "b.txt"

    assert reopened.pages("a") == [Page(None, "Lighthouse.\n\nHarbour.")]  # kept for a re-index
    reopened.remove("a")
    assert [h.document for h in reopened.search(unit(1, 0, 0), k=5)] == ["b.txt"]
    assert [d.id for d in Collections(tmp_path).find("Notes", "local").info.documents] == ["b"]
    assert [p.name for p in (reopened.folder / "texts").iterdir()] == ["b.json"]

    # a rebuild writes a table of its own, then the manifest points at it, and the old one goes
    before = reopened.info.table
    rebuilt = reopened.rebuild(rule=ChunkRule(size=32, overlap=0), embedder="e2", dimensions=2, documents=[
        (reopened.info.documents[0], chunks_of("Bakery.", "Ovens."), [unit(1, 0), unit(0, 1)])])
    assert rebuilt.table != before and not (reopened.folder / before).exists()
    assert (rebuilt.rule.size, rebuilt.embedder, rebuilt.dimensions, rebuilt.chunks) == (32, "e2", 2, 2)
    again = Collections(tmp_path).find("Notes", "local")
    assert [h.text for h in again.search(unit(0, 1), k=1)] == ["Ovens."]


def test_chunks_no_manifest_names_are_swept_at_the_next_open(tmp_path):
    """A crash between the table's commit and the manifest's write leaves chunks nobody owns."""
    notes = Collections(tmp_path).create(name="Notes", owner="local", embedder="e", dimensions=3, rule=ChunkRule())
    notes.add(info("a", 1), [Page(None, "Kept.")], chunks_of("Kept."), [unit(1, 0, 0)])
    notes.table.add([{"vector": unit(0, 1, 0), "doc": "crashed", "chunk": 0, "page": None, "text": "Half."}])
    (notes.folder / "texts" / "crashed.json").write_text("[]")
    (notes.folder / "lance-halfdone").mkdir()  # a re-index that died before its manifest
    reopened = Collections(tmp_path).find("Notes", "local")
    assert reopened.table.count_rows() == 1
    assert sorted(p.name for p in reopened.folder.iterdir()) == ["collection.json", "lance", "texts"]
    assert [p.name for p in (reopened.folder / "texts").iterdir()] == ["a.json"]
    assert [h.text for h in reopened.search(unit(0, 1, 0), k=5)] == ["Kept."]


def test_a_collection_deleted_during_an_add_says_so_and_comes_not_back(tmp_path):
    """Another tab of the same person deletes the collection while files go in: the next write is refused in
    words, and no folder is made again."""
    store = Collections(tmp_path)
    notes = store.create(name="Notes", owner="local", embedder="e", dimensions=3, rule=ChunkRule())
    notes.add(info("a", 1), [Page(None, "Kept.")], chunks_of("Kept."), [unit(1, 0, 0)])
    store.delete(notes)
    for write in (lambda: notes.add(info("b", 1), [Page(None, "Late.")], chunks_of("Late."), [unit(0, 1, 0)]),
                  lambda: notes.remove("a"), lambda: notes.rebuild(rule=ChunkRule(), embedder="e", dimensions=3,
                                                                   documents=[])):
        with pytest.raises(NotAvailable, match="The collection 'Notes' was deleted meanwhile: nothing more goes"):
            write()
    assert not notes.folder.exists() and store.all() == []


def test_owners_are_kept_apart_and_the_operator_shares(tmp_path):
    store = Collections(tmp_path)
    store.create(name="Mine", owner="session:a", embedder="e", dimensions=3, rule=ChunkRule())
    store.create(name="Mine", owner="session:b", embedder="e", dimensions=3, rule=ChunkRule())  # same name, apart
    store.create(name="Handbook", owner="local", embedder="e", dimensions=3, rule=ChunkRule(), shared=True)
    assert [c.info.name for c in store.visible("session:a")] == ["Mine", "Handbook"]
    with pytest.raises(NotAvailable, match=r"No collection 'Theirs'\. Yours and the shared ones: Mine, Handbook\."):
        store.find("Theirs", "session:a")
    with pytest.raises(NotAllowed, match="'Handbook' is shared by this deployment's operator: it can be searched"):
        store.owned("Handbook", "session:a")
    with pytest.raises(InvalidParameter, match="You already have a collection named 'mine'"):
        store.create(name="mine", owner="session:a", embedder="e", dimensions=3, rule=ChunkRule())
    with pytest.raises(InvalidParameter, match="You have 1 collections, the most kept for one person here"):
        store.create(name="Another", owner="session:a", embedder="e", dimensions=3, rule=ChunkRule(), limit=1)
    # folders are named by hashes, never by what a caller typed
    assert all(len(p.name) == 16 for p in tmp_path.iterdir())
    # visitors' sessions do not outlive the app: gone at the next start
    assert store.forget_sessions() == 2
    assert [c.info.name for c in Collections(tmp_path).all()] == ["Handbook"]
    manifest = json.loads(next(tmp_path.glob(f"*/*/{MANIFEST}")).read_text())
    assert manifest["owner"] == "local" and manifest["shared"] is True


def test_the_hub_and_convert_tabs_know_embedding_and_reranker_models():
    from genai_ui.convert.options import ExportOptions
    from genai_ui.hub.support import check_support
    from genai_ui.tasks import task

    assert check_support(task="feature-extraction", config={"model_type": "bert"}).supported
    assert check_support(task="text-classification", config={"model_type": "xlm-roberta"}).supported
    assert check_support(task="feature-extraction", config={"model_type": "t5"}).reason == \
        "architecture t5 is not run by openvino_genai's TextEmbeddingPipeline"
    assert ExportOptions(task="feature-extraction").task == "feature-extraction"
    assert task("text-classification").export_task == "text-classification"
    assert not task("feature-extraction").evaluated  # no quality report: it compares chat and image models


def test_the_passages_given_to_the_model_keep_within_the_system_prompts_bound():
    from genai_ui.documents.store import Hit
    from genai_ui.run.answers import within
    from genai_ui.run.chat import MAX_SYSTEM_PROMPT_CHARS

    hits = tuple(Hit(document="d.txt", document_id="d", page=None, chunk=n, text="x" * 1200, similarity=0.9 - n / 100)
                 for n in range(20))  # twenty chunks of 254 tokens: about 24,000 characters
    kept = within(hits, MAX_SYSTEM_PROMPT_CHARS - 200)
    assert 10 <= len(kept) < 20 and kept == hits[:len(kept)]  # the best first, in order
    assert sum(len(h.text) + 8 for h in kept) <= MAX_SYSTEM_PROMPT_CHARS - 200
    assert within(hits[:1], 10) == hits[:1]  # the best passage always goes


def test_an_answer_cites_its_own_marks_else_the_passages_its_sentences_are_closest_to():
    from genai_ui.documents.store import Hit
    from genai_ui.run.answers import citations

    passages = tuple(Hit(document=f"{n}.txt", document_id=str(n), page=None, chunk=0, text=text, similarity=0.8)
                     for n, text in enumerate(["About the lighthouse.", "About the bakery."]))
    axes = {"lighthouse": unit(1, 0, 0), "bakery": unit(0, 1, 0)}

    def embed(texts: list[str]) -> list[list[float]]:  # a sentence points where its subject does, else nowhere near
        return [next((v for word, v in axes.items() if word in t.lower()), unit(0, 0, 1)) for t in texts]

    assert citations("The bakery opens early [2], see also [1] and [7].", passages, embed) == ((1, 2), "model")
    assert citations("The lighthouse was built in 1871. Nothing else here.", passages, embed) == ((1,), "similarity")
    assert citations("It is blue. Or green, maybe.", passages, embed) == ((), "")  # close to neither passage
    assert citations("Yes.", passages, embed) == ((), "")  # no sentence of three words to compare
