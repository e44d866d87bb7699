"""TensorRT backend: the bundle's engines through the named-tensor API common to TensorRT 8.5 -> 11.

Only ``num_io_tensors``, ``get_tensor_name``/``mode``/``dtype``/``profile_shape``, ``set_input_shape``,
``set_tensor_address``, ``get_tensor_shape`` and ``execute_async_v3`` are used (the binding-index API is
gone in 10). Device buffers are torch CUDA tensors: torch is already on the vehicle for Ultralytics;
pycuda has no wheels and NVIDIA's samples moved to cuda-python. One CUDA stream per execution context.
For fixed shapes a CUDA graph of the enqueue can be captured once and replayed (``cuda_graphs=True``).

Engines are specific to a GPU and a TensorRT version: each engine's sidecar (``<engine>.json``) is
checked before deserializing, and a mismatch says to rebuild with ``edgecgl export --engine BUNDLE``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edgecgl.backends.base import RoleBackend
from edgecgl.bundle import IO_NAMES, Bundle, _inside
from edgecgl.errors import EdgecglError


def check_sidecar(sidecar: dict[str, Any], trt_version: str, gpu: str, capability: str, engine: str) -> None:
    """Refuse an engine built for another GPU or TensorRT version, naming both and the fix."""
    problems = []
    if str(sidecar.get("tensorrt")) != str(trt_version):
        problems.append(f"TensorRT {sidecar.get('tensorrt')} (this machine has {trt_version})")
    if str(sidecar.get("compute_capability")) != str(capability) or str(sidecar.get("gpu")) != str(gpu):
        problems.append(
            f"GPU {sidecar.get('gpu')} sm {sidecar.get('compute_capability')} (this is {gpu} sm {capability})"
        )
    if problems:
        raise EdgecglError(
            f"engine {engine} was built for {' and '.join(problems)}",
            "rebuild the engines on this machine with: edgecgl export --engine BUNDLE",
        )


class EngineRunner:
    """One engine, one execution context: the TensorRT calls only, on raw device pointers.

    Kept free of torch so the exact call sequence runs against a fake ``tensorrt`` built from the API
    index in tests (every attribute touched must exist in 8.5, 8.6, 10.x and 11.x).
    """

    def __init__(self, trt: Any, data: bytes, name: str = "engine") -> None:
        self.trt = trt
        self.name = name
        self.logger = trt.Logger()
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise EdgecglError(
                f"TensorRT cannot deserialize {name}", "rebuild with: edgecgl export --engine BUNDLE"
            )
        self.context = self.engine.create_execution_context()
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.dtypes: dict[str, Any] = {}
        for i in range(self.engine.num_io_tensors):
            tname = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(tname) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(tname)
            self.dtypes[tname] = self.engine.get_tensor_dtype(tname)

    def profile(self, name: str) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) of an input in profile 0."""
        return tuple(tuple(int(d) for d in s) for s in self.engine.get_tensor_profile_shape(name, 0))

    def set_inputs(
        self, shapes: dict[str, tuple[int, ...]], addresses: dict[str, int]
    ) -> dict[str, tuple[int, ...]]:
        """Bind input shapes and addresses; returns the output shapes TensorRT infers from them."""
        for name in self.inputs:
            shape = tuple(int(d) for d in shapes[name])
            lo, _, hi = self.profile(name)
            if len(shape) != len(lo) or any(s < a or s > b for s, a, b in zip(shape, lo, hi, strict=True)):
                raise EdgecglError(
                    f"{self.name}: input '{name}' shape {shape} is outside the engine's profile {lo}..{hi}",
                    "use the bundle's working resolution, or rebuild with: edgecgl export --engine BUNDLE",
                )
            self.context.set_input_shape(name, shape)
            self.context.set_tensor_address(name, int(addresses[name]))
        return {name: tuple(int(d) for d in self.context.get_tensor_shape(name)) for name in self.outputs}

    def set_outputs(self, addresses: dict[str, int]) -> None:
        for name in self.outputs:
            self.context.set_tensor_address(name, int(addresses[name]))

    def enqueue(self, stream_handle: int) -> None:
        if not self.context.execute_async_v3(int(stream_handle)):
            raise RuntimeError(f"TensorRT execute_async_v3 failed for {self.name}")


def _torch_dtype(trt: Any, torch: Any, dt: Any) -> Any:
    table = {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.INT32: torch.int32,
        trt.DataType.INT8: torch.int8,
        trt.DataType.BOOL: torch.bool,
    }
    return table[dt]


class TensorRTBackend(RoleBackend):
    """Runs each role's engine; numpy in, numpy out (the Backend protocol), torch CUDA buffers inside."""

    def __init__(self, bundle: Bundle, device: int = 0, cuda_graphs: bool = False) -> None:
        try:
            import tensorrt as trt
            import torch
        except ImportError as exc:
            raise EdgecglError(f"the TensorRT backend needs tensorrt and torch: {exc}") from None
        if not torch.cuda.is_available():
            raise EdgecglError("the TensorRT backend needs a CUDA device", "use --backend onnxruntime")
        self.trt, self.torch = trt, torch
        self.device = torch.device("cuda", device)
        self.name = "tensorrt"
        self.bundle = bundle
        self.cuda_graphs = cuda_graphs
        gpu = torch.cuda.get_device_name(self.device)
        cap = "{}.{}".format(*torch.cuda.get_device_capability(self.device))
        entries: dict[str, Any] = bundle.manifest.get("models", {})
        self._runners: dict[str, tuple[EngineRunner, Any]] = {}
        # role -> (input shapes, graph, static inputs, static outputs): one captured shape per role
        self._graphs: dict[str, tuple[tuple[Any, ...], Any, list[Any], list[Any]]] = {}
        with torch.cuda.device(self.device):
            for role in IO_NAMES:
                rel = (entries.get(role) or {}).get("engine")
                if not rel:
                    continue
                path = _inside(bundle.root, rel)
                side = path.with_name(path.name + ".json")
                if not path.is_file() or not side.is_file():
                    raise EdgecglError(
                        f"bundle {bundle.root} is missing {rel} or its sidecar",
                        "rebuild with: edgecgl export --engine BUNDLE",
                    )
                check_sidecar(json.loads(side.read_text(encoding="utf-8")), trt.__version__, gpu, cap, rel)
                runner = EngineRunner(trt, path.read_bytes(), rel)
                self._runners[role] = (runner, torch.cuda.Stream(self.device))
        for role in ("content_encoder", "generator"):
            if role not in self._runners:
                raise EdgecglError(
                    f"bundle {bundle.root} has no TensorRT engine for '{role}'",
                    "build them on this machine with: edgecgl export --engine BUNDLE",
                )

    def _run(self, role: str, *arrays: np.ndarray) -> np.ndarray:
        item = self._runners.get(role) or self._runners.get(role.removesuffix("_instance"))
        if item is None:
            raise EdgecglError(f"bundle {self.bundle.root} has no engine for '{role}'")
        runner, stream = item
        t = self.torch
        names = IO_NAMES[role][0]
        key = tuple(a.shape for a in arrays)
        with t.cuda.device(self.device), t.cuda.stream(stream):
            ins = [
                t.from_numpy(np.ascontiguousarray(a)).to(
                    self.device, _torch_dtype(self.trt, t, runner.dtypes[n]), non_blocking=True
                )
                for n, a in zip(names, arrays, strict=True)
            ]
            cached = self._graphs.get(role)
            if self.cuda_graphs and cached is not None and cached[0] == key:
                _, graph, static_in, static_out = cached
                for dst, src in zip(static_in, ins, strict=True):
                    dst.copy_(src)
                graph.replay()
                out = static_out[0]
            else:
                outs = self._bind(runner, names, ins)
                runner.enqueue(stream.cuda_stream)
                out = outs[0]
                if self.cuda_graphs:  # a new shape for this role: capture it (replaces the old graph)
                    self._capture(role, key, runner, stream, names, ins)
            result = out.float().cpu().numpy()
        return result

    def _bind(self, runner: EngineRunner, names: tuple[str, ...], ins: list[Any]) -> list[Any]:
        t = self.torch
        shapes = runner.set_inputs(
            {n: tuple(x.shape) for n, x in zip(names, ins, strict=True)},
            {n: x.data_ptr() for n, x in zip(names, ins, strict=True)},
        )
        outs = [
            t.empty(shapes[n], dtype=_torch_dtype(self.trt, t, runner.dtypes[n]), device=self.device)
            for n in runner.outputs
        ]
        runner.set_outputs({n: o.data_ptr() for n, o in zip(runner.outputs, outs, strict=True)})
        return outs

    def _capture(
        self,
        role: str,
        key: tuple[Any, ...],
        runner: EngineRunner,
        stream: Any,
        names: tuple[str, ...],
        ins: list[Any],
    ) -> None:
        """Capture one enqueue for this shape after a normal run did TensorRT's shape-dependent setup."""
        t = self.torch
        static_in = [x.clone() for x in ins]
        static_out = self._bind(runner, names, static_in)
        stream.synchronize()
        graph = t.cuda.CUDAGraph()
        with t.cuda.graph(graph, stream=stream):
            runner.enqueue(stream.cuda_stream)
        self._graphs[role] = (key, graph, static_in, static_out)
