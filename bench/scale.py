"""A million sentences on one machine: the index at scale, side by side with the 10k-sentence index.

Embedding a million sentences takes over two hours on this 2-core machine (about 130 sentences/s,
measured below), so the corpus is made by a fixed recipe from real sentences whose embeddings are
computed once and cached (``--cache``, keyed by model and text):

- the 48 SQuAD v1.1 dev articles (10,254 sentences), unchanged, with their real embeddings: the questions
  are asked about them;
- ``--sources`` real sentences of SQuAD v1.1 train paragraphs (file order), embedded for real;
- synthetic articles of 20 sentences drawn from those sources (``numpy`` seed 0) until the index holds
  ``--sentences`` sentences. Each drawn sentence keeps its text and gets its source's embedding plus
  Gaussian noise (sigma 0.015 per dimension, renormalised: cosine about 0.96 to the source), so every
  vector is a distinct point near a real sentence's.

Stages (all in one run, each printed and written to ``--out``):

1. ``embedding``: sentences/s of SentenceTransformer.encode against ``Embedder.embed`` (the ONNX Runtime
   encoder the product uses, batched by length), on 2,000 real sentences.
2. ``ann``: FAISS indexes over the vectors of the full corpus: flat (exact), HNSW32 at several efSearch,
   IVF-Flat and IVF-PQ at several nprobe: recall@10 of the exact neighbours of ``--questions`` SQuAD dev
   questions, query time (one thread, as the product searches), size and build time.
3. ``corpus``: the product's own index (``index.store.faiss_sqlite.FaissSqliteStore``, FAISS chosen by size as shipped) at
   10k and at ``--sentences``: build time, disk, peak memory, retrieval and ``answer()`` p50/p95,
   BM25 (FTS5) query time, recall@5 of the gold answer in the 5 windows, the time to add and to
   remove one article beyond embedding it, and for another reader of the index (the chat) the time to
   see the added article (change files replayed) against a full reload.

    python bench/scale.py --sentences 1000000 --out runs/scale.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.articles import Article, make_article  # noqa: E402
from index.embedder import DIMENSION, MODEL_NAME, Embedder  # noqa: E402
from index.indexer import Prepare, add_articles  # noqa: E402
from index.sentences import Sentence, split_sentences  # noqa: E402
from index.store.faiss_sqlite import FaissSqliteStore  # noqa: E402
from index.text import normalize_answer  # noqa: E402
from qa.training.evaluate import percentile  # noqa: E402
from qa.training.squad import load_squad, shared_data, squad_articles  # noqa: E402

SHARED = shared_data("squad")
NOISE = 0.015
PER_ARTICLE = 20


def ms(seconds: list[float]) -> dict[str, float]:
    values = [s * 1000 for s in seconds]
    return {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1)}


class Embeddings:
    """Real sentence embeddings, computed once and kept in ``folder`` (keyed by model and text)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"{hashlib.sha1(MODEL_NAME.encode()).hexdigest()[:8]}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as data:
                self.vectors = dict(zip(data["texts"].tolist(), data["vectors"]))

    def get(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            print(f"embedding {len(missing)} sentences", flush=True)
            self.vectors.update(zip(missing, Embedder().embed(missing, progress=True)))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, texts=np.array(list(self.vectors)), vectors=np.stack(list(self.vectors.values())))
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, DIMENSION), np.float32)


def sentences_of(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def synthetic_articles(sources: list[str], count: int, seed: int = 0) -> list[Article]:
    """``count`` articles of ``PER_ARTICLE`` sentences drawn from ``sources`` (fixed seed)."""
    rng = random.Random(seed)
    return [make_article(f"Synthetic {n}", " ".join(rng.sample(sources, PER_ARTICLE)), f"synthetic/{n}.txt")
            for n in range(count)]


def noisy(vectors: np.ndarray, key: str) -> np.ndarray:
    """Source vectors moved by Gaussian noise seeded by ``key``, renormalised."""
    rng = np.random.default_rng(int(hashlib.sha1(key.encode()).hexdigest()[:12], 16))
    moved = vectors + rng.normal(scale=NOISE, size=vectors.shape).astype(np.float32)
    return (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)


def stage_embedding(texts: list[str]) -> dict:
    """sentences/s of SentenceTransformer.encode (PyTorch) and of ``Embedder.embed`` (ONNX Runtime, batched by
    length), and the largest difference between their vectors."""
    from index.embedder import BATCH_SIZE, load_model

    model, embedder = load_model(), Embedder()
    model.encode(texts[:64])
    embedder.embed(texts[:64])
    started = time.perf_counter()
    reference = model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True)
    sentence_transformers = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    out = embedder.embed(texts)
    onnx = len(texts) / (time.perf_counter() - started)
    return {"sentences": len(texts), "sentence_transformers_per_s": round(sentence_transformers),
            "onnx_runtime_per_s": round(onnx), "max_difference": float(np.abs(out - reference).max())}


def stage_ann(vectors: np.ndarray, queries: np.ndarray) -> list[dict]:
    """Each FAISS index's recall@10 of the exact neighbours, query time, size and build time."""
    faiss.omp_set_num_threads(2)
    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(vectors)
    truth = exact.search(queries, 10)[1]
    rows = []
    sample = vectors[np.random.default_rng(0).choice(len(vectors), min(len(vectors), 100_000), replace=False)]
    for factory, knob, values in (
        ("Flat", None, [None]),
        ("HNSW32,Flat", "efSearch", [16, 64, 128]),
        ("IVF2048,Flat", "nprobe", [8, 32, 64]),
        ("IVF2048,PQ48", "nprobe", [8, 32, 64]),
    ):
        faiss.omp_set_num_threads(2)
        started = time.perf_counter()
        index = faiss.index_factory(DIMENSION, factory, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            index.train(sample)
        index.add(vectors)
        build = time.perf_counter() - started
        size = len(faiss.serialize_index(index))
        faiss.omp_set_num_threads(1)  # the product searches one question at a time on one thread
        for value in values:
            if knob == "efSearch":
                faiss.downcast_index(index).hnsw.efSearch = value
            elif knob == "nprobe":
                faiss.extract_index_ivf(index).nprobe = value
            times, found = [], []
            for query in queries:
                started = time.perf_counter()
                found.append(index.search(query.reshape(1, -1), 10)[1][0])
                times.append(time.perf_counter() - started)
            recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
            row = {"index": factory, knob or "setting": value, "recall_at_10": round(float(recall), 3), **ms(times),
                   "size_mb": round(size / 2**20), "build_s": round(build, 1)}
            print(row, flush=True)
            rows.append(row)
        del index
    faiss.omp_set_num_threads(1)
    return rows


def rss_mb() -> int:
    """This process's resident memory now, in MB."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) // 1024


def build_corpus(directory: Path, articles: list[Article], batch: int, prepared_by: Prepare) -> dict:
    """Index ``articles`` with their vectors made by ``prepared_by`` (no embedding); returns build time and sizes."""
    started = time.perf_counter()
    corpus = FaissSqliteStore(directory)
    for at in range(0, len(articles), batch):
        add_articles(corpus, articles[at : at + batch], prepared_by=prepared_by)
        if at // batch % 10 == 0:
            print(f"  {corpus.stats()['sentences']} sentences after {time.perf_counter() - started:.0f} s", flush=True)
    build = time.perf_counter() - started
    corpus.close()
    disk = sum(p.stat().st_size for p in directory.iterdir())
    return {"build_s": round(build, 1), "disk_mb": round(disk / 2**20)}


def measure_corpus(directory: Path, questions: list[dict], extras: list[Article], prepared_by: Prepare,
                   exact: bool = False) -> dict:
    """Latency, recall@5 and adding and removing each of ``extras`` (vectors made by ``prepared_by``) on the index in
    ``directory`` (``exact``: with its vectors searched exactly, whatever FAISS index it holds)."""
    from index.vectors import VectorIndex
    from qa.pipeline import Pipeline
    from qa.retriever import retrieve

    before = rss_mb()
    started = time.perf_counter()
    corpus = FaissSqliteStore(directory)
    opened = time.perf_counter() - started
    if exact:
        ids, vectors = corpus.vectors._vectors()  # noqa: SLF001
        corpus.vectors = VectorIndex(DIMENSION, faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION)))
        corpus.vectors.index.add_with_ids(vectors, ids)
    stats = corpus.stats()
    pipeline = Pipeline(corpus)
    pipeline.warm_up()
    retrieval, answering, keyword, hits = [], [], [], 0
    for q in questions:
        t = time.perf_counter()
        passages = retrieve(corpus, q["question"], k=5)
        retrieval.append(time.perf_counter() - t)
        t = time.perf_counter()
        corpus.keyword_search(q["question"], 100)
        keyword.append(time.perf_counter() - t)
        golds = {normalize_answer(a) for a in q["answers"]}
        hits += any(g and g in normalize_answer(p.text) for p in passages for g in golds)
        t = time.perf_counter()
        pipeline.answer(q["question"])
        answering.append(time.perf_counter() - t)
    report = {"sentences": stats["sentences"], "faiss_index": stats["faiss_index"], "open_s": round(opened, 2),
              "retrieval": ms(retrieval), "answer": ms(answering), "bm25": ms(keyword),
              "recall_at_5": round(hits / len(questions), 3), "memory_mb": rss_mb() - before}
    if exact:  # a write would turn the swapped-in flat index back into the graph the index's size calls for
        return report
    watcher = FaissSqliteStore(directory)  # another reader of the index, as the chat is while `qa index add` writes
    adds, refreshes, removals = [], [], []
    for article in extras:  # one write each; now and then one saves the whole graph (generations.py)
        t = time.perf_counter()
        add_articles(corpus, [article], prepared_by=prepared_by)
        adds.append(round(time.perf_counter() - t, 3))
        t = time.perf_counter()
        watcher.refresh()
        refreshes.append(round(time.perf_counter() - t, 3))
    for article in extras:
        t = time.perf_counter()
        corpus.remove(article.id)
        removals.append(round(time.perf_counter() - t, 3))
    report.update(add_one_article_s=adds, other_reader_refresh_after_add_s=refreshes, remove_one_article_s=removals)
    t = time.perf_counter()
    watcher._load_vectors(full=True)  # noqa: SLF001 - what every refresh did before change files were replayed alone
    report["full_reload_s"] = round(time.perf_counter() - t, 2)
    watcher.close()
    return report


def embed_as(vectors_of: Callable[[Article, list], np.ndarray]) -> Prepare:
    """What prepares articles as the product does (``index.indexer.prepare``), with only each article's sentence
    vectors made by ``vectors_of``."""
    from index import duplicates
    from index.store.base import PreparedArticle

    return lambda split, embedder, progress=False: [
        PreparedArticle(a, s, vectors_of(a, s), duplicates.signature(a.text)) for a, s in split]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--sources", type=int, default=20_000, help="real SQuAD train sentences to draw from")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "scale-cache")
    parser.add_argument("--work", type=Path, help="where to build the indexes (default: a temporary folder)")
    parser.add_argument("--stages", nargs="+", default=["embedding", "ann", "corpus"])
    parser.add_argument("--measure", type=Path, metavar="DIR",
                        help="only measure the index built in DIR by an earlier run, as built and searched exactly")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report: dict = {"sentences": args.sentences, "recipe": {"sources": args.sources, "noise": NOISE, "per_article": PER_ARTICLE}}

    def save() -> None:
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2))

    cache = Embeddings(args.cache)
    dev = load_squad(SHARED / "dev-v1.1.json.gz")
    dev_articles = squad_articles(dev)
    questions = random.Random(0).sample(
        [{"question": q["question"], "answers": [a["text"] for a in q["answers"]]}
         for a in dev for p in a["paragraphs"] for q in p["qas"]], args.questions)
    train_sentences: list[str] = []
    for article in load_squad(SHARED / "train-v1.1.json.gz"):
        for paragraph in article["paragraphs"]:
            train_sentences += sentences_of(paragraph["context"])
        if len(train_sentences) >= args.sources:
            break
    sources = list(dict.fromkeys(train_sentences))[: args.sources]

    if "embedding" in args.stages:
        report["embedding"] = stage_embedding(sources[:2000])
        print(report["embedding"], flush=True)
        save()

    dev_split = {a.id: sentences_of(a.text) for a in dev_articles}
    dev_count = sum(len(s) for s in dev_split.values())
    synthetic = synthetic_articles(sources, max(0, (args.sentences - dev_count) // PER_ARTICLE + 1))
    source_vectors = dict(zip(sources, cache.get(sources)))
    dev_vectors = cache.get([s for split in dev_split.values() for s in split])

    def vectors_for(article: Article, sentences: list[Sentence]) -> np.ndarray:
        texts = [article.text[s.start : s.end] for s in sentences]
        if article.id in dev_split:
            return cache.get(texts)
        return noisy(np.stack([source_vectors.get(t, source_vectors[sources[0]]) for t in texts]), article.id)

    if "ann" in args.stages:
        all_vectors = [dev_vectors] + [vectors_for(a, split_sentences(a.text)) for a in synthetic]
        vectors = np.ascontiguousarray(np.concatenate(all_vectors)[: args.sentences])
        queries = np.stack([Embedder().embed_query(q["question"]) for q in questions]).astype(np.float32)
        print(f"ann over {len(vectors)} vectors", flush=True)
        report["ann"] = stage_ann(vectors, queries)
        del vectors, all_vectors
        save()

    if args.measure:
        extras = [make_article(f"One more {n}", " ".join(random.Random(n).sample(sources, PER_ARTICLE)), f"extra{n}.txt")
                  for n in (1, 2, 3)]
        prepared_by = embed_as(lambda a, s: noisy(np.stack([source_vectors.get(a.text[x.start : x.end], source_vectors[sources[0]])
                                              for x in s]), a.id))
        report["measured"] = {name: measure_corpus(args.measure, questions, extras, prepared_by, exact)
                              for name, exact in (("as built", False), ("exact search", True))}
        print(report["measured"], flush=True)
        save()
    elif "corpus" in args.stages:
        # the product indexes as shipped; only embedding is replaced by the recipe's vectors
        prepared_by = embed_as(vectors_for)
        work = args.work or Path(tempfile.mkdtemp(prefix="scale-"))
        extras = [make_article(f"One more {n}", " ".join(random.Random(n).sample(sources, PER_ARTICLE)), f"extra{n}.txt")
                  for n in (1, 2, 3)]
        report["corpus"] = {}
        for name, articles in (("10k", dev_articles), ("full", dev_articles + synthetic)):
            directory = work / name
            shutil.rmtree(directory, ignore_errors=True)
            print(f"building {name}", flush=True)
            built = build_corpus(directory, articles, 48 if name == "10k" else 2000, prepared_by)
            report["corpus"][name] = {**built, **measure_corpus(directory, questions, extras, prepared_by)}
            print(name, report["corpus"][name], flush=True)
            save()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
