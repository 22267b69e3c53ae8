"""The Milvus store's journal of writes under way: Milvus has no transaction across rows, so a write journals
the blocks it fills (``store.py``), and what a stopped write left is deleted by the next."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from index.store.milvus.collections import PLACEHOLDER, quoted

POSITIONS = 1 << 20  # sentence ids per block: an article has fewer sentences than this
STALE_WRITE_S = 600  # on a server, a journal entry this old is a writer that stopped


class WriteJournal:
    """The journal of a Milvus store, mixed into ``MilvusStore`` (which names the collections)."""

    _client: MilvusClient
    lite: bool
    writes: str
    sentences: str
    texts: str

    def _article_rows(self, ids: list[str], fields: list[str]) -> dict[str, dict]:
        raise NotImplementedError

    def _stopped_writes(self) -> list[dict]:
        """Journal entries of writes that stopped: on a server, those begun ``STALE_WRITE_S`` ago or more; in a
        Milvus Lite file, which one process holds at a time, those of any other process."""
        stopped = f"writer != {quoted(_writer())}" if self.lite else f"started < {time.time() - STALE_WRITE_S}"
        return self._client.query(self.writes, filter=stopped,
                                  output_fields=["id", "entries"], limit=1000)

    def _roll_back(self) -> None:
        """Delete what stopped writes left: the rows of every block they journalled that no article names."""
        for entry in self._stopped_writes():
            self._delete_uncommitted([tuple(e) for e in json.loads(entry["entries"])])
            self._client.delete(self.writes, ids=[entry["id"]])

    def _delete_uncommitted(self, entries: list[tuple[str, int, int]]) -> None:
        """Delete the sentences and text parts of (article id, block, text parts) entries, unless the article's
        row names that block (the write committed)."""
        committed = {i: row["block"] for i, row in self._article_rows([e[0] for e in entries], ["block"]).items()}
        for article_id, block, parts in entries:
            if committed.get(article_id) != block:
                self._client.delete(self.sentences, filter=f"id >= {block * POSITIONS} and id < {(block + 1) * POSITIONS}")
                if parts:
                    self._client.delete(self.texts, ids=[f"{article_id}:{block}:{n}" for n in range(parts)])

    @contextmanager
    def _journal(self, entries: list[tuple[str, int, int]]) -> Iterator[None]:
        """Journal a write's (article id, block, text parts) for the time it runs; if it fails, delete the rows
        of the blocks no article names (an add's uncommitted ones, a removal's once its article row is gone)."""
        key = uuid.uuid4().hex
        self._client.insert(self.writes, [{"id": key, "started": time.time(), "writer": _writer(), "entries": json.dumps(entries),
                                           "placeholder": PLACEHOLDER}])
        try:
            yield
        except BaseException:
            try:
                self._delete_uncommitted(entries)
                self._client.delete(self.writes, ids=[key])
            except MilvusException:
                pass  # the journal entry stays, and a later write clears the rows
            raise
        self._client.delete(self.writes, ids=[key])


def _writer() -> str:
    """Who journals a write: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"
