"""What readers asked and how they judged answers, in the index's SQLite database: the ``Store`` methods for
``qa.readers``'s records, mixed into ``FaissSqliteStore``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from index.store.base import AskedQuestion, Feedback
from index.store.faiss_sqlite.schema import write_transaction


class ReaderTables:
    """The ``asked_questions`` and ``feedback`` tables, over ``FaissSqliteStore``'s connection."""

    read_only: bool
    _db: sqlite3.Connection
    _sql: Callable[[], AbstractContextManager[None]]
    _writable: Callable[[], None]

    def log_questions(self, asked: list[AskedQuestion]) -> None:
        """Keep these questions asked, with their answers."""
        self._insert("asked_questions", [(q.answer_id, q.question, q.answer, q.article_id, q.score, q.time,
                                          json.dumps(q.features)) for q in asked])

    def asked_questions(self, since: str | None = None) -> list[AskedQuestion]:
        """The questions kept, asked at or after ``since`` (ISO 8601, UTC), oldest first."""
        return [AskedQuestion(*row[:6], json.loads(row[6])) for row in self._rows("asked_questions", since)]

    def add_feedback(self, feedback: Feedback) -> None:
        """Keep a reader's judgement of an answer."""
        f = feedback
        self._insert("feedback", [(f.answer_id, f.question, f.answer, f.article_id, int(f.helpful), f.comment, f.time,
                                   f.score, json.dumps(f.features))])

    def feedback(self, since: str | None = None) -> list[Feedback]:
        """The judgements kept, given at or after ``since`` (ISO 8601, UTC), oldest first."""
        return [Feedback(*row[:4], bool(row[4]), *row[5:8], json.loads(row[8])) for row in self._rows("feedback", since)]

    def _insert(self, table: str, rows: list[tuple]) -> None:
        """Insert rows in one transaction (waiting for another process's write, as every write does)."""
        self._writable()
        if not rows:
            return
        with self._sql(), write_transaction(self._db):
            self._db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)

    def _rows(self, table: str, since: str | None) -> list[tuple]:
        with self._sql():
            if self.read_only and not self._db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                return []  # an index made before readers were recorded, opened where it cannot be upgraded
            return self._db.execute(f"SELECT * FROM {table} WHERE time >= ? ORDER BY time, rowid", (since or "",)).fetchall()
