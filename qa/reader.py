"""The extractive reader at run time: reads windows for a question with the span model (``qa.span_model``)
and turns its margins into calibrated probabilities.

Answers run the model in ONNX Runtime (exported from PyTorch the first time
these weights load, then cached), with windows read unpadded and in parallel;
word pieces come from the ``tokenizers`` library and spans are picked in numpy,
so answering never imports PyTorch or transformers.
"""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

import numpy as np

from index.onnx_session import CORES, ENCODER_INPUTS
from index.sentences import split_sentences
from qa.span_model import (
    READER_DIR,
    Encoded,
    OnnxSpanModel,
    ReaderError,
    best_spans,
    context_prefixes,
    context_sentences,
    encode,
    load_span_model,
    trim_unpaired_marks,
)

if TYPE_CHECKING:  # heavy imports stay out of import time (answering needs no PyTorch)
    import torch

CONFIG_FILE = "reader.json"
BACKENDS = ("onnxruntime", "torch")


@dataclass(frozen=True)
class WindowSpan:
    """The best span the reader found in one window.

    Attributes:
        start: Character offset of the span in the window text.
        end: Character offset one past the span in the window text.
        margin: Span score minus the window's no-answer score (logit units).
    """

    start: int
    end: int
    margin: float


@dataclass(frozen=True)
class Calibration:
    """A logistic model of the probability that an answer is right, over named features (``reader.json``)."""

    weights: dict[str, float]
    intercept: float

    @classmethod
    def of(cls, fitted: Mapping) -> "Calibration":
        """The calibration ``reader.json`` (its ``calibration``) or a fit records: its weights and intercept."""
        return cls(fitted["weights"], fitted["intercept"])

    def probability(self, features: Mapping[str, float]) -> float:
        """The probability for these features (``qa.ranking.ANSWER_FEATURES``)."""
        logit = self.intercept + sum(w * features[name] for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))


@cache
def _window_pool() -> ThreadPoolExecutor:
    """Threads that run windows, one per core, shared by every reader and every concurrent question."""
    return ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="reader")


class SpanReader(Protocol):
    """What a ``qa.pipeline.Pipeline`` reads windows with: ``Reader``, or a stand-in (``tests/fakes.py``)."""

    @property
    def threshold(self) -> float:
        """Probability below which an answer abstains by default."""

    @property
    def stop_probability(self) -> float:
        """Probability at which reading stops after the first window when only the best answer is wanted."""

    def warm_up(self) -> None:
        """Load what reading needs now."""

    def probability(self, features: Mapping[str, float]) -> float:
        """Calibrated probability that an answer with these features is right."""

    def read(
        self,
        question: str,
        windows: list[str],
        sentence_starts: list[list[int]] | None = None,
        headers: list[str] | None = None,
    ) -> list[WindowSpan | None]:
        """The best span in each window (``Reader.read``)."""


class Reader:
    """Reads windows for a question; loads the shipped weights on first use."""

    def __init__(self, model_dir: Path = READER_DIR, backend: str = "onnxruntime") -> None:
        """Create a reader; nothing loads until the first question.

        Args:
            model_dir: Folder holding the shipped weights and their config.
            backend: ``"onnxruntime"`` (windows in parallel, unpadded) or
                ``"torch"`` (one padded batch; the reference the export is checked against).
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        self.model_dir = Path(model_dir)
        self.backend = backend
        self._model: "torch.nn.Module | OnnxSpanModel | None" = None
        self.config: dict = {}
        self._load_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the weights and the calibration now instead of on the first question."""
        self._load()

    def _load(self) -> None:
        with self._load_lock:  # concurrent first questions load once
            if self._model is None:
                self._load_weights()

    def _load_weights(self) -> None:
        config = self.model_dir / CONFIG_FILE
        if not config.is_file():
            raise ReaderError(f"reader config not found in {self.model_dir}; reinstall the package or run qa train-reader")
        self.config = json.loads(config.read_text())
        model = OnnxSpanModel.load(self.model_dir) if self.backend == "onnxruntime" else load_span_model(self.model_dir)
        self._model = model  # last: a set model means the reader is ready

    @property
    def _settings(self) -> dict:
        """The shipped config (calibration, threshold, stop probability), loaded with the weights."""
        if self._model is None:
            self._load()
        return self.config

    def probability(self, features: Mapping[str, float]) -> float:
        """Calibrated probability that an answer with these features (``qa.ranking.ANSWER_FEATURES``) is right."""
        return Calibration.of(self._settings["calibration"]).probability(features)

    @property
    def stop_probability(self) -> float:
        """Probability at which a span read in the first window ends reading when only the best answer is wanted."""
        return float(self._settings.get("stop_probability", math.inf))  # missing: read every window

    @property
    def threshold(self) -> float:
        """Probability below which the answer abstains."""
        return float(self._settings["threshold"])

    def read(
        self,
        question: str,
        windows: list[str],
        sentence_starts: list[list[int]] | None = None,
        headers: list[str] | None = None,
    ) -> list[WindowSpan | None]:
        """Find the best span in each window, reading all windows at once.

        Args:
            question: The question.
            windows: Window texts.
            sentence_starts: Where each window's sentences start (window
                offsets); spans never cross them. Default: split the windows here.
            headers: What each window's article is (``passage_header``), read
                before the window; spans never come from it. Default: none.

        Returns:
            One entry per window: its best span, or ``None`` when no span fits
            (the window was truncated away entirely).
        """
        if not windows:
            return []
        if self._model is None:
            self._load()
        prefixes = context_prefixes(headers or [""] * len(windows))
        batch = encode([question] * len(windows), windows, prefixes)
        if sentence_starts is None:
            sentence_starts = [[s.start for s in split_sentences(w)] for w in windows]
        sentences = context_sentences(batch, sentence_starts, [len(p) for p in prefixes])
        start_logits, end_logits = self._logits(batch)
        starts, ends, margins = best_spans(start_logits, end_logits, sentences)
        offsets = batch.offsets
        spans: list[WindowSpan | None] = []
        for row in range(len(windows)):
            if not bool((sentences[row] >= 0).any()):
                spans.append(None)
                continue
            s, e, shift = int(starts[row]), int(ends[row]), len(prefixes[row])
            start, end = trim_unpaired_marks(windows[row], int(offsets[row, s, 0]) - shift, int(offsets[row, e, 1]) - shift)
            spans.append(WindowSpan(start, end, float(margins[row])))
        return spans

    def _logits(self, batch: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits of an encoded batch, (rows, tokens) each; padding positions are 0 in ONNX Runtime."""
        if self.backend == "torch":
            import torch

            inputs = batch.inputs()
            with torch.inference_mode():
                start, end = self._model(*(torch.from_numpy(inputs[name]) for name in ENCODER_INPUTS))
            return start.numpy(), end.numpy()
        inputs = batch.inputs()
        lengths = batch.attention_mask.sum(axis=1).tolist()

        session = self._model.alone if len(lengths) == 1 else self._model.parallel

        def run(row: int) -> list:
            return session.run(None, {name: x[row : row + 1, : lengths[row]] for name, x in inputs.items()})

        longest_first = sorted(range(len(lengths)), key=lambda row: -lengths[row])  # the last to start is the shortest
        start, end = np.zeros(batch.input_ids.shape, np.float32), np.zeros(batch.input_ids.shape, np.float32)
        for row, (row_start, row_end) in zip(longest_first, _window_pool().map(run, longest_first)):
            start[row, : lengths[row]] = row_start[0]
            end[row, : lengths[row]] = row_end[0]
        return start, end
