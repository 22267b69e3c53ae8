"""Hybrid retrieval: dense FAISS search and BM25, fused by reciprocal rank, returned as windows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from index.corpus import Corpus
from index.embedder import embed

CANDIDATES = 50  # per retriever, before fusion
RRF_K = 60
RADIUS = 1  # neighbours each side: windows of at most three sentences


@dataclass(frozen=True)
class Passage:
    """A retrieved window: a sentence with its neighbours, as offsets into its article.

    Attributes:
        article_id: The article the window comes from.
        sentence_id: Row id of the retrieved (centre) sentence.
        start: Window start in the article text.
        end: Window end in the article text.
        sentence_start: Start of the retrieved sentence in the article text.
        sentence_end: End of the retrieved sentence in the article text.
        sentences: (start, end) of every sentence in the window, in article offsets.
        score: Fused retrieval score (higher is better).
        text: The window text, ``article.text[start:end]``.
    """

    article_id: str
    sentence_id: int
    start: int
    end: int
    sentence_start: int
    sentence_end: int
    sentences: tuple[tuple[int, int], ...]
    score: float
    text: str


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse ranked id lists: each id scores the sum of ``1 / (k + rank)``, best first."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def retrieve(corpus: Corpus, question: str, k: int = 5, radius: int = RADIUS) -> list[Passage]:
    """The ``k`` best windows for a question.

    Args:
        corpus: The index to search.
        question: The question text.
        k: How many windows to return.
        radius: Neighbour sentences each side of the retrieved sentence.
    """
    corpus.refresh()
    dense = corpus.dense_search(embed([question])[0], CANDIDATES)
    keyword = corpus.keyword_search(question, CANDIDATES)
    fused = reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in keyword]])[:k]
    rows = corpus.sentence_rows([i for i, _ in fused])
    passages = []
    for sentence_id, score in fused:
        row = rows.get(sentence_id)
        if row is None:  # removed since the search
            continue
        window = corpus.neighbours(row, radius)
        text = corpus.article_text(row.article_id)
        start, end = window[0].start, window[-1].end
        passages.append(
            Passage(row.article_id, row.id, start, end, row.start, row.end, tuple((w.start, w.end) for w in window), score, text[start:end])
        )
    return passages
