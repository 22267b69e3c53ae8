"""The index folder: article and sentence metadata in SQLite, sentence vectors in FAISS.

Writes are atomic across both files. Each write saves a file named after the
next *generation* and then commits the SQLite transaction that records that
generation; a crash before the commit leaves the previous generation's files
and the rolled-back database, which agree. The file is the whole FAISS index
(``vectors.G.faiss``, the *base*) or, while the changes since the base are
small beside it, only those changes (``changes.G.npz``): a load reads the base
and replays the changes after it, so adding an article to a big index writes a
small file instead of the whole index.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TypeVar

import numpy as np

from index import duplicates
from index.articles import Article
from index.embedder import Embedder
from index.sentences import Sentence, split_sentences, windows
from index.text import FUNCTION_WORDS, WINDOW_RADIUS, held_stems, stemmed, terms
from index.vectors import VectorIndex, factory_for

DEFAULT_DIR = Path("data/index")
DB_FILE = "index.sqlite"
ADDED, UNCHANGED, NO_SENTENCES = "added", "unchanged", "no sentences"
PROGRESS_FROM = 500  # sentences; show a progress bar on longer embedding runs
BUSY_TIMEOUT_S = 120  # how long a write waits for another process's write to commit
CACHED_TEXTS = 256  # article texts kept in memory for answering
# A write saves the whole index again once the changes since the last full save reach this share of its
# size, or this many change files: loading replays every change file after the base.
COMPACT_SHARE = 0.1
MAX_CHANGE_FILES = 64
# Opening replays the change files, and into a graph index every vector is a graph insertion (about 7,500
# a second on 2 cores at a million vectors): a write saves the whole graph once they hold this many.
MAX_REPLAYED_GRAPH_VECTORS = 20_000
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, source TEXT NOT NULL, text TEXT NOT NULL, added TEXT NOT NULL,
    duplicate_of TEXT);  -- the first indexed copy of the same story (index/duplicates.py), NULL for a first copy
CREATE TABLE IF NOT EXISTS sentences(
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sentences_by_article ON sentences(article_id, position);
CREATE INDEX IF NOT EXISTS articles_by_first_copy ON articles(duplicate_of);
-- Feeds given to `qa index add`, and the items read from each, so `qa index sync` reads only new ones.
CREATE TABLE IF NOT EXISTS feeds(source TEXT PRIMARY KEY, added TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed_items(
    feed TEXT NOT NULL REFERENCES feeds(source) ON DELETE CASCADE, link TEXT NOT NULL, PRIMARY KEY(feed, link));
"""
# BM25 over each sentence's window (the sentence and its neighbours), keyed by sentence id:
# a question's words are often spread over neighbouring sentences.
_FTS_TABLE = "CREATE VIRTUAL TABLE IF NOT EXISTS window_fts USING fts5(text, tokenize='porter unicode61')"
_SCHEMA += _FTS_TABLE + ";" + duplicates.SCHEMA + """
-- How many windows hold each stemmed term (the row '' holds the number of windows), kept up to date by
-- every write when meta 'term_windows' is set (new and rebuilt indexes): a question's commonest words
-- are left out of BM25 over a big index, where matching them costs most of a search.
CREATE TABLE IF NOT EXISTS term_windows(term TEXT PRIMARY KEY, windows INTEGER NOT NULL) WITHOUT ROWID;
"""
# Window texts staged in this connection's temporary schema, to count the windows holding each stemmed term.
_STAGING = """
CREATE VIRTUAL TABLE IF NOT EXISTS temp.staged USING fts5(text, tokenize='porter unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.staged_terms USING fts5vocab(temp, staged, row);
"""
PRUNE_FROM = 100_000  # windows; below this every content word of a question is searched
COMMON_SHARE = 0.05  # over it, a word held by more than this share of the windows is left out
KEPT_TERMS = (3, 8)  # at least the 3 rarest words are searched, at most 8


class CorpusError(RuntimeError):
    """The index cannot be used as asked; the message is one line that says what to do."""


class IndexMismatchError(CorpusError):
    """The index on disk was built with another embedding model or dimension."""


class IndexDamagedError(CorpusError):
    """A file of the index is missing or cannot be read."""


class IndexReadOnlyError(CorpusError):
    """A write was asked of an index on a read-only folder or file system."""


class IndexWriteError(CorpusError):
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


class TextCache:
    """The most recently used article texts (``CACHED_TEXTS``), for the hot path of answering."""

    def __init__(self, size: int = CACHED_TEXTS) -> None:
        self.size = size
        self._texts: OrderedDict[str, str] = OrderedDict()

    def get(self, article_id: str, load: Callable[[], str]) -> str:
        """The article's text, from ``load()`` when it is not cached."""
        text = self._texts.get(article_id)
        if text is None:
            text = self._texts[article_id] = load()
            if len(self._texts) > self.size:
                self._texts.popitem(last=False)
        else:
            self._texts.move_to_end(article_id)
        return text

    def forget(self, article_id: str) -> None:
        """Drop an article's text."""
        self._texts.pop(article_id, None)

    def clear(self) -> None:
        """Drop every text."""
        self._texts.clear()


def default_dir() -> Path:
    """The index folder: ``$QA_INDEX_DIR`` or ``data/index``."""
    return Path(os.environ.get("QA_INDEX_DIR") or DEFAULT_DIR)


def content_terms(text: str) -> list[str]:
    """The distinct lower-cased words of ``text`` that are not stop words, in order (at most 64)."""
    return list(dict.fromkeys(t for t in terms(text) if t not in FUNCTION_WORDS))[:64]


def fts_query(terms: list[str]) -> str:
    """An FTS5 OR-query of ``terms``, each quoted so no syntax leaks in."""
    return " OR ".join(f'"{t}"' for t in terms)


def plan_add(articles: list[Article], known: set[str]) -> tuple[list[str], list[tuple[Article, list[Sentence]]]]:
    """What adding ``articles`` to an index holding ``known`` ids does: each article's status, and the new
    articles with their sentences (an article given twice is added once)."""
    known = set(known)
    statuses, split = [], []
    for article in articles:
        if article.id in known:
            statuses.append(UNCHANGED)
            continue
        sentences = split_sentences(article.text)
        if not sentences:
            statuses.append(NO_SENTENCES)
            continue
        known.add(article.id)
        split.append((article, sentences))
        statuses.append(ADDED)
    return statuses, split


class Corpus:
    """The articles of one index folder, their sentences and sentence vectors.

    Several processes may open one folder. SQLite's write lock serialises their
    writes, and each write starts from the generation committed last, so no
    writer loses another's vectors; readers pick up new generations in
    :meth:`refresh`. The previous generation's FAISS file is kept one write
    longer so a reader that has just read the generation number can still open
    its file.
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        check_model: bool = True,
        read_only: bool | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        """Open (or create) the index in ``directory``.

        Args:
            directory: The index folder (default ``$QA_INDEX_DIR`` or ``data/index``).
            check_model: Refuse an index built with another embedding model.
            read_only: Open for searching only (default: when the folder is not writable).
            embedder: What embeds sentences and questions (default: all-MiniLM-L6-v2, ``Embedder``).

        Raises:
            CorpusError: The folder is a file, cannot be created, or its database is damaged.
        """
        self.directory = Path(directory) if directory is not None else default_dir()
        self.embedder = embedder or Embedder()
        if self.directory.exists() and not self.directory.is_dir():
            raise CorpusError(f"the index folder {self.directory} is a file, not a folder")
        self.read_only = read_only if read_only is not None else self.directory.is_dir() and not _writable(self.directory)
        self._lock = threading.RLock()
        self._texts = TextCache()
        self._staging = False  # whether this connection's staging tables exist
        self.damage: str | None = None
        self._db = self._connect()
        with self._sql():
            meta = self._meta()
            if len(meta) < 3 and not self.read_only:  # a new index; another process may be creating it too
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                    [("model", self.embedder.name), ("dimension", str(self.embedder.dimension)), ("generation", "0"),
                     ("term_windows", "1")],
                )
                self._db.execute("COMMIT")
                meta = self._meta()
        if len(meta) < 3:
            raise IndexDamagedError(f"the index database in {self.directory} has no model or generation recorded")
        if check_model and self._model_mismatch(meta):
            raise IndexMismatchError(
                f"index in {self.directory} was built with {meta['model']} ({meta['dimension']} dimensions), "
                f"this version embeds with {self.embedder.name} ({self.embedder.dimension}); run `qa index rebuild`"
            )
        with self._sql():
            self._load_vectors(full=True)

    def _model_mismatch(self, meta: dict[str, str]) -> bool:
        """Whether the index was built with another embedding model than this corpus's embedder."""
        return meta["model"] != self.embedder.name or int(meta["dimension"]) != self.embedder.dimension

    def _embed_sentences(self, split: list[tuple[Article, list[Sentence]]], progress: bool) -> np.ndarray:
        """Embed the sentences of split articles, in order; a progress bar on long runs."""
        texts = [article.text[s.start : s.end] for article, sentences in split for s in sentences]
        return self.embedder.embed(texts, progress=progress and len(texts) >= PROGRESS_FROM)

    def _connect(self) -> sqlite3.Connection:
        path = self.directory / DB_FILE
        try:
            if self.read_only:
                if not path.is_file():
                    raise CorpusError(f"there is no index in {self.directory}, and the folder is read-only")
                # immutable: no -shm/-wal file is written or needed, so a read-only file system can be searched
                db = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False,
                                     isolation_level=None)
                if "duplicate_of" not in {row[1] for row in db.execute("PRAGMA table_info(articles)")}:
                    # made before near-duplicates, and it cannot be upgraded here: a view in this connection's
                    # temporary schema (searched before the file's) shows it as one without copies
                    db.execute("CREATE TEMP VIEW articles AS SELECT *, NULL AS duplicate_of FROM main.articles")
            else:
                self.directory.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
                _create(db)
            db.execute("PRAGMA foreign_keys=ON")
            return db
        except OSError as exc:
            raise CorpusError(f"cannot open the index folder {self.directory}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise _sql_error(exc, path) from None

    @contextmanager
    def _sql(self) -> Iterator[None]:
        """Hold the connection's lock and turn SQLite errors into one-line ``CorpusError``s."""
        with self._lock:
            try:
                yield
            except sqlite3.ProgrammingError as exc:
                if "closed database" in str(exc):
                    raise CorpusError(f"the index in {self.directory} is closed") from None
                raise _sql_error(exc, self.directory / DB_FILE) from None
            except sqlite3.Error as exc:
                raise _sql_error(exc, self.directory / DB_FILE) from None

    # -- reading -------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def _vector_path(self, generation: int) -> Path:
        return self.directory / f"vectors.{generation}.faiss"

    def _changes_path(self, generation: int) -> Path:
        return self.directory / f"changes.{generation}.npz"

    def _generations(self) -> tuple[int, int]:
        """The committed generation and its base (an index older than change files has its base at the generation)."""
        meta = self._meta()
        generation = int(meta["generation"])
        return generation, int(meta.get("base", generation))

    def _load_vectors(self, full: bool = False) -> None:
        """Load the vectors of the committed generation (its base, then the changes after it); a missing or
        unreadable file is recorded in ``damage``.

        Args:
            full: Read the base again even when only change files were written since the last load (by
                default those alone are replayed: at a million sentences a full load takes seconds).
        """
        generation, base = self._generations()
        if not full and self._catch_up(generation, base):
            return
        while True:
            path = self._vector_path(base)
            try:
                vectors = VectorIndex.load(path) if base else VectorIndex(self.embedder.dimension)
                if vectors.dimension != self.embedder.dimension:
                    damage = f"{path.name} holds {vectors.dimension}-dimension vectors"
                    break
                for later in range(base + 1, generation + 1):
                    path = self._changes_path(later)
                    vectors.apply_changes(path)
                damage = None
                break
            except FileNotFoundError:
                # Writes may have committed (and cleaned up) since the generation was read; read it again.
                latest = self._generations()
                if latest != (generation, base):
                    generation, base = latest
                    continue
                vectors, damage = VectorIndex(self.embedder.dimension), f"{path.name} is missing"
                break
            except (RuntimeError, ValueError):  # FAISS's message names its own source files, not the problem
                vectors, damage = VectorIndex(self.embedder.dimension), f"{path.name} cannot be read (damaged or incomplete)"
                break
        self.generation, self.base, self.vectors, self.damage = generation, base, vectors, damage
        self._texts.clear()

    def _catch_up(self, generation: int, base: int) -> bool:
        """Replay on the loaded vectors the change files committed since they were loaded, when that is all
        that happened (the same base, later generations, no uncommitted change held); whether it did."""
        if self.damage or self.vectors.changed or base != self.base or generation <= self.generation:
            return False
        try:
            for later in range(self.generation + 1, generation + 1):
                self.vectors.apply_changes(self._changes_path(later))
        except (FileNotFoundError, RuntimeError, ValueError):
            return False  # a full load starts over and records what is wrong
        self.generation = generation
        self._texts.clear()
        return True

    def refresh(self) -> None:
        """Reload the vectors when another process has written the index."""
        with self._sql():
            if self._generations()[0] != self.generation:
                self._load_vectors()

    def stats(self) -> dict:
        """Counts of articles, sentences and vectors, with the model and FAISS index in use.

        A ``warning`` entry says when the counts disagree or the vectors are damaged.
        """
        with self._sql():
            articles = self._db.execute("SELECT count(*) FROM articles").fetchone()[0]
            sentences = self._db.execute("SELECT count(*) FROM sentences").fetchone()[0]
            copies = self._db.execute("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL").fetchone()[0]
            vectors = len(self.vectors)
        stats = {
            "articles": articles,
            "near_duplicates": copies,
            "sentences": sentences,
            "vectors": vectors,
            "model": self.embedder.name,
            "faiss_index": self.vectors.factory,
            "directory": str(self.directory),
        }
        if self.damage:
            stats["warning"] = f"{self.damage}; run `qa index rebuild`"
        elif vectors != sentences:
            stats["warning"] = f"{sentences} sentences but {vectors} vectors; run `qa index check`"
        return stats

    def check(self) -> list[str]:
        """Compare SQLite, its full-text index and FAISS; what is wrong, or nothing when they agree."""
        with self._sql():
            self._db.execute("BEGIN")  # one snapshot of the database for the whole check
            try:
                self._load_vectors(full=True)
                problems = [] if self.damage is None else [self.damage]
                integrity = [row[0] for row in self._db.execute("PRAGMA quick_check")]
                if integrity != ["ok"]:
                    problems.append(f"database: {'; '.join(integrity[:3])}")
                meta = self._meta()
                if self._model_mismatch(meta):
                    problems.append(f"built with {meta['model']}, this version embeds with {self.embedder.name}")
                sentences = {row[0] for row in self._db.execute("SELECT id FROM sentences")}
                try:
                    full_text = {row[0] for row in self._db.execute("SELECT rowid FROM window_fts")}
                except sqlite3.DatabaseError as exc:
                    full_text = sentences
                    problems.append(f"full-text index: {exc}")
                empty = self._db.execute(
                    "SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM sentences s WHERE s.article_id = a.id)"
                ).fetchone()[0]
            finally:
                self._db.execute("COMMIT")
        vector_ids = self.vectors.ids()
        vectors = set(vector_ids.tolist())
        for count, what in (
            (len(sentences - vectors), "sentences have no vector"),
            (len(vectors - sentences), "vectors belong to no sentence"),
            (len(vector_ids) - len(vectors), "vectors are duplicates"),
            (len(sentences - full_text), "sentences are missing from the full-text index"),
            (len(full_text - sentences), "full-text entries belong to no sentence"),
            (empty, "articles have no sentences"),
        ):
            if count:
                problems.append(f"{count} {what}")
        return problems

    def list_articles(self) -> list[ArticleInfo]:
        """All indexed articles, oldest first."""
        with self._sql():
            rows = self._db.execute(
                "SELECT a.id, a.title, a.date, a.source, count(s.id), a.duplicate_of FROM articles a "
                "LEFT JOIN sentences s ON s.article_id = a.id GROUP BY a.id ORDER BY a.added, a.rowid"
            ).fetchall()
        return [ArticleInfo(*row) for row in rows]

    def first_copies(self, article_ids: list[str]) -> dict[str, str]:
        """For each of these indexed articles, the first indexed copy of its story (itself when it is no copy)."""
        marks = ",".join("?" * len(article_ids))
        with self._sql():
            rows = self._db.execute(
                f"SELECT id, coalesce(duplicate_of, id) FROM articles WHERE id IN ({marks})", article_ids
            ).fetchall()
        return dict(rows)

    def copies(self, article_id: str) -> list[ArticleInfo]:
        """Every indexed copy of an article's story, the first copy first (just the article when it has none)."""
        with self._sql():
            first = self._db.execute("SELECT coalesce(duplicate_of, id) FROM articles WHERE id = ?", (article_id,)).fetchone()
            rows = self._db.execute(
                "SELECT a.id, a.title, a.date, a.source, (SELECT count(*) FROM sentences s WHERE s.article_id = a.id), "
                "a.duplicate_of FROM articles a WHERE a.id = ?1 OR a.duplicate_of = ?1 "
                "ORDER BY a.duplicate_of IS NOT NULL, a.added, a.rowid",
                first or (article_id,),
            ).fetchall()
        return [ArticleInfo(*row) for row in rows]

    def first_copy(self, article_id: str) -> ArticleInfo | None:
        """The first indexed copy of a near-duplicate's story; ``None`` when the article is no copy."""
        copies = self.copies(article_id)
        return copies[0] if copies and copies[0].id != article_id else None

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or ``None``."""
        with self._sql():
            row = self._db.execute(
                "SELECT id, title, text, date, source FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        return Article(*row) if row else None

    def article_text(self, article_id: str) -> str:
        """An article's text, cached (the most recent few) for the hot path of answering."""
        with self._sql():
            return self._texts.get(article_id, lambda: self._db.execute(
                "SELECT text FROM articles WHERE id = ?", (article_id,)).fetchone()[0])

    def sentence_rows(self, ids: list[int]) -> dict[int, SentenceRow]:
        """Sentence rows by id."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._sql():
            rows = self._db.execute(
                f"SELECT id, article_id, position, start, end FROM sentences WHERE id IN ({marks})", ids
            ).fetchall()
        return {row[0]: SentenceRow(*row) for row in rows}

    def neighbours(self, row: SentenceRow, radius: int) -> list[SentenceRow]:
        """The sentences within ``radius`` positions of ``row`` in its article, in order."""
        with self._sql():
            rows = self._db.execute(
                "SELECT id, article_id, position, start, end FROM sentences "
                "WHERE article_id = ? AND position BETWEEN ? AND ? ORDER BY position",
                (row.article_id, row.position - radius, row.position + radius),
            ).fetchall()
        return [SentenceRow(*r) for r in rows]

    def article_sentences(self, article_id: str) -> list[SentenceRow]:
        """All sentences of an article, in order."""
        with self._sql():
            rows = self._db.execute(
                "SELECT id, article_id, position, start, end FROM sentences WHERE article_id = ? ORDER BY position",
                (article_id,),
            ).fetchall()
        return [SentenceRow(*r) for r in rows]

    def _filtered_ids(self, where: SearchFilter) -> np.ndarray:
        """The ids of the sentences of the articles ``where`` allows."""
        clauses, values = self._filter_sql(where)
        rows = self._db.execute(f"SELECT s.id FROM sentences s JOIN articles a ON a.id = s.article_id WHERE {clauses}",
                                values)
        return np.fromiter((row[0] for row in rows), np.int64)

    @staticmethod
    def _filter_sql(where: SearchFilter) -> tuple[str, list[str]]:
        """An SQL condition on ``articles a`` for ``where``, and its values."""
        clauses, values = ["1"], []
        if where.since or where.until:
            clauses.append("a.date IS NOT NULL")
        if where.since:
            clauses.append("a.date >= ?")
            values.append(where.since.isoformat())
        if where.until:
            clauses.append("a.date <= ?")
            values.append(where.until.isoformat())
        if where.source:
            clauses.append("substr(a.source, 1, ?) = ?")
            values += [len(where.source), where.source]
        return " AND ".join(clauses), values

    def dense_search(self, query_vector: np.ndarray, k: int, where: SearchFilter | None = None) -> list[tuple[int, float]]:
        """Sentence ids nearest to a unit query vector, best first; with ``where``, of the articles it allows.

        Raises:
            IndexDamagedError: The vectors file is missing or unreadable.
        """
        with self._lock:
            if self.damage:
                raise IndexDamagedError(f"the index's {self.damage}; run `qa index rebuild`")
            allowed = None
            if where:
                with self._sql():
                    allowed = self._filtered_ids(where)
                if not len(allowed):
                    return []
            if not len(self.vectors):
                return []
            scores, ids = self.vectors.search(query_vector.reshape(1, -1), k, allowed)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _stage(self, texts: list[str]) -> None:
        """Put ``texts`` in this connection's staging table (emptied first), to read their stemmed terms."""
        if not self._staging:  # one statement at a time: executescript would commit the open transaction
            for statement in filter(str.strip, _STAGING.split(";")):
                self._db.execute(statement)
            self._staging = True
        self._db.execute("DELETE FROM temp.staged")
        self._db.executemany("INSERT INTO temp.staged(rowid, text) VALUES (?, ?)", enumerate(texts))

    def _searched_terms(self, terms: list[str]) -> list[str]:
        """The question's terms to search: over a big index, the commonest are left out (``COMMON_SHARE``)."""
        if len(terms) <= KEPT_TERMS[0]:
            return terms
        _, total = self.term_windows([])
        if total < PRUNE_FROM:
            return terms
        stems = {i: words.split()[-1] for i, words in enumerate(stemmed(terms)) if words}
        found, _ = self.term_windows(list(stems.values()))
        held = sorted(range(len(terms)), key=lambda i: found.get(stems.get(i, ""), 0))
        kept = [i for i in held if found.get(stems.get(i, ""), 0) <= COMMON_SHARE * total]
        kept = held[: max(KEPT_TERMS[0], min(len(kept), KEPT_TERMS[1]))]
        return [terms[i] for i in sorted(kept)]

    def _count_terms(self, texts: list[str], sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) the windows ``texts`` to the counts of the terms they hold."""
        self._stage(texts)
        self._db.execute(
            "INSERT INTO term_windows SELECT term, ? * doc FROM temp.staged_terms WHERE true "
            "ON CONFLICT(term) DO UPDATE SET windows = windows + excluded.windows", (sign,))
        self._db.execute("INSERT INTO term_windows VALUES ('', ?) ON CONFLICT(term) DO UPDATE SET windows = windows + ?",
                         (sign * len(texts), sign * len(texts)))
        self._db.execute("DELETE FROM temp.staged")

    def window_terms(self, ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        """Which of these stemmed terms each sentence's window holds (as keyword search matches them), by sentence id."""
        if not ids or not terms:
            return {}
        with self._sql():
            rows = self._db.execute(f"SELECT rowid, text FROM window_fts WHERE rowid IN ({','.join('?' * len(ids))})",
                                    ids).fetchall()
        return dict(zip((i for i, _ in rows), held_stems([text for _, text in rows], terms)))

    def term_windows(self, terms: list[str]) -> tuple[dict[str, int], int]:
        """How many windows hold each of these stemmed terms, and how many windows there are (none counted in an
        index made before the counts were kept; ``qa index rebuild`` counts them)."""
        with self._sql():
            if self._meta().get("term_windows") != "1":
                return {}, 0
            counts = dict(self._db.execute(
                f"SELECT term, windows FROM term_windows WHERE term IN ({','.join('?' * (len(terms) + 1))})",
                ["", *terms]))
        return counts, counts.pop("", 0)

    def keyword_search(self, question: str, k: int, where: SearchFilter | None = None) -> list[tuple[int, float]]:
        """Sentence ids ranked by BM25 of their windows for the question's content words, best first
        (over a big index, without the words most windows hold); with ``where``, of the articles it allows."""
        terms = content_terms(question)
        if not terms:
            return []
        with self._sql():
            query = fts_query(self._searched_terms(terms))
            if where:
                clauses, values = self._filter_sql(where)
                rows = self._db.execute(
                    "SELECT f.rowid, bm25(window_fts) AS rank FROM window_fts f JOIN sentences s ON s.id = f.rowid "
                    f"JOIN articles a ON a.id = s.article_id WHERE window_fts MATCH ? AND {clauses} ORDER BY rank LIMIT ?",
                    [query, *values, k],
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT rowid, bm25(window_fts) AS rank FROM window_fts WHERE window_fts MATCH ? "
                    "ORDER BY rank LIMIT ?",
                    (query, k),
                ).fetchall()
        return [(int(i), -float(r)) for i, r in rows]

    # -- writing -------------------------------------------------------------

    def _write(self, change: Callable[[], T], replaces_vectors: bool = False) -> T:
        """Run ``change()`` in one transaction and commit it with a new FAISS file.

        The transaction takes SQLite's write lock first, then starts from the
        generation committed last (another process may have written since this
        one loaded), so concurrent writers never save over each other's vectors.

        Args:
            change: Changes the database and ``self.vectors``; its result is returned.
            replaces_vectors: ``change`` builds the vectors anew (a rebuild), so
                damaged vectors on disk do not stop it.

        Raises:
            IndexReadOnlyError: The index was opened read-only.
            IndexDamagedError: The vectors on disk are damaged and ``change`` would keep them.
            IndexWriteError: The disk is full or another I/O error; nothing was changed.
        """
        if self.read_only:
            raise IndexReadOnlyError(f"the index in {self.directory} is read-only; it can be searched but not changed")
        with self._lock:
            new_path: Path | None = None
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if self._generations() != (self.generation, self.base) or self.damage:
                    self._load_vectors()
                if self.damage and not replaces_vectors:
                    raise IndexDamagedError(f"the index's {self.damage}; run `qa index rebuild`")
                # Sentence ids are never used again once removed (removed vectors stay marked in the index
                # until its next full save); an index made before this records its next id now.
                self._db.execute("INSERT OR IGNORE INTO meta SELECT 'next_sentence_id', coalesce(max(id), 0) + 1 FROM sentences")
                result = change()
                generation = self.generation + 1
                if replaces_vectors or self._full_save_due():
                    new_path = self._vector_path(generation)
                    self.vectors.save(new_path)
                    bases = [("base", generation), ("previous_base", self.base)]
                else:
                    new_path = self._changes_path(generation)
                    self.vectors.save_changes(new_path)
                    bases = [("base", self.base)]
                self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                     [("generation", str(generation))] + [(k, str(v)) for k, v in bases])
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                if new_path is not None:  # never a committed generation: the write lock was held since BEGIN
                    new_path.unlink(missing_ok=True)
                with suppress(Exception):
                    self._load_vectors(full=True)
                if isinstance(exc, sqlite3.Error):
                    raise _sql_error(exc, self.directory / DB_FILE) from None
                if isinstance(exc, OSError):
                    raise IndexWriteError(f"cannot write the index in {self.directory}: {exc.strerror or exc}; "
                                          "it is unchanged") from None
                raise
            self.generation = generation
            self.base = dict(bases)["base"]
            self.damage = None
            self._remove_old_files()
            return result

    def _full_save_due(self) -> bool:
        """Whether this write saves the whole index: there is no base yet, or the changes since it (with this
        write's) have grown past ``COMPACT_SHARE`` of its size, ``MAX_CHANGE_FILES`` files or, for a graph
        index, ``MAX_REPLAYED_GRAPH_VECTORS`` vectors."""
        if not self.base or self.generation - self.base >= MAX_CHANGE_FILES:
            return True
        if self.vectors.factory != factory_for(0) and self.vectors.added_since_whole >= MAX_REPLAYED_GRAPH_VECTORS:
            return True
        with suppress(OSError):
            changed = sum(self._changes_path(g).stat().st_size for g in range(self.base + 1, self.generation + 1))
            changed += self.vectors.changed * (self.embedder.dimension * 4 + 8)
            return changed >= COMPACT_SHARE * self._vector_path(self.base).stat().st_size
        return True

    def _remove_old_files(self) -> None:
        """Delete the files no reader needs any more, and temporary files a crash left.

        A reader of the previous generation may still be loading its files: after a full save that is the
        previous base and the changes after it, otherwise this base and the changes up to it.
        """
        oldest = int(self._meta().get("previous_base", self.base)) if self.generation == self.base else self.base
        for path in [*self.directory.glob("vectors.*.faiss*"), *self.directory.glob("changes.*.npz*")]:
            parts = path.name.split(".")
            if len(parts) < 3 or not parts[1].isdigit():
                continue
            generation, temporary = int(parts[1]), path.suffix == ".tmp"
            old = generation < oldest if parts[0] == "vectors" else generation <= oldest
            # a writer that started after this commit writes generation + 1 only
            if (old and not temporary) or (temporary and generation <= self.generation):
                path.unlink(missing_ok=True)

    def feeds(self) -> list[str]:
        """The feeds (addresses or files) articles were added from, oldest first."""
        with self._sql():
            return [row[0] for row in self._db.execute("SELECT source FROM feeds ORDER BY added, rowid")]

    def feed_links(self, feed: str) -> set[str]:
        """The item links of ``feed`` read so far."""
        with self._sql():
            return {row[0] for row in self._db.execute("SELECT link FROM feed_items WHERE feed = ?", (feed,))}

    def record_feed(self, feed: str, links: list[str]) -> None:
        """Remember ``feed`` and that these of its items were read."""
        if self.read_only:
            raise IndexReadOnlyError(f"the index in {self.directory} is read-only; it can be searched but not changed")
        with self._sql():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR IGNORE INTO feeds VALUES (?, ?)", (feed, datetime.now(timezone.utc).isoformat()))
                self._db.executemany("INSERT OR IGNORE INTO feed_items VALUES (?, ?)", [(feed, link) for link in links])
                self._db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    def _known(self, ids: list[str]) -> set[str]:
        """Which of these article ids are indexed."""
        known: set[str] = set()
        for at in range(0, len(ids), 500):
            chunk = ids[at : at + 500]
            marks = ",".join("?" * len(chunk))
            known |= {row[0] for row in self._db.execute(f"SELECT id FROM articles WHERE id IN ({marks})", chunk)}
        return known

    def add(self, articles: list[Article], progress: bool = False) -> list[tuple[Article, str]]:
        """Index new articles; ones already indexed (same content hash) are left alone.

        Articles another process indexes while these are embedded count as
        already indexed.

        Returns:
            Each article with its status: ``ADDED``, ``UNCHANGED`` (already
            indexed) or ``NO_SENTENCES`` (nothing to index, skipped).
        """
        if self.read_only:
            raise IndexReadOnlyError(f"the index in {self.directory} is read-only; it can be searched but not changed")
        with self._sql():
            known = self._known([a.id for a in articles])
        statuses, split = plan_add(articles, known)
        added: set[str] = set()
        if split:
            vectors = self._embed_sentences(split, progress)
            signatures = [duplicates.signature(a.text) for a, _ in split]

            def change() -> set[str]:
                already = self._known([a.id for a, _ in split])
                rows = np.cumsum([0] + [len(s) for _, s in split])
                keep = [i for i, (a, _) in enumerate(split) if a.id not in already]
                self._sign_unsigned()
                self._insert_articles([split[i][0] for i in keep], [signatures[i] for i in keep])
                self._insert_sentences([split[i] for i in keep],
                                       np.concatenate([vectors[rows[i] : rows[i + 1]] for i in keep]) if keep else vectors[:0])
                return {split[i][0].id for i in keep}

            added = self._write(change)
        return [
            (article, UNCHANGED if status == ADDED and article.id not in added else status)
            for article, status in zip(articles, statuses)
        ]

    def _insert_articles(self, articles: list[Article], signatures: list[np.ndarray]) -> None:
        """Insert articles in order, each linked to the first copy of its story when it is a near-duplicate
        of an indexed one (or of one before it in ``articles``)."""
        added = datetime.now(timezone.utc).isoformat()
        for article, signature in zip(articles, signatures):
            self._db.execute(
                "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?)",
                (article.id, article.title, article.date, article.source, article.text, added,
                 duplicates.find_copy(self._db, signature)),
            )
            duplicates.record(self._db, article.id, signature)

    def _sign_unsigned(self) -> None:
        """Sign articles an index made before near-duplicate detection holds, so new copies of them are found
        (once: the upgrade marks such an index, and no other has unsigned articles)."""
        if self._meta().get("unsigned_articles") != "1":
            return
        rows = self._db.execute(
            "SELECT id, text FROM articles WHERE id NOT IN (SELECT article_id FROM signatures)"
        ).fetchall()
        for article_id, text in rows:
            duplicates.record(self._db, article_id, duplicates.signature(text))
        self._db.execute("DELETE FROM meta WHERE key = 'unsigned_articles'")

    def _insert_sentences(self, split: list[tuple[Article, list[Sentence]]], vectors: np.ndarray) -> None:
        first = int(self._meta()["next_sentence_id"])
        rows = [(article.id, position, s.start, s.end) for article, sentences in split for position, s in enumerate(sentences)]
        ids = list(range(first, first + len(rows)))
        self._db.executemany("INSERT INTO sentences(id, article_id, position, start, end) VALUES (?, ?, ?, ?, ?)",
                             [(i, *row) for i, row in zip(ids, rows)])
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'next_sentence_id'", (str(first + len(rows)),))
        window_texts = [article.text[w.start : w.end] for article, sentences in split for w in windows(sentences, WINDOW_RADIUS)]
        self._db.executemany("INSERT INTO window_fts(rowid, text) VALUES (?, ?)", zip(ids, window_texts))
        if self._meta().get("term_windows") == "1":
            self._count_terms(window_texts, 1)
        if ids:
            self.vectors.add(np.array(ids, dtype=np.int64), vectors)

    def remove(self, article_id: str) -> ArticleInfo | None:
        """Remove an article and its sentences; returns what was removed, or ``None``."""

        def change() -> ArticleInfo | None:
            row = self._db.execute(
                "SELECT a.id, a.title, a.date, a.source, count(s.id), a.duplicate_of FROM articles a "
                "LEFT JOIN sentences s ON s.article_id = a.id WHERE a.id = ? GROUP BY a.id",
                (article_id,),
            ).fetchone()
            if row is None:
                return None
            ids = [r[0] for r in self._db.execute("SELECT id FROM sentences WHERE article_id = ?", (article_id,))]
            if self._meta().get("term_windows") == "1":
                marks = ",".join("?" * len(ids))
                self._count_terms([r[0] for r in self._db.execute(f"SELECT text FROM window_fts WHERE rowid IN ({marks})", ids)], -1)
            self._db.executemany("DELETE FROM window_fts WHERE rowid = ?", [(i,) for i in ids])
            self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            # the oldest remaining copy of a removed first copy becomes the first
            successor = self._db.execute(
                "SELECT id FROM articles WHERE duplicate_of = ? ORDER BY added, rowid LIMIT 1", (article_id,)
            ).fetchone()
            if successor:
                self._db.execute("UPDATE articles SET duplicate_of = NULL WHERE id = ?", successor)
                self._db.execute("UPDATE articles SET duplicate_of = ? WHERE duplicate_of = ?", (successor[0], article_id))
            self.vectors.remove(np.array(ids, dtype=np.int64))
            return ArticleInfo(*row)

        with self._sql():
            if self._db.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone() is None:
                return None
        return self._write(change)

    def rebuild(self, progress: bool = False) -> dict:
        """Re-split and re-embed every stored article with the current model.

        Works from the database alone: the FAISS files may be missing or
        damaged, and the full-text index is made anew. Articles other processes
        add or remove meanwhile are taken into account.
        """
        if self.read_only:
            raise IndexReadOnlyError(f"the index in {self.directory} is read-only; it can be searched but not changed")
        with self._sql():
            articles = self._articles()
        split = [(article, split_sentences(article.text)) for article in articles]
        vectors = self._embed_sentences(split, progress)

        def change() -> None:
            current = {a.id: a for a in self._articles()}
            rows = np.cumsum([0] + [len(s) for _, s in split])
            keep = [i for i, (a, _) in enumerate(split) if a.id in current]
            embedded = {a.id for a, _ in split}
            fresh = [(a, split_sentences(a.text)) for a in current.values() if a.id not in embedded]
            all_split = [split[i] for i in keep] + fresh
            all_vectors = np.concatenate(
                [vectors[rows[i] : rows[i + 1]] for i in keep] + [self._embed_sentences(fresh, False)]
            )
            self._db.execute("DELETE FROM sentences")
            self._link_copies(list(current.values()))
            # made anew rather than emptied, so a damaged full-text index is repaired too
            self._db.execute("DROP TABLE IF EXISTS window_fts")
            self._db.execute(_FTS_TABLE)
            self._db.execute("DELETE FROM term_windows")  # counted anew as the sentences go in
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('term_windows', '1')")
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("model", self.embedder.name), ("dimension", str(self.embedder.dimension))],
            )
            self.vectors = VectorIndex(self.embedder.dimension)
            self._insert_sentences([(a, s) for a, s in all_split if s], all_vectors)

        self._write(change, replaces_vectors=True)
        with self._sql():
            self._texts.clear()
        return self.stats()

    def _link_copies(self, articles: list[Article]) -> None:
        """Sign the articles (in indexing order) anew and link each near-duplicate to the first copy of its story."""
        self._db.execute("DELETE FROM signatures")
        self._db.execute("DELETE FROM bands")
        self._db.execute("DELETE FROM meta WHERE key = 'unsigned_articles'")
        for article in articles:
            signature = duplicates.signature(article.text)
            self._db.execute("UPDATE articles SET duplicate_of = ? WHERE id = ?",
                             (duplicates.find_copy(self._db, signature), article.id))
            duplicates.record(self._db, article.id, signature)

    def _articles(self) -> list[Article]:
        rows = self._db.execute("SELECT id, title, text, date, source FROM articles ORDER BY added, rowid").fetchall()
        return [Article(*row) for row in rows]

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()


def _create(db: sqlite3.Connection) -> None:
    """Switch to WAL and create the tables, retrying while another process does the same.

    Two processes creating one new index at once can get "database is locked" at
    once from these statements: SQLite does not wait for a lock here as it does in a transaction.
    """
    for attempt in range(40):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            columns = {row[1] for row in db.execute("PRAGMA table_info(articles)")}
            if columns and "duplicate_of" not in columns:  # an index made before near-duplicate detection
                with suppress(sqlite3.OperationalError):  # "duplicate column": another process added it first
                    db.execute("ALTER TABLE articles ADD COLUMN duplicate_of TEXT")
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('unsigned_articles', '1')")  # signed on the next add
            db.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 39:
                raise
            time.sleep(min(0.01 * 2**attempt, 0.5))


def set_aside(directory: Path) -> Path | None:
    """Rename an index folder out of the way (``NAME.old-YYYYmmddTHHMMSS``) so a new one can be built.

    Returns:
        Where the old folder is now, or ``None`` when there was none (or it was empty).
    """
    if not directory.exists() or (directory.is_dir() and not any(directory.iterdir())):
        return None
    target = directory.with_name(f"{directory.name}.old-{datetime.now().strftime('%Y%m%dT%H%M%S')}")
    try:
        directory.rename(target)
    except OSError as exc:
        raise CorpusError(f"cannot move {directory} aside: {exc.strerror or exc}") from None
    return target


def _writable(directory: Path) -> bool:
    """Whether files can be written in ``directory`` (``access`` also says no on a read-only file system)."""
    database = directory / DB_FILE
    return os.access(directory, os.W_OK) and (not database.exists() or os.access(database, os.W_OK))


def _sql_error(exc: sqlite3.Error, path: Path) -> CorpusError:
    """A one-line error for what SQLite raised on the index database at ``path``."""
    message = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message):
        return IndexWriteError(f"the index in {path.parent} is busy with another write (waited {BUSY_TIMEOUT_S} s); "
                               "try again")
    if "full" in message:
        return IndexWriteError(f"cannot write the index in {path.parent}: the disk is full; it is unchanged")
    if "readonly" in message or "read-only" in message:
        return IndexReadOnlyError(f"the index in {path.parent} is read-only; it can be searched but not changed")
    if isinstance(exc, sqlite3.IntegrityError):
        return IndexWriteError(f"cannot write the index in {path.parent}: {message}; it is unchanged")
    if isinstance(exc, sqlite3.OperationalError) and ("disk I/O" in message or "unable to open" in message):
        return IndexWriteError(f"cannot use the index database {path}: {message}")
    return IndexDamagedError(
        f"the index database {path} is damaged ({message}); move the folder aside and index the articles again, "
        f"or run `qa index rebuild --from PATH...` with the article files"
    )
