"""Keyword search, SQLite FTS5 against the tantivy copy of the windows (``index/store/faiss_sqlite/tantivy_windows.py``),
on indexes built by ``bench/scale.py --work DIR`` (``DIR/10k`` and ``DIR/full``), side by side in one run:

- the tantivy copy's build time and disk beside FTS5's (the ``window_fts`` table's pages, from SQLite's ``dbstat``);
- BM25 search alone (100 windows, as retrieval asks) p50/p95, and how many of FTS5's ten best tantivy finds;
- the whole retrieval (``qa.retriever.retrieve``) and ``answer()`` p50/p95, and recall@5 (a gold answer in the
  five windows), with each engine, on ``--questions`` SQuAD v1.1 dev questions (the ``bench/scale.py`` sample).

    python bench/scale.py --stages corpus --work runs/scale-work && python bench/keyword_search.py runs/scale-work
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.store.faiss_sqlite import FaissSqliteStore, keywords  # noqa: E402
from index.store.faiss_sqlite.tantivy_windows import FOLDER  # noqa: E402
from index.text import normalize_answer  # noqa: E402
from qa.pipeline import Pipeline  # noqa: E402
from qa.retriever import retrieve  # noqa: E402
from qa.training.evaluate import percentile  # noqa: E402
from qa.training.squad import load_squad, shared_data  # noqa: E402


def ms(seconds: list[float]) -> dict[str, float]:
    values = [s * 1000 for s in seconds]
    return {"p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1)}


def timed(run, questions: list[dict]) -> tuple[list, list[float]]:  # noqa: ANN001
    results, times = [], []
    for q in questions:
        started = time.perf_counter()
        results.append(run(q["question"]))
        times.append(time.perf_counter() - started)
    return results, times


def measure(store: FaissSqliteStore, pipeline: Pipeline, questions: list[dict]) -> dict:
    """Keyword search, retrieval and answers with the engine the store is set to use."""
    keyword, keyword_times = timed(lambda q: store.keyword_search(q, 100), questions)
    passages, retrieval_times = timed(lambda q: retrieve(store, q, k=5), questions)
    _, answer_times = timed(pipeline.answer, questions)
    hits = sum(any(g and g in normalize_answer(p.text) for p in found for g in {normalize_answer(a) for a in q["answers"]})
               for q, found in zip(questions, passages))
    return {"bm25": ms(keyword_times), "retrieval": ms(retrieval_times), "answer": ms(answer_times),
            "recall_at_5": round(hits / len(questions), 3), "_keyword": keyword}


def engine(store: FaissSqliteStore, tantivy: bool) -> None:
    """Have the store search with tantivy (its copy in step) or FTS5 (the copy set aside)."""
    store._tantivy.reload()  # noqa: SLF001
    if not tantivy:
        store._tantivy.generation = -1  # noqa: SLF001 - what a store without a copy in step searches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="bench/scale.py's --work folder")
    parser.add_argument("--sizes", nargs="+", default=["10k", "full"])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    dev = load_squad(shared_data("squad") / "dev-v1.1.json.gz")
    questions = random.Random(0).sample(  # the sample bench/scale.py asks
        [{"question": q["question"], "answers": [a["text"] for a in q["answers"]]}
         for a in dev for p in a["paragraphs"] for q in p["qas"]], args.questions)
    report = {}
    for size in args.sizes:
        directory = args.work / size
        store = FaissSqliteStore(directory)
        with store._sql():  # noqa: SLF001
            fts_bytes = sum(row[0] for row in store._db.execute(  # noqa: SLF001
                "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'window_fts%'"))
            started = time.perf_counter()
            store._tantivy._rebuild(store._db, store.generation)  # noqa: SLF001
            build = time.perf_counter() - started
        disk = sum(p.stat().st_size for p in (directory / FOLDER).rglob("*") if p.is_file())
        pipeline = Pipeline(store)
        pipeline.warm_up()
        for q in questions[:20]:
            pipeline.answer(q["question"])
        row = {"windows": keywords.window_count(store._db), "fts5_disk_mb": round(fts_bytes / 2**20, 1),  # noqa: SLF001
               "tantivy_build_s": round(build, 1), "tantivy_disk_mb": round(disk / 2**20, 1)}
        for name, tantivy in (("fts5", False), ("tantivy", True), ("fts5 again", False), ("tantivy again", True)):
            engine(store, tantivy)
            row[name] = measure(store, pipeline, questions)
            print(size, name, {k: v for k, v in row[name].items() if k != "_keyword"}, flush=True)
        fts5, tantivy = row["fts5"]["_keyword"], row["tantivy"]["_keyword"]
        row["tantivy_finds_of_fts5_top10"] = round(sum(
            len({i for i, _ in a[:10]} & {i for i, _ in b}) / max(1, len(a[:10])) for a, b in zip(fts5, tantivy)) / len(fts5), 3)
        for name in ("fts5", "tantivy", "fts5 again", "tantivy again"):
            del row[name]["_keyword"]
        report[size] = row
        print(size, json.dumps(row), flush=True)
        store.close()
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
