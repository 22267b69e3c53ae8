"""Text rules shared by indexing, retrieval, reading and the chat: stop words, words, datelines, windows."""

from __future__ import annotations

import re
import sqlite3
import string
import threading
from datetime import date
from functools import cache

# Words a keyword search ignores: they match nearly every window (BM25 terms, near-duplicate overlap).
FUNCTION_WORDS = frozenset(
    "a an and are as at be been but by did do does for from had has have he her his how i in is it its many "
    "much of on or she that the their them they this to was were what when where which who whom whose why "
    "will with".split()
)
PRONOUNS = frozenset("he she him his her hers it its they them their theirs these those".split())
# Words that say nothing of a question's topic (what a follow-up question must add, what a window must cover).
TOPIC_STOPWORDS = FUNCTION_WORDS | PRONOUNS | frozenset(
    "being having can could doing done if into just may me might more most must my no not now once only other our "
    "out over own same say said says shall should so some such than then there those through too under until "
    "up very we while would you your about also again against all any because before after both during each "
    "few further here off plus tell know happen happened happens get got make made go went "
    "year years number times time".split()
)

_TERM = re.compile(r"\w+")
_WORD = re.compile(r"[\w'’-]+")

# A dateline: an upper-case place name ending in a full stop ("LONDON.", "NEW YORK."), a sentence of its own
# to a sentence splitter; or, before a first line, the place with an agency ("PARIS (Reuters) - ", "PARIS AFP ").
_PLACE = r"[A-Z][A-Z .'-]*[A-Z]"
_DATELINE = re.compile(rf"{_PLACE}\.")
_DATELINE_PREFIX = re.compile(rf"^{_PLACE}\.?\s+(?:\([^)]*\)\s*[-–—]\s*|[A-Z]{{2,}}\s+)|^{_PLACE}\.\s+")

# A window is a sentence with this many neighbours each side: what retrieval returns and the reader reads.
NAME_OR_NUMBER = re.compile(r"\b(?:[A-Z][\w'-]*[a-z][\w'-]*|\d(?:[\d,.]*\d)?)\b")
_ANSWER_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
WINDOW_RADIUS = 1
WINDOW_SENTENCES = 2 * WINDOW_RADIUS + 1


def terms(text: str) -> list[str]:
    """The lower-cased word tokens of ``text`` (letters, digits and underscores), in order."""
    return _TERM.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """The distinct lower-cased words of ``text`` that are not stop words, in order (at most 64)."""
    return list(dict.fromkeys(t for t in terms(text) if t not in FUNCTION_WORDS))[:64]


def words(text: str) -> list[str]:
    """The words of ``text`` as written, in order, keeping inner apostrophes and hyphens (straightened)."""
    return [w.replace("’", "'").strip("'-") for w in _WORD.findall(text) if w.strip("'-")]


def is_dateline(piece: str) -> bool:
    """Whether a piece a sentence splitter cut off is a dateline ("LONDON.") that belongs to the next sentence."""
    return _DATELINE.fullmatch(piece) is not None


def strip_dateline(line: str) -> str:
    """A first line without its leading dateline ("PARIS (Reuters) - France said" -> "France said")."""
    return _DATELINE_PREFIX.sub("", line, count=1)


_stemmer_lock = threading.Lock()


@cache
def _stemmer() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db.execute("CREATE VIRTUAL TABLE staged USING fts5(text, tokenize='porter unicode61')")
    db.execute("CREATE VIRTUAL TABLE staged_words USING fts5vocab(staged, instance)")
    return db


def stemmed(texts: list[str]) -> list[str]:
    """Each text's words as the index's full-text search stems them (SQLite FTS5 ``porter unicode61``), joined by
    spaces, in no particular order (what BM25 counts)."""
    words: list[list[str]] = [[] for _ in texts]
    with _stemmer_lock:
        db = _stemmer()
        db.executemany("INSERT INTO staged(rowid, text) VALUES (?, ?)", enumerate(texts))
        for doc, term in db.execute("SELECT doc, term FROM staged_words"):
            words[doc].append(term)
        db.execute("DELETE FROM staged")
    return [" ".join(w) for w in words]


_STEMS: dict[str, tuple[str, ...]] = {}  # word -> its stems, kept for the process: windows repeat their words
_WORDS: dict[str, set[str]] = {}  # stem -> the words of _STEMS that have it
_STEMS_KEPT = 500_000  # words; past this the memo starts again
_memo_lock = threading.Lock()  # questions are answered from several threads at once


def _stems_of(words: set[str]) -> None:
    """Stem the words not stemmed yet in this process into ``_STEMS`` and ``_WORDS``."""
    new = sorted(words.difference(_STEMS))
    if not new:
        return
    stems = stemmed(new)
    with _memo_lock:
        if len(_STEMS) + len(new) > _STEMS_KEPT:
            _STEMS.clear()
            _WORDS.clear()
        for word, found in zip(new, stems):
            _STEMS[word] = tuple(found.split())
            for stem in _STEMS[word]:
                _WORDS.setdefault(stem, set()).add(word)


def stemmed_terms(text: str) -> set[str]:
    """The distinct terms of ``text`` as the index's full-text search stems them (``stemmed``)."""
    words = set(terms(text))
    _stems_of(words)
    with _memo_lock:
        return {stem for word in words for stem in _STEMS.get(word, ())}


def held_stems(texts: list[str], stems: set[str]) -> list[set[str]]:
    """Which of these stemmed terms each text holds, as the index's full-text search stems its words (each word
    stemmed once per process: scoring many windows for each question, where staging them in SQLite is slow)."""
    per_text = [set(terms(text)) for text in texts]
    _stems_of(set().union(*per_text))
    with _memo_lock:
        wanted = {word: stem for stem in stems for word in _WORDS.get(stem, ())}
    return [{wanted[word] for word in found.intersection(wanted)} for found in per_text]


def content_words(text: str) -> list[str]:
    """The words of a text that carry its topic (no stop words, pronouns or question words), in order, unique."""
    seen: dict[str, str] = {}
    for word in words(text):
        key = word.lower()
        if key not in TOPIC_STOPWORDS and key not in seen and not key.isdigit():
            seen[key] = word
    return list(seen.values())


def word_key(word: str) -> str:
    """A crude stem so "raid" and "raids", "arrest" and "arrested" count as the same word (lower case)."""
    word = word.lower()
    for suffix in ("ing", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def question_terms(question: str) -> list[re.Match]:
    """The names and numbers a question mentions (its first word, capitalised anyway, is not one)."""
    return [m for m in NAME_OR_NUMBER.finditer(question) if m.start() > 0]


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and a/an/the, collapse white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ANSWER_ARTICLES.sub(" ", text).split())


def parse_date(value: str | None) -> date | None:
    """An article's ``YYYY-MM-DD`` date, or ``None`` when it has none (or another form)."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def error_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (its type's name when it has none), at most ``limit`` characters."""
    message = str(getattr(exc, "message", None) or exc).strip()
    line = message.splitlines()[0] if message else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"
