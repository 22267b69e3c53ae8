"""Dynamic int8 quantization of Linear layers, for CPU inference."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def int8_linears(module: "torch.nn.Module") -> "torch.nn.Module":
    """A copy of a module with dynamic int8 Linear layers.

    Weights are int8 per output channel; activations are quantized per batch.
    Where PyTorch no longer has ``torch.ao.quantization`` the module is
    returned as it is (same results, slower).
    """
    import warnings

    from torch import nn

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError:
        return module
    with warnings.catch_warnings():
        # PyTorch marks this API deprecated (torchao replaces it) but it is still its fast int8 CPU path.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig})
