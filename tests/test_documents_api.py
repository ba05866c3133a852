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
