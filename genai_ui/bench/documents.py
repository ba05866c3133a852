"""`python -m genai_ui.bench documents`: documents' indexing and asking, measured in one run on the built-in models.

- Indexing: the app's add (read, chunk, embed, store) against openvino_genai's TextEmbeddingPipeline alone on the
  same chunks (a quarter of the report, about 240), in short interleaved rounds whose order turns, chunks a second
  (target: the app at 0.9 of the raw pipeline or better).
- Query latency at 1k and 100k chunks: the vector store's search alone (median of many questions), and the whole
  answer's time to its first token (the question embedded, searched, the passages read by the chat model). The
  100k collection is the 1k real chunks and 99k random unit vectors beside them (embedding 100k chunks for real
  would take the bench most of an hour here).
- Quality on the evaluation set (genai_ui/testing/documents_eval.py): recall@1 and recall@5 of retrieval, and of the
  answers: how many hold the right fact, and how many cite the document that holds it.
- Reranking: the same recall and the whole search's time (question embedded, searched, reranked) with a reranker
  in the library and without. No real cross-encoder ships here, so the reranker is the tests' tiny one of random
  weights: the figures are the plumbing's cost, and its recall is noise, not a reranker's effect.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from .common import machine, save_result

QUESTIONS = 30


def _document(path: Path, paragraphs: int) -> Path:
    """A long report of invented towns: a paragraph of about 100 tokens each (about one chunk each)."""
    rng = random.Random(7)
    words = ["harbour", "bridge", "market", "river", "mill", "tower", "orchard", "school", "ferry", "chapel"]
    lines = []
    for n in range(paragraphs):
        picked = rng.sample(words, 4)
        lines.append(f"Report {n}. The town of Ardel{n} lies beside the {picked[0]} and has {rng.randint(2, 90)} "
                     f"houses. Its {picked[1]} was rebuilt in {rng.randint(1700, 2000)}, and its {picked[2]} opens "
                     f"on {rng.choice(['Mondays', 'Fridays', 'Sundays'])}. Visitors come for the {picked[3]}, the "
                     f"local cheese and the walks along the cliffs, which take about {rng.randint(1, 9)} hours. "
                     f"The mayor, {rng.choice(['Ada', 'Bram', 'Cato', 'Dina'])} Vell{n}, keeps a diary of the weather.")
    path.write_text("\n\n".join(lines))
    return path


def bench_documents(output: Path, rounds: int = 12, paragraphs: int = 1450, large: int = 100_000) -> dict:
    import openvino_genai as og

    from ..access import LOCAL
    from ..documents.chunk import ChunkRule, Tokens, chunk_pages
    from ..documents.read import read_document
    from ..documents.store import DocumentInfo
    from ..embedder import ensure_embedder
    from ..engines.embeddings import BATCH
    from ..run.answers import AskSettings
    from ..run.documents import Upload
    from ..services import create_services
    from ..settings import Settings
    from ..testing.documents_eval import CASES, recall, write_cases

    with tempfile.TemporaryDirectory(prefix="genai-ui-bench-documents-") as work:
        work = Path(work)
        home = work / "home"
        ensure_embedder(home)
        services = create_services(Settings(home=home, device="CPU", no_auto_tune=True))
        documents = services.documents
        loaded = documents._embedder("", LOCAL)
        report = _document(work / "report.txt", paragraphs)
        # the indexing rounds add a quarter of the report each: short rounds, taken in turns, see the same machine
        # (this virtual machine's speed wanders by a fifth over a minute)
        part = _document(work / "part.txt", paragraphs // 4)
        chunks = chunk_pages(read_document(part).pages, Tokens(loaded.entry.load_path), ChunkRule())
        texts = [c.text for c in chunks]
        raw = og.TextEmbeddingPipeline(str(loaded.entry.load_path), "CPU",
                                       pooling_type=og.TextEmbeddingPipeline.PoolingType.MEAN, normalize=True)
        raw.embed_documents(texts[:BATCH])  # both warmed up
        app_rates, raw_rates = [], []

        def raw_round() -> None:
            start = time.perf_counter()
            for at in range(0, len(texts), BATCH):
                raw.embed_documents(texts[at:at + BATCH])
            raw_rates.append(len(texts) / (time.perf_counter() - start))

        def app_round(name: str) -> None:
            documents.create(name=name)
            start = time.perf_counter()
            for _ in documents.add(name=name, files=[Upload(part, "part.txt")]):
                pass
            app_rates.append(len(texts) / (time.perf_counter() - start))

        for n in range(rounds):  # the order turns each round, so neither side always goes first
            name = f"Round {n}"
            if n % 2:
                app_round(name)
                raw_round()
            else:
                raw_round()
                app_round(name)
            documents.delete(name=name)
        indexing = {"chunks": len(texts), "raw_chunks_per_s": [round(r, 1) for r in raw_rates],
                    "app_chunks_per_s": [round(r, 1) for r in app_rates],
                    "ratio": round(statistics.median(a / r for a, r in zip(app_rates, raw_rates)), 3)}
        print(f"indexing {len(texts)} chunks: app {statistics.median(app_rates):.0f}/s, raw "
              f"{statistics.median(raw_rates):.0f}/s, ratio {indexing['ratio']}", flush=True)

        documents.create(name="Asked")
        collection = documents.collections.find("Asked", "local")
        finished = list(documents.add(name="Asked", files=[Upload(report, "report.txt")] + [
            Upload(p, p.name) for p in write_cases(work / "cases")]))
        assert finished, "the evaluation set was not added"
        questions = [c.question for c in CASES]
        latency = {"1k": _latency(documents, collection, questions, AskSettings())}
        print(f"1k chunks: {latency['1k']}", flush=True)
        filler = large - collection.table.count_rows()
        rng = random.Random(1)
        for at in range(0, filler, 10_000):
            count = min(10_000, filler - at)
            vectors = []
            for _ in range(count):
                v = [rng.gauss(0, 1) for _ in range(collection.info.dimensions)]
                norm = sum(x * x for x in v) ** 0.5
                vectors.append([x / norm for x in v])
            fake = [_filler_chunk(k) for k in range(count)]
            info = DocumentInfo(id=uuid.uuid4().hex[:12], name=f"filler-{at}.txt", format="text", size_bytes=0,
                                sha256=uuid.uuid4().hex, pages=1, chunks=count, added=time.time())
            start = time.perf_counter()
            collection.add(info, [], fake, vectors)
            print(f"  {collection.table.count_rows():,} chunks (the last add {time.perf_counter() - start:.1f} s)",
                  flush=True)
        latency["large"] = _latency(documents, collection, questions, AskSettings())
        print(f"{large:,} chunks: {latency['large']}", flush=True)

        ranked, right, cited = [], 0, 0
        for case in CASES[:QUESTIONS]:
            found = documents.search(name=collection.info.name, question=case.question, k=5, rerank=False)
            ranked.append(list(dict.fromkeys(h.document for h in found.hits)))
            *_, last = documents.ask(name=collection.info.name, question=case.question)
            right += case.answer.lower() in last.text.lower()
            cited += bool(last.cited) and last.found.hits[last.cited[0] - 1].document == case.file
        quality = {"questions": len(CASES), "recall_at_1": round(recall(ranked, 1), 3),
                   "recall_at_5": round(recall(ranked, 5), 3), "answers_right": right,
                   "answers_citing_the_source": cited}
        print(f"quality: {quality}", flush=True)
        reranking = _reranking(documents, collection)
        print(f"reranking (plumbing only): {reranking}", flush=True)
        services.pipelines.close()
    result = {"machine": machine(), "indexing": indexing, "latency": latency, "quality": quality,
              "reranking": reranking,
              "store": "LanceDB (exact search below 250k chunks, IVF-PQ index from there)"}
    save_result(output, "documents", result)
    return result


def _reranking(documents, collection) -> dict:
    """Retrieval with a reranker in the library against without, on the same collection: recall and the search's
    median time. The reranker is the tests' tiny cross-encoder of random weights (genai_ui/testing/models.py),
    as no real one ships here: its order is noise, so the figures show the plumbing's cost, not a reranker's
    effect on recall, which a real cross-encoder (bge-reranker, ms-marco MiniLM) would have."""
    import shutil

    from ..library import ModelEntry
    from ..testing.documents_eval import CASES, recall
    from ..testing.models import tiny_reranker_ir

    library = documents.library
    with library.staging() as staged:
        shutil.copytree(tiny_reranker_ir(), staged, dirs_exist_ok=True)
        library.install(staged, ModelEntry(id="tiny-reranker", task="text-classification", format="openvino",
                                           weight_format="fp32", location=str(staged)))
    figures = {}
    for rerank in (False, True):
        documents.search(name=collection.info.name, question=CASES[0].question, k=5, rerank=rerank)  # warmed up
        ranked, times = [], []
        for case in CASES:
            start = time.perf_counter()
            found = documents.search(name=collection.info.name, question=case.question, k=5, rerank=rerank)
            times.append((time.perf_counter() - start) * 1000)
            ranked.append(list(dict.fromkeys(h.document for h in found.hits)))
        figures["reranked" if rerank else "plain"] = {
            "recall_at_1": round(recall(ranked, 1), 3), "recall_at_5": round(recall(ranked, 5), 3),
            "search_ms": round(statistics.median(times), 1)}
    return {"reranker": "a tiny cross-encoder of random weights (BERT, 2 layers of 32): the plumbing only",
            "candidates": 20, **figures}


def _filler_chunk(n: int):
    from ..documents.chunk import Chunk

    return Chunk(text=f"Filler passage {n} about nothing in particular.", page=None, tokens=8)


def _latency(documents, collection, questions: list[str], settings) -> dict:
    """Median milliseconds: the store's search alone, and an answer's first token (embed, search, read, reply)."""
    from contextlib import closing

    from ..access import LOCAL

    loaded = documents._embedder("", LOCAL)
    vectors = loaded.pipeline.embed_documents(questions)
    collection.search(vectors[0], settings.k)  # warmed up
    searches = []
    for vector in vectors:
        start = time.perf_counter()
        collection.search(vector, settings.k)
        searches.append((time.perf_counter() - start) * 1000)
    firsts = []
    for question in questions[:10]:
        start = time.perf_counter()
        with closing(documents.ask(name=collection.info.name, question=question, settings=settings)) as answers:
            for answer in answers:  # leaving at the first token closes the reply, which stops the engine
                if answer.text:
                    firsts.append((time.perf_counter() - start) * 1000)
                    break
    return {"chunks": collection.table.count_rows(), "search_ms": round(statistics.median(searches), 1),
            "first_token_ms": round(statistics.median(firsts), 1)}
