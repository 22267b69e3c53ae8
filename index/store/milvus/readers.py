"""What readers asked and how they judged answers, in two collections of the Milvus index (``PREFIX_questions``
and ``PREFIX_feedback``): the ``Store`` methods for ``qa.readers``'s records, mixed into ``MilvusStore``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from pymilvus import MilvusClient

from index.store.base import AskedQuestion, Feedback
from index.store.milvus.collections import PLACEHOLDER, all_rows, fitted, insert_rows, quoted

FIELDS = ["answer_id", "question", "answer", "article_id", "helpful", "comment", "time", "score", "features"]


class ReaderCollections:
    """The ``questions`` and ``feedback`` collections (created with the index's others; an index made before them,
    opened read-only, reads as holding none)."""

    read_only: bool
    questions_name: str
    feedback_name: str
    _client: MilvusClient
    _milvus: Callable[[], AbstractContextManager[None]]
    _writable: Callable[[], None]

    def log_questions(self, asked: list[AskedQuestion]) -> None:
        """Keep these questions asked, with their answers."""
        self._insert(self.questions_name, [_row(q.answer_id, q.question, q.answer, q.article_id, False, "", q.time,
                                                q.score, q.features) for q in asked])

    def asked_questions(self, since: str | None = None) -> list[AskedQuestion]:
        """The questions kept, asked at or after ``since`` (ISO 8601, UTC), oldest first."""
        return [AskedQuestion(r["answer_id"], r["question"], r["answer"], r["article_id"] or None, r["score"], r["time"],
                              json.loads(r["features"])) for r in self._rows(self.questions_name, since)]

    def add_feedback(self, feedback: Feedback) -> None:
        """Keep a reader's judgement of an answer."""
        f = feedback
        self._insert(self.feedback_name, [_row(f.answer_id or "", f.question, f.answer, f.article_id, f.helpful,
                                               f.comment, f.time, -1.0 if f.score is None else f.score, f.features)])

    def feedback(self, since: str | None = None) -> list[Feedback]:
        """The judgements kept, given at or after ``since`` (ISO 8601, UTC), oldest first."""
        return [Feedback(r["answer_id"] or None, r["question"], r["answer"], r["article_id"] or None, r["helpful"],
                         r["comment"], r["time"], None if r["score"] < 0 else r["score"], json.loads(r["features"]))
                for r in self._rows(self.feedback_name, since)]

    def _insert(self, collection: str, rows: list[dict]) -> None:
        self._writable()
        with self._milvus():
            insert_rows(self._client, collection, rows)

    def _rows(self, collection: str, since: str | None) -> list[dict]:
        with self._milvus():
            if not self._client.has_collection(collection):  # read-only, made before readers were recorded
                return []
            rows = all_rows(self._client, collection, FIELDS, f"time >= {quoted(since)}" if since else "")
        return sorted(rows, key=lambda row: row["time"])


def _row(answer_id: str, question: str, answer: str, article_id: str | None, helpful: bool, comment: str, time: str,
         score: float, features: dict[str, float]) -> dict:
    return {"id": uuid.uuid4().hex, "answer_id": answer_id, "question": fitted(question), "answer": fitted(answer),
            "article_id": article_id or "", "helpful": helpful, "comment": fitted(comment), "time": time,
            "score": float(score), "features": json.dumps(features), "placeholder": PLACEHOLDER}
