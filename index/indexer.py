"""Adding articles to a store: split -> embed -> sign -> one prepared batch for ``Store.write``.

Every way an article arrives (``index.ingest``) and every rebuild goes through here, so each backend only
stores what it is handed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from index import duplicates
from index.articles import Article
from index.embedder import Embedder
from index.sentences import Sentence, split_sentences
from index.store.base import PreparedArticle, Store

ADDED, UNCHANGED, NO_SENTENCES = "added", "unchanged", "no sentences"
PROGRESS_FROM = 500  # sentences; show a progress bar on longer embedding runs
# What embeds and signs split articles: ``prepare`` here, or ``index.cluster.ClusterPreparer`` on a Dask cluster.
Prepare = Callable[[list[tuple[Article, list[Sentence]]], Embedder, bool], list[PreparedArticle]]


def plan(articles: list[Article], known: set[str]) -> tuple[list[str], list[tuple[Article, list[Sentence]]]]:
    """What adding ``articles`` to an index holding ``known`` ids does: each article's status, and the new
    articles with their sentences (an article given twice is added once)."""
    known = set(known)
    statuses, split = [], []
    for article in articles:
        if article.id in known:
            statuses.append(UNCHANGED)
            continue
        sentences = split_sentences(article.text)
        if not sentences:
            statuses.append(NO_SENTENCES)
            continue
        known.add(article.id)
        split.append((article, sentences))
        statuses.append(ADDED)
    return statuses, split


def prepare(split: list[tuple[Article, list[Sentence]]], embedder: Embedder, progress: bool = False) -> list[PreparedArticle]:
    """Embed the sentences of split articles and sign each article; a progress bar on long runs."""
    texts = [article.text[s.start : s.end] for article, sentences in split for s in sentences]
    vectors = embedder.embed(texts, progress=progress and len(texts) >= PROGRESS_FROM)
    rows = np.cumsum([0] + [len(sentences) for _, sentences in split])
    return [PreparedArticle(article, sentences, vectors[rows[n] : rows[n + 1]], duplicates.signature(article.text))
            for n, (article, sentences) in enumerate(split)]


def add_articles(store: Store, articles: list[Article], progress: bool = False,
                 prepared_by: Prepare = prepare) -> list[tuple[Article, str]]:
    """Index new articles; ones already indexed (same content hash) are left alone. ``prepared_by`` embeds and
    signs them (default: here, with the store's embedder).

    Returns:
        Each article with its status: ``ADDED``, ``UNCHANGED`` (already indexed, also when another process
        indexed it meanwhile) or ``NO_SENTENCES`` (nothing to index, skipped).

    Raises:
        IndexReadOnlyError: The store was opened read-only.
        StoreError: The store cannot be written; nothing of this batch is stored.
    """
    if store.read_only:
        store.write([])  # says, in the store's own words, why it cannot be written
    statuses, split = plan(articles, store.known([a.id for a in articles]))
    added = store.write(prepared_by(split, store.embedder, progress)) if split else set()
    return [(article, UNCHANGED if status == ADDED and article.id not in added else status)
            for article, status in zip(articles, statuses)]
