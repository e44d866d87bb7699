"""Numbers that say an exported graph computes what the model computes.

``torch_parity``: ONNX Runtime (CPU, FP32) vs the torch module at several shapes, so a graph that only
works at its tracing shape fails here, at export time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn


def parity_shapes(size: tuple[int, int]) -> list[tuple[tuple[int, int], int]]:
    """Three (H, W), batch pairs: square, wide at batch 2, and a non-power-of-two size at batch 3."""
    h, w = size
    return [((32, 32), 1), ((min(h, 64), min(w, 96)), 2), ((20, 36), 3)]


def ort_session(path: Path, providers: list[str] | None = None):  # noqa: ANN201 - onnxruntime type
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = max(1, min(4, __import__("os").cpu_count() or 1))
    return ort.InferenceSession(str(path), so, providers=providers or ["CPUExecutionProvider"])


def torch_parity(
    module: nn.Module, onnx_path: Path, role: str, dims: object, shapes: list[tuple[tuple[int, int], int]]
) -> float:
    """Max abs error between torch and ONNX Runtime over ``shapes``."""
    import torch
    from edgecgl.export.onnx import example_inputs

    sess = ort_session(onnx_path)
    names = [i.name for i in sess.get_inputs()]
    worst = 0.0
    for k, (size, batch) in enumerate(shapes):
        ex = example_inputs(role, dims, size, batch, seed=100 + k)  # type: ignore[arg-type]
        with torch.no_grad():
            ref = module.eval()(*ex).numpy()
        out = sess.run(None, dict(zip(names, (t.numpy() for t in ex), strict=True)))[0]
        if out.shape != ref.shape:
            raise AssertionError(f"{role}: ONNX output shape {out.shape} != torch {ref.shape}")
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst
