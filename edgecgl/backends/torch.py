"""torch reference backend: the bundle's torch.export programs (``.pt2``), eager on CPU or CUDA.

It loads ExportedPrograms named under each manifest model entry's ``"torch"`` key, so it needs no
training code (``edgecgl.train`` is never imported). A bundle exported without them cannot use it.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from edgecgl.backends.base import RoleBackend
from edgecgl.bundle import IO_NAMES, Bundle, _inside
from edgecgl.errors import EdgecglError


class TorchBackend(RoleBackend):
    """Runs ``torch.export`` programs; the reference the ONNX/TensorRT backends are compared with."""

    def __init__(self, bundle: Bundle, device: str | None = None) -> None:
        try:
            import torch
        except ImportError:
            raise EdgecglError(
                "the torch backend needs torch", "pip install torch, or use --backend onnxruntime"
            ) from None
        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.name = f"torch-{self.device.type}"
        self.bundle = bundle
        entries: dict[str, Any] = bundle.manifest.get("models", {})
        self._programs: dict[str, Any] = {}
        cache: dict[str, Any] = {}
        for role in IO_NAMES:
            rel = (entries.get(role) or {}).get("torch")
            if not rel:
                continue
            path = _inside(bundle.root, rel)
            if not path.is_file():
                raise EdgecglError(f"bundle {bundle.root} is missing {rel}", "re-export the bundle")
            key = str(path)
            if key not in cache:
                try:
                    cache[key] = _load_program_weights_only(torch, key).module().to(self.device)
                except Exception as exc:  # noqa: BLE001 - a foreign/corrupt program is a bundle problem
                    raise EdgecglError(f"torch cannot load {rel}: {str(exc).splitlines()[0][:200]}") from None
            self._programs[role] = cache[key]
        for role in ("content_encoder", "generator"):
            if role not in self._programs:
                raise EdgecglError(
                    f"bundle {bundle.root} has no torch program (.pt2) for '{role}': the torch backend is unavailable",
                    "re-export with torch programs, or use --backend onnxruntime",
                )

    def _run(self, role: str, *inputs: np.ndarray) -> np.ndarray:
        prog = self._programs.get(role) or self._programs.get(role.removesuffix("_instance"))
        if prog is None:
            raise EdgecglError(f"bundle {self.bundle.root} has no torch program for '{role}'")
        t = self.torch
        with t.inference_mode():
            args = [t.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device) for x in inputs]
            return prog(*args).float().cpu().numpy()


def _load_program_weights_only(torch: Any, path: str) -> Any:
    """``torch.export.load`` with every pickled payload read by ``torch.load(weights_only=True)``.

    torch.export's archive unpickles some weights and constants with ``weights_only=False``, so a
    crafted .pt2 could run code. A bundle is data: for the duration of the load, force the safe
    unpickler (plain tensors load fine; anything else fails and becomes a bundle error).
    """
    original = torch.load

    def safe_load(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        return original(*args, **kwargs)

    with _LOAD_LOCK:
        torch.load = safe_load
        try:
            return torch.export.load(path)
        finally:
            torch.load = original


_LOAD_LOCK = threading.Lock()
