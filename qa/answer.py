"""What an answer is (``Answer``, ``Source``, ``Evidence``) and how it is made from the reader's spans in retrieved windows.

``qa.pipeline.Pipeline`` wires these steps to an index and a reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from index.articles import printable, web_address
from index.sentences import sentence_at
from index.store.base import Store
from qa.ranking import Span, rank_answers, readings
from qa.reader import SpanReader, WindowSpan
from qa.retriever import WINDOWS, Passage
from qa.span_model import passage_header
from qa.timeline import changed_figures, other_dates_matter, prefer_named_time

MAX_QUESTION_CHARS = 1000
SHOWN_ANSWERS = 3  # what the chat and `qa ask` show: the best answer and two alternatives
NOT_FOUND = "The articles don't say."
UNSURE = "The articles don't say for sure."
# Below the confidence threshold, an answer scored at least this is shown as unsure ("Possibly: ...");
# below it the articles plainly don't say.
UNSURE_FLOOR = 0.1
EMPTY_INDEX = "no articles indexed yet"


class QuestionError(ValueError):
    """A question that cannot be asked (blank)."""


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
        sentence_offset: Answer start in ``sentence`` (``sentence[sentence_offset:][:len(text)] == text``).
        alternatives: Next best distinct answers.
        closest: When abstaining, the sentences closest to the question.
        candidate: When abstaining, the best answer found if it scored at least
            ``UNSURE_FLOOR``: shown as unsure, never as the answer.
        message: Why there is no answer, or a notice about the question.
        sources: Every article whose text holds the answer's sentence: ``article``
            first, then other copies of the same story (near-duplicates).
        timeline: When the answer is a figure that articles of different dates
            give differently: the answer of each date, newest first. The answer
            itself is then the newest (``timeline[0]``).
        id: Names this answer in feedback (``qa.readers``); set by ``Pipeline.answer``.
        features: What the answer (the candidate, when abstaining) was scored on (``qa.ranking.ANSWER_FEATURES``).
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
    sentence_offset: int = 0
    alternatives: tuple["Answer", ...] = ()
    closest: tuple[Evidence, ...] = ()
    candidate: "Answer | None" = None
    message: str = ""
    sources: tuple[Source, ...] = ()
    timeline: tuple["Answer", ...] = ()
    id: str = ""
    features: Mapping[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def found(self) -> bool:
        """Whether the articles answered the question."""
        return bool(self.text)

    def to_dict(self) -> dict:
        """A JSON-ready dict (the ``qa ask --json`` object, ``qa.schema.AnswerJSON``)."""
        from qa.schema import AnswerJSON  # pydantic only where JSON is asked for

        return AnswerJSON.model_validate(self).model_dump()


def clean_question(question: str) -> tuple[str, str]:
    """Strip and bound a question; returns it with a notice when it was truncated."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty")
    question = " ".join(printable(question).replace("\ufffd", " ").split())
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        return question[:MAX_QUESTION_CHARS], f"question truncated to {MAX_QUESTION_CHARS} characters"
    return question, ""


def _source(passage: Passage) -> Source:
    """The article of a passage (read with it, so a removal by another process meanwhile cannot break it)."""
    return Source(passage.article_id, passage.title, passage.date, passage.source, web_address(passage.source))


def _evidence(passage: Passage) -> Evidence:
    """The retrieved sentence of a passage as evidence."""
    start, end = passage.sentence_start, passage.sentence_end
    return Evidence(passage.slice(start, end), passage.text, _source(passage), start, end)


def read_passages(question: str, passages: list[Passage], reader: SpanReader) -> list[WindowSpan | None]:
    """The reader's best span in each passage, never crossing the index's sentence bounds; it reads each
    window after its article's title and date."""
    starts = [[start - p.start for start, _ in p.sentences] for p in passages]
    headers = [passage_header(p.title, p.date) for p in passages]
    return reader.read(question, [p.text for p in passages], starts, headers)


def pick_spans(
    question: str,
    passages: list[Passage],
    reader: SpanReader,
    stop_early: bool = False,
    as_of: date | None = None,
    unsure_below: float | None = None,
) -> list[Span]:
    """Distinct answers from the reader's spans in the passages, scored by calibrated probability, best first.

    Args:
        question: The question.
        passages: Retrieved windows, best first.
        reader: The reader.
        stop_early: Read the first window alone, and stop there when its answer
            reaches the reader's ``stop_probability`` (and articles of other
            dates cannot change it: ``other_dates_matter``). Later windows then
            go unread: that is nearly free in F1 (a confident first window is
            rarely beaten) but leaves no alternatives.
        as_of: The day the question is asked (default: today).
        unsure_below: Read the windows after the first ``WINDOWS`` only when the best answer of those scores
            below this (``None``: read every window).
    """
    stages = [len(passages)] if unsure_below is None else [min(WINDOWS, len(passages)), len(passages)]
    read = 1 if stop_early else stages[0]
    found = readings(passages[:read], read_passages(question, passages[:read], reader))
    spans = rank_answers(question, found, reader, as_of)
    if stop_early and spans and spans[0].score >= reader.stop_probability and not other_dates_matter(question, spans[0], passages):
        return spans
    for end in stages:
        if end <= read:
            continue
        if unsure_below is not None and read >= WINDOWS and spans and spans[0].score >= unsure_below:
            break
        found += readings(passages[read:end], read_passages(question, passages[read:end], reader), first_rank=read + 1)
        spans = rank_answers(question, found, reader, as_of)
        read = end
    return spans


def _sources(corpus: Store, passage: Passage, sentence: str) -> tuple[Source, ...]:
    """The passage's article, then the other copies of its story whose text holds ``sentence``."""
    found = [_source(passage)]
    for copy in corpus.copies(passage.article_id):
        if copy.id != passage.article_id and sentence in corpus.article_text(copy.id):
            found.append(Source(copy.id, copy.title, copy.date, copy.source, web_address(copy.source)))
    return tuple(found)


def _make_answer(question: str, span: Span, corpus: Store, notice: str = "") -> Answer:
    passage = span.passage
    start, end = passage.start + span.start, passage.start + span.end
    s_start, s_end = passage.sentences[sentence_at(passage.sentences, start)]
    sentence = passage.slice(s_start, s_end)
    return Answer(
        question=question,
        text=passage.slice(start, end),
        score=round(span.score, 4),
        sentence=sentence,
        window=passage.text,
        article=_source(passage),
        start=start,
        end=end,
        context_start=span.start,
        context_end=span.end,
        sentence_offset=start - s_start,
        message=notice,
        sources=_sources(corpus, passage, sentence),
        features=span.features,
    )


def _abstain(question: str, passages: list[Passage], best: Span | None, notice: str, corpus: Store) -> Answer:
    closest = tuple(_evidence(p) for p in passages[:3])
    candidate = _make_answer(question, best, corpus) if best is not None and best.score >= UNSURE_FLOOR else None
    return Answer(
        question=question,
        text="",
        score=round(best.score, 4) if best is not None else 0.0,
        sentence=closest[0].sentence,
        window=closest[0].window,
        article=closest[0].article,
        closest=closest,
        candidate=candidate,
        message=" ".join(filter(None, [UNSURE if candidate else NOT_FOUND, notice])),
        features=best.features if best is not None else {},
    )


def compose_answer(
    question: str,
    corpus: Store,
    passages: list[Passage],
    candidates: list[Span],
    threshold: float,
    top_k: int = 1,
    as_of: date | None = None,
    notice: str = "",
) -> Answer:
    """The answer to give from the ranked candidates: the best at or above ``threshold`` (the newest figure
    when articles of different dates differ), with up to ``top_k - 1`` alternatives; else an abstention.

    Args:
        question: The question as answered.
        corpus: The index the passages come from (for the other copies of a story).
        passages: The retrieved windows, best first (the closest sentences of an abstention).
        candidates: Distinct answers, best first (``pick_spans``).
        threshold: How sure an answer must be.
        top_k: The best answer plus up to ``top_k - 1`` alternatives.
        as_of: The day the question is asked (default: today).
        notice: A notice about the question (truncated), kept in the answer's message.
    """
    timeline = changed_figures(question, candidates, threshold, as_of)
    accepted = timeline + [s for s in prefer_named_time(question, candidates, as_of) if s.score >= threshold and s not in timeline]
    if not accepted:
        return _abstain(question, passages, candidates[0] if candidates else None, notice, corpus)
    dated = tuple(_make_answer(question, s, corpus) for s in timeline)
    best = replace(dated[0], message=notice) if dated else _make_answer(question, accepted[0], corpus, notice)
    others = [s for s in accepted[1:] if s not in timeline][: max(1, top_k) - 1]
    return replace(best, alternatives=tuple(_make_answer(question, s, corpus) for s in others), timeline=dated)
