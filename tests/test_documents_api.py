"""The documents' endpoints over gradio_client, as a script calls them: a collection made, files added with
their progress, an answer streamed with its sources, documents listed and removed; bad input in words; two
clients (two sessions of a shared app) kept apart."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from genai_ui.services import create_services
from genai_ui.settings import Settings
from genai_ui.testing.documents_eval import CASES, write_cases
from tests.apps import launched
from tests.conftest import seed_home
from tests.document_files import write_encrypted_pdf, write_pdf

pytestmark = pytest.mark.layer("app")


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory, local_hub, gguf):
    """An app shared with others (--shared): each gradio_client is a visitor with a session of its own."""
    home = tmp_path_factory.mktemp("shared-documents")
    seed_home(home)
    with launched(create_services(Settings(home=home, device="CPU", shared=True,
                                           hub_endpoint=local_hub.endpoint))) as url:
        yield url


def test_a_collection_from_files_to_a_cited_answer(client, tmp_path):
    files = write_cases(tmp_path / "cases")[:6]
    made = client.predict("Trips", 128, 24, False, api_name="/create_collection")
    assert made == {"name": "Trips", "shared": False, "embedder": "all-MiniLM-L6-v2", "chunk_size": 128,
                    "chunk_overlap": 24, "documents": 0, "chunks": 0}
    job = client.submit("Trips", [handle_file(str(p)) for p in files], api_name="/add_documents")
    result = job.result(timeout=300)
    assert [a["name"] for a in result["added"]] == [p.name for p in files]
    assert result["collection"]["documents"] == 6
    updates = job.outputs()
    assert any(u.get("status") == "running" and u.get("file", "").startswith("Reading ") for u in updates[:-1])

    listed = client.predict("Trips", api_name="/list_documents")
    assert [d["name"] for d in listed] == [p.name for p in files] and all(d["chunks"] == 1 for d in listed)
    assert "Trips" in [c["name"] for c in client.predict(api_name="/list_collections")]

    found = client.predict("Trips", CASES[2].question, 2, True, api_name="/search_documents")
    assert found["sources"][0]["document"] == CASES[2].file and found["reranked"] is False

    job = client.submit("Trips", CASES[0].question, api_name="/ask_documents")
    answer = job.result(timeout=300)
    assert len(job.outputs()) > 2 and answer["done"] and answer["answered"]
    assert CASES[0].answer in answer["answer"]
    assert answer["sources"][answer["cited"][0] - 1]["document"] == CASES[0].file

    job = client.submit("Trips", 64, 8, api_name="/reindex_collection")
    assert job.result(timeout=300)["collection"]["chunk_size"] == 64
    assert any(u.get("file", "").startswith("Re-indexing ") for u in job.outputs()[:-1])
    left = client.predict("Trips", CASES[0].file, api_name="/remove_document")
    assert left["documents"] == 5
    assert client.predict("Trips", CASES[0].question, 1, True, api_name="/search_documents")["sources"][0][
        "document"] != CASES[0].file
    assert "Trips" not in [c["name"] for c in client.predict("Trips", api_name="/delete_collection")]


@pytest.mark.parametrize("call, message", [
    (("../../etc", 128, 24, False, "/create_collection"), "cannot name a collection: use up to 64 letters"),
    (("Fine", 999, 24, False, "/create_collection"), "all-MiniLM-L6-v2 reads 256 tokens at most: pick a chunk size"),
    (("Shared", 128, 24, True, "/create_collection"), None),  # this machine's user is the operator: allowed
    (("Nowhere", "What?", "/search_documents"), "No collection 'Nowhere'"),
])
def test_bad_requests_get_a_message(client, call, message):
    *args, api_name = call
    if message is None:
        assert client.predict(*args, api_name=api_name)["shared"] is True
        client.predict(args[0], api_name="/delete_collection")
        return
    with pytest.raises(AppError) as refused:
        client.predict(*args, api_name=api_name)
    assert message in str(refused.value) and "Something went wrong" not in str(refused.value)


def test_bad_files_are_refused_and_nothing_partial_is_kept(client, tmp_path):
    client.predict("Checked", 128, 24, False, api_name="/create_collection")
    good = write_pdf(tmp_path / "good.pdf", ["Kites fly over Velmora in May."])
    locked = write_encrypted_pdf(tmp_path / "locked.pdf", ["Secret."])
    fake = tmp_path / "photo.pdf"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    for bad, message in ((locked, "'locked.pdf' is an encrypted PDF"), (fake, "'photo.pdf' is not a PDF file: it is "
                                                                             "a PNG image"),
                         (empty, "'empty.txt' is empty")):
        with pytest.raises(AppError, match=message):
            client.predict("Checked", [handle_file(str(good)), handle_file(str(bad))], api_name="/add_documents")
    # the good file, read before each bad one, is stored once: the same file again is skipped
    assert [d["name"] for d in client.predict("Checked", api_name="/list_documents")] == ["good.pdf"]
    with pytest.raises(AppError, match="Type a message first"):
        client.predict("Checked", "   ", api_name="/ask_documents")
    client.predict("Checked", api_name="/delete_collection")


def test_two_sessions_of_a_shared_app_are_kept_apart(shared_app, tmp_path):
    alice, bob = Client(shared_app, verbose=False), Client(shared_app, verbose=False)
    alice.predict("Private", 128, 24, False, api_name="/create_collection")
    note = tmp_path / "note.txt"
    note.write_text("Alice keeps her spare key under the blue flowerpot.")
    alice.predict("Private", [handle_file(str(note))], api_name="/add_documents")
    assert [c["name"] for c in bob.predict(api_name="/list_collections")] == []
    for call in (("Private", "Where is the key?", "/search_documents"), ("Private", "/list_documents"),
                 ("Private", "note.txt", "/remove_document"), ("Private", "/delete_collection")):
        *args, api_name = call
        with pytest.raises(AppError, match="No collection 'Private'"):
            bob.predict(*args, api_name=api_name)
    with pytest.raises(AppError, match="Only this deployment's operator can share a collection"):
        bob.predict("Everyone", 128, 24, True, api_name="/create_collection")
    assert alice.predict("Private", "Where is the spare key?", 1, True, api_name="/search_documents")[
        "sources"][0]["document"] == "note.txt"


def test_v1_embeddings_are_the_pipelines_own_vectors(app_url, services):
    import httpx
    import openai
    import openvino_genai as og

    from genai_ui.embedder import EMBEDDER_ID

    ai = openai.OpenAI(base_url=f"{app_url}v1", api_key="unused: no key is set on this app", max_retries=0)
    texts = ["The capital of France is Paris.", "Bananas are yellow fruit."]
    got = ai.embeddings.create(model=EMBEDDER_ID, input=texts)  # the client asks for base64 and decodes it
    floats = ai.embeddings.create(model=EMBEDDER_ID, input=texts[0], encoding_format="float")
    raw = og.TextEmbeddingPipeline(str(services.library.get(EMBEDDER_ID).load_path), "CPU",
                                   pooling_type=og.TextEmbeddingPipeline.PoolingType.MEAN, normalize=True)
    expected = [list(v) for v in raw.embed_documents(texts)]
    assert [d.index for d in got.data] == [0, 1] and len(got.data[0].embedding) == 384
    for ours, theirs in zip([got.data[0].embedding, got.data[1].embedding, floats.data[0].embedding],
                            expected + expected[:1]):
        assert max(abs(a - b) for a, b in zip(ours, theirs)) < 1e-6
    assert got.usage.prompt_tokens == got.usage.total_tokens > 10 and got.model == EMBEDDER_ID
    models = {m.id: m for m in ai.models.list()}
    assert models[EMBEDDER_ID].model_extra["task"] == "feature-extraction"

    for body, status, param, message in (
        ({"model": EMBEDDER_ID, "input": [[1, 2, 3]]}, 400, "input", "as token ids is not read here"),
        ({"model": EMBEDDER_ID, "input": ["word " * 400]}, 400, "input", "input[0] is 40"),
        ({"model": EMBEDDER_ID, "input": "hi", "dimensions": 64}, 400, "dimensions", "makes vectors of 384"),
        ({"model": "SmolLM2-135M-Instruct-Q4_1", "input": "hi"}, 400, "model", "feature-extraction"),
        ({"model": "nobody", "input": "hi"}, 404, "model", "No model 'nobody'"),
        ({"model": EMBEDDER_ID, "input": ""}, 400, "input", "is empty"),
    ):
        answer = httpx.post(f"{app_url}v1/embeddings", json=body, timeout=60)
        error = answer.json()["error"]
        assert (answer.status_code, error["param"]) == (status, param) and message in error["message"], error
