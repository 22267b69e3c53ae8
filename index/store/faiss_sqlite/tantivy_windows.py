"""Keyword search over a big index: the windows of SQLite's ``window_fts`` copied into a tantivy index beside it.

FTS5 scores every window that holds any searched word before it keeps the best, which at a million sentences
is most of a question's time; tantivy skips the blocks of postings that cannot reach the best ``k`` (block-max
WAND), so it searches every word of the question in a few milliseconds (``bench/keyword_search.py``). SQLite
stays the record: the copy holds the generation it copies, and is searched only while that is the generation
the store has loaded. Tantivy commits first, so a crash before SQLite's commit leaves the copy ahead, searches
on FTS5, and the next write copies every window again.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import tantivy

from index.store.base import SearchFilter

FOLDER = "keywords"
FROM_WINDOWS = 100_000  # an index this big gets a copy; below it FTS5 takes about a millisecond
GENERATION_DOC = 0  # the document that records the generation copied (sentence ids start at 1)
WRITER_HEAP = 64_000_000  # bytes; tantivy needs at least 15 MB per thread
_EPOCH = date(1970, 1, 1)


def _analyzer() -> tantivy.TextAnalyzer:
    """Words split at anything not a letter or digit, accents folded, lower-cased, Porter-stemmed: as FTS5's
    ``porter unicode61`` tokenizer reads them."""
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(64))
            .filter(tantivy.Filter.ascii_fold()).filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stemmer("english")).build())


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", indexed=True, fast=True)
    builder.add_integer_field("day", indexed=True, fast=True)  # the article's date, in days since 1970
    builder.add_integer_field("generation", fast=True, stored=True)
    builder.add_text_field("text", tokenizer_name="window", index_option="freq")
    return builder.build()


def _day(value: str | None) -> int | None:
    try:
        return (date.fromisoformat(value[:10]) - _EPOCH).days if value else None
    except ValueError:
        return None


class TantivyWindows:
    """The tantivy copy of an index folder's windows (``FOLDER``); absent until the index reaches ``FROM_WINDOWS``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FOLDER
        self.schema = _schema()
        self._analyzer = _analyzer()
        self._index: tantivy.Index | None = None
        self.generation = -1  # the generation its committed copy holds; -1 when there is none

    def _open(self) -> tantivy.Index | None:
        if self._index is None and (self.path / "meta.json").is_file():
            self._index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
            self._index.register_tokenizer("window", self._analyzer)
        return self._index

    def reload(self) -> None:
        """Read the copy committed last, and the generation it holds (-1, so FTS5 searches, when there is none or
        it cannot be read: a read-only file system where tantivy cannot take its lock, a damaged copy)."""
        self.generation = -1
        try:
            index = self._open()
            if index is None:
                return
            index.reload()
            searcher = index.searcher()
            hits = searcher.search(tantivy.Query.term_query(self.schema, "id", GENERATION_DOC), 1, count=False).hits
            found = searcher.fast_field_values("generation", [address for _, address in hits])
        except (OSError, ValueError):
            self._index = None
            return
        self.generation = int(found[0]) if found and found[0] is not None else -1

    def supports(self, where: SearchFilter | None) -> bool:
        """Whether a search with ``where`` can run here (a date range can; a source prefix goes to FTS5)."""
        return where is None or not where.source

    def search(self, terms: list[str], k: int, where: SearchFilter | None = None) -> list[tuple[int, float]]:
        """Sentence ids ranked by BM25 of their windows for any of ``terms`` (words as asked), best first."""
        index = self._open()
        tokens = list(dict.fromkeys(t for term in terms for t in self._analyzer.analyze(term)))
        if index is None or not tokens:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "text", t)) for t in tokens])
        if where and (where.since or where.until):
            days = tantivy.Query.range_query(self.schema, "day", tantivy.FieldType.Integer,
                                             (where.since - _EPOCH).days if where.since else None,
                                             (where.until - _EPOCH).days if where.until else None)
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, days)])
        searcher = index.searcher()
        hits = searcher.search(query, k, count=False).hits
        ids = searcher.fast_field_values("id", [address for _, address in hits])
        return [(int(i), float(score)) for (score, _), i in zip(hits, ids)]

    def follow(self, db: sqlite3.Connection, before: int, generation: int, added: list[tuple[int, str]],
               removed: list[int], windows: int) -> None:
        """Copy a write into the tantivy index, inside the SQLite transaction that commits ``generation``.

        Args:
            db: The connection holding the write transaction (its windows, dates and generation).
            before: The generation the write started from.
            generation: The generation it commits.
            added: (sentence id, window text) of the windows it added.
            removed: Sentence ids of the windows it removed.
            windows: How many windows the index holds with the write.
        """
        self.reload()
        if self.generation < 0 and windows < FROM_WINDOWS:
            return
        if self.generation != before:  # none yet, or a crash left it out of step: copy every window
            self._rebuild(db, generation)
            return
        days = _article_days(db, [i for i, _ in added])
        writer = self._open().writer(WRITER_HEAP, 1)
        for i in [*removed, GENERATION_DOC]:
            writer.delete_documents_by_term("id", i)
        self._add(writer, ((i, text, days.get(i)) for i, text in added), generation)
        writer.commit()
        writer.wait_merging_threads()
        self.reload()

    def _add(self, writer: tantivy.IndexWriter, rows: Iterable[tuple[int, str, int | None]], generation: int) -> None:
        for i, text, day in rows:
            fields = {"id": i, "text": text} if day is None else {"id": i, "text": text, "day": day}
            writer.add_document(tantivy.Document(**fields))
        writer.add_document(tantivy.Document(id=GENERATION_DOC, generation=generation))

    def _rebuild(self, db: sqlite3.Connection, generation: int) -> None:
        """A new copy of every window, made beside the old one and then put in its place."""
        fresh = self.path.with_name(FOLDER + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        index = tantivy.Index(self.schema, path=str(fresh))
        index.register_tokenizer("window", self._analyzer)
        writer = index.writer(4 * WRITER_HEAP, 2)
        rows = db.execute("SELECT f.rowid, f.text, a.date FROM window_fts f JOIN sentences s ON s.id = f.rowid "
                          "JOIN articles a ON a.id = s.article_id")
        self._add(writer, ((i, text, _day(day)) for i, text, day in rows), generation)
        writer.commit()
        writer.wait_merging_threads()
        old = self.path.with_name(FOLDER + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)
        fresh.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)
        self._index = None
        self.reload()

    def count(self) -> int:
        """How many windows the copy holds."""
        index = self._open()
        return 0 if index is None else index.searcher().num_docs - 1


def _article_days(db: sqlite3.Connection, ids: list[int]) -> dict[int, int]:
    """The date of each sentence's article, in days since 1970, for the dated ones."""
    days: dict[int, int] = {}
    for at in range(0, len(ids), 500):
        chunk = ids[at : at + 500]
        rows = db.execute("SELECT s.id, a.date FROM sentences s JOIN articles a ON a.id = s.article_id "
                          f"WHERE s.id IN ({','.join('?' * len(chunk))}) AND a.date IS NOT NULL", chunk)
        days.update((i, d) for i, d in ((i, _day(d)) for i, d in rows) if d is not None)
    return days
