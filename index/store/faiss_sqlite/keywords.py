"""Keyword search in the FAISS+SQLite store: BM25 over each sentence's window in SQLite FTS5, and the count of
windows holding each stemmed term, which leaves a question's commonest words out of FTS5 searches of a big index.
A big index is searched in its tantivy copy of the windows instead (``tantivy_windows.py``) while that copy is in
step; ``WindowKeywords`` is the store's side of both."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from index.store.base import SearchFilter
from index.store.faiss_sqlite.schema import filter_sql
from index.store.faiss_sqlite.tantivy_windows import TantivyWindows
from index.text import content_terms, held_stems, stemmed

# Window texts staged in this connection's temporary schema, to count the windows holding each stemmed term
# (one statement at a time: executescript would commit the open transaction).
STAGING = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.staged USING fts5(text, tokenize='porter unicode61')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.staged_terms USING fts5vocab(temp, staged, row)",
)
PRUNE_FROM = 100_000  # windows; below this every content word of a question is searched
COMMON_SHARE = 0.05  # over it, a word held by more than this share of the windows is left out
KEPT_TERMS = (3, 8)  # at least the 3 rarest words are searched, at most 8


def fts_query(terms: list[str]) -> str:
    """An FTS5 OR-query of ``terms``, each quoted so no syntax leaks in."""
    return " OR ".join(f'"{t}"' for t in terms)


def counted(db: sqlite3.Connection) -> bool:
    """Whether the index keeps term counts (new and rebuilt indexes; ``qa index rebuild`` starts them)."""
    return db.execute("SELECT 1 FROM meta WHERE key = 'term_windows' AND value = '1'").fetchone() is not None


def count_terms(db: sqlite3.Connection, texts: list[str], sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) the windows ``texts`` to the counts of the terms they hold."""
    for statement in STAGING:
        db.execute(statement)
    db.execute("DELETE FROM temp.staged")
    db.executemany("INSERT INTO temp.staged(rowid, text) VALUES (?, ?)", enumerate(texts))
    db.execute("INSERT INTO term_windows SELECT term, ? * doc FROM temp.staged_terms WHERE true "
               "ON CONFLICT(term) DO UPDATE SET windows = windows + excluded.windows", (sign,))
    db.execute("INSERT INTO term_windows VALUES ('', ?) ON CONFLICT(term) DO UPDATE SET windows = windows + ?",
               (sign * len(texts), sign * len(texts)))
    db.execute("DELETE FROM temp.staged")


def term_windows(db: sqlite3.Connection, terms: list[str]) -> tuple[dict[str, int], int]:
    """How many windows hold each of these stemmed terms, and how many windows there are (none counted in an
    index made before the counts were kept)."""
    if not counted(db):
        return {}, 0
    counts = dict(db.execute(f"SELECT term, windows FROM term_windows WHERE term IN ({','.join('?' * (len(terms) + 1))})",
                             ["", *terms]))
    return counts, counts.pop("", 0)


def searched_terms(db: sqlite3.Connection, terms: list[str]) -> list[str]:
    """The question's terms to search: over a big index, the commonest are left out (``COMMON_SHARE``)."""
    if len(terms) <= KEPT_TERMS[0]:
        return terms
    _, total = term_windows(db, [])
    if total < PRUNE_FROM:
        return terms
    stems = {i: words.split()[-1] for i, words in enumerate(stemmed(terms)) if words}
    found, _ = term_windows(db, list(stems.values()))
    held = sorted(range(len(terms)), key=lambda i: found.get(stems.get(i, ""), 0))
    kept = [i for i in held if found.get(stems.get(i, ""), 0) <= COMMON_SHARE * total]
    kept = held[: max(KEPT_TERMS[0], min(len(kept), KEPT_TERMS[1]))]
    return [terms[i] for i in sorted(kept)]


def window_terms(db: sqlite3.Connection, ids: list[int], terms: set[str]) -> dict[int, set[str]]:
    """Which of these stemmed terms each sentence's window holds (as keyword search matches them), by sentence id."""
    if not ids or not terms:
        return {}
    rows = db.execute(f"SELECT rowid, text FROM window_fts WHERE rowid IN ({','.join('?' * len(ids))})", ids).fetchall()
    return dict(zip((i for i, _ in rows), held_stems([text for _, text in rows], terms)))


def keyword_search(db: sqlite3.Connection, question: str, k: int, where: SearchFilter | None) -> list[tuple[int, float]]:
    """Sentence ids ranked by BM25 of their windows for the question's content words, best first (over a big
    index, without the words most windows hold); with ``where``, of the articles it allows."""
    terms = content_terms(question)
    if not terms:
        return []
    query = fts_query(searched_terms(db, terms))
    if where:
        clauses, values = filter_sql(where)
        rows = db.execute(
            "SELECT f.rowid, bm25(window_fts) AS rank FROM window_fts f JOIN sentences s ON s.id = f.rowid "
            f"JOIN articles a ON a.id = s.article_id WHERE window_fts MATCH ? AND {clauses} ORDER BY rank LIMIT ?",
            [query, *values, k],
        ).fetchall()
    else:
        rows = db.execute("SELECT rowid, bm25(window_fts) AS rank FROM window_fts WHERE window_fts MATCH ? "
                          "ORDER BY rank LIMIT ?", (query, k)).fetchall()
    return [(int(i), -float(r)) for i, r in rows]


def window_count(db: sqlite3.Connection) -> int:
    """How many windows the index holds."""
    _, total = term_windows(db, [])
    return total or db.execute("SELECT count(*) FROM sentences").fetchone()[0]


class WindowKeywords:
    """The ``Store``'s keyword methods over ``FaissSqliteStore``'s connection: FTS5, or the tantivy copy of its
    windows (``tantivy_windows``) once the index is big and while that copy holds the generation loaded."""

    generation: int
    _db: sqlite3.Connection
    _sql: Callable[[], AbstractContextManager[None]]
    _tantivy: TantivyWindows
    # The windows the write in progress adds (sentence id, text) and removes; ``None``: all of them anew.
    _window_changes: tuple[list[tuple[int, str]], list[int]] | None

    def window_terms(self, ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        """Which of these stemmed terms each sentence's window holds (as keyword search matches them), by sentence id."""
        with self._sql():
            return window_terms(self._db, ids, terms)

    def term_windows(self, terms: list[str]) -> tuple[dict[str, int], int]:
        """How many windows hold each of these stemmed terms, and how many windows there are (none counted in an
        index made before the counts were kept; ``qa index rebuild`` counts them)."""
        with self._sql():
            return term_windows(self._db, terms)

    def keyword_search(self, question: str, k: int, where: SearchFilter | None = None) -> list[tuple[int, float]]:
        """Sentence ids ranked by BM25 of their windows for the question's content words, best first; with
        ``where``, of the articles it allows. A big index's tantivy copy searches every word; FTS5 over a big index
        leaves out the words most windows hold."""
        with self._sql():
            if self._tantivy.generation == self.generation and self._tantivy.supports(where):
                return self._tantivy.search(content_terms(question), k, where)
            return keyword_search(self._db, question, k, where)

    def _follow_windows(self, generation: int) -> None:
        """Copy the write in progress (from ``self.generation`` to ``generation``) into the tantivy copy."""
        added, removed = self._window_changes or ([], [])
        before = -2 if self._window_changes is None else self.generation  # -2: no copy can hold it, make one anew
        try:
            self._tantivy.follow(self._db, before, generation, added, removed, window_count(self._db))
        except ValueError as exc:  # tantivy's own errors (a full disk among them)
            raise OSError(f"the keyword index: {exc}") from None

    def _check_windows(self, sentences: int) -> list[str]:
        """What is wrong with the tantivy copy of the windows (nothing when there is none or it is behind: the
        next write copies them again)."""
        self._tantivy.reload()
        if self._tantivy.generation == self.generation and (held := self._tantivy.count()) != sentences:
            return [f"the keyword index holds {held} windows for {sentences} sentences"]
        return []
