"""OpenVINO on the CPU: the bundle's FP32 ONNX graphs, in bfloat16 where the CPU has bf16 matrix units.

Why a second CPU runtime: on an Intel Xeon with AMX, ONNX Runtime's CPU provider has no bf16 convolutions,
and OpenVINO's bf16 ran a trained ``small`` frame x2.6 faster than ONNX Runtime fp32 at 58 dB against it
(docs/PERFORMANCE.md, "Intel Xeon with AMX"). ``openvino`` (fp32) exists for parity checks: it was slower
than ONNX Runtime there. OpenVINO is optional (``pip install -e '.[openvino]'``); on a CPU without bf16
support OpenVINO runs f32 whatever is asked, and the backend reports what it actually runs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from edgecgl.backends.base import RoleBackend
from edgecgl.bundle import IO_NAMES, Bundle, fp32_graph
from edgecgl.errors import EdgecglError

PRECISIONS = ("fp32", "bf16")


def cpu_has_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether OpenVINO's CPU plugin will run bf16 here (AVX512-BF16/AMX, or AVX2-VNNI-2's bf16 converts),
    from /proc/cpuinfo's flags without loading OpenVINO; None where there is no /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    except OSError:
        return None
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
    return bool(flags & {"avx512_bf16", "amx_bf16", "avx_ne_convert"})


class OpenVinoBackend(RoleBackend):
    """Each role's FP32 graph compiled by OpenVINO's CPU plugin at ``precision`` (bf16 or fp32)."""

    def __init__(self, bundle: Bundle, precision: str = "bf16", threads: int = 0, streams: int = 1) -> None:
        """``streams`` > 1: that many frames at once over the cores (``edgecgl video --workers``), each
        calling thread on its own infer request; 1: one frame at a time on every core."""
        if precision not in PRECISIONS:
            raise EdgecglError(
                f"unknown OpenVINO precision '{precision}'", f"use one of {', '.join(PRECISIONS)}"
            )
        try:
            import openvino as ov
            import openvino.properties.hint as hints
        except ImportError:
            raise EdgecglError(
                "the openvino backend needs OpenVINO",
                "pip install -e '.[openvino]', or use --backend onnxruntime",
            ) from None
        self.name = "openvino-cpu"
        self.bundle = bundle
        core = ov.Core()
        config: dict[Any, Any] = {
            hints.inference_precision: ov.Type.bf16 if precision == "bf16" else ov.Type.f32
        }
        if (
            streams > 1
        ):  # edgecgl bench, trained small: 72.0 ms a frame two at once, 83.0 one (docs/PERFORMANCE.md)
            config["NUM_STREAMS"] = streams
        else:
            config[hints.performance_mode] = hints.PerformanceMode.LATENCY
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled: dict[str, Any] = {}
        cache: dict[str, Any] = {}
        for role in (r for r in IO_NAMES if r != "upsampler"):  # the upsampler runs on ONNX Runtime/numpy
            path = fp32_graph(bundle, role)
            if path is None:
                continue
            if not path.is_file():
                raise EdgecglError(f"bundle {bundle.root} is missing {path.name}", "re-export the bundle")
            key = str(path.resolve())
            if key not in cache:
                try:
                    cache[key] = core.compile_model(core.read_model(key), "CPU", config)
                except Exception as exc:  # noqa: BLE001 - a graph OpenVINO cannot take is the bundle's problem here
                    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                    raise EdgecglError(
                        f"OpenVINO cannot compile {path.name}: {first}", "use --backend onnxruntime"
                    ) from None
            self._compiled[role] = cache[key]
        for role in ("content_encoder", "generator"):
            if role not in self._compiled:
                raise EdgecglError(f"bundle {bundle.root} has no FP32 '{role}' graph", "re-export the bundle")
        ran = self._compiled["generator"].get_property(hints.inference_precision)
        self.precision = "bf16" if ran == ov.Type.bf16 else "fp32"  # what the CPU plugin chose
        self._local = threading.local()  # an infer request is not thread-safe: one per thread and role

    def _request(self, role: str) -> Any:
        reqs = self._local.__dict__.setdefault("requests", {})
        if role not in reqs:
            reqs[role] = self._compiled[role].create_infer_request()
        return reqs[role]

    def _run(self, role: str, *inputs: np.ndarray) -> np.ndarray:
        if role not in self._compiled:
            role = role.removesuffix("_instance")
        if role not in self._compiled:
            raise EdgecglError(f"bundle {self.bundle.root} has no '{role}' model", "re-export the bundle")
        names = IO_NAMES[role][0]
        feeds = {n: np.ascontiguousarray(x, dtype=np.float32) for n, x in zip(names, inputs, strict=True)}
        out = self._request(role).infer(feeds)
        return np.array(out[0], dtype=np.float32, copy=True)  # the request reuses its output buffer
