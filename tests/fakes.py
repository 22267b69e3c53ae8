"""Small stand-ins for the models, for the fast test tier: no weights load, answers are predictable.

``FakeEmbedder`` hashes words into a few dimensions (texts sharing words come out close);
``FakeReader`` takes the first figure in a window for a "how many" question and the first
capitalised word the question does not name otherwise.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from index.embedder import Embedder
from index.store.faiss_sqlite import FaissSqliteStore
from index.text import terms
from qa.pipeline import Pipeline
from qa.reader import WindowSpan

_FIGURE = re.compile(r"\d[\d,.]*\d|\d")
_NAME = re.compile(r"\b[A-Z][a-z]+\b")


class FakeEmbedder(Embedder):
    """Hashed bag of words, unit length."""

    name = "test/hashed-words"
    dimension = 64

    def warm_up(self) -> None:
        """Nothing to load."""

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        rows = np.full((len(texts), self.dimension), 1e-3, dtype=np.float32)
        for row, text in zip(rows, texts):
            for term in terms(text):
                row[zlib.crc32(term.encode()) % self.dimension] += 1.0
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def embed_query(self, question: str) -> np.ndarray:
        return self.embed([question])[0]


class FakeReader:
    """A ``qa.reader.SpanReader`` that reads by rule and scores by the margin alone."""

    threshold = 0.5
    stop_probability = 0.9

    def __init__(self) -> None:
        self.reads: list[tuple[str, int]] = []  # (question, windows) of every call to ``read``, in order

    def warm_up(self) -> None:
        """Nothing to load."""

    def probability(self, features: Mapping[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-features["margin"]))

    def read(
        self,
        question: str,
        windows: list[str],
        sentence_starts: list[list[int]] | None = None,
        headers: list[str] | None = None,
    ) -> list[WindowSpan | None]:
        self.reads.append((question, len(windows)))
        asked = set(terms(question))
        pattern = _FIGURE if question.lower().startswith("how many") else _NAME
        spans: list[WindowSpan | None] = []
        for window in windows:
            found = next((m for m in pattern.finditer(window) if m.group().lower() not in asked), None)
            spans.append(WindowSpan(found.start(), found.end(), 3.0) if found else None)
        return spans


def fake_pipeline_over(directory: Path) -> Pipeline:
    """``FakeReader`` over the index in ``directory``, embedded (or to be) by ``FakeEmbedder``."""
    return Pipeline(FaissSqliteStore(directory, embedder=FakeEmbedder()), FakeReader())
