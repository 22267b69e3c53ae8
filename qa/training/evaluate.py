"""``qa eval``: score the whole pipeline (or the reader alone) on a SQuAD-format file."""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from index.indexer import add_articles
from index.sentences import split_sentences, windows
from index.store import Backend
from index.store.base import Store
from index.text import WINDOW_RADIUS
from qa.answer import read_passages
from qa.pipeline import Pipeline
from qa.ranking import rank_answers, readings
from qa.reader import Reader
from qa.retriever import Passage
from qa.training.squad import (
    PARTS,
    Question,
    best_score,
    exact_match,
    f1_score,
    load_squad,
    questions_of,
    sample,
    squad_articles,
)

RECALL_AT = (1, 5, 20)


def build_corpus(data: list[dict], directory: Path, backend: Backend | None = None) -> Store:
    """Index the articles of a SQuAD file into ``directory`` (with Milvus, into collections named after it)."""
    corpus = _open(directory, backend or Backend())
    add_articles(corpus, squad_articles(data), progress=True)
    return corpus


def _open(directory: Path, backend: Backend) -> Store:
    """The eval index in ``directory``; on a Milvus server, the collections ``eval_FOLDER_*``."""
    collections = "eval_" + re.sub(r"\W", "_", directory.name) if backend.uri else None
    return backend.open(directory, collections=collections)


def open_eval_corpus(data: list[dict], directory: Path, backend: Backend | None = None) -> Store:
    """The index of a SQuAD file's articles in ``directory``, built there unless it already holds them."""
    backend = backend or Backend()
    corpus = _open(directory, backend)
    articles = corpus.stats()["articles"]
    if not articles:
        add_articles(corpus, squad_articles(data), progress=True)
    elif articles != len({article.id for article in squad_articles(data)}):  # same texts count once
        corpus.close()
        raise ValueError(f"{directory} holds another corpus; pass an empty or matching folder")
    return corpus


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (1-99) of ``values``, interpolated inclusively."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def latency_summary(ms: list[float]) -> dict[str, float]:
    """p50 and p95 of latencies in milliseconds, rounded to 0.1 ms, as benchmarks report them."""
    return {"p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1)}


def paragraph_passages(text: str, doc_id: str, title: str = "", date: str | None = None) -> list[Passage]:
    """A window around every sentence of a paragraph, as passages like those ``retrieve`` returns."""
    sentences = split_sentences(text)
    return [
        Passage(doc_id, i, w.start, w.end, s.start, s.end,
                tuple(sentences[max(0, i - WINDOW_RADIUS) : i + WINDOW_RADIUS + 1]), 0.0, text[w.start : w.end],
                title, date)
        for i, (s, w) in enumerate(zip(sentences, windows(sentences, WINDOW_RADIUS)))
    ]


def read_own_paragraph(question: Question, reader: Reader) -> tuple[str, float]:
    """Reader-only prediction: the best answer over windows around every sentence of the question's paragraph.

    Spans are ranked as ``answer()`` ranks them, each window at retrieval rank 1 (nothing retrieved them).

    Returns:
        The best answer's text (even below the abstention threshold) and its probability.
    """
    passages = paragraph_passages(question.context, question.id, question.title, question.date)
    found = readings(passages, read_passages(question.text, passages, reader))
    ranked = rank_answers(question.text, [replace(r, rank=1) for r in found], reader, question.asked_on)
    if not ranked:
        return "", 0.0
    best = ranked[0]
    return best.text, best.score


def reliability(scores: np.ndarray, right: np.ndarray, bins: int = 10) -> list[dict]:
    """How often answers are right per score band: for calibrated scores the two match."""
    band = np.minimum((scores * bins).astype(int), bins - 1)
    return [
        {"scores": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "answers": int((band == b).sum()),
         "mean_score": round(float(scores[band == b].mean()), 3), "right": round(float(right[band == b].mean()), 3)}
        for b in range(bins) if (band == b).any()
    ]


def expected_calibration_error(scores: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """The answers' mean gap between score and share right, over score bands weighted by their answers."""
    band = np.minimum((scores * bins).astype(int), bins - 1)
    return float(sum(
        (band == b).mean() * abs(scores[band == b].mean() - right[band == b].mean()) for b in range(bins) if (band == b).any()
    ))


def coverage_curve(scored: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(coverage, accuracy) when answering only the questions scored above each cut-off.

    Args:
        scored: (score, correctness) per answerable question.
    """
    ordered = sorted(scored, key=lambda item: -item[0])
    curve, total = [], 0.0
    for n, (_, correct) in enumerate(ordered, 1):
        total += correct
        curve.append((n / len(ordered), total / n))
    return curve


def plot_coverage(curve: list[tuple[float, float]], path: Path, title: str) -> None:
    """Write the coverage/accuracy curve as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=100)
    ax.plot([c for c, _ in curve], [a for _, a in curve])
    ax.set(xlabel="coverage (share of questions answered)", ylabel="exact-match accuracy", title=title, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate(
    path: str | Path,
    limit: int | None = None,
    reader_only: bool = False,
    out_dir: str | Path | None = None,
    index_dir: str | Path | None = None,
    part: str | None = None,
    min_confidence: float | None = None,
    backend: Backend | None = None,
) -> dict:
    """Score a SQuAD-format file.

    Args:
        path: SQuAD JSON file, gzipped or not.
        limit: Score a fixed sample of this many questions (every context is still indexed).
        reader_only: Read each question's own paragraph instead of retrieving.
        out_dir: Folder for the JSON report, the coverage plot and the predictions and
            no-answer probabilities by question id (the official SQuAD formats); ``None`` writes nothing.
        index_dir: Keep the file's index here and reuse it on later runs; ``None`` uses a temporary folder.
        part: Ask only the questions of the articles in this part of the file (``qa.squad.PARTS``);
            every article is still indexed.
        min_confidence: Answer only at this calibrated score or above (default: the reader's threshold).
        backend: Where the index is kept (default: FAISS and SQLite files).

    Returns:
        The report: EM and F1 (0-100), retrieval recall, latency and counts;
        for files with unanswerable questions also HasAns F1 and NoAns accuracy.
    """
    data = load_squad(path)
    if part is not None and part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, not {part!r}")
    questions = sample(questions_of(data, part), limit)
    reader = Reader()
    threshold = reader.threshold if min_confidence is None else min_confidence
    predictions: list[tuple[Question, str, float]] = []
    best_answers: list[str] = []  # the best answer whatever its score ("" below the unsure floor), for calibration
    unthresholded: list[float] = []  # reader-only: F1 of the best span, abstention ignored
    latencies: list[float] = []
    hits = {k: 0 for k in RECALL_AT}
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        pipeline = None if reader_only else Pipeline(open_eval_corpus(data, Path(index_dir or tmp), backend), reader)
        if pipeline is not None:
            pipeline.warm_up()
        for q in questions:
            started = time.perf_counter()
            if pipeline is None:
                best, score = read_own_paragraph(q, reader)
                text = best if score >= threshold else ""
                unthresholded.append(best_score(f1_score, best, q.golds) if q.golds else 0.0)
            else:
                result = pipeline.answer(q.text, min_confidence=min_confidence, as_of=q.asked_on)
                text, score = result.text, result.score
                best = text or (result.candidate.text if result.candidate else "")
            latencies.append((time.perf_counter() - started) * 1000)
            predictions.append((q, text, score))
            best_answers.append(best)
            if q.golds and pipeline is not None:
                found = [p.text for p in pipeline.retrieve(q.text, k=max(RECALL_AT), as_of=q.asked_on)]
                for k in RECALL_AT:
                    hits[k] += any(g in w for w in found[:k] for g in q.golds)
        if pipeline is not None:
            if index_dir is None and backend is not None and backend.uri:  # a Milvus server keeps no temporary folder
                pipeline.corpus.drop()
            pipeline.close()
    answerable = [p for p in predictions if p[0].golds]
    unanswerable = [p for p in predictions if not p[0].golds]
    report = {
        "file": str(path),
        "questions": len(predictions),
        "part": part or "all",
        "mode": "reader-only" if reader_only else "open-corpus",
        "backend": "none" if reader_only else (backend or Backend()).name,
        "em": 100 * statistics.fmean(best_score(exact_match, text, q.golds) for q, text, _ in predictions),
        "f1": 100 * statistics.fmean(best_score(f1_score, text, q.golds) for q, text, _ in predictions),
    }
    if unanswerable:
        report["has_ans_f1"] = 100 * statistics.fmean(best_score(f1_score, t, q.golds) for q, t, _ in answerable)
        report["no_ans_accuracy"] = 100 * statistics.fmean(float(t == "") for _, t, _ in unanswerable)
    report["answered_share"] = statistics.fmean(float(t != "") for _, t, _ in predictions)
    if unthresholded and not unanswerable:
        report["f1_never_abstaining"] = 100 * statistics.fmean(unthresholded)
    if pipeline is not None:
        report.update({f"recall_at_{k}": hits[k] / max(1, len(answerable)) for k in RECALL_AT})
    # Calibration of the best answer's score: how often answers scored s are right (F1 >= 0.5).
    scores = np.array([score for _, _, score in predictions])
    right = np.array([float(bool(q.golds) and best_score(f1_score, b, q.golds) >= 0.5)
                      for (q, _, _), b in zip(predictions, best_answers)])
    report["threshold"] = threshold
    report["ece"] = expected_calibration_error(scores, right)
    report["reliability"] = reliability(scores, right)
    report["p50_ms"] = percentile(latencies, 50)
    report["p95_ms"] = percentile(latencies, 95)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"eval-{Path(path).name.split('.')[0]}{'-' + part if part else ''}-{report['mode']}"
        curve = coverage_curve([(score, best_score(exact_match, t, q.golds)) for q, t, score in answerable])
        plot_coverage(curve, out / f"{stem}.png", f"{Path(path).name} ({report['mode']})")
        report["report"] = str(out / f"{stem}.json")
        (out / f"{stem}.json").write_text(json.dumps(report, indent=2))
        # In the official SQuAD scripts' formats, so `evaluate-v2.0.py FILE PREDICTIONS --na-prob-file NA_PROBS` checks these figures.
        (out / f"{stem}-predictions.json").write_text(json.dumps({q.id: t for q, t, _ in predictions}))
        (out / f"{stem}-na-probs.json").write_text(json.dumps({q.id: round(1.0 - score, 4) for q, _, score in predictions}))
    return report


def format_report(report: dict) -> str:
    """The report as aligned ``key: value`` lines."""
    lines = []
    for key, value in report.items():
        if key == "reliability":
            lines += [f"{'scores ' + row['scores']:>14}: {row['answers']} answers, mean score {row['mean_score']:.2f}, "
                      f"right {row['right']:.2f}" for row in value]
        else:
            lines.append(f"{key:>14}: {value:.2f}" if isinstance(value, float) else f"{key:>14}: {value}")
    return "\n".join(lines)
