"""The default store: article and sentence metadata in SQLite, sentence vectors in FAISS, in one folder.

Writes are atomic across both files. Each write saves a file named after the next *generation*
(``generations.py``) and then commits the SQLite transaction that records that generation; a crash before the
commit leaves the previous generation's files and the rolled-back database, which agree.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import numpy as np

from index import duplicates
from index.articles import Article
from index.embedder import Embedder
from index.indexer import prepare
from index.sentences import split_sentences, windows
from index.store import default_dir
from index.store.base import (
    FORMAT,
    ArticleInfo,
    IndexDamagedError,
    IndexMismatchError,
    IndexReadOnlyError,
    IndexWriteError,
    PreparedArticle,
    SearchFilter,
    SentenceRow,
    StoreError,
    check_format,
)
from index.store.faiss_sqlite import keywords
from index.store.faiss_sqlite.generations import VectorGenerations
from index.store.faiss_sqlite.keywords import WindowKeywords
from index.store.faiss_sqlite.readers import ReaderTables
from index.store.faiss_sqlite.schema import (
    DB_FILE,
    FTS_TABLE,
    connect,
    filter_sql,
    sql_error,
    writable,
    write_transaction,
)
from index.store.faiss_sqlite.tantivy_windows import TantivyWindows
from index.store.text_cache import TextCache
from index.text import WINDOW_RADIUS
from index.vectors import VectorIndex

T = TypeVar("T")


class FaissSqliteStore(VectorGenerations, WindowKeywords, ReaderTables):
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
            StoreError: The folder is a file, cannot be created, or its database is damaged.
        """
        self.directory = Path(directory) if directory is not None else default_dir()
        self.embedder = embedder or Embedder()
        if self.directory.exists() and not self.directory.is_dir():
            raise StoreError(f"the index folder {self.directory} is a file, not a folder")
        self.read_only = read_only if read_only is not None else self.directory.is_dir() and not writable(self.directory)
        self._lock = threading.RLock()
        self._texts = TextCache()
        self.damage: str | None = None
        self._tantivy = TantivyWindows(self.directory)
        self._window_changes: tuple[list[tuple[int, str]], list[int]] | None = ([], [])
        self._db = connect(self.directory, self.read_only)
        with self._sql():
            meta = self._meta()
            if len(meta) < 3 and not self.read_only:  # a new index; another process may be creating it too
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                    [("model", self.embedder.name), ("dimension", str(self.embedder.dimension)), ("generation", "0"),
                     ("term_windows", "1"), ("format", str(FORMAT))],
                )
                self._db.execute("COMMIT")
                meta = self._meta()
        check_format(meta.get("format"), f"in {self.directory}")  # a read-only open made no check yet
        if len(meta) < 3:
            raise IndexDamagedError(f"the index database in {self.directory} has no model or generation recorded")
        if check_model and self._model_mismatch(meta):
            raise IndexMismatchError(
                f"index in {self.directory} was built with {meta['model']} ({meta['dimension']} dimensions), "
                f"this version embeds with {self.embedder.name} ({self.embedder.dimension}); run `qa index rebuild`"
            )
        with self._sql():
            self._load_vectors(full=True)
            self._tantivy.reload()

    def _model_mismatch(self, meta: dict[str, str]) -> bool:
        """Whether the index was built with another embedding model than this corpus's embedder."""
        return meta["model"] != self.embedder.name or int(meta["dimension"]) != self.embedder.dimension

    @contextmanager
    def _sql(self) -> Iterator[None]:
        """Hold the connection's lock and turn SQLite errors into one-line ``StoreError``s."""
        with self._lock:
            try:
                yield
            except sqlite3.ProgrammingError as exc:
                if "closed database" in str(exc):
                    raise StoreError(f"the index in {self.directory} is closed") from None
                raise sql_error(exc, self.directory / DB_FILE) from None
            except sqlite3.Error as exc:
                raise sql_error(exc, self.directory / DB_FILE) from None

    # -- reading -------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the vectors when another process has written the index."""
        with self._sql():
            if self._generations()[0] != self.generation:
                self._load_vectors()
                self._tantivy.reload()

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
        return problems + self._check_windows(len(sentences))

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
        clauses, values = filter_sql(where)
        rows = self._db.execute(f"SELECT s.id FROM sentences s JOIN articles a ON a.id = s.article_id WHERE {clauses}",
                                values)
        return np.fromiter((row[0] for row in rows), np.int64)

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

    # -- writing -------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise IndexReadOnlyError(f"the index in {self.directory} is read-only; it can be searched but not changed")

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
        self._writable()
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
                self._window_changes = ([], [])
                result = change()
                generation = self.generation + 1
                self._follow_windows(generation)  # tantivy commits first: a crash before SQLite's leaves it ahead
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
                    self._tantivy.reload()
                if isinstance(exc, sqlite3.Error):
                    raise sql_error(exc, self.directory / DB_FILE) from None
                if isinstance(exc, OSError):
                    raise IndexWriteError(f"cannot write the index in {self.directory}: {exc.strerror or exc}; "
                                          "it is unchanged") from None
                raise
            self.generation = generation
            self.base = dict(bases)["base"]
            self.damage = None
            self._remove_old_files()
            return result

    def backup(self, destination: Path) -> None:
        """Copy the committed index into the new folder ``destination``: SQLite's online backup of the database
        and the vector files of its generation, while a second connection holds the write lock, so that writers
        wait for the copy instead of changing the index under it."""
        destination = Path(destination)
        if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
            raise StoreError(f"{destination} already exists: back up into a new folder")
        with self._sql(), closing(connect(self.directory, self.read_only)) as lock:
            if not self.read_only:
                lock.execute("BEGIN IMMEDIATE")
            try:
                destination.mkdir(parents=True, exist_ok=True)
                with closing(sqlite3.connect(destination / DB_FILE)) as copy:
                    self._db.backup(copy)
                for path in self._generation_files(*self._generations()):
                    shutil.copy2(path, destination / path.name)
                if self._tantivy.path.is_dir():  # writers wait, so the copy holds what the database does
                    shutil.copytree(self._tantivy.path, destination / self._tantivy.path.name)
            except OSError as exc:
                raise IndexWriteError(f"cannot back up into {destination}: {exc.strerror or exc}") from None
            finally:
                if lock.in_transaction:
                    lock.execute("ROLLBACK")

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
        self._writable()
        with self._sql(), write_transaction(self._db):
            self._db.execute("INSERT OR IGNORE INTO feeds VALUES (?, ?)", (feed, datetime.now(timezone.utc).isoformat()))
            self._db.executemany("INSERT OR IGNORE INTO feed_items VALUES (?, ?)", [(feed, link) for link in links])

    def known(self, article_ids: list[str]) -> set[str]:
        """Which of these article ids are indexed."""
        with self._sql():
            return self._known(article_ids)

    def _known(self, ids: list[str]) -> set[str]:
        known: set[str] = set()
        for at in range(0, len(ids), 500):
            chunk = ids[at : at + 500]
            marks = ",".join("?" * len(chunk))
            known |= {row[0] for row in self._db.execute(f"SELECT id FROM articles WHERE id IN ({marks})", chunk)}
        return known

    def write(self, prepared: list[PreparedArticle]) -> set[str]:
        """Store prepared articles in one write; the ids stored (those another process stored meanwhile are left)."""

        def change() -> set[str]:
            already = self._known([p.article.id for p in prepared])
            kept = [p for p in prepared if p.article.id not in already]
            self._sign_unsigned()
            self._insert_articles(kept)
            self._insert_sentences(kept)
            return {p.article.id for p in kept}

        return self._write(change)

    def _insert_articles(self, prepared: list[PreparedArticle]) -> None:
        """Insert articles in order, each linked to the first copy of its story when it is a near-duplicate
        of an indexed one (or of one before it in ``prepared``)."""
        added = datetime.now(timezone.utc).isoformat()
        for p in prepared:
            article = p.article
            self._db.execute(
                "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?)",
                (article.id, article.title, article.date, article.source, article.text, added,
                 duplicates.find_copy(self._db, p.signature)),
            )
            duplicates.record(self._db, article.id, p.signature)

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

    def _insert_sentences(self, prepared: list[PreparedArticle]) -> None:
        first = int(self._meta()["next_sentence_id"])
        rows = [(p.article.id, position, s.start, s.end) for p in prepared for position, s in enumerate(p.sentences)]
        ids = list(range(first, first + len(rows)))
        self._db.executemany("INSERT INTO sentences(id, article_id, position, start, end) VALUES (?, ?, ?, ?, ?)",
                             [(i, *row) for i, row in zip(ids, rows)])
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'next_sentence_id'", (str(first + len(rows)),))
        window_texts = [p.article.text[w.start : w.end] for p in prepared for w in windows(p.sentences, WINDOW_RADIUS)]
        self._db.executemany("INSERT INTO window_fts(rowid, text) VALUES (?, ?)", zip(ids, window_texts))
        if self._window_changes is not None:
            self._window_changes[0].extend(zip(ids, window_texts))
        if keywords.counted(self._db):
            keywords.count_terms(self._db, window_texts, 1)
        if ids:
            self.vectors.add(np.array(ids, dtype=np.int64), np.concatenate([p.vectors for p in prepared]))

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
            if keywords.counted(self._db):
                marks = ",".join("?" * len(ids))
                keywords.count_terms(self._db, [r[0] for r in self._db.execute(f"SELECT text FROM window_fts WHERE rowid IN ({marks})", ids)], -1)
            self._db.executemany("DELETE FROM window_fts WHERE rowid = ?", [(i,) for i in ids])
            if self._window_changes is not None:
                self._window_changes[1].extend(ids)
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
        self._writable()
        with self._sql():
            articles = self._articles()
        prepared = prepare([(a, split_sentences(a.text)) for a in articles], self.embedder, progress)

        def change() -> None:
            current = {a.id: a for a in self._articles()}
            embedded = {p.article.id for p in prepared}
            fresh = prepare([(a, split_sentences(a.text)) for a in current.values() if a.id not in embedded], self.embedder)
            every = [p for p in prepared if p.article.id in current] + fresh
            self._db.execute("DELETE FROM sentences")
            order = {article_id: n for n, article_id in enumerate(current)}
            self._link_copies(sorted(every, key=lambda p: order[p.article.id]))
            # made anew rather than emptied, so a damaged full-text index is repaired too
            self._db.execute("DROP TABLE IF EXISTS window_fts")
            self._db.execute(FTS_TABLE)
            self._db.execute("DELETE FROM term_windows")  # counted anew as the sentences go in
            self._window_changes = None  # and copied anew into tantivy
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('term_windows', '1')")
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("model", self.embedder.name), ("dimension", str(self.embedder.dimension))],
            )
            self.vectors = VectorIndex(self.embedder.dimension)
            self._insert_sentences([p for p in every if p.sentences])

        self._write(change, replaces_vectors=True)
        with self._sql():
            self._texts.clear()
        return self.stats()

    def _link_copies(self, prepared: list[PreparedArticle]) -> None:
        """Link each near-duplicate (in indexing order) to the first copy of its story, from the signatures anew."""
        self._db.execute("DELETE FROM signatures")
        self._db.execute("DELETE FROM bands")
        self._db.execute("DELETE FROM meta WHERE key = 'unsigned_articles'")
        for p in prepared:
            self._db.execute("UPDATE articles SET duplicate_of = ? WHERE id = ?",
                             (duplicates.find_copy(self._db, p.signature), p.article.id))
            duplicates.record(self._db, p.article.id, p.signature)

    def _articles(self) -> list[Article]:
        rows = self._db.execute("SELECT id, title, text, date, source FROM articles ORDER BY added, rowid").fetchall()
        return [Article(*row) for row in rows]

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()


