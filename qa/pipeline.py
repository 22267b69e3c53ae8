"""The question-answering pipeline: an index (``index.store.base.Store``), the question embedder and a reader,
built once.

The chat, the CLI, the JSON API, ``qa eval`` and the benchmarks build one ``Pipeline`` and ask it every
question; ``answer()`` is the one-line default for scripts (``from qa import answer``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path
from types import TracebackType

from index.embedder import Embedder
from index.store import Backend, default_dir
from index.store.base import SearchFilter, Store
from qa.answer import EMPTY_INDEX, NOT_FOUND, Answer, clean_question, compose_answer, pick_spans
from qa.followup import resolve_followup
from qa.reader import Reader, SpanReader
from qa.retriever import WINDOWS, Passage, retrieve

# Windows read after the first ``WINDOWS`` when those give no confident answer: most of what reading ten
# windows always gains, for a third of a window more a question (docs/benchmarks.md).
FURTHER_WINDOWS = 5
# Questions answered at once by one pipeline (a server's chat and API together); more callers wait. Three keep
# the reader's window threads busy on 2 cores (bench/ui_concurrency.py, docs/benchmarks.md).
ANSWER_CONCURRENCY = 3


class Pipeline:
    """Retrieve windows for a question from a corpus and read the answer span from them with a reader.

    Models load on the first question, or at :meth:`warm_up`. A pipeline may be
    asked from several threads at once; at most ``concurrency`` answers are computed at a time.
    """

    def __init__(self, corpus: Store, reader: SpanReader | None = None, embedder: Embedder | None = None,
                 concurrency: int = ANSWER_CONCURRENCY) -> None:
        """Wire an open corpus to a reader.

        Args:
            corpus: The index to answer from.
            reader: The extractive reader (default: the shipped one, ``Reader()``).
            embedder: What embeds the questions (default: the model the index's sentences were embedded with).
            concurrency: How many answers are computed at once; more callers wait.
        """
        self.corpus = corpus
        self.reader: SpanReader = reader if reader is not None else Reader()
        self.embedder = embedder if embedder is not None else corpus.embedder
        self._answering = threading.BoundedSemaphore(concurrency)
        # Told of every question: its answer (or the error it raised) and the seconds it took (a server's metrics).
        self.on_answer: Callable[[Answer | None, float, BaseException | None], None] | None = None

    @classmethod
    def open(
        cls, index_dir: Path | str | None = None, reader: SpanReader | None = None, backend: Backend | None = None
    ) -> "Pipeline":
        """A pipeline over the index in ``index_dir`` (default ``$QA_INDEX_DIR`` or ``data/index``), kept by
        ``backend`` (default: ``$QA_BACKEND``, FAISS and SQLite unless it says ``milvus``)."""
        return cls((backend or Backend.from_env()).open(index_dir), reader)

    def warm_up(self) -> None:
        """Load the question encoder and the reader now instead of on the first question."""
        self.embedder.warm_up()
        self.reader.warm_up()

    @property
    def threshold(self) -> float:
        """The calibrated confidence below which answers abstain by default."""
        return self.reader.threshold

    def retrieve(
        self, question: str, k: int = WINDOWS, where: SearchFilter | None = None, as_of: date | None = None
    ) -> list[Passage]:
        """The ``k`` best windows for a question asked on ``as_of`` (default today), of the articles ``where``
        allows (``qa.retriever.retrieve``)."""
        return retrieve(self.corpus, question, k, where, as_of, self.embedder)

    def answer(
        self,
        question: str,
        top_k: int = 1,
        min_confidence: float | None = None,
        as_of: date | None = None,
        where: SearchFilter | None = None,
        history: Sequence[str] = (),
        observed: bool = True,
    ) -> Answer:
        """Answer a question from the indexed articles.

        Args:
            question: The question.
            top_k: How many answers to return: the best plus up to ``top_k - 1``
                alternatives. With ``top_k=1`` reading stops at a confident first
                window (about twice as fast at the median); alternatives need
                every window read. When the first ``WINDOWS`` windows give no
                answer at the reader's threshold, ``FURTHER_WINDOWS`` more are read.
            min_confidence: How sure an answer must be to be given, in [0, 1]
                (default: the reader's calibrated threshold). Higher is stricter.
            as_of: The day the question is asked (default: today): answers from
                articles of the week up to it rank higher ("this week", "latest").
                A question that names a day ("on Monday", "on 16 November") takes
                its answer from articles of that time when one is sure enough.
            where: Answer only from the articles this allows (a date range, a source).
            history: The conversation's earlier questions, oldest first: a follow-up ("And how many were
                arrested?") is answered with their topic (``qa.followup``); ``question`` on the answer is the
                question answered.
            observed: Tell ``on_answer`` about it (not for a server's own checks, such as example questions).

        Returns:
            The answer; when the articles don't say, its ``text`` is empty,
            ``closest`` holds the sentences nearest to the question and
            ``candidate`` the best answer found when it is worth showing as unsure.

        Raises:
            QuestionError: The question is blank.
            ValueError: ``min_confidence`` is outside [0, 1].
        """
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be between 0 and 1, not {min_confidence}")
        start = time.perf_counter()
        try:
            question, notice = clean_question(question)
            with self._answering:
                result = self._answer(resolve_followup(question, history, self.corpus), top_k, min_confidence, as_of,
                                      where, notice)
        except Exception as exc:
            if self.on_answer and observed:
                self.on_answer(None, time.perf_counter() - start, exc)
            raise
        result = replace(result, id=uuid.uuid4().hex)
        if self.on_answer and observed:
            self.on_answer(result, time.perf_counter() - start, None)
        return result

    def _answer(self, question: str, top_k: int, min_confidence: float | None, as_of: date | None,
                where: SearchFilter | None, notice: str) -> Answer:
        passages = self.retrieve(question, k=WINDOWS + FURTHER_WINDOWS, where=where, as_of=as_of)
        if not passages:
            message = EMPTY_INDEX if not self.corpus.stats()["articles"] else NOT_FOUND
            return Answer(question, "", 0.0, message=" ".join(filter(None, [message, notice])))
        # Windows past the first five are read only when those give no answer the reader stands by at its own
        # threshold, whatever ``min_confidence`` asks: a stricter setting reading further answers no better.
        candidates = pick_spans(question, passages, self.reader, stop_early=top_k == 1, as_of=as_of,
                                unsure_below=self.threshold)
        threshold = self.threshold if min_confidence is None else min_confidence
        return compose_answer(question, self.corpus, passages, candidates, threshold, top_k, as_of, notice)

    def close(self) -> None:
        """Close the corpus."""
        self.corpus.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


@cache
def default_reader() -> Reader:
    """The shipped reader, shared by the default pipelines of ``answer()``."""
    return Reader()


_pipelines: dict[tuple[Backend, Path], Pipeline] = {}
_lock = threading.Lock()


def default_pipeline(index_dir: Path | str | None = None) -> Pipeline:
    """The pipeline ``answer()`` uses for an index folder (kept by ``$QA_BACKEND``): opened on first use, then
    kept for the process."""
    path = Path(index_dir) if index_dir is not None else default_dir()
    backend = Backend.from_env()
    key = (backend, path.resolve())
    with _lock:
        if key not in _pipelines:
            _pipelines[key] = Pipeline(backend.open(path), default_reader())
        return _pipelines[key]


def answer(
    question: str,
    top_k: int = 1,
    index_dir: Path | str | None = None,
    corpus: Store | None = None,
    min_confidence: float | None = None,
    as_of: date | None = None,
    where: SearchFilter | None = None,
) -> Answer:
    """Answer a question from the indexed articles with the shipped reader (``Pipeline.answer``).

    Args:
        question: The question.
        top_k: The best answer plus up to ``top_k - 1`` alternatives.
        index_dir: Index folder (default ``$QA_INDEX_DIR`` or ``data/index``), opened once per process.
        corpus: An open corpus to use instead of ``index_dir``.
        min_confidence: How sure an answer must be, in [0, 1] (default: the reader's threshold).
        as_of: The day the question is asked (default: today).
        where: Answer only from the articles this allows (a date range, a source).
    """
    pipeline = Pipeline(corpus, default_reader()) if corpus is not None else default_pipeline(index_dir)
    return pipeline.answer(question, top_k, min_confidence, as_of, where)
