"""Retrieval: the windows of the sentences nearest to a question, found by dense search and BM25, each scored
by its sentence's similarity to the question, how much of the question its window holds and whether its article
reports the time the question asks about.

Rank fusion of the two searches cost news questions what it gained on SQuAD (news recall@5 0.887 against 0.912
for dense search alone; SQuAD 0.941 against 0.899): it gives BM25's best window a fixed share of the vote
however little of the question it holds, and the long, paraphrased news questions match many windows on a
few words. Scored on one scale instead, a window gains from keyword search only as far as it holds the
question's rarer words (``bench/retrieval.py`` measures the variants side by side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta

from index.articles import Article
from index.embedder import Embedder
from index.store.base import SearchFilter, Store
from index.text import WINDOW_RADIUS, content_terms, parse_date, stemmed_terms
from qa.question_time import reporting_period

CANDIDATES = 100  # per search, before scoring
PERIOD_CANDIDATES = 50  # per search of the period a question asks about (``scored_sentences``)
WINDOWS = 5  # windows returned, and read for each question
# A window's score is the cosine similarity of the question and its sentence, plus (in the same units, chosen
# on the whole news set and the 2,000 SQuAD v1.1 dev questions of `qa eval --limit 2000`, where the news set's
# training and test parts agree within 0.01 of recall@5):
COVERAGE_WEIGHT = 0.5  # times the IDF-weighted share of the question's content words that the window holds
# when the window's article is dated in the period the question asks about: about the similarity that separates
# a story from a look-alike of another week, so that a much closer older story still comes first
REPORTED_WEIGHT = 0.05
# An article dated after the day a question is asked was not published then; a day's grace for time zones.
PUBLISHED_GRACE = timedelta(days=1)


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
        score: Retrieval score (higher is better; ``scored_sentences``).
        text: The window text, ``article.text[start:end]``.
        title: The article's title.
        date: The article's date (``YYYY-MM-DD``), when known.
        source: Where the article came from (file path or URL).
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
    title: str = ""
    date: str | None = None
    source: str = ""

    def slice(self, start: int, end: int) -> str:
        """The article's text between two article offsets inside the window."""
        return self.text[start - self.start : end - self.start]


def keyword_coverage(corpus: Store, question: str, ids: list[int]) -> dict[int, float]:
    """The share of the question's content words that each sentence's window holds, each word weighted by its
    inverse document frequency over the windows (a word no window holds says nothing and weighs 0)."""
    asked = stemmed_terms(" ".join(content_terms(question)))
    if not asked or not ids:
        return dict.fromkeys(ids, 0.0)
    counts, total = corpus.term_windows(sorted(asked))
    weights = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) if n else 0.0
               for term, n in ((term, counts.get(term, 0)) for term in asked)} if total else dict.fromkeys(asked, 1.0)
    whole = sum(weights.values()) or 1.0
    held = corpus.window_terms(ids, asked)
    return {i: sum(weights[term] for term in held.get(i, ())) / whole for i in ids}


def within(where: SearchFilter | None, since: date, until: date) -> SearchFilter | None:
    """``where`` narrowed to articles dated from ``since`` to ``until``; ``None`` when nothing is left."""
    where = where or SearchFilter()
    since, until = max(since, where.since or since), min(until, where.until or until)
    return replace(where, since=since, until=until) if since <= until else None


def scored_sentences(
    corpus: Store, question: str, where: SearchFilter | None = None, as_of: date | None = None,
    embedder: Embedder | None = None,
) -> list[tuple[int, float]]:
    """Candidate sentences for a question, best first, each with its score (see ``COVERAGE_WEIGHT``).

    Dense search and BM25 each give ``CANDIDATES``; when the question asks about a time (``reporting_period``
    of ``as_of``, default today), both search the articles of that period again for ``PERIOD_CANDIDATES``, so
    that its best sentences are among the candidates and gain ``REPORTED_WEIGHT``. ``embedder`` embeds the
    question (default: the index's own).
    """
    vector = (embedder or corpus.embedder).embed_query(question)
    dense = corpus.dense_search(vector, CANDIDATES, where)
    keyword = corpus.keyword_search(question, CANDIDATES, where)
    similarity = dict(dense)
    floor = min(similarity.values(), default=0.0)  # no sentence outside the dense results is closer
    candidates = [i for i, _ in dense] + [i for i, _ in keyword]
    reported: set[int] = set()
    period = reporting_period(question, as_of or date.today())
    narrowed = within(where, *period) if period else None
    # No keyword search of a period without articles (nothing dated then, or an undated corpus).
    if narrowed is not None and (recent := corpus.dense_search(vector, PERIOD_CANDIDATES, narrowed)):
        recent_keyword = corpus.keyword_search(question, PERIOD_CANDIDATES, narrowed)
        similarity.update(recent)
        floor = min(floor, recent[-1][1])
        reported = {i for i, _ in recent} | {i for i, _ in recent_keyword}
        candidates += [i for i, _ in recent] + [i for i, _ in recent_keyword]
    candidates = list(dict.fromkeys(candidates))
    coverage = keyword_coverage(corpus, question, candidates)
    scores = {
        i: similarity.get(i, floor) + COVERAGE_WEIGHT * coverage[i] + REPORTED_WEIGHT * (i in reported)
        for i in candidates
    }
    # A tie is the same window in copies of one story: the copy indexed first (the lower id) answers, the others
    # are listed beside it.
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def retrieve(
    corpus: Store, question: str, k: int = WINDOWS, where: SearchFilter | None = None, as_of: date | None = None,
    embedder: Embedder | None = None,
) -> list[Passage]:
    """The ``k`` best windows for a question, none centred on a sentence an earlier window holds, nor on a
    sentence that an earlier window of another copy of the same story holds (near-duplicates do not crowd out
    other articles).

    Args:
        corpus: The index to search.
        question: The question text.
        k: How many windows to return.
        where: Search only the articles this allows (dates, source).
        as_of: The day the question is asked (default: today): articles of the time it asks about rank higher,
            and articles dated after it (``PUBLISHED_GRACE``) are left out.
        embedder: What embeds the question (default: the model the index was built with).
    """
    corpus.refresh()
    published_by = (as_of or date.today()) + PUBLISHED_GRACE
    return windows(corpus, scored_sentences(corpus, question, where, as_of, embedder), k, published_by)


def windows(
    corpus: Store, ranked: list[tuple[int, float]], k: int = WINDOWS, published_by: date | None = None
) -> list[Passage]:
    """The windows of the ``k`` best of the ranked sentences (id, score), none centred on a sentence an earlier
    window holds, nor on a sentence that an earlier window of another copy of the same story holds, nor from an
    article dated after ``published_by`` (undated articles always count)."""
    passages: list[Passage] = []
    covered: set[int] = set()
    held: set[tuple[str, str]] = set()  # (first copy of the story, sentence text) of every window sentence
    articles: dict[str, Article | None] = {}
    for chunk in range(0, len(ranked), 4 * k):
        batch = ranked[chunk : chunk + 4 * k]
        rows = corpus.sentence_rows([i for i, _ in batch])
        stories = corpus.first_copies(list({row.article_id for row in rows.values()}))
        for sentence_id, score in batch:
            row = rows.get(sentence_id)
            if row is None or sentence_id in covered:  # removed since the search, or already shown
                continue
            if row.article_id not in articles:
                articles[row.article_id] = corpus.article(row.article_id)
            article = articles[row.article_id]
            if article is None or row.article_id not in stories:  # another process removed it since the search
                continue
            if published_by is not None and (published := parse_date(article.date)) is not None and published > published_by:
                continue
            story = stories[row.article_id]
            if (story, _plain(article.text[row.start : row.end])) in held:  # another copy's window holds it
                continue
            window = corpus.neighbours(row, WINDOW_RADIUS)
            covered.update(w.id for w in window)
            held.update((story, _plain(article.text[w.start : w.end])) for w in window)
            start, end = window[0].start, window[-1].end
            passages.append(Passage(row.article_id, row.id, start, end, row.start, row.end,
                                    tuple((w.start, w.end) for w in window), score, article.text[start:end],
                                    article.title, article.date, article.source))
            if len(passages) == k:
                return passages
    return passages


def _plain(sentence: str) -> str:
    """A sentence with its white space made single spaces, to compare copies."""
    return " ".join(sentence.split())
