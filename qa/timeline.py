"""Dates in questions, and figures that change between dated articles.

A question that names a day ("on Monday", "on 16 November") is about what articles of that time say: their
answers come first. A question about the latest state ("now", "so far", "this week", or no time at all) of a
figure that differs between articles of different dates gets every dated figure, newest first.
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import date, timedelta

from qa.followup import content_words, word_key
from qa.ranking import NUMBER, Span, parse_date
from qa.retriever import Passage
from qa.squad import normalize_answer

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?{_MONTH}(?:,? (\d{{4}}))?\b", re.I)
_MONTH_DAY = re.compile(rf"\b{_MONTH} (\d{{1,2}})(?:st|nd|rd|th)?\b(?:,? (\d{{4}}))?", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_WEEKDAY = re.compile(rf"\b({'|'.join(_WEEKDAYS)})\b", re.I)
_LATEST = re.compile(r"\b(?:now|latest|so far|currently|still|yet|this week|today|as of|to date|most recent)\b", re.I)
_PAST = re.compile(r"\b(?:yesterday|last (?:week|month|year)|in \d{4}|at first|initially|originally|first reported)\b", re.I)
SAME_FACT = 0.25  # share of content words two answers' windows must share to report the same figure


def named_days(question: str, as_of: date) -> list[date]:
    """The days a question names, as dates: a date without a year is its latest occurrence up to ``as_of``, a
    weekday ("on Monday") the latest such day up to ``as_of``; dates first, weekdays only when it names no date."""
    named: list[tuple[int | None, int, int]] = []
    for m in _DAY_MONTH.finditer(question):
        named.append((int(m.group(3)) if m.group(3) else None, _month(m.group(2)), int(m.group(1))))
    for m in _MONTH_DAY.finditer(question):
        named.append((int(m.group(3)) if m.group(3) else None, _month(m.group(1)), int(m.group(2))))
    named += [(int(m.group(1)), int(m.group(2)), int(m.group(3))) for m in _ISO.finditer(question)]
    days = []
    for year, month, day in named:
        for candidate in ([year] if year else [as_of.year, as_of.year - 1]):
            with suppress(ValueError):  # 31 June, 29 February of another year
                if (found := date(candidate, month, day)) <= as_of or year:
                    days.append(found)
                    break
    if named:
        return days
    weekdays = {_WEEKDAYS.index(m.group(1).lower()) for m in _WEEKDAY.finditer(question)}
    return [as_of - timedelta(days=(as_of.weekday() - weekday) % 7) for weekday in sorted(weekdays)]


def _month(name: str) -> int:
    return next(n for n, month in enumerate(_MONTHS, 1) if month.startswith(name.lower().rstrip(".")[:3]))


def lag(published: date | None, days: list[date]) -> int | None:
    """How many days after the nearest of ``days`` an article published on ``published`` is, when it is within
    the week after it (an article can only report a day from that day on); ``None`` otherwise."""
    gaps = [(published - day).days for day in days] if published else []
    return min((gap for gap in gaps if 0 <= gap < 7), default=None)


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
        return 7 if gap is None else gap

    return sorted(spans, key=key)


def asks_latest(question: str) -> bool:
    """Whether a question asks for the present state: it says so ("now", "so far"), or names no time at all."""
    if _LATEST.search(question):
        return True
    return not (_PAST.search(question) or named_days(question, date.today()))


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
