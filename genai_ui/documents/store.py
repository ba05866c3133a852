"""Collections of documents on disk, in the app's home: each is a folder with its manifest (collection.json:
its owner, whether it is shared, the embedding model and chunking rule, and its documents) and a LanceDB
table of its chunks and their vectors.

LanceDB is an embedded vector store (no server, a folder of Lance files; AnythingLLM's default store): a file's
chunks go in with one `add`, one commit, so a file is in whole or not at all; the manifest, written after
that commit, is what counts, and chunks it does not name (a crash between the two) are removed when the
collection is next opened. Search is exact (all vectors compared) up to INDEX_FROM chunks (250k), and through an
IVF-PQ index from there on (docs/documents.md has the times at 1k and 100k chunks).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..atomic import write_text
from ..errors import InvalidParameter, NotAllowed, NotAvailable
from .chunk import Chunk, ChunkRule
from .read import Page

NAME = re.compile(r"^[\w][\w .,()'+-]{0,63}$")
MANIFEST = "collection.json"
TABLE = "chunks"
# chunks: below this every search is exact (all vectors compared), which keeps the recall of the evaluation set
# at 100k chunks and takes tens of milliseconds there (docs/documents.md); an approximate index lost 1 or 2 of its
# 30 questions among 100k chunks, and building it took 50 s within the add that crossed the line
INDEX_FROM = 250_000
# An index search reads the NPROBES partitions nearest the question, and scores REFINE times the candidates asked
# for exactly
NPROBES = 40
REFINE = 10


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    name: str
    format: str
    size_bytes: int
    sha256: str
    pages: int
    chunks: int
    added: float


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    owner: str
    embedder: str  # the embedding model's id in the library
    dimensions: int
    rule: ChunkRule = ChunkRule()
    shared: bool = False
    created: float = 0.0
    documents: tuple[DocumentInfo, ...] = ()
    table: str = "lance"  # the folder of its LanceDB table: a re-index writes a new one, then points here at it

    @property
    def chunks(self) -> int:
        return sum(d.chunks for d in self.documents)

    def to_api(self) -> dict:
        return {"name": self.name, "shared": self.shared, "embedder": self.embedder, "chunk_size": self.rule.size,
                "chunk_overlap": self.rule.overlap, "documents": len(self.documents), "chunks": self.chunks}

    @classmethod
    def from_json(cls, data: dict) -> CollectionInfo:
        return cls(name=data["name"], owner=data["owner"], embedder=data["embedder"], dimensions=data["dimensions"],
                   rule=ChunkRule(**data["rule"]), shared=data.get("shared", False), created=data.get("created", 0.0),
                   documents=tuple(DocumentInfo(**d) for d in data.get("documents", [])),
                   table=data.get("table", "lance"))


@dataclass(frozen=True)
class Hit:
    """A chunk found for a question: its text and where it is."""
    document: str  # the document's file name
    document_id: str
    page: int | None
    chunk: int
    text: str
    similarity: float  # cosine similarity of the question's vector and the chunk's
    score: float | None = None  # the reranker's, when one ran

    def to_api(self) -> dict:
        shown = {k: v for k, v in asdict(self).items() if v is not None or k == "page"}
        return {**shown, "score": round(self.score, 6)} if self.score is not None else shown


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter("Name the collection: a name of letters, digits, spaces and - _ . , ( ) ' +.")
    name = name.strip()
    if "/" in name or "\\" in name or ".." in name or name.startswith(".") or not NAME.match(name):
        raise InvalidParameter(f"'{name[:80]}' cannot name a collection: use up to 64 letters, digits, spaces and "
                               "- _ . , ( ) ' + (no slashes, no path).")
    return name


def owner_folder(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


class Collection:
    """One collection: its manifest, its table, and each document's text (texts/<id>.json, which a re-index
    cuts again). Writes take the collection's lock."""

    def __init__(self, folder: Path, info: CollectionInfo) -> None:
        self.folder = folder
        self.info = info
        self.lock = threading.RLock()
        self.deleted = False  # set by Collections.delete, under the lock: a write that comes after it is refused
        self._table = None

    @property
    def table(self):
        if self._table is None:
            import lancedb

            db = lancedb.connect(str(self.folder / self.info.table))
            self._table = db.open_table(TABLE) if TABLE in db.table_names() else None
        return self._table

    def _create_table(self, rows: list[dict], folder: str, dimensions: int):
        import lancedb
        import pyarrow as pa

        schema = pa.schema([pa.field("vector", pa.list_(pa.float32(), dimensions)),
                            pa.field("doc", pa.string()), pa.field("chunk", pa.int32()),
                            pa.field("page", pa.int32()), pa.field("text", pa.string())])
        db = lancedb.connect(str(self.folder / folder))
        return db.create_table(TABLE, data=rows, schema=schema, exist_ok=True) if rows else \
            db.create_table(TABLE, schema=schema, exist_ok=True)

    def add(self, document: DocumentInfo, pages: list[Page], chunks: list[Chunk],
            vectors: list[list[float]]) -> CollectionInfo:
        """The document's text, then its chunks in one commit, then the manifest that names it."""
        with self.lock:
            self.check_kept()
            (self.folder / "texts").mkdir(exist_ok=True)
            write_text(self._text_path(document.id), json.dumps([[p.number, p.text] for p in pages]))
            if self.table is None:
                self._table = self._create_table(_rows(document.id, chunks, vectors), self.info.table,
                                                 self.info.dimensions)
            else:
                self.table.add(_rows(document.id, chunks, vectors))
            self._save(replace(self.info, documents=(*self.info.documents, document)))
            self._maybe_index()
        return self.info

    def check_kept(self) -> None:
        """A write to a collection deleted meanwhile (another tab of the same person) says so in words."""
        if self.deleted:
            raise NotAvailable(f"The collection '{self.info.name}' was deleted meanwhile: nothing more goes in it.")

    def remove(self, document_id: str) -> CollectionInfo:
        with self.lock:
            self.check_kept()
            kept = tuple(d for d in self.info.documents if d.id != document_id)
            self._save(replace(self.info, documents=kept))  # gone from the manifest first: never half there
            if self.table is not None:
                self.table.delete(f"doc = '{_quoted(document_id)}'")
            self._text_path(document_id).unlink(missing_ok=True)
        return self.info

    def pages(self, document_id: str) -> list[Page]:
        """A document's text as it was read when it was added."""
        return [Page(number, text) for number, text in json.loads(self._text_path(document_id).read_text())]

    def rebuild(self, *, rule: ChunkRule, embedder: str, dimensions: int,
                documents: list[tuple[DocumentInfo, list[Chunk], list[list[float]]]]) -> CollectionInfo:
        """Every document cut and embedded anew, in a table of its own; the manifest then points at it (one
        rename), and the old table goes. A re-index that stops before leaves the collection as it was."""
        with self.lock:
            self.check_kept()
            folder = f"lance-{uuid.uuid4().hex[:8]}"
            rows = [row for document, chunks, vectors in documents for row in _rows(document.id, chunks, vectors)]
            table = self._create_table(rows, folder, dimensions)
            old = self.info.table
            self._save(replace(self.info, rule=rule, embedder=embedder, dimensions=dimensions, table=folder,
                               documents=tuple(replace(d, chunks=len(c)) for d, c, _ in documents)))
            self._table = table
            shutil.rmtree(self.folder / old, ignore_errors=True)
            self._maybe_index()
        return self.info

    def _text_path(self, document_id: str) -> Path:
        return self.folder / "texts" / f"{document_id}.json"

    def search(self, vector: list[float], k: int) -> list[Hit]:
        table = self.table
        if table is None or not self.info.documents:
            return []
        names = {d.id: d.name for d in self.info.documents}
        query = table.search(list(map(float, vector))).metric("dot").limit(k + 8)
        if self.indexed:  # the index's nearest partitions, then their candidates scored exactly against the vector
            query = query.nprobes(NPROBES).refine_factor(REFINE)
        rows = query.to_list()
        hits = [Hit(document=names[r["doc"]], document_id=r["doc"], page=r["page"], chunk=r["chunk"], text=r["text"],
                    similarity=round(1.0 - float(r["_distance"]), 4)) for r in rows if r["doc"] in names]
        return hits[:k]

    def sweep(self) -> None:
        """Chunks, texts and tables that the manifest does not name (a crash between a write and the manifest's)
        go."""
        with self.lock:
            for stray in self.folder.glob("lance*"):
                if stray.name != self.info.table:
                    shutil.rmtree(stray, ignore_errors=True)
            known = {d.id for d in self.info.documents}
            for text in self.folder.glob("texts/*.json"):
                if text.stem not in known:
                    text.unlink(missing_ok=True)
            if self.table is None:
                return
            rows = self.table.count_rows()
            present = set(self.table.to_arrow().column("doc").unique().to_pylist()) if rows else set()
            for orphan in present - known:
                self.table.delete(f"doc = '{_quoted(orphan)}'")

    @property
    def indexed(self) -> bool:
        return self.table is not None and self.info.chunks >= INDEX_FROM

    def _maybe_index(self) -> None:
        if self.table is None:
            return
        rows = self.table.count_rows()
        if rows >= INDEX_FROM and not self.table.list_indices():
            self.table.create_index(metric="dot", vector_column_name="vector", index_type="IVF_PQ",
                                    num_partitions=max(1, int(rows ** 0.5)), num_sub_vectors=self.info.dimensions // 8)

    def _save(self, info: CollectionInfo) -> None:
        data = asdict(info)
        write_text(self.folder / MANIFEST, json.dumps(data, indent=1))
        self.info = info


def _rows(document_id: str, chunks: list[Chunk], vectors: list[list[float]]) -> list[dict]:
    return [{"vector": list(map(float, v)), "doc": document_id, "chunk": n, "page": c.page, "text": c.text}
            for n, (c, v) in enumerate(zip(chunks, vectors))]


def _quoted(text: str) -> str:
    return text.replace("'", "''")


@dataclass
class Collections:
    """All collections under `root`, by owner: `list`, `get`, `create`, `delete`."""
    root: Path
    _open: dict[Path, Collection] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def all(self) -> list[Collection]:
        found = []
        for manifest in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            try:
                found.append(self._opened(manifest.parent))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a damaged manifest is skipped, not fatal
        return found

    def visible(self, owner: str) -> list[Collection]:
        """The owner's collections, then those shared with everyone."""
        every = self.all()
        return [c for c in every if c.info.owner == owner] + [c for c in every if c.info.shared and c.info.owner != owner]

    def find(self, name: str, owner: str) -> Collection:
        name, visible = check_name(name), self.visible(owner)
        for collection in visible:
            if collection.info.name.lower() == name.lower():
                return collection
        names = [c.info.name for c in visible]
        hint = f" Yours and the shared ones: {', '.join(names)}." if names else " There is none yet: create one."
        raise NotAvailable(f"No collection '{name}'.{hint}")

    def owned(self, name: str, owner: str, operator: bool = False) -> Collection:
        """A collection `owner` may change: their own, or (for the operator) a shared one."""
        collection = self.find(name, owner)
        if collection.info.owner != owner and not operator:
            raise NotAllowed(f"'{collection.info.name}' is shared by this deployment's operator: it can be searched "
                             "and asked, not changed.")
        return collection

    def create(self, *, name: str, owner: str, embedder: str, dimensions: int, rule: ChunkRule,
               shared: bool = False, limit: int = 0) -> Collection:
        name = check_name(name)
        with self._lock:
            mine = [c for c in self.all() if c.info.owner == owner]
            if any(c.info.name.lower() == name.lower() for c in mine):
                raise InvalidParameter(f"You already have a collection named '{name}': add files to it, or pick "
                                       "another name.")
            if limit and len(mine) >= limit:
                raise InvalidParameter(f"You have {len(mine)} collections, the most kept for one person here: "
                                       "delete one first.")
            folder = self.root / owner_folder(owner) / uuid.uuid4().hex[:12]
            folder.mkdir(parents=True)
            collection = Collection(folder, CollectionInfo(name=name, owner=owner, embedder=embedder,
                                                           dimensions=dimensions, rule=rule, shared=shared,
                                                           created=time.time()))
            collection._save(collection.info)
            self._open[folder] = collection
            return collection

    def delete(self, collection: Collection) -> None:
        with self._lock, collection.lock:
            collection.deleted = True
            (collection.folder / MANIFEST).unlink(missing_ok=True)  # gone at once, whatever the rest takes
            self._open.pop(collection.folder, None)
            shutil.rmtree(collection.folder, ignore_errors=True)

    def forget_sessions(self) -> int:
        """Collections of visitors' browser sessions: after a restart no session can reach them again."""
        gone = [c for c in self.all() if c.info.owner.startswith("session:")]
        for collection in gone:
            self.delete(collection)
        return len(gone)

    def _opened(self, folder: Path) -> Collection:
        with self._lock:
            collection = self._open.get(folder)
            if collection is None:
                info = CollectionInfo.from_json(json.loads((folder / MANIFEST).read_text()))
                collection = Collection(folder, info)
                collection.sweep()
                self._open[folder] = collection
            return collection
