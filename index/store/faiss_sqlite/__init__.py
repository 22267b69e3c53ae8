"""The default store: FAISS vectors and SQLite rows in one index folder (``store.py``), with its schema
(``schema.py``), vector files (``generations.py``) and keyword search (``keywords.py``, with the tantivy copy of a
big index's windows in ``tantivy_windows.py``)."""

from index.store.faiss_sqlite.store import FaissSqliteStore

__all__ = ["FaissSqliteStore"]
