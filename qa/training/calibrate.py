"""Calibrate the reader on data it never trained on: the answer-scoring model, the abstention
threshold and the probability at which a confident first window ends reading.

Every calibration question is retrieved and read as ``answer(top_k=3)`` reads it (every window), and
its answers are grouped and featured by ``qa.ranking``, the code ``answer()`` ranks with:

* the held-out SQuAD training articles (``HOLDOUT_ARTICLES``), indexed together: answerable;
* the news set's calibration part (``qa.squad.PARTS``), asked of the whole news set indexed: answerable;
* questions no article covers, a share ``UNANSWERABLE_SHARE`` of the set: held-out SQuAD questions
  asked of the news index on a quiz's day, news questions asked of the SQuAD index, and held-out SQuAD questions with
  one name or number swapped for another of the article (``swapped_question``), a near miss.

SQuAD and news weigh the same in every fit, so that a score means the same on both. The threshold
maximises F1 over this mix, in which most questions are answerable, as most questions people ask are.
"""

from __future__ import annotations

import json
import pickle
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

from index.store.base import Feedback
from qa.answer import read_passages
from qa.ranking import ANSWER_FEATURES, Reading, Scorer, featured_answers, rank_answers, readings
from qa.reader import CONFIG_FILE, Calibration, Reader
from qa.report import latest_judgements
from qa.retriever import WINDOWS, retrieve
from qa.training.evaluate import build_corpus, expected_calibration_error, reliability
from qa.training.examples import HOLDOUT_ARTICLES, article_terms, swapped_question
from qa.training.squad import Question, article_title, best_score, f1_score, load_squad, questions_of

UNANSWERABLE_SHARE = 0.2
STOP_PROBABILITIES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DOMAINS = ("squad", "news")
# Half a point of F1 is a handful of questions whose answer changes: noise, where each question that
# stops early reads a fifth of the windows (half the median latency).
STOP_F1_TOLERANCE = 0.5
RIGHT = 0.5  # F1 at which an answer counts as right
THRESHOLD_TOLERANCE = 0.25  # F1 points of the calibration mix: about 3 of its 1,300 questions
# Judged answers a refit needs at least: a third of them checks it, and ECE over ten bands of fewer than about
# 30 answers each is mostly noise.
MIN_JUDGED = 300


@dataclass(frozen=True)
class CalibrationRead:
    """One calibration question, read as ``answer()`` reads it.

    Attributes:
        question: The question text.
        golds: Its gold answers; empty when the index does not answer it.
        domain: ``"squad"`` or ``"news"``.
        found: The reader's span in each retrieved window, with the window's rank.
        as_of: The day the question was asked (a news quiz's date), or ``None`` for today.
    """

    question: str
    golds: list[str]
    domain: str
    found: list[Reading]
    as_of: date | None = None


def _read(corpus, questions: list[Question], domain: str, reader: Reader, answerable: bool) -> list[CalibrationRead]:  # noqa: ANN001
    reads = []
    for q in questions:
        passages = retrieve(corpus, q.text, k=WINDOWS, as_of=q.asked_on)
        found = readings(passages, read_passages(q.text, passages, reader))
        reads.append(CalibrationRead(q.text, q.golds if answerable else [], domain, found, q.asked_on))
    return reads


def calibration_reads(squad_path: Path, news_path: Path, reader: Reader, limit: int, seed: int) -> list[CalibrationRead]:
    """Read the calibration questions (see the module docstring); at most ``limit`` held-out SQuAD questions."""
    rng = random.Random(seed)
    squad = load_squad(squad_path)[-HOLDOUT_ARTICLES:]
    news = load_squad(news_path)
    squad_questions = rng.sample(questions_of(squad), min(limit, len(questions_of(squad))))
    news_questions = questions_of(news, "calibration")
    answerable = len(squad_questions) + len(news_questions)
    unanswerable = round(answerable * UNANSWERABLE_SHARE / (1 - UNANSWERABLE_SHARE))
    terms = {article_title(a): article_terms(a) for a in squad}
    swapped = []
    for q in rng.sample(squad_questions, len(squad_questions)):
        text = swapped_question(q.text, q.context, terms[q.title], rng)
        if text:
            swapped.append(replace(q, text=text))
    # Asked on a news quiz's day, as a reader would ask about the week's news that the articles do not cover.
    off_squad = [replace(q, date=rng.choice(news_questions).date) for q in rng.sample(squad_questions, unanswerable // 3)]
    off_news = rng.sample(news_questions, min(len(news_questions), unanswerable // 3))
    swapped = swapped[: unanswerable - len(off_squad) - len(off_news)]
    with tempfile.TemporaryDirectory(prefix="qa-calibrate-") as tmp:
        squad_index = build_corpus(squad, Path(tmp) / "squad")
        news_index = build_corpus(news, Path(tmp) / "news")
        reads = _read(squad_index, squad_questions, "squad", reader, answerable=True)
        reads += _read(squad_index, swapped, "squad", reader, answerable=False)
        reads += _read(squad_index, off_news, "news", reader, answerable=False)
        reads += _read(news_index, news_questions, "news", reader, answerable=True)
        reads += _read(news_index, off_squad, "squad", reader, answerable=False)
        squad_index.close()
        news_index.close()
    return reads


def _answers(read: CalibrationRead) -> list[tuple[list[float], bool]]:
    """Features of every distinct answer of a read, and whether it is right."""
    return [
        ([features[name] for name in ANSWER_FEATURES], bool(read.golds) and best_score(f1_score, group[0].text, read.golds) >= RIGHT)
        for group, features in featured_answers(read.question, read.found, read.as_of)
    ]


def domain_weights(reads: list[CalibrationRead]) -> np.ndarray:
    """A weight per read so that each domain weighs the same in total."""
    counts = {d: sum(r.domain == d for r in reads) for d in {r.domain for r in reads}}
    return np.array([len(reads) / (len(counts) * counts[r.domain]) for r in reads])


def _logistic(rows: list[tuple[list[float], bool, float]]) -> Calibration:
    from sklearn.linear_model import LogisticRegression

    x, y, w = (np.array(column) for column in zip(*rows))
    fit = LogisticRegression(C=10.0, max_iter=1000).fit(x, y, sample_weight=w)
    return Calibration(dict(zip(ANSWER_FEATURES, map(float, fit.coef_[0]))), float(fit.intercept_[0]))


def fit_calibration(reads: list[CalibrationRead], judged: Sequence[tuple[list[float], bool]] = ()) -> dict:
    """A logistic model of P(answer right) over ``ANSWER_FEATURES``, in two steps: fitted on every distinct
    answer of every read (which ranks answers), then again on the best answer of each read by that first
    model, so that the score of the answer shown is what is calibrated. ``judged`` answers (features, judged
    helpful) join the second step, weighing together as much as one domain of the reads."""
    answers = [(_answers(read), weight) for read, weight in zip(reads, domain_weights(reads))]
    ranker = _logistic([(x, right, weight) for rows, weight in answers for x, right in rows])
    best = [(max(rows, key=lambda row: ranker.probability(dict(zip(ANSWER_FEATURES, row[0])))), weight)
            for rows, weight in answers if rows]
    rows = [(x, right, weight) for (x, right), weight in best]
    if judged:
        share = sum(weight for _, _, weight in rows) / len({r.domain for r in reads}) / len(judged)
        rows += [(x, helpful, share) for x, helpful in judged]
    shown = _logistic(rows)
    return {"weights": shown.weights, "intercept": shown.intercept, "answers": len(best), "judged": len(judged)}


def best_answers(reads: list[CalibrationRead], scorer: Scorer, stop_at: float | None = None) -> list[tuple[str, float]]:
    """Each read's best answer and its score, ranked as ``answer()`` ranks; with ``stop_at``, as ``answer(top_k=1)``
    does, stopping after the first window when its answer reaches that probability."""
    best = []
    for read in reads:
        ranked = rank_answers(read.question, [r for r in read.found if r.rank == 1], scorer, read.as_of) if stop_at else []
        if not (ranked and ranked[0].score >= stop_at):
            ranked = rank_answers(read.question, read.found, scorer, read.as_of)
        best.append((ranked[0].text, ranked[0].score) if ranked else ("", 0.0))
    return best


def mixed_f1(reads: list[CalibrationRead], best: list[tuple[str, float]], threshold: float) -> float:
    """Domain-weighted F1 (0-100) when answering at ``threshold``: abstaining scores 1 on questions the index
    does not answer and 0 on the others."""
    scores = [
        (best_score(f1_score, text, read.golds) if score >= threshold else 0.0) if read.golds else float(score < threshold)
        for read, (text, score) in zip(reads, best)
    ]
    return 100 * float(np.average(scores, weights=domain_weights(reads)))


def lowest_safe_stop(by_stop: dict[float, dict[str, float]], whole: dict[str, float]) -> float:
    """The lowest stop probability at which no domain's F1 falls more than ``STOP_F1_TOLERANCE`` below its F1 with
    every window read (1.0 when none): news loses most by stopping at a first window (read alone, its article is
    the newest retrieved whatever its date), which SQuAD's questions would hide in a pooled F1."""
    return min((t for t, f in by_stop.items() if all(f[d] >= whole[d] - STOP_F1_TOLERANCE for d in whole)), default=1.0)


def calibrate(
    squad_path: Path, news_path: Path, reader_dir: Path, limit: int, seed: int, reads_cache: Path | None = None,
    judged: Sequence[tuple[list[float], bool]] = (), write: bool = True,
) -> dict:
    """Fit and write the reader's calibration, threshold and stop probability (``reader.json``).

    ``reads_cache`` keeps the reads (the slow part) in a pickle: read from it when it exists, else
    written there, so that the fit can be changed and run again in seconds for the same reader.
    ``judged`` answers (features, helpful) join the fit (``fit_calibration``); ``write=False`` only returns it.

    Returns:
        What was written, with held-out figures: F1 by threshold and stop probability, and per domain the
        reliability table and expected calibration error of the best answers of the answerable questions.
    """
    if reads_cache is not None and reads_cache.exists():
        reads = pickle.loads(reads_cache.read_bytes())
    else:
        reads = calibration_reads(squad_path, news_path, Reader(reader_dir), limit, seed)
        if reads_cache is not None:
            reads_cache.write_bytes(pickle.dumps(reads))
    fit = fit_calibration(reads, judged)
    scorer = Calibration.of(fit)
    best = best_answers(reads, scorer)
    by_threshold = {round(t, 2): mixed_f1(reads, best, t) for t in np.arange(0.05, 0.96, 0.01)}
    # The lowest threshold within noise of the best: abstaining on a question the articles answer is what
    # users of a news tool mind most, and below the threshold an answer is still shown as unsure.
    threshold = min(t for t, f in by_threshold.items() if f >= max(by_threshold.values()) - THRESHOLD_TOLERANCE)
    answerable = [r for r in reads if r.golds]
    full = best_answers(answerable, scorer)

    def f1_by_domain(best: list[tuple[str, float]]) -> dict[str, float]:
        return {domain: 100 * float(np.mean([best_score(f1_score, text, r.golds)
                                             for r, (text, _) in zip(answerable, best) if r.domain == domain]))
                for domain in DOMAINS}

    whole = f1_by_domain(full)
    by_stop = {t: f1_by_domain(best_answers(answerable, scorer, stop_at=t)) for t in STOP_PROBABILITIES}
    stop = lowest_safe_stop(by_stop, whole)
    heldout = {"questions": {d: sum(r.domain == d for r in reads) for d in DOMAINS},
               "unanswerable": sum(not r.golds for r in reads),
               "mixed_f1_by_threshold": {f"{t:.2f}": round(f, 2) for t, f in by_threshold.items() if round(t * 100) % 5 == 0},
               "answerable_f1_by_stop_probability": {str(t): {d: round(f[d], 2) for d in DOMAINS} for t, f in by_stop.items()},
               "answerable_f1_every_window": {d: round(whole[d], 2) for d in DOMAINS}}
    for domain in DOMAINS:
        scored = [(score, float(best_score(f1_score, text, r.golds) >= RIGHT))
                  for r, (text, score) in zip(answerable, full) if r.domain == domain]
        scores, right = np.array([s for s, _ in scored]), np.array([c for _, c in scored])
        heldout[f"{domain}_reliability"] = reliability(scores, right)
        heldout[f"{domain}_ece"] = round(expected_calibration_error(scores, right), 4)
    data = {"calibration": fit, "threshold": threshold, "stop_probability": stop,
            "heldout": heldout}
    if write:
        # Written whole, so nothing a previous calibration left behind survives.
        (Path(reader_dir) / CONFIG_FILE).write_text(json.dumps(data, indent=2))
    return data


def judged_rows(feedback: Sequence[Feedback]) -> list[tuple[list[float], bool]]:
    """The readers' latest judgements of answers whose features the server kept, as (features, helpful)."""
    return [([j.features[name] for name in ANSWER_FEATURES], j.helpful) for j in latest_judgements(feedback)
            if j.answer and all(name in j.features for name in ANSWER_FEATURES)]


def judged_figures(scorer: Scorer, rows: Sequence[tuple[list[float], bool]]) -> dict:
    """How well ``scorer`` scores judged answers: ECE, log loss and the reliability table."""
    scores = np.array([scorer.probability(dict(zip(ANSWER_FEATURES, x))) for x, _ in rows])
    helpful = np.array([float(h) for _, h in rows])
    clipped = np.clip(scores, 1e-6, 1 - 1e-6)
    loss = -float(np.mean(helpful * np.log(clipped) + (1 - helpful) * np.log(1 - clipped)))
    return {"answers": len(rows), "ece": round(expected_calibration_error(scores, helpful), 4),
            "log_loss": round(loss, 4), "reliability": reliability(scores, helpful)}


def calibrate_with_feedback(
    squad_path: Path, news_path: Path, reader_dir: Path, limit: int, seed: int, reads_cache: Path | None,
    feedback: Sequence[Feedback], min_judged: int = MIN_JUDGED,
) -> dict:
    """Refit the calibration with the readers' judgements added to the held-out reads, and write it only when
    it scores a third of the judgements, kept out of the fit, better than the calibration in use (lower ECE and
    log loss).

    Raises:
        ValueError: Fewer than ``min_judged`` judged answers have their features.
    """
    rows = judged_rows(feedback)
    if len(rows) < min_judged:
        raise ValueError(f"{len(rows)} judged answers with their scores are kept; a refit needs at least {min_judged}")
    random.Random(seed).shuffle(rows)
    check, fitted = rows[::3], [row for n, row in enumerate(rows) if n % 3]
    config = json.loads((Path(reader_dir) / CONFIG_FILE).read_text())
    before = judged_figures(Calibration.of(config["calibration"]), check)
    data = calibrate(squad_path, news_path, reader_dir, limit, seed, reads_cache, judged=fitted, write=False)
    after = judged_figures(Calibration.of(data["calibration"]), check)
    better = after["ece"] <= before["ece"] and after["log_loss"] <= before["log_loss"]
    if better:
        data["heldout"]["judged"] = {"fitted": len(fitted), "checked": len(check), "before": before, "after": after}
        (Path(reader_dir) / CONFIG_FILE).write_text(json.dumps(data, indent=2))
    return {"judged": len(rows), "fitted": len(fitted), "checked": len(check), "before": before, "after": after,
            "kept": "new" if better else "old", "threshold": data["threshold"] if better else config["threshold"]}
