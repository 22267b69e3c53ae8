"""PyTorch modules exported to ONNX Runtime, for fast CPU inference of short inputs."""

from __future__ import annotations

import io
import os
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime
    import torch

CORES = len(os.sched_getaffinity(0))


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
