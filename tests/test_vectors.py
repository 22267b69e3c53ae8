from pathlib import Path

import numpy as np
import pytest

from index import vectors
from index.vectors import VectorIndex, factory_for


def _unit(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_add_search_remove_save_load(tmp_path: Path) -> None:
    index = VectorIndex(8)
    data = _unit(20)
    index.add(np.arange(100, 120), data)
    scores, ids = index.search(data[[3]], 1)
    assert ids[0, 0] == 103 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    index.remove(np.array([103]))
    assert len(index) == 19 and index.search(data[[3]], 1)[1][0, 0] != 103
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    assert len(loaded) == 19 and loaded.search(data[[5]], 1)[1][0, 0] == 105
    assert not list(tmp_path.glob("*.tmp"))


def test_wrong_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="dimension"):
        VectorIndex(8).add(np.arange(2), _unit(2, d=4))


def test_factory_moves_to_hnsw_as_corpus_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "HNSW_FROM", 50)
    assert factory_for(10) == "IDMap2,Flat" and factory_for(60) == "IDMap2,HNSW32,Flat"
    index = VectorIndex(8)
    data = _unit(80)
    index.add(np.arange(40), data[:40])
    assert index.factory == "IDMap2,Flat"
    index.add(np.arange(40, 80), data[40:])
    assert index.factory == "IDMap2,HNSW32,Flat" and len(index) == 80
    assert index.search(data[[70]], 1)[1][0, 0] == 70
    index.remove(np.arange(45, 80))
    assert index.factory == "IDMap2,Flat" and len(index) == 45
    assert index.search(data[[10]], 1)[1][0, 0] == 10
