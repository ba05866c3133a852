"""The documents' endpoints (gradio_client and MCP): collections, adding files, searching and asking."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import gradio as gr
from gradio.data_classes import FileData

from ..engines.llm import GenerationParams
from ..run.answers import AskSettings
from ..run.documents import Upload
from ..services import Services
from .caller import caller_of
from .endpoints import CHAT_EVENTS, followed, uploaded_file
from .errors import user_errors

# adding and re-indexing report every chunk, each stage named by its file
EVERY_STEP = dict(every=0.0, stage=lambda stage: {"file": stage.name})


def register_documents_api(services: Services) -> None:
    """Call inside a gr.Blocks context. An answer is a chat reply, batched with the others (CHAT_EVENTS)."""
    documents = services.documents

    @user_errors
    def list_collections(request: gr.Request | None = None) -> list[dict]:
        """List the document collections you can search: yours, then those the operator shared, each with
        {name, shared, embedder, chunk_size, chunk_overlap, documents, chunks}."""
        return documents.list(caller_of(services.settings, request))

    @user_errors
    def create_collection(name: str, chunk_size: int = 128, chunk_overlap: int = 24, shared: bool = False,
                          request: gr.Request | None = None) -> dict:
        """Create a collection of documents to ask questions about. It is yours alone (on a shared deployment,
        your session's) unless the operator shares it.

        Args:
            name: up to 64 letters, digits, spaces and - _ . , ( ) ' +.
            chunk_size: the longest piece a document is cut into, in tokens of the embedding model (16 to its limit).
            chunk_overlap: tokens of the previous piece each piece starts with (0 to half the chunk size).
            shared: searchable by everyone (the operator only).
        """
        return documents.create(name=name, chunk_size=int(chunk_size), chunk_overlap=int(chunk_overlap),
                                shared=bool(shared), caller=caller_of(services.settings, request))

    @user_errors
    def delete_collection(name: str, request: gr.Request | None = None) -> list[dict]:
        """Delete one of your collections and all its documents. Returns the collections left.

        Args:
            name: the collection's name.
        """
        caller = caller_of(services.settings, request)
        documents.delete(name=name, caller=caller)
        return documents.list(caller)

    @user_errors
    def add_documents(collection: str, files: list[FileData], request: gr.Request | None = None) -> Iterator[dict]:
        """Add files to a collection: each is read, cut into chunks, embedded and stored, whole or not at all.
        Streams {status, file, step, steps, done, total} and ends with {added, skipped, collection}. A client
        that leaves stops it before the next file is stored.

        Args:
            collection: the collection's name.
            files: PDF, DOCX, HTML, Markdown or text files; in gradio_client, [handle_file("notes.pdf"), ...].
        """
        uploads = [Upload(Path(path), name) for path, name in (
            uploaded_file(f, what="files must be files", example="[handle_file('notes.pdf')]") for f in files or [])]
        cancel = threading.Event()  # set when the client leaves
        yield from followed(documents.add(name=collection, files=uploads, cancel=cancel,
                                          caller=caller_of(services.settings, request)), cancel, **EVERY_STEP)

    @user_errors
    def reindex_collection(collection: str, chunk_size: int = 0, chunk_overlap: int = -1,
                           request: gr.Request | None = None) -> Iterator[dict]:
        """Cut every document of a collection again and embed it anew (after a change of chunk size or overlap,
        or of the embedding model). Streams {status, file, step, steps, done, total, unit} and ends with
        {collection}. It all goes in at once at the end: a client that leaves, or a failure, leaves the collection
        as it was.

        Args:
            collection: the collection's name.
            chunk_size: the new chunk size in tokens; 0 keeps the collection's.
            chunk_overlap: the new overlap in tokens; -1 keeps the collection's.
        """
        cancel = threading.Event()  # set when the client leaves
        yield from followed(documents.reindex(name=collection, chunk_size=int(chunk_size),
                                              chunk_overlap=int(chunk_overlap), cancel=cancel,
                                              caller=caller_of(services.settings, request)), cancel, **EVERY_STEP)

    @user_errors
    def list_documents(collection: str, request: gr.Request | None = None) -> list[dict]:
        """List a collection's documents: {id, name, format, size_bytes, pages, chunks}.

        Args:
            collection: the collection's name.
        """
        return documents.documents(name=collection, caller=caller_of(services.settings, request))

    @user_errors
    def remove_document(collection: str, document: str, request: gr.Request | None = None) -> dict:
        """Remove a document from one of your collections. Returns the collection as it is now.

        Args:
            collection: the collection's name.
            document: the document's id or file name (see list_documents).
        """
        return documents.remove(name=collection, document=document, caller=caller_of(services.settings, request))

    @user_errors
    def search_documents(collection: str, question: str, k: int = 4, rerank: bool = True,
                         request: gr.Request | None = None) -> dict:
        """Find the passages of a collection closest to a question, without answering it. Returns {sources:
        [{document, document_id, page, chunk, text, similarity, score}], truncated, reranked, best_similarity}.

        Args:
            collection: the collection's name.
            question: what to look for.
            k: how many passages, 1 to 20.
            rerank: reorder them with the library's reranker model, when it has one.
        """
        found = documents.search(name=collection, question=question, k=int(k), rerank=bool(rerank),
                                 caller=caller_of(services.settings, request))
        return found.to_api()

    @user_errors
    def ask_documents(collection: str, question: str, model: str = "", k: int = 4, rerank: bool = True,
                      threshold: float = 0.25, max_new_tokens: int = 256, device: str = "",
                      request: gr.Request | None = None) -> Iterator[dict]:
        """Ask a question about a collection's documents: the closest passages are found, and a chat model
        answers from them, citing them as [1], [2]. Streams {answer, sources, cited, cited_by, answered, done,
        truncated, reranked, best_similarity}; when no passage reaches the threshold, it says so and no model
        is asked (answered is false).

        Args:
            collection: the collection's name.
            question: the question.
            model: a text-generation model id from local_models; empty for the default model.
            k: how many passages the model is given, 1 to 20.
            rerank: reorder the passages with the library's reranker model, when it has one.
            threshold: the least cosine similarity of a passage to count as found, -1 to 1.
            max_new_tokens: the longest answer, in tokens.
            device: CPU, GPU, NPU or AUTO; empty for the default.
        """
        settings = AskSettings(k=int(k), rerank=bool(rerank), threshold=float(threshold))
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0)
        for answer in documents.ask(name=collection, question=question, settings=settings, model=model,
                                    device=device, params=params, cancel=threading.Event(),
                                    caller=caller_of(services.settings, request)):
            yield answer.to_api()

    for fn in (list_collections, create_collection, delete_collection, list_documents, remove_document,
               search_documents):
        gr.api(fn, api_name=fn.__name__, concurrency_id="documents", concurrency_limit=4)
    for fn in (add_documents, reindex_collection):
        gr.api(fn, api_name=fn.__name__, concurrency_id="document-adds", concurrency_limit=2)
    gr.api(ask_documents, api_name="ask_documents", **CHAT_EVENTS)
