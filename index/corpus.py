"""The index folder: article and sentence metadata in SQLite, sentence vectors in FAISS.

Writes are atomic across both files. Each write saves a new FAISS file named
after the next *generation* and then commits the SQLite transaction that
records that generation; a crash before the commit leaves the previous
generation's FAISS file and the rolled-back database, which agree.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from index.articles import Article
from index.embedder import DIMENSION, MODEL_NAME, embed
from index.sentences import Sentence, split_sentences, windows
from index.vectors import VectorIndex

DEFAULT_DIR = Path("data/index")
DB_FILE = "index.sqlite"
ADDED, UNCHANGED, NO_SENTENCES = "added", "unchanged", "no sentences"
PROGRESS_FROM = 500  # sentences; show a progress bar on longer embedding runs
WINDOW_RADIUS = 1  # neighbours each side of a sentence in its window
_TERM = re.compile(r"\w+")
_STOPWORDS = frozenset(
    "a an and are as at be been but by did do does for from had has have he her his how i in is it its many "
    "much of on or she that the their them they this to was were what when where which who whom whose why "
    "will with".split()
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, source TEXT NOT NULL, text TEXT NOT NULL, added TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sentences(
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sentences_by_article ON sentences(article_id, position);
-- BM25 over each sentence's window (the sentence and its neighbours), keyed by sentence id:
-- a question's words are often spread over neighbouring sentences.
CREATE VIRTUAL TABLE IF NOT EXISTS window_fts USING fts5(text, tokenize='porter unicode61');
"""


class IndexMismatchError(RuntimeError):
    """The index on disk was built with another embedding model or dimension."""


@dataclass(frozen=True)
class ArticleInfo:
    """An indexed article as listed: id, title, date, source and sentence count."""

    id: str
    title: str
    date: str | None
    source: str
    sentences: int


@dataclass(frozen=True)
class SentenceRow:
    """Where a sentence lives: its article, position in it and character offsets."""

    id: int
    article_id: str
    position: int
    start: int
    end: int


def default_dir() -> Path:
    """The index folder: ``$QA_INDEX_DIR`` or ``data/index``."""
    return Path(os.environ.get("QA_INDEX_DIR") or DEFAULT_DIR)


def fts_query(text: str) -> str:
    """An FTS5 OR-query of the content words of ``text``, each quoted so no syntax leaks in."""
    terms = dict.fromkeys(t for t in _TERM.findall(text.lower()) if t not in _STOPWORDS)
    return " OR ".join(f'"{t}"' for t in list(terms)[:64])


def _embed_sentences(split: list[tuple[Article, list[Sentence]]], progress: bool) -> np.ndarray:
    """Embed the sentences of split articles, in order; a progress bar on long runs."""
    texts = [article.text[s.start : s.end] for article, sentences in split for s in sentences]
    return embed(texts, progress=progress and len(texts) >= PROGRESS_FROM)


class Corpus:
    """The articles of one index folder, their sentences and sentence vectors."""

    def __init__(self, directory: Path | str | None = None, check_model: bool = True) -> None:
        self.directory = Path(directory) if directory is not None else default_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.directory / DB_FILE, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._texts: dict[str, str] = {}
        meta = self._meta()
        if not meta:
            self._db.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("model", MODEL_NAME), ("dimension", str(DIMENSION)), ("generation", "0")],
            )
            meta = self._meta()
        if check_model and (meta["model"] != MODEL_NAME or int(meta["dimension"]) != DIMENSION):
            raise IndexMismatchError(
                f"index in {self.directory} was built with {meta['model']} ({meta['dimension']} dimensions), "
                f"this version embeds with {MODEL_NAME} ({DIMENSION}); run `qa index rebuild`"
            )
        self._load_vectors()

    # -- reading -------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def _vector_path(self, generation: int) -> Path:
        return self.directory / f"vectors.{generation}.faiss"

    def _load_vectors(self) -> None:
        self.generation = int(self._meta()["generation"])
        path = self._vector_path(self.generation)
        if path.exists():
            self.vectors = VectorIndex.load(path)
            if self.vectors.dimension != DIMENSION:
                raise IndexMismatchError(f"{path} holds {self.vectors.dimension}-dimension vectors; run `qa index rebuild`")
        else:
            self.vectors = VectorIndex(DIMENSION)
        self._texts.clear()

    def refresh(self) -> None:
        """Reload the vectors when another process has written the index."""
        with self._lock:
            if int(self._meta()["generation"]) != self.generation:
                self._load_vectors()

    def stats(self) -> dict:
        """Counts of articles and sentences, with the model and FAISS index in use."""
        with self._lock:
            articles = self._db.execute("SELECT count(*) FROM articles").fetchone()[0]
            sentences = self._db.execute("SELECT count(*) FROM sentences").fetchone()[0]
        return {
            "articles": articles,
            "sentences": sentences,
            "vectors": len(self.vectors),
            "model": MODEL_NAME,
            "faiss_index": self.vectors.factory,
            "directory": str(self.directory),
        }

    def list_articles(self) -> list[ArticleInfo]:
        """All indexed articles, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.id, a.title, a.date, a.source, count(s.id) FROM articles a "
                "LEFT JOIN sentences s ON s.article_id = a.id GROUP BY a.id ORDER BY a.added, a.rowid"
            ).fetchall()
        return [ArticleInfo(*row) for row in rows]

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, title, text, date, source FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        return Article(*row) if row else None

    def article_text(self, article_id: str) -> str:
        """An article's text, cached for the hot path of answering."""
        text = self._texts.get(article_id)
        if text is None:
            with self._lock:
                text = self._db.execute("SELECT text FROM articles WHERE id = ?", (article_id,)).fetchone()[0]
            self._texts[article_id] = text
        return text

    def sentence_rows(self, ids: list[int]) -> dict[int, SentenceRow]:
        """Sentence rows by id."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, article_id, position, start, end FROM sentences WHERE id IN ({marks})", ids
            ).fetchall()
        return {row[0]: SentenceRow(*row) for row in rows}

    def neighbours(self, row: SentenceRow, radius: int) -> list[SentenceRow]:
        """The sentences within ``radius`` positions of ``row`` in its article, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, article_id, position, start, end FROM sentences "
                "WHERE article_id = ? AND position BETWEEN ? AND ? ORDER BY position",
                (row.article_id, row.position - radius, row.position + radius),
            ).fetchall()
        return [SentenceRow(*r) for r in rows]

    def article_sentences(self, article_id: str) -> list[SentenceRow]:
        """All sentences of an article, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, article_id, position, start, end FROM sentences WHERE article_id = ? ORDER BY position",
                (article_id,),
            ).fetchall()
        return [SentenceRow(*r) for r in rows]

    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Sentence ids nearest to a unit query vector, best first."""
        with self._lock:
            if not len(self.vectors):
                return []
            scores, ids = self.vectors.search(query_vector.reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def keyword_search(self, question: str, k: int) -> list[tuple[int, float]]:
        """Sentence ids ranked by BM25 of their windows for the question's content words, best first."""
        query = fts_query(question)
        if not query:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, bm25(window_fts) AS rank FROM window_fts WHERE window_fts MATCH ? "
                "ORDER BY rank LIMIT ?",
                (query, k),
            ).fetchall()
        return [(int(i), -float(r)) for i, r in rows]

    # -- writing -------------------------------------------------------------

    def _write(self, change) -> None:  # noqa: ANN001
        """Run ``change(next_vectors)`` inside one transaction and commit it with a new FAISS file."""
        with self._lock:
            next_generation = self.generation + 1
            new_path = self._vector_path(next_generation)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                change()
                self.vectors.save(new_path)
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(next_generation),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                new_path.unlink(missing_ok=True)
                self._load_vectors()
                raise
            old_path = self._vector_path(self.generation)
            self.generation = next_generation
            old_path.unlink(missing_ok=True)

    def add(self, articles: list[Article], progress: bool = False) -> list[tuple[Article, str]]:
        """Index new articles; ones already indexed (same content hash) are left alone.

        Returns:
            Each article with its status: ``ADDED``, ``UNCHANGED`` (already
            indexed) or ``NO_SENTENCES`` (nothing to index, skipped).
        """
        with self._lock:
            known = {row[0] for row in self._db.execute("SELECT id FROM articles")}
        result, split = [], []
        for article in articles:
            if article.id in known:
                result.append((article, UNCHANGED))
                continue
            sentences = split_sentences(article.text)
            if not sentences:
                result.append((article, NO_SENTENCES))
                continue
            known.add(article.id)
            split.append((article, sentences))
            result.append((article, ADDED))
        if split:
            vectors = _embed_sentences(split, progress)
            self._write(lambda: self._insert(split, vectors))
        return result

    def _insert(self, split: list[tuple[Article, list[Sentence]]], vectors: np.ndarray) -> None:
        added = datetime.now(timezone.utc).isoformat()
        ids, window_texts = [], []
        for article, sentences in split:
            window_texts += [article.text[w.start : w.end] for w in windows(sentences, WINDOW_RADIUS)]
            self._db.execute(
                "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?)",
                (article.id, article.title, article.date, article.source, article.text, added),
            )
            for position, s in enumerate(sentences):
                cursor = self._db.execute(
                    "INSERT INTO sentences(article_id, position, start, end) VALUES (?, ?, ?, ?)",
                    (article.id, position, s.start, s.end),
                )
                ids.append(cursor.lastrowid)
        self._db.executemany("INSERT INTO window_fts(rowid, text) VALUES (?, ?)", zip(ids, window_texts))
        self.vectors.add(np.array(ids, dtype=np.int64), vectors)

    def remove(self, article_id: str) -> ArticleInfo | None:
        """Remove an article and its sentences; returns what was removed, or ``None``."""
        with self._lock:
            info = next((a for a in self.list_articles() if a.id == article_id), None)
            if info is None:
                return None
            ids = [r.id for r in self.article_sentences(article_id)]

            def change() -> None:
                self._db.executemany("DELETE FROM window_fts WHERE rowid = ?", [(i,) for i in ids])
                self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
                self.vectors.remove(np.array(ids, dtype=np.int64))

            self._write(change)
            self._texts.pop(article_id, None)
        return info

    def rebuild(self, progress: bool = False) -> dict:
        """Re-split and re-embed every stored article with the current model."""
        with self._lock:
            rows = self._db.execute("SELECT id, title, text, date, source FROM articles ORDER BY added, rowid").fetchall()
            articles = [Article(*row) for row in rows]
            split = [(article, split_sentences(article.text)) for article in articles]
            vectors = _embed_sentences(split, progress)

            def change() -> None:
                self._db.execute("DELETE FROM window_fts")
                self._db.execute("DELETE FROM articles")
                self._db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("model", MODEL_NAME), ("dimension", str(DIMENSION))],
                )
                self.vectors = VectorIndex(DIMENSION)
                self._insert(split, vectors)

            self._write(change)
            self._texts.clear()
        return self.stats()

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()
