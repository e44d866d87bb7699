"""The one small interface every backend implements (ONNX Runtime, TensorRT, torch).

Arrays are numpy float32, NCHW, images in [-1, 1] RGB. Each call may take a batch. Shapes are checked
at this boundary so a wrong working resolution fails here with a clear message, not deep in a kernel.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Backend(Protocol):
    name: str  # e.g. "onnxruntime-cpu", "onnxruntime-cuda", "tensorrt", "torch"

    def encode_content(self, image: np.ndarray, granularity: str = "global") -> np.ndarray:
        """[B,3,H,W] -> [B,C,H/4,W/4]; granularity 'global' or 'instance' picks the encoder."""
        ...

    def encode_style(self, image: np.ndarray, domain: np.ndarray, granularity: str = "global") -> np.ndarray:
        """[B,3,H,W], [B,D] one-hot -> [B,S]."""
        ...

    def generate(self, content: np.ndarray, style: np.ndarray, domain: np.ndarray) -> np.ndarray:
        """[B,C,h,w], [B,S], [B,D] -> [B,3,4h,4w] in [-1, 1]."""
        ...


def check_image_batch(image: np.ndarray, stride: int = 4) -> None:
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"expected an image batch [B,3,H,W], got {image.shape}")
    if image.shape[2] % stride or image.shape[3] % stride:
        raise ValueError(f"image height and width must be multiples of {stride}, got {image.shape[2:]}")
