"""Indexing throughput against raw ``SentenceTransformer.encode`` on the same sentences.

Run: .venv/bin/python bench/indexing.py [--articles N]
Prints JSON: sentences/s for raw encoding and for `index.indexer.add_articles` (split, embed,
FAISS, SQLite, atomic save), and their ratio (target >= 0.8).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from index.embedder import BATCH_SIZE, load_model
from index.indexer import add_articles
from index.sentences import split_sentences
from index.store.faiss_sqlite import FaissSqliteStore
from qa.training.squad import load_squad, shared_data, squad_articles

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(SQUAD_DEV))
    parser.add_argument("--articles", type=int, default=12)
    args = parser.parse_args()
    articles = squad_articles(load_squad(args.file))[: args.articles]
    texts = [a.text[s.start : s.end] for a in articles for s in split_sentences(a.text)]
    model = load_model()
    model.encode(texts[:256], batch_size=BATCH_SIZE)  # warm up

    started = time.perf_counter()
    model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True)
    raw = len(texts) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = FaissSqliteStore(Path(tmp))
        started = time.perf_counter()
        add_articles(corpus, articles)
        indexed = corpus.stats()["sentences"] / (time.perf_counter() - started)
    print(json.dumps({"sentences": len(texts), "raw_encode_per_s": round(raw, 1),
                      "index_add_per_s": round(indexed, 1), "ratio": round(indexed / raw, 3)}))


if __name__ == "__main__":
    main()
