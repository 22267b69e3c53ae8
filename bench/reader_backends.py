"""The reader in ONNX Runtime against the same reader in PyTorch: F1 and speed, side by side.

Run: .venv/bin/python bench/reader_backends.py [--questions N]
Each backend reads the whole paragraph of N SQuAD v1.1 dev questions (every
window, as ``qa eval --reader-only`` does, never abstaining). Prints JSON with
F1, EM and per-question p50/p95 ms for both, and the onnxruntime/torch time ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from qa.reader import BACKENDS, Reader
from qa.training.evaluate import latency_summary, read_own_paragraph
from qa.training.squad import best_score, exact_match, f1_score, load_squad, questions_of, sample, shared_data

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(SQUAD_DEV))
    parser.add_argument("--questions", type=int, default=500)
    args = parser.parse_args()
    questions = sample(questions_of(load_squad(args.file)), args.questions)
    report: dict = {"questions": len(questions)}
    for backend in BACKENDS:
        reader = Reader(backend=backend)
        reader.warm_up()
        read_own_paragraph(questions[0], reader)  # the first read also sets up the window threads
        ms, f1, em = [], [], []
        for q in questions:
            started = time.perf_counter()
            text, _ = read_own_paragraph(q, reader)
            ms.append((time.perf_counter() - started) * 1000)
            f1.append(best_score(f1_score, text, q.golds))
            em.append(best_score(exact_match, text, q.golds))
        report[backend] = {"f1": round(100 * statistics.fmean(f1), 2), "em": round(100 * statistics.fmean(em), 2),
                           **latency_summary(ms), "mean_ms": statistics.fmean(ms)}
    report["time_ratio_onnxruntime_to_torch"] = round(
        report["onnxruntime"].pop("mean_ms") / report["torch"].pop("mean_ms"), 3
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
