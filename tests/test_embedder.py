import numpy as np
import pytest

from index.embedder import DIMENSION, Embedder, load_model

pytestmark = pytest.mark.slow


def test_question_embedding_in_onnx_runtime_matches_index_rows() -> None:
    # The second is longer than the model reads: both ways must cut it at the same token.
    questions = ["How many raids were carried out in France?", "Who is the prime minister? " + "Paris raids " * 200]
    embedder = Embedder()
    rows = load_model().encode(questions, normalize_embeddings=True, convert_to_numpy=True)  # sentence-transformers
    vectors = np.stack([embedder.embed_query(q) for q in questions])
    assert vectors.shape == (2, DIMENSION) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ rows.T
    assert np.all(np.diag(similarity) > 0.9999)  # the same vector as sentence-transformers makes for a row
    assert np.all(np.diag(similarity) > similarity[[1, 0], [0, 1]] + 0.3)


def test_sentences_embedded_in_batches_are_the_sentence_transformers_vectors() -> None:
    # Texts of very different lengths, batched by length and padded: padding must not move a vector.
    texts = ["Raids.", "The interior minister said 128 raids were carried out overnight. " * 3, "", "Paris " * 400] * 20
    vectors = Embedder().embed(texts)
    reference = load_model().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert vectors.shape == (80, DIMENSION) and vectors.dtype == np.float32
    assert np.abs(vectors - reference).max() < 1e-5
    assert Embedder().embed([]).shape == (0, DIMENSION)
