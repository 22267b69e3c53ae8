"""A FAISS vector index behind a small interface: add, remove, search, save, load."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import faiss
import numpy as np

# Exact search while it is fast enough; a graph index once the corpus is large.
HNSW_FROM = 200_000

# Questions are searched one at a time, where OpenMP's fork-join and spinning threads cost more
# than they save and take cores from the reader: retrieval p50 15.5 ms against 17.1 with two
# threads (300 SQuAD dev questions over 10k sentences, alternating in one run).
faiss.omp_set_num_threads(1)


def factory_for(count: int) -> str:
    """The ``faiss.index_factory`` string for a corpus of ``count`` vectors."""
    return "IDMap2,Flat" if count < HNSW_FROM else "IDMap2,HNSW32,Flat"


class VectorIndex:
    """Unit vectors searched by inner product, keyed by int64 ids (sentence rows)."""

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        self.dimension = dimension
        self.index = index if index is not None else self._new(factory_for(0))

    def _new(self, factory: str) -> faiss.Index:
        return faiss.index_factory(self.dimension, factory, faiss.METRIC_INNER_PRODUCT)

    def __len__(self) -> int:
        return self.index.ntotal

    @property
    def factory(self) -> str:
        """The factory string of the current index."""
        return factory_for(0) if isinstance(faiss.downcast_index(self.index.index), faiss.IndexFlat) else factory_for(HNSW_FROM)

    def ids(self) -> np.ndarray:
        """The ids of the stored vectors, in storage order."""
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def _vectors(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids()
        return ids, self.index.reconstruct_n(0, len(ids)) if len(ids) else np.zeros((0, self.dimension), np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids; moves to a graph index when the corpus outgrows exact search."""
        if vectors.shape[1:] != (self.dimension,):
            raise ValueError(f"vectors have dimension {vectors.shape[1:]}, index has {self.dimension}")
        target = factory_for(len(self) + len(ids))
        if target != self.factory:
            old_ids, old_vectors = self._vectors()
            self.index = self._new(target)
            if len(old_ids):
                self.index.add_with_ids(old_vectors, old_ids)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors with these ids (an HNSW graph is rebuilt without them)."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.factory == factory_for(0):
            self.index.remove_ids(ids)
            return
        old_ids, old_vectors = self._vectors()
        keep = ~np.isin(old_ids, ids)
        self.index = self._new(factory_for(int(keep.sum())))
        self.index.add_with_ids(old_vectors[keep], old_ids[keep])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids) of the ``k`` nearest vectors per query; missing hits have id -1."""
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, max(len(self), 1)))

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (temporary file, fsync, rename).

        Raises:
            OSError: The write failed (a full disk); no temporary file is left.
        """
        tmp = path.with_name(path.name + ".tmp")
        try:
            try:
                faiss.write_index(self.index, str(tmp))
            except RuntimeError as exc:  # FAISS reports a failed fwrite as a RuntimeError
                raise OSError(errno.EIO, f"writing {tmp.name} failed: {str(exc).strip().splitlines()[-1]}") from None
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        """Read an index written by :meth:`save`.

        Raises:
            FileNotFoundError: There is no file at ``path``.
            RuntimeError: The file is not a readable FAISS index.
        """
        if not path.is_file():
            raise FileNotFoundError(path)
        index = faiss.read_index(str(path))
        return cls(index.d, index)
