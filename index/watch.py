"""Watching a folder: article files are indexed once they stop changing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from index.articles import expand_paths
from index.ingest import Outcome, add_files
from index.store.base import Store

Signature = tuple[int, int]  # size and modification time (ns) of a file


class FolderWatch:
    """Indexes the article files of a folder as they appear or change.

    A file is read only when two looks in a row, ``interval`` apart, find the
    same size and modification time, so a file still being written or copied is
    not read half-way. Polling needs no notification support from the file
    system (network and container mounts included) and costs one ``stat`` per
    file per look.
    """

    def __init__(self, corpus: Store, folder: Path, on_outcome: Callable[[Outcome], None] | None = None) -> None:
        self.corpus, self.folder, self.on_outcome = corpus, folder, on_outcome
        self._last: dict[Path, Signature] = {}  # what the previous look saw
        self._done: dict[Path, Signature] = {}  # what was indexed (or reported) at which signature

    def poll(self) -> list[Outcome]:
        """Look once; index the files that were there, unchanged, at the previous look too."""
        current: dict[Path, Signature] = {}
        for path in expand_paths([self.folder]) if self.folder.is_dir() else []:
            try:
                info = path.stat()
            except OSError:
                continue  # removed or renamed since it was listed
            current[path] = (info.st_size, info.st_mtime_ns)
        ready = [p for p, signature in current.items() if self._last.get(p) == signature and self._done.get(p) != signature]
        self._last = current
        if not ready:
            return []
        outcomes = add_files(self.corpus, [(p, str(p)) for p in ready], on_outcome=self.on_outcome)
        self._done.update((p, current[p]) for p in ready)
        return outcomes

    def run(self, interval: float = 2.0, stop: threading.Event | None = None) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set (or forever)."""
        stop = stop or threading.Event()
        while True:
            self.poll()
            if stop.wait(interval):
                return
