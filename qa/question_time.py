"""The time a question asks about: the days it names ("on Monday", "on 16 November"), or the present ("now",
"this week", or no time at all)."""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import date, timedelta

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
REPORTING_DAYS = 7  # an article reports a day's news within this many days of it


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


def asks_latest(question: str) -> bool:
    """Whether a question asks for the present state: it says so ("now", "so far"), or names no time at all."""
    if _LATEST.search(question):
        return True
    return not (_PAST.search(question) or named_days(question, date.today()))


def reporting_period(question: str, as_of: date) -> tuple[date, date] | None:
    """The dates of the articles that report what a question asks about: the week after the days it names, or,
    for the present state, the week up to ``as_of``; ``None`` when it asks about another time ("in 2015")."""
    days = named_days(question, as_of)
    if days:
        return min(days), max(days) + timedelta(days=REPORTING_DAYS - 1)
    if asks_latest(question):
        return as_of - timedelta(days=REPORTING_DAYS - 1), as_of
    return None
