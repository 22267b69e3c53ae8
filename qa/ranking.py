"""From the reader's spans in retrieved windows to distinct answers, each scored by the calibrated
probability that it is right.

Each window's best span is a reading. Readings of one place (overlapping windows read the same
sentence) count once; readings with the same text at different places are one answer. An answer is
scored by the reader's calibration, a logistic model over ``ANSWER_FEATURES`` of its best reading
that ``qa train-reader calibrate`` fits on held-out SQuAD articles and the news set's calibration
part. Training, calibration, ``answer()`` and the benchmarks all rank through ``rank_answers``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Mapping, Protocol

from index.sentences import split_sentences
from index.text import content_words, normalize_answer, parse_date, question_terms, word_key, words
from qa.question_time import reporting_period
from qa.reader import WindowSpan
from qa.retriever import Passage

# margin: the best reading's span score minus its window's no-answer score; log_rank: ln of the best
# retrieval rank among the windows read that hold the answer's text (whether or not the reader picked it
# there); log_places: ln of how many places give the answer (agreement across windows); type_fit: whether the
# answer is the kind of thing the question asks for (+1 yes, -1 no, 0 the question does not say);
# coverage: the share of the question's content words that the window or its article's title and
# date hold (a passage about another story of the same kind lacks some); latest: the article is
# among the newest of the retrieved ones (news questions ask about the latest story and figures);
# centre: the answer is in the sentence retrieval found, not in one of its neighbours; reported: the article is
# dated in the period the question asks about (``qa.question_time.reporting_period``: the week asked in, or the
# week after a day it names), which retrieval also prefers; names_held: the share of the names and numbers the
# question mentions that the window or its article's title and date hold ("How many raids were carried out in
# Germany?" over a window about France lacks one).
ANSWER_FEATURES = ("margin", "log_rank", "log_places", "type_fit", "coverage", "latest", "centre", "reported",
                   "names_held")
LATEST_DAYS = 7  # articles this many days older than the newest retrieved one are not the latest

_NUMBER_QUESTION = re.compile(
    r"\bhow (?:many|much|long|old|far|often|tall|big|large|high)\b|\bwhat (?:percentage|percent|number|share|amount)\b",
    re.I,
)
_TIME_QUESTION = re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b|\bin which year\b", re.I)
_PERSON_QUESTION = re.compile(r"^\W*(?:who|whom|whose)\b|[,;]\s*(?:who|whom|whose)\b", re.I)
NUMBER = re.compile(  # a figure: digits or number words

    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million|billion|trillion|dozens?|half|several|few)\b",
    re.I,
)
_TIME = re.compile(
    r"\d|\b(?:january|february|march|april|may|june|july|august|september|october|november|december|monday|"
    r"tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|week|month|year|century|ago|"
    r"spring|summer|autumn|fall|winter)\b",
    re.I,
)


class Scorer(Protocol):
    """What scores answers: the reader (its shipped calibration) or a ``qa.reader.Calibration`` being fitted."""

    def probability(self, features: Mapping[str, float]) -> float:
        """The probability that an answer with these features is right."""


@dataclass(frozen=True)
class Reading:
    """The reader's best span in one retrieved window.

    Attributes:
        passage: The window.
        start: Span start in ``passage.text``.
        end: Span end in ``passage.text``.
        margin: The reader's span score minus the window's no-answer score.
        rank: The window's retrieval rank, 1 for the best.
    """

    passage: Passage
    start: int
    end: int
    margin: float
    rank: int

    @property
    def text(self) -> str:
        """The span's text."""
        return self.passage.text[self.start : self.end]


@dataclass(frozen=True)
class Span:
    """A distinct answer: its best reading's offsets into a passage, and its calibrated probability.

    Attributes:
        passage: The window of the best reading.
        start: Answer start in ``passage.text``.
        end: Answer end in ``passage.text``.
        score: Probability in [0, 1] that the answer is right.
        places: How many places of the articles give this answer.
        features: The ``ANSWER_FEATURES`` it was scored on.
    """

    passage: Passage
    start: int
    end: int
    score: float
    places: int = 1
    features: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        """The span's text."""
        return self.passage.text[self.start : self.end]


def readings(passages: list[Passage], found: list[WindowSpan | None], first_rank: int = 1) -> list[Reading]:
    """The reader's spans as readings, with each window's retrieval rank (``first_rank`` for the first)."""
    return [
        Reading(passage, span.start, span.end, span.margin, rank)
        for rank, (passage, span) in enumerate(zip(passages, found), first_rank)
        if span is not None and span.end > span.start
    ]


def type_fit(question: str, answer: str) -> float:
    """+1 when the answer is the kind of thing the question asks for (a number for "how many", a time for
    "when", a name for "who"), -1 when it is not, 0 when the question does not say."""
    if _NUMBER_QUESTION.search(question):
        return 1.0 if NUMBER.search(answer) else -1.0
    if _TIME_QUESTION.search(question):
        return 1.0 if _TIME.search(answer) else -1.0
    if _PERSON_QUESTION.search(question):
        return 1.0 if answer[:1].isupper() else -1.0
    return 0.0


def coverage(question: str, passage: Passage) -> float:
    """The share of the question's content words that the passage or its article's title and date hold (1 without any)."""
    asked = {word_key(w) for w in content_words(question)}
    if not asked:
        return 1.0
    held = {word_key(w) for w in words(f"{passage.title} {passage.date or ''} {passage.text}")}
    return len(asked & held) / len(asked)


@lru_cache(maxsize=256)
def asked_sentence(question: str) -> str:
    """The sentence of ``question`` that asks: its last one ending in a question mark, else its last one. A
    quiz question's first sentences set the scene; an aside in brackets may follow what it asks."""
    sentences = [question[s.start : s.end] for s in split_sentences(question)]
    return next((s for s in reversed(sentences) if s.rstrip("”\")’'").endswith("?")), sentences[-1] if sentences else "")


def names_held(question: str, passage: Passage) -> float:
    """The share of the names and numbers the sentence that asks (``asked_sentence``) mentions (``question_terms``)
    that the passage or its article's title and date hold (1 when it mentions none). A quiz question's first
    sentences set the scene with names the answer's passage need not hold ("Twitter is testing posts like
    Instagram's. What are they called?")."""
    names = {m.group().lower() for m in question_terms(asked_sentence(question))}
    if not names:
        return 1.0
    held = f"{passage.title} {passage.date or ''} {passage.text}".lower()
    return sum(name in held for name in names) / len(names)


def newest_date(passages: list[Passage], as_of: date) -> date | None:
    """The newest article date among the passages, not after ``as_of`` (``None`` when none is dated)."""
    return max((d for d in (parse_date(p.date) for p in passages) if d is not None and d <= as_of), default=None)


def latest(passage: Passage, newest: date | None, as_of: date) -> float:
    """1 when the passage's article is no more than ``LATEST_DAYS`` older than ``newest`` (or has no date to
    tell), 0 when it is older or dated after ``as_of``, the day the question is asked."""
    published = parse_date(passage.date)
    if published is None or newest is None:
        return 1.0
    return float(published <= as_of and (newest - published).days < LATEST_DAYS)


def reported(passage: Passage, period: tuple[date, date] | None) -> float:
    """1 when the passage's article is dated within ``period``, 0 otherwise (no period, or no date)."""
    published = parse_date(passage.date)
    return float(period is not None and published is not None and period[0] <= published <= period[1])


def answer_features(
    question: str,
    group: list[Reading],
    windows: list[Reading],
    as_of: date,
    newest: date | None,
    period: tuple[date, date] | None = None,
) -> dict[str, float]:
    """The ``ANSWER_FEATURES`` of an answer.

    Args:
        question: The question.
        group: The answer's readings (``group_answers``), the best first.
        windows: Every reading of the question, one per window read.
        as_of: The day the question is asked.
        newest: The newest article date of the retrieved windows (``newest_date``).
        period: The dates of the articles that report what the question asks about (``reporting_period``).
    """
    best = group[0]
    text = best.text.lower()
    holding = [r.rank for r in windows if text in r.passage.text.lower()] + [r.rank for r in group]
    return {
        "margin": best.margin,
        "log_rank": math.log(min(holding)),
        "log_places": math.log(len(group)),
        "type_fit": type_fit(question, best.text),
        "coverage": coverage(question, best.passage),
        "latest": latest(best.passage, newest, as_of),
        "centre": float(any(r.passage.sentence_start <= r.passage.start + r.start < r.passage.sentence_end for r in group)),
        "reported": reported(best.passage, period),
        "names_held": names_held(question, best.passage),
    }


def _overlaps(a: Reading, b: Reading) -> bool:
    """Whether two readings cover the same place of one article."""
    a_start, b_start = a.passage.start + a.start, b.passage.start + b.start
    return (
        a.passage.article_id == b.passage.article_id
        and a_start < b_start + (b.end - b.start)
        and b_start < a_start + (a.end - a.start)
    )


def group_answers(found: list[Reading]) -> list[list[Reading]]:
    """Readings grouped into distinct answers, each group's best reading first.

    A place read by overlapping windows counts once (its best reading): such readings are not
    independent evidence. Readings with the same normalised text at different places are one answer.
    """
    places: list[Reading] = []
    for reading in sorted(found, key=lambda r: -r.margin):
        if not any(_overlaps(reading, p) for p in places):
            places.append(reading)
    groups: dict[str, list[Reading]] = {}
    for reading in places:
        groups.setdefault(normalize_answer(reading.text), []).append(reading)
    return list(groups.values())


def featured_answers(question: str, found: list[Reading], as_of: date | None = None) -> list[tuple[list[Reading], dict[str, float]]]:
    """The distinct answers of the reader's spans (``group_answers``), each with its ``ANSWER_FEATURES``.

    Args:
        question: The question.
        found: The reader's spans in the retrieved windows.
        as_of: The day the question is asked (default: today).
    """
    as_of = as_of or date.today()
    newest = newest_date([r.passage for r in found], as_of)
    period = reporting_period(question, as_of)
    return [(group, answer_features(question, group, found, as_of, newest, period)) for group in group_answers(found)]


def rank_answers(question: str, found: list[Reading], scorer: Scorer, as_of: date | None = None) -> list[Span]:
    """Distinct answers, best first, each scored by calibrated probability.

    Args:
        question: The question.
        found: The reader's spans in the retrieved windows.
        scorer: The reader (its calibration) or a calibration.
        as_of: The day the question is asked (default: today).
    """
    spans = [
        Span(group[0].passage, group[0].start, group[0].end, scorer.probability(features), len(group), features)
        for group, features in featured_answers(question, found, as_of)
    ]
    return sorted(spans, key=lambda s: -s.score)
