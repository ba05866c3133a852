"""Questions about your own documents, as a service: what the Documents tab and its endpoints call.

Adding a file reads it (documents/read.py), cuts it into chunks (documents/chunk.py), embeds them with the
collection's embedding model, and adds them to its store (documents/store.py) in one commit. Asking embeds
the question, finds the closest chunks, reranks them when a reranker is in the library, and has a chat model
answer from them, citing them by number. When no chunk is close enough, it says so instead.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from ..access import LOCAL, Caller
from ..builtin import ensure_builtin_embedder
from ..documents.chunk import ChunkRule, Tokens, chunk_pages
from ..documents.read import document_format, read_document
from ..documents.store import Collection, Collections, DocumentInfo, Hit
from ..embedder import ensure_embedder
from ..engines.devices import Devices
from ..engines.embeddings import BATCH
from ..engines.llm import GenerationParams
from ..engines.pipelines import PipelineManager
from ..errors import Cancelled, InvalidParameter, NotAllowed, NotAvailable, TooLarge, UserError
from ..library import Library
from ..manage import ModelAccess
from ..work.background import Finished, Progress, Stage
from .answers import INSTRUCTIONS, Answer, AskSettings, Found, checked_question, citations, within
from .chat import MAX_SYSTEM_PROMPT_CHARS, ChatService

EMBED_TASK = "feature-extraction"
RERANK_TASK = "text-classification"
MAX_FILES = 50  # in one add
# what a visitor of a shared deployment may keep (this machine's own user has no bound but the disk)
SHARED_COLLECTIONS = 10
SHARED_CHUNKS = 20_000  # a collection's
DOCUMENT_CHUNKS = 50_000  # one file's, for anyone: about 25 MB of text


@dataclass(frozen=True)
class Upload:
    path: Path
    name: str


class DocumentService:
    def __init__(self, library: Library, devices: Devices, pipelines: PipelineManager, chat: ChatService,
                 collections: Collections, access: ModelAccess | None = None, home: Path | None = None,
                 max_upload_bytes: int = 0) -> None:
        self.library = library
        self.devices = devices
        self.pipelines = pipelines
        self.chat = chat
        self.collections = collections
        self.access = access or ModelAccess(library, endpoint="")
        self.max_upload_bytes = max_upload_bytes  # a visitor's file, at most (0: no bound)
        self.home = home  # where the built-in embedding model is exported, at its first use if `make setup` did not
        self._exporting = threading.Lock()

    # collections

    def list(self, caller: Caller = LOCAL) -> list[dict]:
        return [c.info.to_api() for c in self.collections.visible(_owner(caller))]

    def create(self, *, name: str, chunk_size: int = 128, chunk_overlap: int = 24, shared: bool = False,
               embedder: str = "", caller: Caller = LOCAL) -> dict:
        if shared and not caller.operator:
            raise NotAllowed("Only this deployment's operator can share a collection with everyone.")
        rule = ChunkRule(size=chunk_size, overlap=chunk_overlap)
        loaded = self._embedder(embedder, caller)
        self._check_size(rule, loaded)
        collection = self.collections.create(
            name=name, owner=_owner(caller), embedder=loaded.entry.id, dimensions=loaded.pipeline.dimensions, rule=rule,
            shared=shared, limit=SHARED_COLLECTIONS if caller.shared and not caller.operator else 0)
        return collection.info.to_api()

    def delete(self, *, name: str, caller: Caller = LOCAL) -> None:
        self.collections.delete(self.collections.owned(name, _owner(caller), caller.operator))

    def documents(self, *, name: str, caller: Caller = LOCAL) -> list[dict]:
        return _documents(self.collections.find(name, _owner(caller)))

    def overview(self, *, name: str | None, caller: Caller = LOCAL) -> tuple[list[str], str | None, list[dict]]:
        """What a page shows, read once: the names of the caller's collections, the one shown (`name` if it is
        one of them, else the first) and its documents."""
        visible = self.collections.visible(_owner(caller))
        chosen = next((c for c in visible if c.info.name == name), visible[0] if visible else None)
        return ([c.info.name for c in visible], chosen.info.name if chosen else None,
                _documents(chosen) if chosen else [])

    def remove(self, *, name: str, document: str, caller: Caller = LOCAL) -> dict:
        """Remove a document, named by its id or its file name."""
        collection = self.collections.owned(name, _owner(caller), caller.operator)
        matches = [d for d in collection.info.documents if document in (d.id, d.name)]
        if not matches:
            raise NotAvailable(f"No document '{document}' in '{collection.info.name}'.")
        for match in matches:
            collection.remove(match.id)
        return collection.info.to_api()

    # adding

    def add(self, *, name: str, files: list[Upload], caller: Caller = LOCAL, cancel: threading.Event | None = None,
            folder: bool = False) -> Iterator[object]:
        """Read, chunk, embed and store each file: Stage per file, Progress per batch of chunks, then Finished
        with {added, skipped, collection}. Each file is stored whole or not at all; Cancel stops before the next
        commit (the files already stored stay). `folder`: the files of a folder, where one of a format not read
        here is skipped and listed, not refused."""
        cancel = cancel or threading.Event()
        collection = self.collections.owned(name, _owner(caller), caller.operator)
        skipped = [{"name": u.name, "reason": "not a format read here"} for u in files if folder and not _readable(u)]
        files = self._checked([u for u in files if not folder or _readable(u)], caller)
        loaded = self._embedder(collection.info.embedder, caller)
        tokens = _tokens(loaded.entry.load_path)
        known = {d.sha256: d.name for d in collection.info.documents}
        added = []
        for n, upload in enumerate(files):
            yield Stage(f"Reading {upload.name}", n, len(files))
            digest = _sha256(upload.path)
            if digest in known:
                skipped.append({"name": upload.name, "reason": f"the same file as '{known[digest]}', already here"})
                continue
            document = read_document(upload.path, upload.name)
            chunks = chunk_pages(document.pages, tokens, collection.info.rule)
            self._check_room(collection, len(chunks), upload.name, caller)
            vectors: list[list[float]] = []
            started = time.monotonic()
            for start in range(0, len(chunks), BATCH):
                if cancel.is_set():
                    raise Cancelled(_stopped(added, upload.name))
                collection.check_kept()
                with loaded.lock:
                    vectors.extend(loaded.pipeline.embed_documents([c.text for c in chunks[start:start + BATCH]]))
                done = len(vectors)
                yield Progress(done, len(chunks), done / max(1e-6, time.monotonic() - started), "chunks",
                               f"Embedding {upload.name}")
            if cancel.is_set():
                raise Cancelled(_stopped(added, upload.name))
            info = DocumentInfo(id=uuid.uuid4().hex[:12], name=upload.name, format=document.format,
                                size_bytes=upload.path.stat().st_size, sha256=digest, pages=len(document.pages),
                                chunks=len(chunks), added=time.time())
            collection.add(info, list(document.pages), chunks, vectors)
            known[digest] = upload.name
            added.append({"id": info.id, "name": info.name, "chunks": info.chunks, "pages": info.pages})
        yield Finished({"added": added, "skipped": skipped, "collection": collection.info.to_api()})

    def reindex(self, *, name: str, chunk_size: int = 0, chunk_overlap: int = -1, caller: Caller = LOCAL,
                cancel: threading.Event | None = None) -> Iterator[object]:
        """Cut every document of the collection again (with a new chunk size or overlap: 0 and -1 keep the
        collection's) and embed it anew, with the collection's embedding model, or the library's first when that
        one is gone. Stage per document, Progress per batch, then Finished with the collection. All of it goes
        in at once at the end: Stop, or a failure, leaves the collection as it was."""
        cancel = cancel or threading.Event()
        collection = self.collections.owned(name, _owner(caller), caller.operator)
        old = collection.info.rule
        rule = ChunkRule(size=chunk_size or old.size, overlap=old.overlap if chunk_overlap < 0 else chunk_overlap)
        keep = collection.info.embedder in self.access.view(caller)
        loaded = self._embedder(collection.info.embedder if keep else "", caller)
        self._check_size(rule, loaded)
        tokens = _tokens(loaded.entry.load_path)
        rebuilt = []
        for n, document in enumerate(collection.info.documents):
            yield Stage(f"Re-indexing {document.name}", n, len(collection.info.documents))
            chunks = chunk_pages(collection.pages(document.id), tokens, rule)
            vectors: list[list[float]] = []
            for start in range(0, len(chunks), BATCH):
                if cancel.is_set():
                    raise Cancelled(f"Stopped: '{collection.info.name}' is as it was before the re-index.")
                with loaded.lock:
                    vectors.extend(loaded.pipeline.embed_documents([c.text for c in chunks[start:start + BATCH]]))
                yield Progress(len(vectors), len(chunks), 0.0, "chunks", f"Embedding {document.name}")
            rebuilt.append((document, chunks, vectors))
        if cancel.is_set():
            raise Cancelled(f"Stopped: '{collection.info.name}' is as it was before the re-index.")
        info = collection.rebuild(rule=rule, embedder=loaded.entry.id, dimensions=loaded.pipeline.dimensions,
                                  documents=rebuilt)
        yield Finished({"collection": info.to_api()})

    @staticmethod
    def _check_size(rule: ChunkRule, loaded) -> None:
        if rule.size > loaded.pipeline.max_tokens - 2:  # two for the model's own [CLS] and [SEP]
            raise InvalidParameter(f"{loaded.entry.id} reads {loaded.pipeline.max_tokens} tokens at most: pick a chunk "
                                   f"size up to {loaded.pipeline.max_tokens - 2}.")

    def _checked(self, files: list[Upload], caller: Caller) -> list[Upload]:
        if not files:
            raise InvalidParameter("Pick one or more files to add (PDF, DOCX, HTML, Markdown or text).")
        if len(files) > MAX_FILES:
            raise InvalidParameter(f"{len(files)} files at once; up to {MAX_FILES} are added at a time.")
        for upload in files:
            document_format(upload.name)  # a format not read here is refused before any is read
            size = upload.path.stat().st_size
            if caller.shared and self.max_upload_bytes and size > self.max_upload_bytes:
                raise TooLarge(f"'{upload.name}' is {size / 2**20:,.0f} MB; files up to "
                               f"{self.max_upload_bytes / 2**20:,.0f} MB are read here.")
        return files

    def _check_room(self, collection: Collection, chunks: int, name: str, caller: Caller) -> None:
        if chunks > DOCUMENT_CHUNKS:
            raise TooLarge(f"'{name}' makes {chunks:,} chunks; up to {DOCUMENT_CHUNKS:,} a file are indexed. Split it.")
        if caller.shared and not caller.operator and collection.info.chunks + chunks > SHARED_CHUNKS:
            raise TooLarge(f"'{name}' would take '{collection.info.name}' to {collection.info.chunks + chunks:,} "
                           f"chunks; a collection holds up to {SHARED_CHUNKS:,} on this shared deployment.")

    # asking

    def search(self, *, name: str, question: str, k: int = 4, rerank: bool = True, caller: Caller = LOCAL) -> Found:
        """The `k` passages closest to the question (reranked when asked and a reranker is in the library)."""
        collection = self.collections.find(name, _owner(caller))
        return self._search(collection, checked_question(question), AskSettings(k=k, rerank=rerank), caller)

    def ask(self, *, name: str, question: str, settings: AskSettings = AskSettings(), model: str = "",
            device: str = "", params: GenerationParams | None = None, cancel: threading.Event | None = None,
            caller: Caller = LOCAL) -> Iterator[Answer]:
        """Stream the answer to `question` from the collection's passages, ending with the ones it cites."""
        question = checked_question(question)
        collection = self.collections.find(name, _owner(caller))
        found = self._search(collection, question, settings, caller)
        relevant = tuple(h for h in found.hits if h.similarity >= settings.threshold)
        if not relevant:
            best = f"the closest passage scores {found.best:.2f}" if found.best is not None else "it holds no passage"
            yield Answer(f"Nothing in '{collection.info.name}' is close enough to this question to answer it from "
                         f"({best}; the threshold is {settings.threshold:.2f}). Rephrase it, add the document that "
                         "answers it, or lower the threshold.", found=replace(found, hits=()), done=True,
                         answered=False)
            return
        relevant = within(relevant, MAX_SYSTEM_PROMPT_CHARS - len(INSTRUCTIONS) - 100)
        found = replace(found, hits=relevant)
        params = params or GenerationParams(max_new_tokens=256, temperature=0.0)
        system = INSTRUCTIONS + "\n\n" + "\n\n".join(f"[{n}] {h.text}" for n, h in enumerate(relevant, 1))
        text, last = "", None
        for update in self.chat.reply(message=question, model=model, device=device, system_prompt=system,
                                      params=params, cancel=cancel, caller=caller):
            text, last = update.text, update
            yield Answer(text, found=found, chat=update)
        cited, by = self._citations(text, relevant, collection, caller)
        yield Answer(text, found=found, done=True, cited=cited, cited_by=by, chat=last)

    def _search(self, collection: Collection, question: str, settings: AskSettings, caller: Caller) -> Found:
        loaded = self._embedder(collection.info.embedder, caller)
        text, truncated = _tokens(loaded.entry.load_path).truncate(question, loaded.pipeline.max_tokens - 2)
        with loaded.lock:
            vector = loaded.pipeline.embed_query(text)
        reranker = self._reranker(caller) if settings.rerank else None
        hits = collection.search(vector, settings.k * 4 if reranker else settings.k)
        best = max((h.similarity for h in hits), default=None)
        if reranker is None or not hits:
            return Found(tuple(hits[:settings.k]), truncated=truncated, best=best)
        with reranker.lock:
            scores = reranker.pipeline.scores(text, [h.text for h in hits])
        ranked = sorted((replace(h, score=s) for h, s in zip(hits, scores)), key=lambda h: -h.score)
        return Found(tuple(ranked[:settings.k]), truncated=truncated, reranked=True, best=best)

    def _citations(self, text: str, passages: tuple[Hit, ...], collection: Collection,
                   caller: Caller) -> tuple[tuple[int, ...], str]:
        loaded = self._embedder(collection.info.embedder, caller)

        def embed(texts: list[str]) -> list[list[float]]:
            with loaded.lock:
                return loaded.pipeline.embed_documents(texts)

        return citations(text, passages, embed)

    # models

    def embed(self, *, texts: list[str], model: str = "", caller: Caller = LOCAL) -> tuple[list[list[float]], int]:
        """The vectors of `texts` by an embedding model of the library (/v1/embeddings), and the tokens read.
        A text longer than the model reads is refused, as OpenAI refuses one over its context."""
        loaded = self._embedder(model, caller)  # another task's model: WrongTask, in words
        counts = _tokens(loaded.entry.load_path).count(list(texts))
        limit = loaded.pipeline.max_tokens - 2  # the model's own [CLS] and [SEP]
        for n, count in enumerate(counts):
            if count > limit:
                raise InvalidParameter(f"input[{n}] is {count:,} tokens; {loaded.entry.id} reads {limit:,} at most. "
                                       "Send it in shorter pieces.")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            with loaded.lock:
                vectors.extend(loaded.pipeline.embed_documents(list(texts[start:start + BATCH])))
        return vectors, sum(counts) + 2 * len(counts)

    def _embedder(self, model: str, caller: Caller):
        view = self.access.view(caller)
        if not model and not view.list(EMBED_TASK) and self.home is not None:
            with self._exporting:  # the built-in one, exported once (about half a minute) where `make setup` did not
                ensure_embedder(self.home)
                ensure_builtin_embedder(self.library, self.home)
            view = self.access.view(caller)
        entry = view.get(view.pick(model, EMBED_TASK), task=EMBED_TASK)
        return self.pipelines.get(entry, self.devices.resolve(""))

    def _reranker(self, caller: Caller):
        rerankers = self.access.view(caller).list(RERANK_TASK)
        return self.pipelines.get(rerankers[0], self.devices.resolve("")) if rerankers else None


def _documents(collection) -> list[dict]:
    return [{"id": d.id, "name": d.name, "format": d.format, "size_bytes": d.size_bytes, "pages": d.pages,
             "chunks": d.chunks} for d in collection.info.documents]


@functools.lru_cache(maxsize=8)
def _tokens(folder: Path) -> Tokens:
    """A model's tokenizer, read once (its tokenizer.json takes tens of milliseconds to read)."""
    return Tokens(folder)


def _readable(upload: Upload) -> bool:
    try:
        document_format(upload.name)
        return True
    except UserError:
        return False


def _owner(caller: Caller) -> str:
    owner = caller.owner
    if not owner:
        raise NotAllowed("Documents are kept per session: call with a session (a browser, or one gradio_client).")
    return owner


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stopped(added: list[dict], name: str) -> str:
    kept = f"; {len(added)} file{'s' * (len(added) != 1)} added before it stay" if added else ""
    return f"Stopped: '{name}' was not added{kept}."
