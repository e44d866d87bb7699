"""Backend selection: ``--backend auto|tensorrt|onnxruntime|onnxruntime-cuda|onnxruntime-cpu|openvino-bf16|openvino|torch``.

``auto`` tries TensorRT (where the ``tensorrt`` module and our TensorRT backend import and the bundle
has engines), then ONNX Runtime with CUDA, then ONNX Runtime on the CPU, and logs which it took and why
it skipped the others. Imports are lazy: selecting ``onnxruntime-cpu`` never imports torch or TensorRT.
``openvino-bf16`` (OpenVINO on the CPU, bf16 where the CPU has AMX) is asked for by name, never chosen by
``auto``: it changes the arithmetic (about 58 dB from FP32 on a trained ``small``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from edgecgl.backends.base import Backend
from edgecgl.bundle import Bundle
from edgecgl.errors import EdgecglError

CHOICES = (
    "auto",
    "tensorrt",
    "onnxruntime",
    "onnxruntime-cuda",
    "onnxruntime-cpu",
    "openvino-bf16",
    "openvino",
    "torch",
)


def _tensorrt(bundle: Bundle, frame_size: tuple[int, int] | None = None) -> Backend:
    if importlib.util.find_spec("tensorrt") is None:
        raise EdgecglError(
            "TensorRT is not installed",
            "on a GPU PC pip install -e '.[trt]'; on a Jetson JetPack's python3-libnvinfer (docs/JETSON.md)",
        )
    try:
        from edgecgl.backends.tensorrt import (  # owned by the export side
            TensorRTBackend,
            check_frame_range,
        )
    except ImportError as exc:
        raise EdgecglError(f"the TensorRT backend cannot be imported: {exc}") from None
    check_frame_range(bundle, frame_size)  # from the sidecars, before any engine loads
    return TensorRTBackend(bundle)


def _ort(device: str, threads: int = 0) -> Callable[[Bundle], Backend]:
    def make(bundle: Bundle) -> Backend:
        if importlib.util.find_spec("onnxruntime") is None:
            from edgecgl.backends.onnxruntime import ort_install_problem

            raise EdgecglError(str(ort_install_problem()))
        from edgecgl.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(bundle, device=device, threads=threads if device == "cpu" else 0)

    return make


def _openvino(bundle: Bundle, precision: str, streams: int = 1) -> Backend:
    if importlib.util.find_spec("openvino") is None:
        raise EdgecglError(
            "OpenVINO is not installed",
            "pip install -e '.[openvino]' (or pip install openvino), or use --backend onnxruntime",
        )
    from edgecgl.backends.onnxruntime import ort_threads
    from edgecgl.backends.openvino import OpenVinoBackend

    # every usable core, or OMP_NUM_THREADS's cap, shared by the streams (as ONNX Runtime's sessions are)
    return OpenVinoBackend(bundle, precision, threads=ort_threads(), streams=streams)


def _torch(bundle: Bundle) -> Backend:
    from edgecgl.backends.torch import TorchBackend

    return TorchBackend(bundle)


def _ort_cuda_available() -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    from edgecgl.backends.onnxruntime import available_providers

    return "CUDAExecutionProvider" in available_providers()


def _ort_cuda_missing() -> str:
    """Why onnxruntime-cuda is not there, where the install says (onnxruntime beside onnxruntime-gpu)."""
    from edgecgl.backends.onnxruntime import ort_install_problem

    problem = ort_install_problem()
    return f"onnxruntime-cuda unavailable ({problem})" if problem else "onnxruntime-cuda unavailable"


def select_backend(
    bundle: Bundle,
    name: str = "auto",
    log: Callable[[str], None] | None = None,
    cpu_threads: int = 0,
    frame_size: tuple[int, int] | None = None,
    workers: int = 1,
) -> Backend:
    """Open ``bundle`` on the named backend; ``auto`` falls back in order and says what it picked.

    ``cpu_threads``: ONNX Runtime's threads per call on the CPU (0: its default, one per core).
    ``frame_size``: the ``--size`` asked for (None: the bundle's); TensorRT refuses one its engines'
    profiles do not take before loading them (``auto`` then falls back).
    ``workers``: frames the caller runs at once; OpenVINO compiles that many streams for them."""
    say = log or (lambda _m: None)
    key = name.strip().lower()
    if key not in CHOICES:
        raise EdgecglError(f"unknown backend '{name}'", f"choose one of: {', '.join(CHOICES)}")
    if key == "tensorrt":
        backend = _tensorrt(bundle, frame_size)
    elif key == "onnxruntime":
        backend = _ort("cuda" if _ort_cuda_available() else "cpu", cpu_threads)(bundle)
    elif key == "onnxruntime-cuda":
        backend = _ort("cuda")(bundle)
    elif key == "onnxruntime-cpu":
        backend = _ort("cpu", cpu_threads)(bundle)
    elif key in ("openvino", "openvino-bf16"):
        backend = _openvino(bundle, "bf16" if key == "openvino-bf16" else "fp32", max(1, workers))
    elif key == "torch":
        backend = _torch(bundle)
    else:
        backend = _auto(bundle, say, cpu_threads, frame_size)
    ran = getattr(backend, "precision", None)  # OpenVINO: what its CPU plugin chose (bf16 asked, f32 run)
    say(f"backend: {backend.name}, {ran or precision_run(bundle, backend.name)}")
    return backend


def precision_run(bundle: Bundle, backend_name: str) -> str:
    """What the network runs in on this backend, for the log: an INT8 bundle on torch is the FP32 .pt2,
    on ONNX Runtime's CPU its 8-bit CPU graph where the bundle has one."""
    if backend_name.startswith("torch"):
        return "fp32 (.pt2 programs)"
    if bundle.precision == "int8" and backend_name == "onnxruntime-cpu":
        from edgecgl.backends.onnxruntime import has_cpu_int8

        return "int8 (CPU graph)" if has_cpu_int8(bundle) else "int8 (Q/DQ graph)"
    return bundle.precision


def _auto(
    bundle: Bundle,
    say: Callable[[str], None],
    cpu_threads: int = 0,
    frame_size: tuple[int, int] | None = None,
) -> Backend:
    skipped: list[str] = []
    for label, make, usable in (
        (
            "tensorrt",
            lambda b: _tensorrt(b, frame_size),
            lambda: importlib.util.find_spec("tensorrt") is not None,
        ),
        ("onnxruntime-cuda", _ort("cuda"), _ort_cuda_available),
    ):
        if not usable():
            skipped.append(_ort_cuda_missing() if label == "onnxruntime-cuda" else f"{label} unavailable")
            continue
        try:
            return make(bundle)
        except EdgecglError as exc:
            skipped.append(f"{label}: {exc.message}")
    if skipped:
        say(f"backend auto: {'; '.join(skipped)}")
    return _ort("cpu", cpu_threads)(bundle)


__all__ = ["CHOICES", "Backend", "select_backend"]
