"""Preparing articles on a Dask distributed cluster: the workers split, embed and sign them (``index.indexer``'s
``prepare``), and the submitting process writes what comes back through its one store, as a local add does.

Reading files stays with the submitting process, so the workers need no access to its disk and a bad file is
reported as it is today. Each worker loads the embedder once and keeps it. A worker lost mid-run loses nothing:
Dask computes its batches again on another worker.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from index.articles import Article
from index.embedder import Embedder
from index.indexer import prepare
from index.sentences import Sentence
from index.store.base import PreparedArticle, StoreError
from index.text import error_line

if TYPE_CHECKING:
    from distributed import Client

SCHEDULER_VARIABLE = "QA_DASK_SCHEDULER"
BATCH_SENTENCES = 2_000  # sentences a task embeds: large enough that a task's overhead is small beside it
CONNECT_TIMEOUT_S = 10
RETRIES = 2  # a batch that raises on a worker is tried this many more times before the add fails


class ClusterError(StoreError):
    """The cluster cannot be reached or cannot prepare the articles; the message is one line."""


@cache
def worker_embedder(kind: type[Embedder]) -> Embedder:
    """The embedder of this kind a worker process keeps for every batch it prepares."""
    return kind()


def prepare_on_worker(split: list[tuple[Article, list[Sentence]]], kind: type[Embedder]) -> list[PreparedArticle]:
    """A Dask task: embed and sign one batch of split articles with this worker's embedder."""
    return prepare(split, worker_embedder(kind))


def batches(split: list[tuple[Article, list[Sentence]]], size: int = BATCH_SENTENCES) -> list[list]:
    """The split articles in order, in batches of about ``size`` sentences (an article is never cut)."""
    out: list[list] = [[]]
    held = 0
    for article, sentences in split:
        if out[-1] and held + len(sentences) > size:
            out.append([])
            held = 0
        out[-1].append((article, sentences))
        held += len(sentences)
    return [batch for batch in out if batch]


class ClusterPreparer:
    """``index.indexer.prepare`` on the workers of a Dask cluster (``qa index add --cluster ADDRESS``)."""

    def __init__(self, address: str) -> None:
        """Connect to the scheduler at ``address`` (``tcp://HOST:PORT``).

        Raises:
            ClusterError: Dask is not installed, or no scheduler answers there.
        """
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError('indexing on a cluster needs Dask: pip install -e ".[cluster]"') from None
        self.address = address
        try:
            self.client: Client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {error_line(exc)}") from None

    @classmethod
    def from_env(cls, address: str | None) -> "ClusterPreparer | None":
        """The preparer for ``address``, else ``$QA_DASK_SCHEDULER``; ``None`` when neither names one."""
        address = address or os.environ.get(SCHEDULER_VARIABLE)
        return cls(address) if address else None

    def __call__(self, split: list[tuple[Article, list[Sentence]]], embedder: Embedder,
                 progress: bool = False) -> list[PreparedArticle]:
        """Prepare the split articles on the workers, in order (``progress`` is the workers' own business)."""
        if not split:
            return []
        futures = self.client.map(prepare_on_worker, batches(split), kind=type(embedder), retries=RETRIES,
                                  pure=False)
        try:
            prepared = [p for batch in self.client.gather(futures) for p in batch]
        except Exception as exc:  # noqa: BLE001 - whatever a task raised, the add stops with one line
            raise ClusterError(f"the cluster at {self.address} could not prepare the articles: {error_line(exc)}") from None
        finally:
            self.client.cancel(futures)
        if any(p.vectors.shape[1:] != (embedder.dimension,) for p in prepared):
            raise ClusterError(f"the workers at {self.address} embed with another model than the index")
        return prepared

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running)."""
        self.client.close()
