"""The FAISS side of the FAISS+SQLite store: sentence vectors saved as one file per write (*generation*).

The file is the whole FAISS index (``vectors.G.faiss``, the *base*) or, while the changes since the base are
small beside it, only those changes (``changes.G.npz``): a load reads the base and replays the changes after
it, so adding an article to a big index writes a small file instead of the whole index. The generation
committed last is recorded in the SQLite ``meta`` table by the same transaction as the write's rows.
"""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from pathlib import Path

from index.embedder import Embedder
from index.store.text_cache import TextCache
from index.vectors import VectorIndex, factory_for

# A write saves the whole index again once the changes since the last full save reach this share of its
# size, or this many change files: loading replays every change file after the base.
COMPACT_SHARE = 0.1
MAX_CHANGE_FILES = 64
# Vectors added to a graph index since its last full save are searched exactly beside it (``VectorIndex.recent``):
# a write saves the whole graph, with them in it, once they are this many, so that search stays a few ms.
MAX_REPLAYED_GRAPH_VECTORS = 20_000


class VectorGenerations:
    """The vector files of an index folder, mixed into ``FaissSqliteStore`` (which reads ``meta``)."""

    directory: Path
    embedder: Embedder
    generation: int
    base: int
    vectors: VectorIndex
    damage: str | None
    _texts: TextCache

    _db: sqlite3.Connection

    def _meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def _vector_path(self, generation: int) -> Path:
        return self.directory / f"vectors.{generation}.faiss"

    def _changes_path(self, generation: int) -> Path:
        return self.directory / f"changes.{generation}.npz"

    def _generation_files(self, generation: int, base: int) -> list[Path]:
        """The files that hold a generation's vectors: its base (with its list of removed vectors, when there is
        one) and the change files after it."""
        return [*self.directory.glob(f"vectors.{base}.faiss*"), *map(self._changes_path, range(base + 1, generation + 1))]

    def _generations(self) -> tuple[int, int]:
        """The committed generation and its base (an index older than change files has its base at the generation)."""
        meta = self._meta()
        generation = int(meta["generation"])
        return generation, int(meta.get("base", generation))

    def _load_vectors(self, full: bool = False) -> None:
        """Load the vectors of the committed generation (its base, then the changes after it); a missing or
        unreadable file is recorded in ``damage``.

        Args:
            full: Read the base again even when only change files were written since the last load (by
                default those alone are replayed: at a million sentences a full load takes seconds).
        """
        generation, base = self._generations()
        if not full and self._catch_up(generation, base):
            return
        while True:
            path = self._vector_path(base)
            try:
                vectors = VectorIndex.load(path) if base else VectorIndex(self.embedder.dimension)
                if vectors.dimension != self.embedder.dimension:
                    damage = f"{path.name} holds {vectors.dimension}-dimension vectors"
                    break
                for later in range(base + 1, generation + 1):
                    path = self._changes_path(later)
                    vectors.apply_changes(path)
                damage = None
                break
            except FileNotFoundError:
                # Writes may have committed (and cleaned up) since the generation was read; read it again.
                latest = self._generations()
                if latest != (generation, base):
                    generation, base = latest
                    continue
                vectors, damage = VectorIndex(self.embedder.dimension), f"{path.name} is missing"
                break
            except (RuntimeError, ValueError):  # FAISS's message names its own source files, not the problem
                vectors, damage = VectorIndex(self.embedder.dimension), f"{path.name} cannot be read (damaged or incomplete)"
                break
        self.generation, self.base, self.vectors, self.damage = generation, base, vectors, damage
        self._texts.clear()

    def _catch_up(self, generation: int, base: int) -> bool:
        """Replay on the loaded vectors the change files committed since they were loaded, when that is all
        that happened (the same base, later generations, no uncommitted change held); whether it did."""
        if self.damage or self.vectors.changed or base != self.base or generation <= self.generation:
            return False
        try:
            for later in range(self.generation + 1, generation + 1):
                self.vectors.apply_changes(self._changes_path(later))
        except (FileNotFoundError, RuntimeError, ValueError):
            return False  # a full load starts over and records what is wrong
        self.generation = generation
        self._texts.clear()
        return True

    def _full_save_due(self) -> bool:
        """Whether this write saves the whole index: there is no base yet, or the changes since it (with this
        write's) have grown past ``COMPACT_SHARE`` of its size, ``MAX_CHANGE_FILES`` files or, for a graph
        index, ``MAX_REPLAYED_GRAPH_VECTORS`` vectors."""
        if not self.base or self.generation - self.base >= MAX_CHANGE_FILES:
            return True
        if self.vectors.factory != factory_for(0) and self.vectors.added_since_whole >= MAX_REPLAYED_GRAPH_VECTORS:
            return True
        with suppress(OSError):
            changed = sum(self._changes_path(g).stat().st_size for g in range(self.base + 1, self.generation + 1))
            changed += self.vectors.changed * (self.embedder.dimension * 4 + 8)
            return changed >= COMPACT_SHARE * self._vector_path(self.base).stat().st_size
        return True

    def _remove_old_files(self) -> None:
        """Delete the files no reader needs any more, and temporary files a crash left.

        A reader of the previous generation may still be loading its files: after a full save that is the
        previous base and the changes after it, otherwise this base and the changes up to it.
        """
        oldest = int(self._meta().get("previous_base", self.base)) if self.generation == self.base else self.base
        for path in [*self.directory.glob("vectors.*.faiss*"), *self.directory.glob("changes.*.npz*")]:
            parts = path.name.split(".")
            if len(parts) < 3 or not parts[1].isdigit():
                continue
            generation, temporary = int(parts[1]), path.suffix == ".tmp"
            old = generation < oldest if parts[0] == "vectors" else generation <= oldest
            # a writer that started after this commit writes generation + 1 only
            if (old and not temporary) or (temporary and generation <= self.generation):
                path.unlink(missing_ok=True)
