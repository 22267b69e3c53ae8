import numpy as np
import pytest

from index.embedder import DIMENSION, Embedder

pytestmark = pytest.mark.slow


def test_question_embedding_in_onnx_runtime_matches_index_rows() -> None:
    # The second is longer than the model reads: both ways must cut it at the same token.
    questions = ["How many raids were carried out in France?", "Who is the prime minister? " + "Paris raids " * 200]
    embedder = Embedder()
    rows = embedder.embed(questions)
    vectors = np.stack([embedder.embed_query(q) for q in questions])
    assert vectors.shape == (2, DIMENSION) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ rows.T
    assert np.all(np.diag(similarity) > 0.9999)  # the same vector as sentence-transformers makes for a row
    assert np.all(np.diag(similarity) > similarity[[1, 0], [0, 1]] + 0.3)
