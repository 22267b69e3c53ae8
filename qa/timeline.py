"""Dates in questions, and figures that change between dated articles.

A question that names a day ("on Monday", "on 16 November") is about what articles of that time say: their
answers come first. A question about the latest state ("now", "so far", "this week", or no time at all) of a
figure that differs between articles of different dates gets every dated figure, newest first.
"""

from __future__ import annotations

import re
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
SAME_FACT = 0.25  # share of content words two answer sentences must share to report the same figure


def named_days(question: str) -> list[tuple[int | None, int, int]] | list[int] | None:
    """The days a question names: ``(year or None, month, day)`` triples for dates, else weekday numbers
    (Monday 0), else ``None``."""
    dates: list[tuple[int | None, int, int]] = []
    for m in _DAY_MONTH.finditer(question):
        dates.append((int(m.group(3)) if m.group(3) else None, _month(m.group(2)), int(m.group(1))))
    for m in _MONTH_DAY.finditer(question):
        dates.append((int(m.group(3)) if m.group(3) else None, _month(m.group(1)), int(m.group(2))))
    dates += [(int(m.group(1)), int(m.group(2)), int(m.group(3))) for m in _ISO.finditer(question)]
    if dates:
        return dates
    weekdays = [_WEEKDAYS.index(m.group(1).lower()) for m in _WEEKDAY.finditer(question)]
    return weekdays or None


def _month(name: str) -> int:
    return next(n for n, month in enumerate(_MONTHS, 1) if month.startswith(name.lower().rstrip(".")[:3]))


def lag(published: date | None, days: list) -> int | None:
    """How long after one of ``days`` (``named_days``) an article published on ``published`` is: 0 when it is
    dated that day, 1 the day after (news of an evening is printed the next morning), ``None`` otherwise."""
    if published is None:
        return None
    for gap in (0, 1):
        seen = published - timedelta(days=gap)
        for day in days:
            if seen.weekday() == day if isinstance(day, int) else (day[0] in (None, seen.year) and (day[1], day[2]) == (seen.month, seen.day)):
                return gap
    return None


def prefer_named_time(question: str, spans: list[Span]) -> list[Span]:
    """Spans of articles dated the day the question names first, then those of the day after, then the rest
    (each part in its order); the spans as they were when it names no day."""
    days = named_days(question)
    if not days:
        return spans

    def key(span: Span) -> int:
        gap = lag(parse_date(span.passage.date), days)
        return 2 if gap is None else gap

    return sorted(spans, key=key)


def asks_latest(question: str) -> bool:
    """Whether a question asks for the present state: it says so ("now", "so far"), or names no time at all."""
    if _LATEST.search(question):
        return True
    return not (_PAST.search(question) or named_days(question))


def other_dates_matter(question: str, best: Span, passages: list[Passage]) -> bool:
    """Whether windows of articles from other dates than ``best``'s could change the answer: the question
    names a day, or ``best`` is a figure a later or earlier article may give differently."""
    dates = {p.date for p in passages if parse_date(p.date)}
    if len(dates) < 2:
        return False
    return bool(named_days(question)) or (asks_latest(question) and bool(NUMBER.search(best.text)))


def _same_fact(a: Span, b: Span) -> bool:
    """Whether two answers' sentences (their windows) are about the same thing: they share enough content words."""
    words_a = {word_key(w) for w in content_words(a.passage.text)}
    words_b = {word_key(w) for w in content_words(b.passage.text)}
    return len(words_a & words_b) >= SAME_FACT * min(len(words_a), len(words_b))


def changed_figures(question: str, spans: list[Span], threshold: float) -> list[Span]:
    """When the best answer is a figure that articles of other dates give differently, the best answer of
    each date, newest first; otherwise nothing.

    Args:
        question: The question; only one about the latest state gets a timeline (``asks_latest``).
        spans: The distinct answers, best first.
        threshold: How sure an answer must be to count.
    """
    accepted = [s for s in spans if s.score >= threshold]
    if not accepted or not asks_latest(question) or not NUMBER.search(accepted[0].text):
        return []
    best = accepted[0]
    by_date: dict[date, Span] = {}
    for span in accepted:
        published = parse_date(span.passage.date)
        if published is None or published in by_date or not NUMBER.search(span.text):
            continue
        if span is best or (normalize_answer(span.text) != normalize_answer(best.text) and _same_fact(span, best)):
            by_date[published] = span
    if len(by_date) < 2 or parse_date(best.passage.date) not in by_date:
        return []
    return [by_date[day] for day in sorted(by_date, reverse=True)]
