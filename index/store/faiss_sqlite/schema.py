"""The SQLite side of the FAISS+SQLite store: its tables, creating and upgrading them, and SQLite's errors
as one-line ``StoreError``s."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

from index import duplicates
from index.store.base import (
    FORMAT,
    IndexDamagedError,
    IndexReadOnlyError,
    IndexWriteError,
    SearchFilter,
    StoreError,
    check_format,
)

DB_FILE = "index.sqlite"
BUSY_TIMEOUT_S = 120  # how long a write waits for another process's write to commit

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, source TEXT NOT NULL, text TEXT NOT NULL, added TEXT NOT NULL,
    duplicate_of TEXT);  -- the first indexed copy of the same story (index/duplicates.py), NULL for a first copy
CREATE TABLE IF NOT EXISTS sentences(
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sentences_by_article ON sentences(article_id, position);
CREATE INDEX IF NOT EXISTS articles_by_first_copy ON articles(duplicate_of);
-- Searches of a period (a question about this week, the chat's date filter) find its articles here.
CREATE INDEX IF NOT EXISTS articles_by_date ON articles(date);
-- Feeds given to `qa index add`, and the items read from each, so `qa index sync` reads only new ones.
CREATE TABLE IF NOT EXISTS feeds(source TEXT PRIMARY KEY, added TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed_items(
    feed TEXT NOT NULL REFERENCES feeds(source) ON DELETE CASCADE, link TEXT NOT NULL, PRIMARY KEY(feed, link));
"""
# BM25 over each sentence's window (the sentence and its neighbours), keyed by sentence id:
# a question's words are often spread over neighbouring sentences.
FTS_TABLE = "CREATE VIRTUAL TABLE IF NOT EXISTS window_fts USING fts5(text, tokenize='porter unicode61')"
SCHEMA += FTS_TABLE + ";" + duplicates.SCHEMA + """
-- How many windows hold each stemmed term (the row '' holds the number of windows), kept up to date by
-- every write when meta 'term_windows' is set (new and rebuilt indexes): a question's commonest words
-- are left out of BM25 over a big index, where matching them costs most of a search.
CREATE TABLE IF NOT EXISTS term_windows(term TEXT PRIMARY KEY, windows INTEGER NOT NULL) WITHOUT ROWID;
-- What readers asked (qa serve --log-questions) and how they judged answers (index/store/faiss_sqlite/readers.py).
-- They name articles by id and hold no article text: they outlive an article's removal. Features: JSON.
CREATE TABLE IF NOT EXISTS asked_questions(
    answer_id TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, article_id TEXT, score REAL NOT NULL,
    time TEXT NOT NULL, features TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS asked_questions_by_time ON asked_questions(time);
CREATE TABLE IF NOT EXISTS feedback(
    answer_id TEXT, question TEXT NOT NULL, answer TEXT NOT NULL, article_id TEXT, helpful INTEGER NOT NULL,
    comment TEXT NOT NULL, time TEXT NOT NULL, score REAL, features TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback(time);
"""


def connect(directory: Path, read_only: bool) -> sqlite3.Connection:
    """The index database of ``directory``: created or upgraded (``create``), or opened read-only as it is.

    Raises:
        StoreError: It cannot be opened (one line).
    """
    path = directory / DB_FILE
    try:
        if read_only:
            if not path.is_file():
                raise StoreError(f"there is no index in {directory}, and the folder is read-only")
            # immutable: no -shm/-wal file is written or needed, so a read-only file system can be searched
            db = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False,
                                 isolation_level=None)
            if "duplicate_of" not in {row[1] for row in db.execute("PRAGMA table_info(articles)")}:
                # made before near-duplicates, and it cannot be upgraded here: a view in this connection's
                # temporary schema (searched before the file's) shows it as one without copies
                db.execute("CREATE TEMP VIEW articles AS SELECT *, NULL AS duplicate_of FROM main.articles")
        else:
            directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
            create(db, f"in {directory}")
        db.execute("PRAGMA foreign_keys=ON")
        return db
    except OSError as exc:
        raise StoreError(f"cannot open the index folder {directory}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise sql_error(exc, path) from None


def recorded_format(db: sqlite3.Connection) -> str | None:
    """The format the index records (``None``: none recorded, format 1, or a new index)."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    return row[0] if row else None


def create(db: sqlite3.Connection, where: str) -> None:
    """Switch to WAL, create the tables and bring an older index up to ``FORMAT``, retrying while another process
    does the same; an index of a newer format is refused before anything changes.

    Two processes creating one new index at once can get "database is locked" at
    once from these statements: SQLite does not wait for a lock here as it does in a transaction.
    """
    check_format(recorded_format(db), where)
    for attempt in range(40):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 39:
                raise
            time.sleep(min(0.01 * 2**attempt, 0.5))
    db.execute("BEGIN IMMEDIATE")  # waits for another process's write; the upgrade is all or nothing
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(articles)")}
        if columns and "duplicate_of" not in columns:  # an index made before near-duplicate detection
            db.execute("ALTER TABLE articles ADD COLUMN duplicate_of TEXT")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('unsigned_articles', '1')")  # signed on the next add
        for statement in statements(SCHEMA):
            db.execute(statement)
        if db.execute("SELECT 1 FROM meta WHERE key = 'model'").fetchone():  # an index, not a new folder
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(FORMAT),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction that takes SQLite's write lock first (waiting for another process's write), committed when
    the block ends and rolled back when it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def statements(script: str) -> list[str]:
    """The SQL statements of a script, one by one (``executescript`` would commit an open transaction)."""
    found, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    return [s for s in found if s.strip(" ;\n")]


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
        raise StoreError(f"cannot move {directory} aside: {exc.strerror or exc}") from None
    return target


def writable(directory: Path) -> bool:
    """Whether files can be written in ``directory`` (``access`` also says no on a read-only file system)."""
    database = directory / DB_FILE
    return os.access(directory, os.W_OK) and (not database.exists() or os.access(database, os.W_OK))


def sql_error(exc: sqlite3.Error, path: Path) -> StoreError:
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


def filter_sql(where: SearchFilter) -> tuple[str, list[str]]:
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
