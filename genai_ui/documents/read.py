"""A document's text, page by page, read by a parser made for its format (docs/documents.md says why each):

- PDF: pypdf (pure Python, BSD): a page's text layer, page numbers kept, encryption told apart;
- DOCX: python-docx: paragraphs and tables in document order;
- HTML: Beautiful Soup on lxml: the visible text, without scripts, styles and navigation;
- Markdown and plain text: the text itself, decoded as UTF-8 or, failing that, as charset-normalizer reads it.

A file is checked against its name before it is parsed: a PNG called report.pdf is refused as a PNG.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnreadableDocument

FORMATS = {".pdf": "PDF", ".docx": "DOCX", ".html": "HTML", ".htm": "HTML", ".md": "Markdown",
           ".markdown": "Markdown", ".txt": "text", ".text": "text", ".rst": "text", ".csv": "text"}
# what a file starts with, to name what it is when it is not what its name says
SIGNATURES = ((b"%PDF-", "a PDF"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
              (b"GIF8", "a GIF image"), (b"PK\x03\x04", "a ZIP archive"), (b"\x7fELF", "a program"),
              (b"\x1f\x8b", "a gzip archive"), (b"MZ", "a Windows program"), (b"RIFF", "a RIFF media file"),
              (b"\xd0\xcf\x11\xe0", "an old Office file (.doc, .xls)"))
MAX_PAGES = 5_000


@dataclass(frozen=True)
class Page:
    number: int | None  # 1-based in a PDF; None where the format has no pages
    text: str


@dataclass(frozen=True)
class Document:
    name: str
    format: str  # one of FORMATS' values
    pages: tuple[Page, ...]

    @property
    def chars(self) -> int:
        return sum(len(p.text) for p in self.pages)


def document_format(name: str) -> str:
    """The format a file's name says it is, or a message naming the ones read here."""
    kind = FORMATS.get(Path(name).suffix.lower())
    if kind is None:
        raise UnreadableDocument(f"'{name}' is not a format read here: add PDF, DOCX, HTML, Markdown or text files "
                                 f"({', '.join(sorted(FORMATS))}).")
    return kind


def read_document(path: str | Path, name: str = "") -> Document:
    """The text of the file at `path` (`name`: what its owner called it, for messages and citations)."""
    path = Path(path)
    name = name or path.name
    kind = document_format(name)
    size = path.stat().st_size
    if size == 0:
        raise UnreadableDocument(f"'{name}' is empty: there is nothing to read in it.")
    with open(path, "rb") as f:
        head = f.read(8)
    reader = {"PDF": _pdf, "DOCX": _docx, "HTML": _html}.get(kind, _text)
    _check_signature(name, kind, head)
    pages = tuple(p for p in reader(path, name) if p.text.strip())
    if not pages:
        hint = " (a scan without a text layer? Text is not recognized in pictures here)" if kind == "PDF" else ""
        raise UnreadableDocument(f"'{name}' holds no text to index{hint}.")
    return Document(name=name, format=kind, pages=pages)


def _check_signature(name: str, kind: str, head: bytes) -> None:
    found = next((what for magic, what in SIGNATURES if head.startswith(magic)), None)
    expected = {"PDF": "a PDF", "DOCX": "a ZIP archive"}.get(kind)
    if expected is not None and found != expected:
        raise UnreadableDocument(f"'{name}' is not a {kind} file: it is {found or 'something else'}.")
    if expected is None and found is not None:
        raise UnreadableDocument(f"'{name}' is not {kind}: it is {found}.")


def _pdf(path: Path, name: str) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):  # many are encrypted with an empty password
            raise UnreadableDocument(f"'{name}' is an encrypted PDF: save a copy without its password and add that.")
        if len(reader.pages) > MAX_PAGES:
            raise UnreadableDocument(f"'{name}' has {len(reader.pages):,} pages; up to {MAX_PAGES:,} are read.")
        return [Page(n, _clean(page.extract_text() or "")) for n, page in enumerate(reader.pages, start=1)]
    except UnreadableDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        raise UnreadableDocument(f"'{name}' is a damaged PDF: {err}") from None
    except Exception as err:  # pypdf raises many kinds on a damaged file (its own NotImplementedError, …)
        if "encrypt" in str(err).lower() or "crypt" in type(err).__name__.lower():
            raise UnreadableDocument(f"'{name}' is an encrypted PDF that cannot be read here: {err}") from None
        raise UnreadableDocument(f"'{name}' could not be read as a PDF: {err}") from None


def _docx(path: Path, name: str) -> list[Page]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        with zipfile.ZipFile(path) as zipped:
            if "word/document.xml" not in zipped.namelist():
                raise UnreadableDocument(f"'{name}' is a ZIP archive, not a Word document "
                                         "(it has no word/document.xml).")
        document = docx.Document(str(path))
    except UnreadableDocument:
        raise
    except Exception as err:  # python-docx and lxml raise their own kinds on a damaged file
        raise UnreadableDocument(f"'{name}' is a damaged Word document: {err}") from None
    blocks = []
    for block in document.iter_inner_content():  # paragraphs and tables, in the order they appear
        if isinstance(block, Paragraph):
            blocks.append(block.text)
        elif isinstance(block, Table):
            blocks.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows)
    return [Page(None, _clean("\n\n".join(b for b in blocks if b.strip())))]


def _html(path: Path, name: str) -> list[Page]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decoded(path, name), "lxml")
    for hidden in soup(["script", "style", "noscript", "template", "nav", "head", "svg"]):
        hidden.decompose()
    return [Page(None, _clean(soup.get_text("\n")))]


def _text(path: Path, name: str) -> list[Page]:
    return [Page(None, _clean(_decoded(path, name)))]


def _decoded(path: Path, name: str) -> str:
    data = path.read_bytes()
    if b"\0" in data[:65536]:
        raise UnreadableDocument(f"'{name}' is not text: it holds binary data.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        matches = list(from_bytes(data))
        if not matches:
            raise UnreadableDocument(f"'{name}' is not text in any encoding read here.") from None
        # Windows' Western encoding, when it reads the bytes as well as the best guess: on a short text the
        # guess is often a neighbour (cp1250 turns "crème" into "crčme")
        western = [m for m in matches if m.encoding == "cp1252" and m.chaos <= matches[0].chaos]
        return str((western or matches)[0])


def _clean(text: str) -> str:
    """Lines without trailing spaces, and at most one blank line between paragraphs."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
