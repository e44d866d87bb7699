"""ONNX Runtime backend: the bundle's ONNX files, one session per distinct file.

CPU by default; the CUDA (and TensorRT) execution providers are used where this onnxruntime build has
them. Roles that share a file (``*_instance`` falling back to the global encoder) share a session.

On the CPU an INT8 role runs its ``cpu_file`` (``QLinearConv``, U8S8) instead of the TensorRT Q/DQ graph,
which ONNX Runtime's CPU provider runs as FP32 convolutions between Q/DQ passes (slower than FP32;
calib/quantize.py, docs/PERFORMANCE.md).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from edgecgl.backends.base import RoleBackend
from edgecgl.bundle import IO_NAMES, Bundle
from edgecgl.errors import EdgecglError

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
}


def thread_cap() -> int:
    """OMP_NUM_THREADS when it is a positive integer (0 when not): the process's CPU budget, which torch
    already obeys and ONNX Runtime does not (a service file's cap on a vehicle whose cores the perception
    stack shares)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 0


def usable_cpus() -> int:
    """Logical CPUs this process may run on (a container's or taskset's limit, not the host's), at most
    ``thread_cap()``."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        n = os.cpu_count() or 1
    cap = thread_cap()
    return min(n, cap) if cap else n


def ort_threads(share: int = 1) -> int:
    """Intra-op threads for one of ``share`` ONNX Runtime calls running at once: 0 (ORT's default, one per
    physical core) unless the cores are split between calls or capped by OMP_NUM_THREADS."""
    if share <= 1 and not thread_cap():
        return 0
    return max(1, usable_cpus() // max(1, share))


def cpu_graph(bundle: Bundle, path: Path) -> Path:
    """The file ONNX Runtime's CPU provider should run for ``path``: an INT8 role's ``cpu_file`` where the
    bundle has one, else ``path`` itself."""
    for entry in bundle.manifest.get("models", {}).values():
        if entry.get("cpu_file") and entry.get("precision") == "int8" and Path(path).name == entry["file"]:
            cpu = Path(path).with_name(entry["cpu_file"])
            if cpu.parent.resolve() == bundle.root.resolve():
                return cpu
    return Path(path)


def has_cpu_int8(bundle: Bundle) -> bool:
    """Every per-frame INT8 role has its ONNX Runtime CPU graph (bundles exported before it was added
    carry only the TensorRT Q/DQ graphs)."""
    entries = [e for r, e in bundle.manifest.get("models", {}).items() if e.get("precision") == "int8"]
    return bool(entries) and all(e.get("cpu_file") for e in entries)


ORT_DISTS = ("onnxruntime", "onnxruntime-gpu")


def ort_install_problem() -> str | None:
    """What is wrong with this machine's ONNX Runtime, in one line (None: nothing known). The CPU and GPU
    builds are two pip packages that unpack into one folder: installed together, the last one installed
    wins, and on a Jetson the CUDA provider silently disappears."""
    import importlib.metadata as md
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return (
            "ONNX Runtime is not installed: on a Jetson install NVIDIA's onnxruntime-gpu (docs/JETSON.md), "
            "elsewhere pip install onnxruntime"
        )
    have = []
    for dist in ORT_DISTS:
        with contextlib.suppress(md.PackageNotFoundError):
            have.append(f"{dist} {md.version(dist)}")
    if len(have) > 1:
        return (
            f"{' and '.join(have)} are both installed and share one folder (the last installed wins): "
            "pip uninstall -y onnxruntime onnxruntime-gpu, then install the one this machine needs"
        )
    return None


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


class OnnxRuntimeBackend(RoleBackend):
    """Runs each role's ONNX graph; inputs and outputs are named per ``edgecgl.bundle.IO_NAMES``."""

    def __init__(self, bundle: Bundle, device: str = "cpu", threads: int = 0) -> None:
        import onnxruntime as ort

        if device not in PROVIDERS:
            raise EdgecglError(f"unknown onnxruntime device '{device}'", "use cpu or cuda")
        wanted = PROVIDERS[device]
        have = set(ort.get_available_providers())
        if wanted[0] not in have:
            raise EdgecglError(
                f"onnxruntime has no {wanted[0]} on this machine (it has {', '.join(sorted(have))})",
                "install onnxruntime-gpu for CUDA, or use --backend onnxruntime-cpu",
            )
        self.name = f"onnxruntime-{device}"
        self.bundle = bundle
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = threads or (ort_threads() if device == "cpu" else 0)
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # docs/PERFORMANCE.md
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._by_role: dict[str, ort.InferenceSession] = {}
        for role in IO_NAMES:
            try:
                path = bundle.model_path(role)
            except EdgecglError:
                continue
            if device == "cpu":
                path = cpu_graph(bundle, path)
            key = str(Path(path).resolve())
            if key not in self._sessions:
                try:
                    self._sessions[key] = ort.InferenceSession(key, sess_options=opts, providers=wanted)
                except Exception as exc:  # noqa: BLE001 - a broken/foreign ONNX file is the user's bundle problem
                    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                    raise EdgecglError(
                        f"onnxruntime cannot load {path}: {first}", "re-export the bundle"
                    ) from None
            self._by_role[role] = self._sessions[key]
        for role in ("content_encoder", "generator"):
            if role not in self._by_role:
                raise EdgecglError(f"bundle {bundle.root} has no '{role}' model", "re-export the bundle")
        self.providers = self._by_role["generator"].get_providers()

    def _run(self, role: str, *inputs: np.ndarray) -> np.ndarray:
        sess = self._by_role.get(role) or self._by_role.get(role.removesuffix("_instance"))
        if sess is None:
            raise EdgecglError(f"bundle {self.bundle.root} has no '{role}' model", "re-export the bundle")
        names, outs = IO_NAMES[role]
        feeds = {n: np.ascontiguousarray(x, dtype=np.float32) for n, x in zip(names, inputs, strict=True)}
        return sess.run(list(outs), feeds)[0]
