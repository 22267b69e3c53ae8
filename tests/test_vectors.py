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


def test_ids_far_from_zero_survive_the_move_to_hnsw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "HNSW_FROM", 50)
    index = VectorIndex(8)
    data = _unit(60)
    index.add(np.arange(1000, 1040), data[:40])
    index.add(np.arange(1040, 1060), data[40:])  # moves to HNSW: vectors are copied by position, not by id
    assert index.factory == "IDMap2,HNSW32,Flat"
    assert [index.search(data[[i]], 1)[1][0, 0] for i in (0, 39, 59)] == [1000, 1039, 1059]


def test_removed_vectors_are_marked_and_changes_replay(tmp_path: Path) -> None:
    index = VectorIndex(8)
    data = _unit(30)
    index.add(np.arange(1, 21), data[:20])
    index.save(tmp_path / "base.faiss")
    index.add(np.arange(21, 31), data[20:])
    index.remove(np.array([3, 25, 999]))  # 999 is not there: ignored
    assert len(index) == 28 and index.changed == 12 and 3 not in index.ids() and 25 not in index.ids()
    assert index.search(data[[2]], 1)[1][0, 0] != 3 and index.search(data[[24]], 1)[1][0, 0] != 25
    index.save_changes(tmp_path / "changes.npz")
    assert index.changed == 0
    replayed = VectorIndex.load(tmp_path / "base.faiss")
    replayed.apply_changes(tmp_path / "changes.npz")
    assert sorted(replayed.ids()) == sorted(index.ids()) and len(replayed) == 28
    assert replayed.search(data[[2]], 3)[1].tolist() == index.search(data[[2]], 3)[1].tolist()
    replayed.save(tmp_path / "full.faiss")  # a full save drops the marked vectors for good
    assert replayed.removed == set() and VectorIndex.load(tmp_path / "full.faiss").index.ntotal == 28
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match="cannot be read"):
        replayed.apply_changes(tmp_path / "bad.npz")


def test_a_big_graph_keeps_a_few_removed_vectors_marked_through_a_full_save(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "HNSW_FROM", 20)
    index = VectorIndex(8)
    data = _unit(60)
    index.add(np.arange(1, 61), data)
    index.save(tmp_path / "v.faiss")  # into the graph
    index.remove(np.array([5, 6]))
    index.save(tmp_path / "v.faiss")  # 2 of 60 removed: written as they are, not rebuilt
    assert index.index.ntotal == 60 and (tmp_path / "v.faiss.removed.npy").is_file()
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    assert loaded.removed == {5, 6} and len(loaded) == 58 and 5 not in loaded.search(data[[4]], 3)[1][0]
    loaded.remove(np.arange(7, 30))  # now over REBUILD_SHARE: the next full save drops them all
    loaded.save(tmp_path / "v.faiss")
    assert loaded.index.ntotal == 35 and not (tmp_path / "v.faiss.removed.npy").exists()
    assert len(VectorIndex.load(tmp_path / "v.faiss")) == 35


def test_vectors_added_to_a_graph_wait_beside_it_until_a_full_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "HNSW_FROM", 20)
    index = VectorIndex(8)
    data = _unit(40)
    index.add(np.arange(1, 31), data[:30])
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss")
    loaded.add(np.arange(31, 41), data[30:])  # not into the graph: a first insertion copies all of it
    assert loaded.index.ntotal == 30 and loaded.recent.ntotal == 10 and len(loaded) == 40
    scores, ids = loaded.search(data[[35, 3]], 2)
    assert ids[0][0] == 36 and ids[1][0] == 4 and scores[0][0] >= scores[0][1]
    assert loaded.search(data[[35]], 2, allowed=np.array([37, 38]))[1][0][0] in {37, 38}
    loaded.remove(np.array([36, 4]))
    assert 36 not in loaded.search(data[[35]], 3)[1][0] and sorted(loaded.ids().tolist()) == [
        i for i in range(1, 41) if i not in (4, 36)]
    loaded.save_changes(tmp_path / "c.npz")
    replayed = VectorIndex.load(tmp_path / "v.faiss")
    replayed.apply_changes(tmp_path / "c.npz")
    assert replayed.recent.ntotal == 10 and len(replayed) == 38
    replayed.save(tmp_path / "v.faiss")  # the recent ones go into the graph, the removed one of them left out
    assert replayed.recent.ntotal == 0 and replayed.index.ntotal == 39 and replayed.removed == {4}
    again = VectorIndex.load(tmp_path / "v.faiss")
    assert len(again) == 38 and again.search(data[[39]], 1)[1][0][0] == 40
