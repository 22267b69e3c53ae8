"""Retrieval variants side by side on the same index and questions: recall of the windows and time per question.

Run: .venv/bin/python bench/retrieval.py [--file SQUAD] [--questions N] [--part PART] [--index DIR]
Indexes a SQuAD-format file (or reuses --index DIR) and retrieves each question's windows four ways:

* ``rank fusion (7c44e87)``: dense search and BM25 fused by reciprocal rank (weights 0.7 and 1, k 20), as shipped before;
* ``dense only``: the dense search's sentences in order;
* ``scored, asked today``: ``qa.retriever.scored_sentences`` with today's date (no article of the week asked about
  in the shared data sets: similarity and keyword coverage alone);
* ``scored, asked on the question's date``: as ``qa eval`` and ``answer(as_of=...)`` ask a news quiz question.

Prints JSON: recall@1/5/20 (a window holding a gold answer) and p50/p95 ms of each variant's ranking and windows.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path

from qa.retriever import CANDIDATES, PUBLISHED_GRACE, scored_sentences, windows
from qa.training.evaluate import latency_summary, open_eval_corpus
from qa.training.squad import Question, load_squad, questions_of, sample, shared_data

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")
RECALL_AT = (1, 5, 20)


def rank_fusion(rankings: list[list[int]], weights: list[float], k: int = 20) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each id scores the sum of ``weight / (k + rank)``, best first (7c44e87's retrieval)."""
    scores: dict[int, float] = defaultdict(float)
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, 1):
            scores[item] += weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(SQUAD_DEV))
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--part", choices=["train", "calibration", "test"], help="only this part's questions")
    parser.add_argument("--index", help="reuse (or build once into) this index folder")
    args = parser.parse_args()
    data = load_squad(args.file)
    questions = [q for q in sample(questions_of(data, args.part), args.questions) if q.golds]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = open_eval_corpus(data, Path(args.index or tmp))
        corpus.embedder.warm_up()

        def fused(q: Question) -> list[tuple[int, float]]:
            vector = corpus.embedder.embed_query(q.text)
            dense = [i for i, _ in corpus.dense_search(vector, CANDIDATES)]
            return rank_fusion([dense, [i for i, _ in corpus.keyword_search(q.text, CANDIDATES)]], [0.7, 1.0])

        variants: dict[str, Callable[[Question], list[tuple[int, float]]]] = {
            "rank fusion (7c44e87)": fused,
            "dense only": lambda q: corpus.dense_search(corpus.embedder.embed_query(q.text), 4 * CANDIDATES),
            "scored, asked today": lambda q: scored_sentences(corpus, q.text),
            "scored, asked on the question's date": lambda q: scored_sentences(corpus, q.text, as_of=q.asked_on),
        }
        # what retrieve() does: the same ranking, less the articles dated after the day asked
        later_left_out = "scored, asked on the question's date, later articles left out"
        variants[later_left_out] = variants["scored, asked on the question's date"]
        hits = {name: dict.fromkeys(RECALL_AT, 0) for name in variants}
        ms: dict[str, list[float]] = {name: [] for name in variants}
        for q in questions:
            for name, rank in variants.items():  # alternating, so that load on the machine falls on all alike
                started = time.perf_counter()
                published_by = (q.asked_on or date.today()) + PUBLISHED_GRACE if name == later_left_out else None
                found = [p.text for p in windows(corpus, rank(q), max(RECALL_AT), published_by)]
                ms[name].append((time.perf_counter() - started) * 1000)
                for k in RECALL_AT:
                    hits[name][k] += any(g in w for w in found[:k] for g in q.golds)
        corpus.close()
    report = {"file": args.file, "part": args.part or "all", "questions": len(questions)}
    for name in variants:
        report[name] = {f"recall_at_{k}": round(hits[name][k] / len(questions), 3) for k in RECALL_AT}
        report[name].update(latency_summary(ms[name]))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
