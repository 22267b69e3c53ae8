"""Where an index is kept, behind one contract (``index.store.base.Store``): FAISS and SQLite files in a folder
(the default, ``index.store.faiss_sqlite``), or Milvus (``index.store.milvus``).

``--backend milvus --uri URI`` on the ``qa`` commands, or ``QA_BACKEND=milvus`` and ``QA_MILVUS_URI=URI`` in the
environment, keep the index in Milvus: a server such as ``http://milvus:19530``, or a Milvus Lite file
(``something.db``; ``milvus.db`` in the index folder when no URI is given).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from index.embedder import Embedder
from index.store.base import Store, StoreError

BACKENDS = ("faiss", "milvus")
DEFAULT_DIR = Path("data/index")
LITE_FILE = "milvus.db"  # the Milvus Lite file in the index folder when no URI is given


def default_dir() -> Path:
    """The index folder: ``$QA_INDEX_DIR`` or ``data/index``."""
    return Path(os.environ.get("QA_INDEX_DIR") or DEFAULT_DIR)


@dataclass(frozen=True)
class Backend:
    """Which engine keeps the index, and where.

    Attributes:
        name: ``"faiss"`` (FAISS and SQLite files in the index folder) or ``"milvus"``.
        uri: The Milvus server or Milvus Lite file (``milvus`` only; default: ``milvus.db`` in the index folder).
    """

    name: str = "faiss"
    uri: str | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise StoreError(f"unknown index backend {self.name!r}: use {' or '.join(BACKENDS)}")
        if self.uri and self.name != "milvus":
            raise StoreError("a Milvus URI needs the milvus backend (--backend milvus, or QA_BACKEND=milvus)")

    @classmethod
    def from_env(cls, name: str | None = None, uri: str | None = None) -> "Backend":
        """The backend named here, else by ``$QA_BACKEND`` and ``$QA_MILVUS_URI`` (default: FAISS)."""
        name = name or os.environ.get("QA_BACKEND") or "faiss"
        if name == "milvus":
            uri = uri or os.environ.get("QA_MILVUS_URI") or None
        return cls(name, uri)

    def open(
        self,
        directory: Path | str | None = None,
        check_model: bool = True,
        read_only: bool | None = None,
        embedder: Embedder | None = None,
        collections: str | None = None,
    ) -> Store:
        """Open (or create) the index.

        Args:
            directory: The index folder (default ``$QA_INDEX_DIR`` or ``data/index``); with Milvus, where its
                Lite file is when no URI is given.
            check_model: Refuse an index built with another embedding model.
            read_only: Open for searching only (FAISS default: when the folder is not writable).
            embedder: What embeds sentences and questions (default: all-MiniLM-L6-v2).
            collections: With Milvus, the prefix of the collections' names (default ``qa``).
        """
        folder = Path(directory) if directory is not None else default_dir()
        if self.name == "faiss":
            from index.store.faiss_sqlite import FaissSqliteStore

            return FaissSqliteStore(folder, check_model=check_model, read_only=read_only, embedder=embedder)
        try:
            from index.store.milvus import MilvusStore
        except ImportError:
            raise StoreError('the milvus backend needs pymilvus: pip install -e ".[milvus]"') from None
        return MilvusStore(self.uri or str(folder / LITE_FILE), collections=collections, check_model=check_model,
                           read_only=bool(read_only), embedder=embedder)

    def open_anew(self, directory: Path | str | None = None) -> tuple[Store, Path | None]:
        """An empty index in place of the existing one, which is kept aside (``qa index rebuild --from``).

        Returns:
            The new index, and where the old one is now (``None`` when there was none).

        Raises:
            StoreError: The backend cannot keep an old index aside (Milvus), or the folder cannot be moved.
        """
        if self.name != "faiss":
            raise StoreError("an index in Milvus is not set aside: `qa index remove` its articles and `qa index add` "
                             "the files, or `qa index rebuild` to re-embed the stored articles")
        from index.store.faiss_sqlite.schema import set_aside

        folder = Path(directory) if directory is not None else default_dir()
        old = set_aside(folder)
        return self.open(folder), old
