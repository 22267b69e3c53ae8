"""The contract every index backend keeps: the ``Store`` protocol, its record types and its errors.

Everything above ``index/`` (retrieval, answering, ingest, the chat, the API) is written against ``Store``
alone; ``index.store.Backend`` opens one. ``tests/store_conformance.py`` is the test suite every backend
inherits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from index.articles import Article
from index.sentences import Sentence

if TYPE_CHECKING:
    from index.embedder import Embedder

# The index layout this release reads and writes, recorded in every index it makes or upgrades: an index
# without one is format 1 (every release before the number was recorded) and is upgraded when opened for
# writing; an index of a higher format is refused.
FORMAT = 2


def check_format(recorded: str | None, where: str) -> None:
    """Refuse an index whose recorded format is newer than ``FORMAT``, in one line."""
    if recorded is not None and (not recorded.isdigit() or int(recorded) > FORMAT):
        raise IndexFormatError(f"the index {where} was made by a newer release of news-qa (index format {recorded}; "
                               f"this one reads up to {FORMAT}): upgrade news-qa to open it")


class StoreError(RuntimeError):
    """The index cannot be used as asked; the message is one line that says what to do."""


class IndexMismatchError(StoreError):
    """The index was built with another embedding model or dimension."""


class IndexFormatError(StoreError):
    """The index was made by a newer release, in a format this one cannot read."""


class IndexDamagedError(StoreError):
    """A part of the index is missing or cannot be read."""


class IndexReadOnlyError(StoreError):
    """A write was asked of an index opened read-only, or kept where nothing can be written."""


class IndexWriteError(StoreError):
    """A write failed (disk full, I/O error); the index is as it was before it."""


@dataclass(frozen=True)
class ArticleInfo:
    """An indexed article as listed: id, title, date, source, sentence count and, for a near-duplicate,
    the id of the first indexed copy of its story."""

    id: str
    title: str
    date: str | None
    source: str
    sentences: int
    duplicate_of: str | None = None


@dataclass(frozen=True)
class SentenceRow:
    """Where a sentence lives: its article, position in it and character offsets."""

    id: int
    article_id: str
    position: int
    start: int
    end: int


@dataclass(frozen=True)
class SearchFilter:
    """Which articles a search may return: published in a date range, from a source.

    Attributes:
        since: Earliest article date, inclusive (undated articles are left out when a date is given).
        until: Latest article date, inclusive.
        source: Start of the article's source (a site address such as ``https://apnews.com/``, or a folder).
    """

    since: date | None = None
    until: date | None = None
    source: str | None = None

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.source)


@dataclass(frozen=True)
class PreparedArticle:
    """An article ready to store (``index.indexer.prepare``): its sentences, one vector per sentence and its
    MinHash signature (``index.duplicates``)."""

    article: Article
    sentences: list[Sentence]
    vectors: np.ndarray
    signature: np.ndarray


@dataclass(frozen=True)
class AskedQuestion:
    """A question a reader asked, as a server that logs questions keeps it (``qa serve --log-questions``).

    Attributes:
        answer_id: The answer's id (``qa.answer.Answer.id``), which feedback on it names.
        question: The question as answered.
        answer: The answer given; empty when the articles did not say.
        article_id: The answer's article (the closest sentence's when there was no answer), or ``None``.
        score: The answer's calibrated confidence (the best candidate's when there was no answer).
        time: When it was asked: ISO 8601, UTC.
        features: The answer's scoring features (``qa.ranking.ANSWER_FEATURES``), what calibration is fitted on;
            empty when nothing was read.
    """

    answer_id: str
    question: str
    answer: str
    article_id: str | None
    score: float
    time: str
    features: dict[str, float]


@dataclass(frozen=True)
class Feedback:
    """A reader's judgement of an answer. It names its article by id and holds no article text, so it outlives
    the article's removal; the latest judgement of an answer id stands.

    Attributes:
        answer_id: The judged answer's id, or ``None`` when the reader did not give one.
        question, answer, article_id: What was asked and answered, and from which article (``None``: none).
        helpful: Thumbs up (``True``) or down.
        comment: What was right, in the reader's words (may be empty).
        time: When it was given: ISO 8601, UTC.
        score, features: The answer's confidence and scoring features when the server that gave it still knew
            them (``None`` and empty otherwise).
    """

    answer_id: str | None
    question: str
    answer: str
    article_id: str | None
    helpful: bool
    comment: str
    time: str
    score: float | None = None
    features: dict[str, float] = field(default_factory=dict)


class Store(Protocol):
    """An index of articles, their sentences, sentence vectors and keyword windows.

    A window is a sentence with its ``index.text.WINDOW_RADIUS`` neighbours: keyword search ranks sentences by
    their windows. Reads see every write committed before them (``refresh`` first, for another process's).
    Methods raise ``StoreError`` (one line) when the index cannot be used.
    """

    embedder: Embedder  # the model the vectors were made with
    read_only: bool

    @property
    def generation(self) -> object:
        """A value that changes whenever the index is written (by another process: once ``refresh`` saw it)."""

    # -- reading
    def refresh(self) -> None:
        """Pick up what other processes wrote."""

    def stats(self) -> dict:
        """Counts of ``articles``, ``near_duplicates``, ``sentences`` and ``vectors``, the ``model`` and where the
        index is; a ``warning`` entry when they disagree."""

    def check(self) -> list[str]:
        """What is wrong with the index, one line each; nothing when its parts agree."""

    def list_articles(self) -> list[ArticleInfo]:
        """All indexed articles, oldest first."""

    def known(self, article_ids: list[str]) -> set[str]:
        """Which of these article ids are indexed."""

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or ``None``."""

    def article_text(self, article_id: str) -> str:
        """An indexed article's text (cached: the hot path of answering)."""

    def first_copies(self, article_ids: list[str]) -> dict[str, str]:
        """For each of these indexed articles, the first indexed copy of its story (itself when it is no copy)."""

    def copies(self, article_id: str) -> list[ArticleInfo]:
        """Every indexed copy of an article's story, the first copy first (just the article when it has none)."""

    def first_copy(self, article_id: str) -> ArticleInfo | None:
        """The first indexed copy of a near-duplicate's story; ``None`` when the article is no copy."""

    def sentence_rows(self, ids: list[int]) -> dict[int, SentenceRow]:
        """Sentence rows by id."""

    def neighbours(self, row: SentenceRow, radius: int) -> list[SentenceRow]:
        """The sentences within ``radius`` positions of ``row`` in its article, in order."""

    def article_sentences(self, article_id: str) -> list[SentenceRow]:
        """All sentences of an article, in order."""

    # -- searching
    def dense_search(self, query_vector: np.ndarray, k: int, where: SearchFilter | None = None) -> list[tuple[int, float]]:
        """Sentence ids nearest to a unit query vector, best first; with ``where``, of the articles it allows."""

    def keyword_search(self, question: str, k: int, where: SearchFilter | None = None) -> list[tuple[int, float]]:
        """Sentence ids ranked by BM25 of their windows for the question's content words, best first."""

    def window_terms(self, ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        """Which of these stemmed terms each sentence's window holds, by sentence id."""

    def term_windows(self, terms: list[str]) -> tuple[dict[str, int], int]:
        """How many windows hold each of these stemmed terms, and how many windows there are."""

    # -- writing
    def write(self, prepared: list[PreparedArticle]) -> set[str]:
        """Store prepared articles atomically; the ids stored (not those another writer stored meanwhile)."""

    def remove(self, article_id: str) -> ArticleInfo | None:
        """Remove an article (its oldest remaining copy becomes the first); what was removed, or ``None``."""

    def rebuild(self, progress: bool = False) -> dict:
        """Re-split and re-embed every stored article with ``embedder``; the new ``stats()``."""

    def backup(self, destination: Path) -> None:
        """Copy the index as committed when the copy starts into the new folder ``destination`` while other
        processes write (an index that opens as it is), or raise ``StoreError`` saying which tool does it."""

    def feeds(self) -> list[str]:
        """The feeds (addresses or files) articles were added from, oldest first."""

    def feed_links(self, feed: str) -> set[str]:
        """The item links of ``feed`` read so far."""

    def record_feed(self, feed: str, links: list[str]) -> None:
        """Remember ``feed`` and that these of its items were read."""

    # -- what readers said and asked (``qa.readers``)
    def log_questions(self, asked: list[AskedQuestion]) -> None:
        """Keep these questions asked, with their answers."""

    def asked_questions(self, since: str | None = None) -> list[AskedQuestion]:
        """The questions kept, asked at or after ``since`` (ISO 8601, UTC; a day is its start), oldest first."""

    def add_feedback(self, feedback: Feedback) -> None:
        """Keep a reader's judgement of an answer."""

    def feedback(self, since: str | None = None) -> list[Feedback]:
        """The judgements kept, given at or after ``since`` (ISO 8601, UTC), oldest first."""

    def close(self) -> None:
        """Let go of the index's files or connection."""
