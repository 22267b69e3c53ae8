"""Dates in questions, and figures that change between dated articles.

A question that names a day ("on Monday", "on 16 November") is about what articles of that time say: their
answers come first. A question about the latest state ("now", "so far", "this week", or no time at all) of a
figure that differs between articles of different dates gets every dated figure, newest first.
"""

from __future__ import annotations

from datetime import date

from index.text import content_words, normalize_answer, parse_date, word_key
from qa.question_time import REPORTING_DAYS, asks_latest, named_days
from qa.ranking import NUMBER, Span
from qa.retriever import Passage

SAME_FACT = 0.25  # share of content words two answers' windows must share to report the same figure


def lag(published: date | None, days: list[date]) -> int | None:
    """How many days after the nearest of ``days`` an article published on ``published`` is, when it is within
    the week after it (an article can only report a day from that day on); ``None`` otherwise."""
    gaps = [(published - day).days for day in days] if published else []
    return min((gap for gap in gaps if 0 <= gap < REPORTING_DAYS), default=None)


def prefer_named_time(question: str, spans: list[Span], as_of: date | None = None) -> list[Span]:
    """Spans of articles dated the day the question names first, then those of the days after it (sooner
    first), then the rest, each part in its order; the spans as they were when it names no day.

    Args:
        question: The question.
        spans: The distinct answers, best first.
        as_of: The day the question is asked (default: today), which "on Monday" is counted back from.
    """
    days = named_days(question, as_of or date.today())
    if not days:
        return spans

    def key(span: Span) -> int:
        gap = lag(parse_date(span.passage.date), days)
        return REPORTING_DAYS if gap is None else gap

    return sorted(spans, key=key)


def other_dates_matter(question: str, best: Span, passages: list[Passage]) -> bool:
    """Whether windows of articles from other dates than ``best``'s could change the answer: the question
    names a day, or ``best`` is a figure a later or earlier article may give differently."""
    dates = {p.date for p in passages if parse_date(p.date)}
    if len(dates) < 2:
        return False
    return bool(named_days(question, date.today())) or (asks_latest(question) and bool(NUMBER.search(best.text)))


def _same_fact(a: Span, b: Span) -> bool:
    """Whether two answers' sentences (their windows) are about the same thing: they share enough content words."""
    words_a = {word_key(w) for w in content_words(a.passage.text)}
    words_b = {word_key(w) for w in content_words(b.passage.text)}
    return len(words_a & words_b) >= SAME_FACT * min(len(words_a), len(words_b))


def changed_figures(question: str, spans: list[Span], threshold: float, as_of: date | None = None) -> list[Span]:
    """When the best answer is a figure that articles of other dates give differently, the best answer of
    each date, newest first; otherwise nothing.

    Args:
        question: The question; only one about the latest state gets a timeline (``asks_latest``).
        spans: The distinct answers, best first.
        threshold: How sure an answer must be to count.
        as_of: The day the question is asked (default: today); later articles do not count.
    """
    as_of = as_of or date.today()
    accepted = [s for s in spans if s.score >= threshold]
    if not accepted or not asks_latest(question) or not NUMBER.search(accepted[0].text):
        return []
    best = accepted[0]
    by_date: dict[date, Span] = {}
    for span in accepted:
        published = parse_date(span.passage.date)
        if published is None or published > as_of or published in by_date or not NUMBER.search(span.text):
            continue
        if span is best or (normalize_answer(span.text) != normalize_answer(best.text) and _same_fact(span, best)):
            by_date[published] = span
    if len(by_date) < 2 or parse_date(best.passage.date) not in by_date:
        return []
    return [by_date[day] for day in sorted(by_date, reverse=True)]
