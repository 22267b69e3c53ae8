"""``answer()``: retrieve windows for a question and pick the answer span from them."""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from index.corpus import Corpus, default_dir
from qa.reader import Reader, WindowSpan
from qa.retriever import Passage, retrieve
from qa.squad import normalize_answer

MAX_QUESTION_CHARS = 1000
WINDOWS = 5
SHOWN_ANSWERS = 3  # what the chat and `qa ask` show: the best answer and two alternatives
READER = Reader()  # loads its weights on the first question
NOT_FOUND = "The articles don't say."
EMPTY_INDEX = "no articles indexed yet"


class QuestionError(ValueError):
    """A question that cannot be asked (blank)."""


@dataclass(frozen=True)
class Span:
    """A candidate answer: offsets into a passage's text and a score in [0, 1]."""

    passage: Passage
    start: int
    end: int
    score: float

    @property
    def text(self) -> str:
        """The span's text."""
        return self.passage.text[self.start : self.end]


@dataclass(frozen=True)
class Source:
    """The article an answer or sentence comes from."""

    id: str
    title: str
    date: str | None
    source: str
    url: str | None


@dataclass(frozen=True)
class Evidence:
    """A sentence shown as support, with its window and article.

    Attributes:
        sentence: The sentence text.
        window: The sentence with its neighbours.
        article: Where it comes from.
        start: Sentence start in the article text.
        end: Sentence end in the article text.
    """

    sentence: str
    window: str
    article: Source
    start: int
    end: int


@dataclass(frozen=True)
class Answer:
    """An extracted answer, or an abstention.

    Attributes:
        question: The question as answered (possibly truncated).
        text: The answer span copied from the article; empty when the articles don't say.
        score: Confidence in [0, 1].
        sentence: The sentence containing the answer (closest sentence when abstaining).
        window: The window the answer was read from.
        article: The article of the sentence, or ``None`` when nothing was retrieved.
        start: Answer start in the article text (``article_text[start:end] == text``).
        end: Answer end in the article text.
        context_start: Answer start in ``window``.
        context_end: Answer end in ``window``.
        alternatives: Next best distinct answers.
        closest: When abstaining, the sentences closest to the question.
        message: Why there is no answer, or a notice about the question.
    """

    question: str
    text: str
    score: float
    sentence: str = ""
    window: str = ""
    article: Source | None = None
    start: int = 0
    end: int = 0
    context_start: int = 0
    context_end: int = 0
    alternatives: tuple["Answer", ...] = ()
    closest: tuple[Evidence, ...] = ()
    message: str = ""

    @property
    def found(self) -> bool:
        """Whether the articles answered the question."""
        return bool(self.text)

    def to_dict(self) -> dict:
        """A JSON-ready dict (the ``qa ask --json`` object)."""
        data = asdict(self)
        data["answer"] = data.pop("text")
        for alt in data["alternatives"]:
            alt["answer"] = alt.pop("text")
            del alt["alternatives"], alt["closest"]
        return data


def clean_question(question: str) -> tuple[str, str]:
    """Strip and bound a question; returns it with a notice when it was truncated."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty")
    question = " ".join(question.split())
    if len(question) > MAX_QUESTION_CHARS:
        return question[:MAX_QUESTION_CHARS], f"question truncated to {MAX_QUESTION_CHARS} characters"
    return question, ""


_corpora: dict[Path, Corpus] = {}
_lock = threading.Lock()


def open_corpus(index_dir: Path | str | None = None) -> Corpus:
    """The corpus of an index folder, opened once per process."""
    path = Path(index_dir) if index_dir is not None else default_dir()
    key = path.resolve()
    with _lock:
        if key not in _corpora:
            _corpora[key] = Corpus(path)
        return _corpora[key]


def _source(corpus: Corpus, article_id: str) -> Source:
    article = corpus.article(article_id)
    return Source(article.id, article.title, article.date, article.source, article.url)


def _sentence_at(passage: Passage, offset: int) -> tuple[int, int]:
    """The (start, end) article offsets of the window sentence holding ``offset`` (an article offset)."""
    return next((s for s in passage.sentences if offset < s[1]), passage.sentences[-1])


def _evidence(corpus: Corpus, passage: Passage) -> Evidence:
    """The retrieved sentence of a passage as evidence."""
    text = corpus.article_text(passage.article_id)
    start, end = passage.sentence_start, passage.sentence_end
    return Evidence(text[start:end], passage.text, _source(corpus, passage.article_id), start, end)


def score_spans(
    passages: list[Passage], found: list[WindowSpan | None], reader: Reader, rank_penalty: float
) -> list[Span]:
    """Score the reader's span in each retrieved passage, best first.

    A span's margin is lowered by ``rank_penalty * ln(rank)`` of its passage in
    the retrieval order before calibration: retrieval ranks carry evidence that
    the reader does not see (tuned by ``qa.train_reader.calibrate``).
    """
    spans = [
        Span(passage, span.start, span.end, reader.probability(span.margin - rank_penalty * math.log(rank)))
        for rank, (passage, span) in enumerate(zip(passages, found), 1)
        if span is not None and span.end > span.start
    ]
    return sorted(spans, key=lambda s: -s.score)


def read_passages(question: str, passages: list[Passage], reader: Reader = READER) -> list[WindowSpan | None]:
    """The reader's best span in each passage, never crossing the index's sentence bounds."""
    starts = [[start - p.start for start, _ in p.sentences] for p in passages]
    return reader.read(question, [p.text for p in passages], starts)


def pick_spans(question: str, passages: list[Passage], stop_early: bool = False) -> list[Span]:
    """The reader's best span in each passage, scored by calibrated probability, best first.

    Args:
        question: The question.
        passages: Retrieved windows, best first.
        stop_early: Read the first window alone, and stop there when its span
            reaches the reader's ``stop_probability``. Later windows then go
            unread: that is nearly free in F1 (a confident first window is
            rarely beaten) but leaves no alternatives.
    """
    first = 1 if stop_early else len(passages)
    found = read_passages(question, passages[:first])
    spans = score_spans(passages[:first], found, READER, READER.rank_penalty)
    if first < len(passages) and not (spans and spans[0].score >= READER.stop_probability):
        found += read_passages(question, passages[first:])
        spans = score_spans(passages, found, READER, READER.rank_penalty)
    return spans


def _overlaps(a: Span, b: Span) -> bool:
    """Whether two spans cover the same place of one article (overlapping windows read the same sentence)."""
    a_start, b_start = a.passage.start + a.start, b.passage.start + b.start
    return (
        a.passage.article_id == b.passage.article_id
        and a_start < b_start + (b.end - b.start)
        and b_start < a_start + (a.end - a.start)
    )


def merge_spans(spans: list[Span]) -> list[Span]:
    """Distinct answers, best first.

    Spans at the same place count once (the best of them): readings of one
    sentence in overlapping windows are not independent evidence, and counting
    them made scores overconfident. Spans with the same text at different places
    are one answer: each is separate evidence, so the answer's score is their
    noisy-or, ``1 - prod(1 - score)``, and its best span stands for it.
    """
    places: list[Span] = []
    for span in sorted(spans, key=lambda s: -s.score):
        if not any(_overlaps(span, p) for p in places):
            places.append(span)
    groups: dict[str, list[Span]] = {}
    for span in places:
        groups.setdefault(normalize_answer(span.text), []).append(span)
    merged = [replace(group[0], score=1.0 - math.prod(1.0 - s.score for s in group)) for group in groups.values()]
    return sorted(merged, key=lambda s: -s.score)


def _make_answer(corpus: Corpus, question: str, span: Span, notice: str = "") -> Answer:
    passage = span.passage
    start, end = passage.start + span.start, passage.start + span.end
    s_start, s_end = _sentence_at(passage, start)
    text = corpus.article_text(passage.article_id)
    return Answer(
        question=question,
        text=text[start:end],
        score=round(span.score, 4),
        sentence=text[s_start:s_end],
        window=passage.text,
        article=_source(corpus, passage.article_id),
        start=start,
        end=end,
        context_start=span.start,
        context_end=span.end,
        message=notice,
    )


def _abstain(corpus: Corpus, question: str, passages: list[Passage], score: float, notice: str) -> Answer:
    closest = tuple(_evidence(corpus, p) for p in passages[:3])
    best = closest[0]
    return Answer(
        question=question,
        text="",
        score=round(score, 4),
        sentence=best.sentence,
        window=best.window,
        article=best.article,
        closest=closest,
        message=" ".join(filter(None, [NOT_FOUND, notice])),
    )


def answer(question: str, top_k: int = 1, index_dir: Path | str | None = None, corpus: Corpus | None = None) -> Answer:
    """Answer a question from the indexed articles.

    Args:
        question: The question.
        top_k: How many answers to return: the best plus up to ``top_k - 1``
            alternatives. With ``top_k=1`` reading stops at a confident first
            window (about twice as fast at the median); alternatives need
            every window read.
        index_dir: Index folder (default ``$QA_INDEX_DIR`` or ``data/index``).
        corpus: An open corpus to use instead of ``index_dir``.

    Returns:
        The answer; when the articles don't say, its ``text`` is empty and
        ``closest`` holds the sentences nearest to the question.

    Raises:
        QuestionError: The question is blank.
    """
    question, notice = clean_question(question)
    corpus = corpus or open_corpus(index_dir)
    passages = retrieve(corpus, question, k=WINDOWS)
    if not passages:
        message = EMPTY_INDEX if not corpus.stats()["articles"] else NOT_FOUND
        return Answer(question, "", 0.0, message=" ".join(filter(None, [message, notice])))
    candidates = merge_spans(pick_spans(question, passages, stop_early=top_k == 1))
    accepted = [s for s in candidates if s.score >= READER.threshold]
    if not accepted:
        return _abstain(corpus, question, passages, candidates[0].score if candidates else 0.0, notice)
    best, *others = accepted[: max(1, top_k)]
    alternatives = tuple(_make_answer(corpus, question, s) for s in others)
    return replace(_make_answer(corpus, question, best, notice), alternatives=alternatives)
