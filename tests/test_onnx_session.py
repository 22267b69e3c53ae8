from pathlib import Path

import numpy as np
import pytest
import torch

from index.onnx_session import cached_sessions, graph_key, onnx_graph


def tiny_graph() -> bytes:
    torch.manual_seed(0)
    return onnx_graph(torch.nn.Linear(4, 2).eval(), (torch.ones(2, 3, 4),), ["x"], ["y"])


def test_graphs_are_exported_once_then_read_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    exports = []

    def export() -> bytes:
        exports.append(1)
        return tiny_graph()

    key = graph_key("tiny", [])
    x = np.ones((1, 5, 4), dtype=np.float32)  # other rows and tokens than the export's example
    [first] = cached_sessions(key, export)
    one, two = cached_sessions(key, export, threads=(1, 2))
    assert len(exports) == 1 and (tmp_path / f"{key}.onnx").is_file()
    assert np.allclose(first.run(None, {"x": x})[0], one.run(None, {"x": x})[0])
    assert np.allclose(one.run(None, {"x": x})[0], two.run(None, {"x": x})[0])


def test_a_new_graph_replaces_older_ones_of_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    (tmp_path / "tiny-0ld.onnx").write_bytes(b"graph of older weights")
    (tmp_path / "other-0ld.onnx").write_bytes(b"another model's graph")
    key = graph_key("tiny", [])
    cached_sessions(key, tiny_graph)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{key}.onnx", "other-0ld.onnx"])


def test_the_key_follows_the_weights(tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"1")
    before = graph_key("tiny", [weights])
    weights.write_bytes(b"2")
    assert graph_key("tiny", [weights]) != before
    with pytest.raises(OSError):
        graph_key("tiny", [tmp_path / "missing.bin"])
