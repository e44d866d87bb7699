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


class RoleBackend:
    """The three Backend calls in terms of one ``_run(role, *arrays)``; subclasses only run a role.

    Roles are the bundle's (``edgecgl.bundle.IO_NAMES``); ``*_instance`` roles fall back to the global
    model inside ``_run`` when the model shares its encoders.
    """

    name: str = "backend"
    # Two threads may call at once (ONNX Runtime's Run and torch's no-grad forward are thread-safe); the
    # instance crops then run beside the frame (edgecgl.video, --overlap-instances).
    concurrent: bool = True

    def _run(self, role: str, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode_content(self, image: np.ndarray, granularity: str = "global") -> np.ndarray:
        check_image_batch(image)
        return self._run(role_for("content_encoder", granularity), image)

    def encode_style(self, image: np.ndarray, domain: np.ndarray, granularity: str = "global") -> np.ndarray:
        check_image_batch(image)
        return self._run(role_for("style_encoder", granularity), image, domain)

    def generate(self, content: np.ndarray, style: np.ndarray, domain: np.ndarray) -> np.ndarray:
        if not (content.shape[0] == style.shape[0] == domain.shape[0]):
            raise ValueError(
                f"batch sizes differ: content {content.shape}, style {style.shape}, domain {domain.shape}"
            )
        return self._run("generator", content, style, domain)


def role_for(base: str, granularity: str) -> str:
    """'content_encoder' + 'instance' -> 'content_encoder_instance'."""
    if granularity not in ("global", "instance"):
        raise ValueError(f"granularity must be 'global' or 'instance', got {granularity!r}")
    return base if granularity == "global" else f"{base}_instance"
