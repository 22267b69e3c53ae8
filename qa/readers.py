"""What readers tell the product: their judgements of answers (feedback) and, when the server is told to keep
them, the questions they ask. Both are kept in the index's store (``index.store.base.Feedback`` and
``AskedQuestion``); ``qa.report`` reads them back.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone

from index.store.base import AskedQuestion, Feedback, Store
from qa.answer import Answer

MAX_COMMENT_CHARS = 2000
# Answers a server remembers by id, so that a judgement naming one keeps its score and features (about 2 KB each).
REMEMBERED_ANSWERS = 10_000
QUESTIONS_PER_WRITE = 500
log = logging.getLogger(__name__)


class UnknownArticleError(LookupError):
    """Feedback names an article that is not indexed."""


class UnknownAnswerError(LookupError):
    """Feedback names only an answer id, and this server does not remember that answer."""


def utc_now() -> str:
    """Now, as the records keep it: ISO 8601, UTC."""
    return datetime.now(timezone.utc).isoformat()


def asked_question(result: Answer) -> AskedQuestion:
    """The record of a question asked now and the answer it was given."""
    return AskedQuestion(result.id, result.question, result.text, result.article.id if result.article else None,
                         result.score, utc_now(), dict(result.features))


class ReaderLog:
    """The answers a server gives, remembered by id for feedback, and with ``keep_questions`` every question asked
    kept in the store.

    Questions are written by a thread of their own, in batches, so that answering never waits for a write (a
    crash loses at most the questions of the last moment); ``close`` writes what is left.
    """

    def __init__(self, store: Store, keep_questions: bool = False, remembered: int = REMEMBERED_ANSWERS,
                 on_judged: Callable[[Feedback], None] | None = None) -> None:
        """A log over ``store``; ``on_judged`` is told of every judgement kept (a server's metrics)."""
        self.store = store
        self.keep_questions = keep_questions
        self.on_judged = on_judged
        self._remembered = remembered
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: queue.Queue[AskedQuestion | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_questions, name="question-log", daemon=True)
        if keep_questions:
            self._writer.start()

    def observe(self, result: Answer) -> None:
        """Remember an answer given (and keep its question when questions are kept)."""
        with self._lock:
            self._answers[result.id] = result
            while len(self._answers) > self._remembered:
                self._answers.popitem(last=False)
        if self.keep_questions:
            self._pending.put(asked_question(result))

    def remembered(self, answer_id: str) -> Answer | None:
        """The answer with this id, while it is remembered."""
        with self._lock:
            return self._answers.get(answer_id)

    def judge(
        self,
        helpful: bool,
        answer_id: str | None = None,
        question: str | None = None,
        answer: str | None = None,
        article_id: str | None = None,
        comment: str = "",
    ) -> Feedback:
        """Keep a reader's judgement of an answer, named by its id (``Answer.id``), by what was asked and answered,
        or both; what is given wins over what is remembered. Returns the judgement as kept.

        Raises:
            UnknownAnswerError: Only an id is given, and it names no answer remembered here.
            UnknownArticleError: ``article_id`` names no indexed article.
            index.store.base.StoreError: The index cannot be written (read-only, say).
        """
        given = self.remembered(answer_id) if answer_id else None
        if given is None and question is None:
            raise UnknownAnswerError(f"answer {answer_id!r} is not remembered here: give its question and answer too")
        text = answer if answer is not None else given.text if given else ""
        # Abstaining, an answer names the closest sentence's article: not what a reader judges.
        article = article_id if article_id is not None else (given.article.id if given and given.article and given.text
                                                             else None)
        if article is not None and not self.store.known([article]):
            raise UnknownArticleError(f"no article {article[:80]!r} is indexed")
        same = given is not None and given.text == text
        feedback = Feedback(answer_id, question if question is not None else given.question, text, article, helpful,
                            comment.strip()[:MAX_COMMENT_CHARS], utc_now(), given.score if same else None,
                            dict(given.features) if same else {})
        self.store.add_feedback(feedback)
        if self.on_judged:
            self.on_judged(feedback)
        return feedback

    def _write_questions(self) -> None:
        while True:
            first = self._pending.get()
            batch = [first]
            while first is not None and len(batch) < QUESTIONS_PER_WRITE and not self._pending.empty():
                batch.append(self._pending.get())
            kept = [q for q in batch if q is not None]
            try:
                self.store.log_questions(kept)
            except Exception:  # noqa: BLE001 - a lost log line must not stop the server
                log.exception("could not keep %d questions asked", len(kept))
            if None in batch:
                return

    def close(self) -> None:
        """Write the questions still waiting."""
        if self._writer.is_alive():
            self._pending.put(None)
            self._writer.join()
