"""Warm ``answer()`` latency on the SQuAD dev corpus, beside retrieval alone.

Run: .venv/bin/python bench/answer_latency.py [--questions N] [--index DIR] [--backend milvus]
Indexes every dev article (or reuses --index DIR if it is already built), then
times N questions, in the same run, through retrieval alone, through
``answer()`` for the best answer only (it stops reading at a confident first
window), the same keeping every question (``qa serve --log-questions``), and
through ``answer(top_k=3)`` (reads every window, as the chat does).
Prints JSON with p50/p95 in ms (targets: answer p50 <= 100 ms, p95 <= 200 ms).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from index.store import BACKENDS, Backend
from qa.answer import SHOWN_ANSWERS
from qa.pipeline import Pipeline
from qa.readers import ReaderLog
from qa.training.evaluate import latency_summary, open_eval_corpus
from qa.training.squad import load_squad, questions_of, sample, shared_data

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(SQUAD_DEV))
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--index", help="reuse (or build once into) this index folder")
    parser.add_argument("--backend", choices=BACKENDS, default="faiss", help="the store (Milvus: Lite in the folder)")
    args = parser.parse_args()
    data = load_squad(args.file)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(open_eval_corpus(data, Path(args.index or tmp), Backend(args.backend)))
        questions = [q.text for q in sample(questions_of(data), args.questions)]
        pipeline.warm_up()
        # The same pipeline again, keeping every question as ``qa serve --log-questions`` does.
        logged = Pipeline(pipeline.corpus, pipeline.reader)
        readers = ReaderLog(logged.corpus, keep_questions=True)
        logged.on_answer = lambda result, seconds, error: result and readers.observe(result)
        runs = {
            "retrieval": pipeline.retrieve,
            "answer": pipeline.answer,
            "answer_logging_questions": logged.answer,
            f"answer_top_{SHOWN_ANSWERS}": lambda q: pipeline.answer(q, top_k=SHOWN_ANSWERS),
        }
        timings: dict[str, list[float]] = {name: [] for name in runs}
        for question in questions:
            for name, run in runs.items():
                started = time.perf_counter()
                run(question)
                timings[name].append((time.perf_counter() - started) * 1000)
        readers.close()
        report = {"sentences": pipeline.corpus.stats()["sentences"], "questions": len(questions)}
        report.update({name: latency_summary(ms) for name, ms in timings.items()})
        pipeline.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
