"""Where an index is kept: FAISS and SQLite files in a folder (the default), or Milvus.

``--backend milvus --uri URI`` on the ``qa`` commands, or ``QA_BACKEND=milvus`` and ``QA_MILVUS_URI=URI`` in the
environment, keep the index in Milvus (``index.milvus``): a server such as ``http://milvus:19530``, or a
Milvus Lite file (``something.db``; ``milvus.db`` in the index folder when no URI is given).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from index.corpus import Corpus, CorpusError, default_dir
from index.embedder import Embedder

if TYPE_CHECKING:
    from index.milvus import MilvusCorpus

BACKENDS = ("faiss", "milvus")
LITE_FILE = "milvus.db"  # the Milvus Lite file in the index folder when no URI is given
AnyCorpus = Union[Corpus, "MilvusCorpus"]


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
            raise CorpusError(f"unknown index backend {self.name!r}: use {' or '.join(BACKENDS)}")
        if self.uri and self.name != "milvus":
            raise CorpusError("a Milvus URI needs the milvus backend (--backend milvus, or QA_BACKEND=milvus)")

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
    ) -> AnyCorpus:
        """Open (or create) the index.

        Args:
            directory: The index folder (default ``$QA_INDEX_DIR`` or ``data/index``); with Milvus, where its
                Lite file is when no URI is given.
            check_model: Refuse an index built with another embedding model.
            read_only: Open for searching only (FAISS default: when the folder is not writable).
            embedder: What embeds sentences and questions (default: all-MiniLM-L6-v2).
            collections: With Milvus, the prefix of the collections' names (default ``qa``).
        """
        if self.name == "faiss":
            return Corpus(directory, check_model=check_model, read_only=read_only, embedder=embedder)
        try:
            from index.milvus import MilvusCorpus
        except ImportError:
            raise CorpusError('the milvus backend needs pymilvus: pip install -e ".[milvus]"') from None
        folder = Path(directory) if directory is not None else default_dir()
        return MilvusCorpus(self.uri or str(folder / LITE_FILE), collections=collections, check_model=check_model,
                            read_only=bool(read_only), embedder=embedder)
