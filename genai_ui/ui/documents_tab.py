"""The Documents tab: collections of your own files, and questions answered from them with numbered citations
that open the passage (file, page and text)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from html import escape
from pathlib import Path

import gradio as gr

from ..access import Caller
from ..engines.llm import GenerationParams
from ..errors import Cancelled, EmptyMessage, InvalidParameter, UserError
from ..run.answers import Answer, AskSettings
from ..run.documents import Upload
from ..services import Services
from ..work.background import Progress, Stage, Watch
from .caller import caller_of
from .endpoints import CHAT_EVENTS
from .errors import error_html, user_errors
from .format import human_bytes
from .pickers import RunTab, model_choices, refresh_picker
from .progress import UPDATE_EVERY

FILE_TYPES = [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"]
# A citation mark opens its passage: the page's own script (HEAD) opens the <details> the link names.
HEAD = """<script>
document.addEventListener("click", (e) => {
  const a = e.target.closest && e.target.closest('a[href^="#doc-src-"]');
  if (!a) return;
  e.preventDefault();
  const d = document.getElementById(a.getAttribute("href").slice(1));
  if (d) { d.open = true; d.scrollIntoView({block: "nearest"}); }
});
</script>"""
NO_COLLECTION = "Create a collection (give it a name above), then add files to it."


class Session:
    """One browser session's questions and answers (gr.State deep-copies it per session; a plain class, as
    Gradio turns a dataclass into a dict and would copy the Event)."""

    def __init__(self, messages: list[dict] | None = None) -> None:
        self.messages: list[dict] = messages or []
        self.cancel = threading.Event()  # Stop: ends the answer or the adding under way

    def __deepcopy__(self, memo) -> "Session":
        return Session([dict(m) for m in self.messages])


@dataclass(frozen=True)
class _Parts:
    session: gr.State
    collection: gr.Dropdown
    new_name: gr.Textbox
    create: gr.Button
    delete: gr.Button
    reindex: gr.Button
    files: gr.File
    folder: gr.File
    add: gr.Button
    stop_add: gr.Button
    add_status: gr.HTML
    table: gr.Dataframe
    document: gr.Dropdown
    remove: gr.Button
    model: gr.Dropdown
    embedder: gr.Dropdown
    k: gr.Slider
    rerank: gr.Checkbox
    threshold: gr.Slider
    chunk_size: gr.Number
    chunk_overlap: gr.Number
    chatbot: gr.Chatbot
    question: gr.Textbox
    ask: gr.Button
    stop: gr.Button
    sources: gr.HTML


@dataclass(frozen=True)
class DocumentsTab:
    run: RunTab  # its chat model picker, as the other tabs' pickers
    show: tuple  # (handler, inputs, outputs): the collections as they are now, when the tab is shown


def build_documents_tab(services: Services) -> DocumentsTab:
    c = _layout(services)
    show = _wire(services, c)
    return DocumentsTab(RunTab(model=c.model, pick=lambda current, caller: refresh_picker(
        services, "text-generation", current, caller)), show)


def _layout(services: Services) -> _Parts:
    with gr.Row():
        with gr.Column(scale=2):
            collection = gr.Dropdown([], value=None, label="Collection", elem_id="doc-collection")
            with gr.Row(equal_height=True):
                new_name = gr.Textbox(placeholder="A new collection's name", show_label=False, scale=3,
                                      elem_id="doc-new-name", container=False)
                create = gr.Button("Create", scale=1, min_width=80, elem_id="doc-create")
            files = gr.File(file_count="multiple", file_types=FILE_TYPES, label="Add files (PDF, DOCX, HTML, Markdown, "
                            "text; several at once)", height=140, elem_id="doc-files")
            folder = gr.File(file_count="directory", label="…or a folder (files of other kinds in it are skipped)",
                             height=90, elem_id="doc-folder")
            with gr.Row():
                add = gr.Button("Add to the collection", variant="primary", elem_id="doc-add")
                stop_add = gr.Button("Stop", variant="stop", elem_id="doc-stop-add")
            add_status = gr.HTML(NO_COLLECTION, elem_id="doc-add-status")
            table = gr.Dataframe(headers=["Document", "Format", "Pages", "Chunks", "Size"], interactive=False,
                                 wrap=True, elem_id="doc-table")
            with gr.Row(equal_height=True):
                document = gr.Dropdown([], value=None, label="Document", scale=3, elem_id="doc-document")
                remove = gr.Button("Remove", size="sm", scale=1, elem_id="doc-remove")
            with gr.Row():
                reindex = gr.Button("Re-index (with the chunk size and overlap below)", size="sm",
                                    elem_id="doc-reindex")
                delete = gr.Button("Delete the collection", size="sm", variant="stop", elem_id="doc-delete")
            with gr.Accordion("Retrieval settings", open=False):
                chats = model_choices(services, "text-generation")
                model = gr.Dropdown(chats, value=chats[0][1] if chats else None, label="Chat model (answers)",
                                    elem_id="doc-model")
                k = gr.Slider(1, 20, value=4, step=1, label="Passages given to the model (k)", elem_id="doc-k")
                rerank = gr.Checkbox(True, label="Rerank with the library's reranker model, when it has one",
                                     elem_id="doc-rerank")
                threshold = gr.Slider(-1.0, 1.0, value=0.25, step=0.01, label="Least similarity that counts as found",
                                      elem_id="doc-threshold")
                embedders = model_choices(services, "feature-extraction")
                embedder = gr.Dropdown(embedders, value=embedders[0][1] if embedders else None,
                                       label="Embedding model (new collections)", elem_id="doc-embedder")
                with gr.Row():
                    chunk_size = gr.Number(128, precision=0, label="Chunk size (tokens: new collections, re-index)",
                                           elem_id="doc-chunk-size")
                    chunk_overlap = gr.Number(24, precision=0, label="Overlap (tokens)", elem_id="doc-chunk-overlap")
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Answers", height=460, elem_id="doc-chatbot", buttons=["copy"],
                                 placeholder="Ask about the documents of a collection: answers cite the passages "
                                             "they come from.")
            with gr.Row(equal_height=True):
                question = gr.Textbox(placeholder="Ask a question about the collection… (Enter asks)", show_label=False,
                                      scale=8, elem_id="doc-question", container=False)
                ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="doc-ask")
                stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, elem_id="doc-stop")
            sources = gr.HTML("", elem_id="doc-sources")
    return _Parts(gr.State(Session()), collection, new_name, create, delete, reindex, files, folder, add, stop_add,
                  add_status, table, document, remove, model, embedder, k, rerank, threshold, chunk_size, chunk_overlap,
                  chatbot, question, ask, stop, sources)


def sources_html(answer: Answer, turn: int) -> str:
    """The passages an answer was given, numbered; each opens to show its file, page and text."""
    if not answer.found.hits:
        return ""
    rows = []
    for n, hit in enumerate(answer.found.hits, start=1):
        where = escape(hit.document) + (f", page {hit.page}" if hit.page else "")
        score = f"similarity {hit.similarity:.2f}" + (f" · reranker {hit.score:.2f}" if hit.score is not None else "")
        cited = " · cited" if n in answer.cited else ""
        rows.append(f'<details id="doc-src-{turn}-{n}" class="doc-source"><summary><b>[{n}]</b> {where} '
                    f'<small>({score}{cited})</small></summary><blockquote>{escape(hit.text)}</blockquote></details>')
    note = " The question was longer than the embedding model reads: its start was used." if answer.found.truncated \
        else ""
    return f"<div><b>Sources</b>{escape(note)}{''.join(rows)}</div>"


def linked(text: str, answer: Answer, turn: int) -> str:
    """The answer with each citation mark [n] a link that opens passage n, and the marks the app found when the
    model wrote none."""
    count = len(answer.found.hits)
    shown = re.sub(r"\[(\d{1,2})\]", lambda m: f"[[{m.group(1)}]](#doc-src-{turn}-{m.group(1)})"
                   if 1 <= int(m.group(1)) <= count else m.group(0), text)
    if answer.done and answer.cited_by == "similarity":
        shown += " " + " ".join(f"[[{n}]](#doc-src-{turn}-{n})" for n in answer.cited)
    return shown


def _wire(services: Services, c: _Parts) -> tuple:
    documents = services.documents

    def who(request: gr.Request, profile, oauth) -> Caller:
        return caller_of(services.settings, request, profile, oauth)

    def shown(caller: Caller, name: str | None) -> dict:
        """The collection picker, its documents and the remove picker, as they are now for `caller`."""
        names, name, rows = documents.overview(name=name, caller=caller)
        return {c.collection: gr.Dropdown(choices=names, value=name),
                c.table: [[d["name"], d["format"], d["pages"], d["chunks"], human_bytes(d["size_bytes"])]
                          for d in rows],
                c.document: gr.Dropdown(choices=[(d["name"], d["id"]) for d in rows], value=None)}

    @user_errors
    def on_show(name, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        return shown(who(request, profile, oauth), name)

    @user_errors
    def on_create(new_name, size, overlap, embedder, request: gr.Request, profile: gr.OAuthProfile | None,
                  oauth: gr.OAuthToken | None):
        caller = who(request, profile, oauth)
        made = documents.create(name=new_name or "", chunk_size=int(size or 0), chunk_overlap=int(overlap or 0),
                                embedder=embedder or "", caller=caller)
        return {**shown(caller, made["name"]), c.new_name: "",
                c.add_status: f"Collection <b>{escape(made['name'])}</b> created: add files to it."}

    @user_errors
    def on_delete(name, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        if not name:
            raise InvalidParameter("Pick a collection to delete.")
        caller = who(request, profile, oauth)
        documents.delete(name=name, caller=caller)
        return {**shown(caller, None), c.add_status: f"Collection <b>{escape(name)}</b> deleted."}

    @user_errors
    def on_add(state: Session, name, files, folder, request: gr.Request, profile: gr.OAuthProfile | None,
               oauth: gr.OAuthToken | None):
        uploads = [Upload(path=Path(_path(f)), name=_name(f)) for f in [*(files or []), *(folder or [])]]
        yield from followed(state, name, who(request, profile, oauth),
                            lambda caller: documents.add(name=name, files=uploads, cancel=state.cancel, caller=caller,
                                                         folder=bool(folder)))

    @user_errors
    def on_reindex(state: Session, name, size, overlap, request: gr.Request, profile: gr.OAuthProfile | None,
                   oauth: gr.OAuthToken | None):
        yield from followed(state, name, who(request, profile, oauth),
                            lambda caller: documents.reindex(name=name, chunk_size=int(size or 0),
                                                             chunk_overlap=int(-1 if overlap is None else overlap),
                                                             cancel=state.cancel, caller=caller))

    def followed(state: Session, name, caller: Caller, start):
        """The progress of adding or re-indexing, drawn per file and per chunk; its end, or why it stopped."""
        if not name:
            yield {c.add_status: error_html(NO_COLLECTION)}
            return
        state.cancel, watch = threading.Event(), Watch()
        try:
            for _ in watch.follow(start(caller), state.cancel, every=UPDATE_EVERY):
                yield {c.add_status: _progress(watch.stage, watch.progress)}
            result = watch.result
            if "added" not in result:  # a re-index
                done = result["collection"]
                yield {**shown(caller, name),
                       c.add_status: f"✓ Re-indexed: {done['documents']} documents in {done['chunks']} chunks of "
                                     f"up to {done['chunk_size']} tokens."}
            else:
                added = ", ".join(f"{escape(a['name'])} ({a['chunks']} chunks)" for a in result["added"])
                skipped = "".join(f"<br>Skipped {escape(s['name'])}: {escape(s['reason'])}."
                                  for s in result["skipped"])
                yield {**shown(caller, name), c.files: None, c.folder: None,
                       c.add_status: (f"✓ Added {added}." if added else "Nothing new added.") + skipped}
        except GeneratorExit:  # the page went away: the add stops before its next file is stored
            state.cancel.set()
            raise
        except Cancelled as err:
            yield {**shown(caller, name), c.add_status: escape(str(err))}
        except UserError as err:
            yield {**shown(caller, name), c.add_status: error_html(err)}

    def on_stop_add(state: Session) -> None:
        state.cancel.set()

    @user_errors
    def on_remove(name, document, request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        if not name or not document:
            raise InvalidParameter("Pick the document to remove.")
        caller = who(request, profile, oauth)
        documents.remove(name=name, document=document, caller=caller)
        return {**shown(caller, name), c.add_status: "Removed."}

    @user_errors
    def on_ask(state: Session, name, question, model, k, rerank, threshold, request: gr.Request,
               profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        if not (question or "").strip():
            raise EmptyMessage()
        if not name:
            raise InvalidParameter(NO_COLLECTION)
        settings = AskSettings(k=int(k), rerank=bool(rerank), threshold=float(threshold))
        state.cancel = threading.Event()
        turn = len(state.messages) // 2 + 1
        history = state.messages + [{"role": "user", "content": question}]
        yield {c.chatbot: history + [{"role": "assistant", "content": "Looking through the documents…"}],
               c.question: "", c.sources: ""}
        answer = None
        try:
            for answer in documents.ask(name=name, question=question, settings=settings, model=model or "",
                                        params=GenerationParams(max_new_tokens=256, temperature=0.0),
                                        cancel=state.cancel, caller=who(request, profile, oauth)):
                yield {c.chatbot: history + [{"role": "assistant", "content": linked(answer.text, answer, turn)}],
                       c.sources: sources_html(answer, turn)}
        except UserError:
            yield {c.chatbot: state.messages, c.question: question}  # nothing lost: the question back in its box
            raise
        if answer is not None:
            state.messages = history + [{"role": "assistant", "content": linked(answer.text, answer, turn)}]
            yield {c.chatbot: state.messages, c.sources: sources_html(answer, turn)}

    def on_stop(state: Session) -> None:
        state.cancel.set()

    private = dict(api_visibility="private")
    quick = dict(queue=False, **private)
    c.collection.input(on_show, [c.collection], [c.collection, c.table, c.document], **private)
    for trigger in (c.create.click, c.new_name.submit):
        trigger(on_create, [c.new_name, c.chunk_size, c.chunk_overlap, c.embedder],
                [c.collection, c.table, c.document, c.new_name, c.add_status], **private)
    c.delete.click(on_delete, [c.collection], [c.collection, c.table, c.document, c.add_status], **private)
    c.add.click(on_add, [c.session, c.collection, c.files, c.folder],
                [c.collection, c.table, c.document, c.files, c.folder, c.add_status], concurrency_id="document-adds",
                concurrency_limit=2, show_progress="hidden", **private)
    c.reindex.click(on_reindex, [c.session, c.collection, c.chunk_size, c.chunk_overlap],
                    [c.collection, c.table, c.document, c.files, c.add_status], concurrency_id="document-adds",
                    concurrency_limit=2, show_progress="hidden", **private)
    c.stop_add.click(on_stop_add, [c.session], None, **quick)
    c.remove.click(on_remove, [c.collection, c.document], [c.collection, c.table, c.document, c.add_status],
                   **private)
    asking = [c.session, c.collection, c.question, c.model, c.k, c.rerank, c.threshold]
    for trigger in (c.ask.click, c.question.submit):
        trigger(on_ask, asking, [c.chatbot, c.question, c.sources], show_progress="hidden", **CHAT_EVENTS, **private)
    c.stop.click(on_stop, [c.session], None, **quick)
    return on_show, [c.collection], [c.collection, c.table, c.document]


def _progress(stage: Stage | None, progress: Progress | None) -> str:
    label = f"File {stage.index + 1} of {stage.count}: {stage.name}" if stage else "Starting…"
    head = f'<div class="gu-progress"><div class="gu-progress-label">{escape(label)}'
    if progress is None or not progress.total:
        return f"{head}</div><progress></progress></div>"
    return (f"{head} — chunk {progress.done:,} of {progress.total:,} · {progress.rate:,.0f} chunks/s</div>"
            f'<progress max="1" value="{progress.fraction:.4f}"></progress></div>')


def _path(value) -> str:
    """A gr.File value's path on the server: a str (NamedString) in Gradio 6."""
    return str(value) if isinstance(value, str) else getattr(value, "name", None) or value["path"]


def _name(value) -> str:
    return Path(getattr(value, "orig_name", None) or _path(value)).name
