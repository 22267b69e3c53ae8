"""A FAISS vector index behind a small interface: add, remove, search, save, load.

Removed vectors are only marked (left out of every search, count and listing) until the next full
save, so removing an article from a million-vector graph does not rebuild the graph. Changes since
the last full save can be written on their own (``save_changes``) and replayed on a loaded index
(``apply_changes``): adding to a big index writes a small file, not the whole index again. Vectors added to
a graph since its last full save wait in a small exact index searched beside it (``recent``): the first
insertion into a graph just read from disk copies all of it (seconds at a million vectors), so opening an
index or adding one article would otherwise pay that.
"""

from __future__ import annotations

import errno
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

# Exact search while it is fast enough; a graph index once the corpus is large.
HNSW_FROM = 200_000
# Candidates the graph search keeps (FAISS's default is 16): at a million vectors far better recall of the
# exact neighbours for a fraction of a millisecond more (bench/scale.py, docs/benchmarks.md).
HNSW_EF_SEARCH = 128
# A full save rebuilds a graph index without its removed vectors once they are this share of it; below
# that they stay in the file, listed beside it (``*.removed.npy``): rebuilding a million-vector graph
# takes minutes.
REBUILD_SHARE = 0.2

# Questions are searched one at a time, where OpenMP's fork-join and spinning threads cost more
# than they save and take cores from the reader (measured: docs/benchmarks.md).
faiss.omp_set_num_threads(1)


def factory_for(count: int) -> str:
    """The ``faiss.index_factory`` string for a corpus of ``count`` vectors."""
    return "IDMap2,Flat" if count < HNSW_FROM else "IDMap2,HNSW32,Flat"


class VectorIndex:
    """Unit vectors searched by inner product, keyed by int64 ids (sentence rows).

    An id must not be added again once removed (the corpus never reuses sentence ids).
    """

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        self.dimension = dimension
        self.index = index if index is not None else self._new(factory_for(0))
        self.recent = self._new(factory_for(0))  # added since the graph was last saved whole (empty beside a flat index)
        self.removed: set[int] = set()  # marked, still in ``index`` until the next full save
        self._selector: faiss.SearchParameters | None = None
        self._added: list[tuple[np.ndarray, np.ndarray]] = []  # since the last save, for ``save_changes``
        self._dropped: list[np.ndarray] = []
        # vectors added since this index was last saved or loaded whole: what a load replays from change files
        self.added_since_whole = 0

    def _new(self, factory: str) -> faiss.Index:
        return _tuned(faiss.index_factory(self.dimension, factory, faiss.METRIC_INNER_PRODUCT))

    def __len__(self) -> int:
        return self.index.ntotal + self.recent.ntotal - len(self.removed)

    @property
    def changed(self) -> int:
        """How many vectors were added or removed since the last save."""
        return sum(len(ids) for ids, _ in self._added) + sum(len(ids) for ids in self._dropped)

    @property
    def factory(self) -> str:
        """The factory string of the current index."""
        return factory_for(0) if isinstance(faiss.downcast_index(self.index.index), faiss.IndexFlat) else factory_for(HNSW_FROM)

    def ids(self) -> np.ndarray:
        """The ids of the stored vectors (not the removed ones), in storage order."""
        ids = self._stored_ids()
        return ids[self._kept(ids)] if self.removed else ids

    def _stored_ids(self) -> np.ndarray:
        """The ids of every vector in the FAISS indexes, removed ones included, in storage order."""
        return np.concatenate([_ids_of(i) for i in (self.index, self.recent)])

    def _kept(self, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` are not removed."""
        return ~np.isin(ids, np.fromiter(self.removed, np.int64, len(self.removed)))

    def _vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids and vectors not removed."""
        ids, vectors = (np.concatenate(parts) for parts in zip(self._held(self.index), self._held(self.recent)))
        keep = self._kept(ids)
        return ids[keep], vectors[keep]

    def _held(self, index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
        """The ids and vectors of one of the FAISS indexes, removed ones included, in storage order."""
        ids = _ids_of(index)
        # by position in the wrapped index: IndexIDMap2.reconstruct_n would take them as ids
        vectors = index.index.reconstruct_n(0, len(ids)) if len(ids) else np.zeros((0, self.dimension), np.float32)
        return ids, vectors

    def _rebuild(self, factory: str) -> None:
        """Make the index anew with ``factory`` from the vectors not removed (dropping the marked ones)."""
        ids, vectors = self._vectors()
        self.index, self.recent = self._new(factory), self._new(factory_for(0))
        if len(ids):
            self.index.add_with_ids(vectors, ids)
        self.removed, self._selector = set(), None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids; moves to a graph index when the corpus outgrows exact search."""
        if vectors.shape[1:] != (self.dimension,):
            raise ValueError(f"vectors have dimension {vectors.shape[1:]}, index has {self.dimension}")
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        target = factory_for(len(self) + len(ids))
        if target != self.factory:
            self._rebuild(target)
        (self.index if self.factory == factory_for(0) else self.recent).add_with_ids(vectors, ids)
        self._added.append((ids, vectors))
        self.added_since_whole += len(ids)

    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors with these ids: they are marked, and dropped at the next full save (or when the
        index moves back to exact search)."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        present = ids[self._kept(ids) & np.isin(ids, self._stored_ids())]
        if not len(present):
            return
        self.removed.update(present.tolist())
        self._selector = None
        self._dropped.append(present)
        if factory_for(len(self)) != self.factory:
            self._rebuild(factory_for(len(self)))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids) of the ``k`` nearest vectors per query, among ``allowed`` ids when given;
        missing hits have id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, max(len(self), 1))
        if allowed is None and not self.removed:
            params = None
        elif allowed is None:
            params = self._without_removed()
        else:
            chosen = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            selector = faiss.IDSelectorAnd(chosen, self._without_removed().sel) if self.removed else chosen
            params = faiss.SearchParameters(sel=selector)
            params.keep = (chosen, selector, self._selector)  # the selectors are referenced, not owned, by the parameters
        scores, ids = self.index.search(queries, k, params=params)
        if not self.recent.ntotal:
            return scores, ids
        recent_scores, recent_ids = self.recent.search(queries, k, params=params)
        scores, ids = np.hstack([scores, recent_scores]), np.hstack([ids, recent_ids])
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, best, axis=1), np.take_along_axis(ids, best, axis=1)

    def _without_removed(self) -> faiss.SearchParameters:
        """Search parameters that leave out the removed vectors (made once per set of removals)."""
        if self._selector is None:
            marked = faiss.IDSelectorBatch(np.array(sorted(self.removed), dtype=np.int64))
            self._selector = faiss.SearchParameters(sel=faiss.IDSelectorNot(marked))
            self._selector.keep = marked  # the selectors are referenced, not owned, by the parameters
        return self._selector

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (temporary file, fsync, rename), with the ids of removed
        vectors it still holds beside it (``removed_path``).

        Raises:
            OSError: The write failed (a full disk); no temporary file is left.
        """
        if self.removed and (self.factory == factory_for(0) or len(self.removed) >= REBUILD_SHARE * self.index.ntotal):
            self._rebuild(self.factory)
        if self.recent.ntotal:  # into the graph, which is saved whole (the removed ones left out)
            ids, vectors = self._held(self.recent)
            keep = self._kept(ids)
            self.removed -= set(ids[~keep].tolist())
            self._selector = None
            faiss.omp_set_num_threads(os.cpu_count() or 1)  # many graph insertions at once: worth both cores
            try:
                self.index.add_with_ids(vectors[keep], ids[keep])
            finally:
                faiss.omp_set_num_threads(1)
            self.recent = self._new(factory_for(0))

        def write(tmp: Path) -> None:
            try:
                faiss.write_index(self.index, str(tmp))
            except RuntimeError as exc:  # FAISS reports a failed fwrite as a RuntimeError
                raise OSError(errno.EIO, f"writing {tmp.name} failed: {str(exc).strip().splitlines()[-1]}") from None

        def write_removed(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, np.array(sorted(self.removed), np.int64))

        marked = removed_path(path)
        if self.removed:
            _write_atomically(marked, write_removed)
        else:
            marked.unlink(missing_ok=True)  # one a failed save of this generation may have left
        _write_atomically(path, write)
        self._added, self._dropped, self.added_since_whole = [], [], 0

    def save_changes(self, path: Path) -> None:
        """Write what was added and removed since the last save to ``path`` (``.npz``), atomically."""
        added_ids = np.concatenate([ids for ids, _ in self._added]) if self._added else np.zeros(0, np.int64)
        added = np.concatenate([v for _, v in self._added]) if self._added else np.zeros((0, self.dimension), np.float32)
        removed = np.concatenate(self._dropped) if self._dropped else np.zeros(0, np.int64)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, added_ids=added_ids, added=added, removed=removed)

        _write_atomically(path, write)
        self._added, self._dropped = [], []

    def apply_changes(self, path: Path) -> None:
        """Replay a file written by :meth:`save_changes`.

        Raises:
            FileNotFoundError: There is no file at ``path``.
            ValueError: The file is not a readable changes file.
        """
        try:
            with np.load(path) as changes:
                added_ids, added, removed = changes["added_ids"], changes["added"], changes["removed"]
        except FileNotFoundError:
            raise
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path.name} cannot be read: {exc}") from None
        if len(added_ids):
            self.add(added_ids, added)
        if len(removed):
            self.remove(removed)
        self._added, self._dropped = [], []

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        """Read an index written by :meth:`save`.

        Raises:
            FileNotFoundError: There is no file at ``path``.
            RuntimeError: The file is not a readable FAISS index.
        """
        if not path.is_file():
            raise FileNotFoundError(path)
        loaded = cls((index := faiss.read_index(str(path))).d, _tuned(index))
        if removed_path(path).is_file():
            try:
                loaded.removed = set(np.load(removed_path(path)).tolist())
            except (OSError, ValueError, EOFError) as exc:
                raise RuntimeError(f"{removed_path(path).name} cannot be read: {exc}") from None
        return loaded


def removed_path(path: Path) -> Path:
    """Where the ids of the removed vectors a saved index still holds are listed."""
    return path.with_name(path.name + ".removed.npy")


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary file beside ``path``, fsync it and rename it to ``path``.

    Raises:
        OSError: The write failed (a full disk); no temporary file is left.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _tuned(index: faiss.Index) -> faiss.Index:
    """Set the search parameters FAISS does not keep in the file (an HNSW graph's ``efSearch``)."""
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def _ids_of(index: faiss.Index) -> np.ndarray:
    """The ids of an ``IndexIDMap2``'s vectors, in storage order."""
    return faiss.vector_to_array(index.id_map).astype(np.int64)
