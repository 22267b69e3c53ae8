"""Where open-corpus F1 goes: retrieval, ranking across windows, the reader, or abstention.

Run: .venv/bin/python bench/open_corpus_errors.py [--file SQUAD] [--part PART] [--questions N] [--index DIR]
Retrieves ``WINDOWS`` windows per question and reads all of them (as
``answer(top_k=3)`` does), then reports, in one run over the same reads:
F1 at several abstention thresholds (the shipped one included, and 0: never
abstaining), the F1 a perfect ranker of the reader's per-window spans would
reach, and why each answerable question's best answer is wrong.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from qa.answer import read_passages
from qa.pipeline import Pipeline
from qa.ranking import rank_answers, readings
from qa.training.evaluate import open_eval_corpus
from qa.training.squad import best_score, f1_score, load_squad, questions_of, sample, shared_data

SQUAD_DEV = shared_data("squad", "dev-v1.1.json.gz")
THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
RIGHT = 0.5  # F1 at which an answer counts as right


class Read(NamedTuple):
    """One question read as ``answer()`` reads it, before abstention."""

    golds: list[str]
    best: str  # the best answer's text
    score: float  # its calibrated probability
    window_f1: list[float]  # F1 of the reader's span in each window
    holds_gold: bool  # a gold answer's text is in some window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(SQUAD_DEV))
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--part", choices=["train", "calibration", "test"], help="only this part's questions (qa eval --part)")
    parser.add_argument("--index", help="reuse (or build once into) this index folder")
    args = parser.parse_args()
    data = load_squad(args.file)
    reads: list[Read] = []
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(open_eval_corpus(data, Path(args.index or tmp)))
        for q in sample(questions_of(data, args.part), args.questions):
            passages = pipeline.retrieve(q.text, as_of=q.asked_on)
            found = read_passages(q.text, passages, pipeline.reader)
            ranked = rank_answers(q.text, readings(passages, found), pipeline.reader, q.asked_on)
            best = ranked[0].text if ranked else ""
            window_f1 = [
                best_score(f1_score, p.text[s.start : s.end], q.golds) for p, s in zip(passages, found) if s is not None
            ]
            holds_gold = any(g in p.text for p in passages for g in q.golds)
            reads.append(Read(q.golds, best, ranked[0].score if ranked else 0.0, window_f1, holds_gold))
        pipeline.close()
    answerable = [r for r in reads if r.golds]
    thresholds = sorted({*THRESHOLDS, pipeline.threshold})
    by_threshold = {
        f"{t:.2f}": {
            "f1": round(100 * statistics.fmean(best_score(f1_score, r.best if r.score >= t else "", r.golds) for r in reads), 2),
            "answered_share": round(statistics.fmean(float(bool(r.best) and r.score >= t) for r in reads), 3),
        }
        for t in thresholds
    }
    why = Counter()
    for r in answerable:
        if best_score(f1_score, r.best, r.golds) >= RIGHT:
            why["right"] += 1
        elif not r.holds_gold:
            why["no retrieved window holds the answer"] += 1
        elif max(r.window_f1, default=0.0) < RIGHT:
            why["the reader's span is wrong in every window"] += 1
        else:
            why["a right span was read but ranked below a wrong one"] += 1
    report = {
        "file": args.file,
        "part": args.part or "all",
        "questions": len(reads),
        "shipped_threshold": pipeline.threshold,
        "by_threshold": by_threshold,
        "answerable_f1_best_window_span": round(
            100 * statistics.fmean(max(r.window_f1, default=0.0) for r in answerable), 2),
        "answerable_outcomes": {k: round(v / len(answerable), 3) for k, v in why.most_common()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
