"""Question embeddings as ``Embedder.embed_query`` makes them (ONNX Runtime) against SentenceTransformer.encode (PyTorch): recall and speed, side by side.

Run: .venv/bin/python bench/query_embedding.py [--questions N] [--index DIR]
Indexes every SQuAD v1.1 dev article (or reuses --index DIR), then embeds N
questions with each model and retrieves their windows with it. Prints JSON with
recall@1/5 of the windows (a gold answer inside) and embedding p50/p95 in ms for
both, and the onnxruntime/torch time ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from index.embedder import Embedder, load_model
from qa.retriever import WINDOWS, retrieve
from qa.training.evaluate import latency_summary, open_eval_corpus
from qa.training.squad import load_squad, questions_of, sample, shared_data

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")


class TorchQueries(Embedder):
    """Questions embedded by SentenceTransformer in PyTorch."""

    def embed_query(self, question: str) -> np.ndarray:
        return load_model().encode([question], normalize_embeddings=True, convert_to_numpy=True)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(SQUAD_DEV))
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--index", help="reuse (or build once into) this index folder")
    args = parser.parse_args()
    data = load_squad(args.file)
    models = {"torch": TorchQueries(), "onnxruntime": Embedder()}
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = open_eval_corpus(data, Path(args.index or tmp))
        questions = [q for q in sample(questions_of(data), args.questions) if q.golds]
        for name, model in models.items():
            corpus.embedder = model
            model.embed_query("warm up")
            ms, hits = [], {1: 0, 5: 0}
            for q in questions:
                started = time.perf_counter()
                model.embed_query(q.text)
                ms.append((time.perf_counter() - started) * 1000)
                found = [p.text for p in retrieve(corpus, q.text, k=WINDOWS)]
                for k in hits:
                    hits[k] += any(g in w for w in found[:k] for g in q.golds)
            report[name] = {f"recall_at_{k}": round(n / len(questions), 3) for k, n in hits.items()}
            report[name].update(latency_summary(ms))
        corpus.close()
    report["onnxruntime_torch_time_ratio"] = round(report["onnxruntime"]["p50_ms"] / report["torch"]["p50_ms"], 2)
    print(json.dumps({"questions": len(questions), **report}))


if __name__ == "__main__":
    main()
