"""TensorRT backend: the bundle's engines through the named-tensor API common to TensorRT 8.5 -> 11.

Only ``num_io_tensors``, ``get_tensor_name``/``mode``/``dtype``/``profile_shape``,
``num_optimization_profiles``, ``set_optimization_profile_async``, ``set_input_shape``,
``set_tensor_address``, ``get_tensor_shape`` and ``execute_async_v3`` are used (the binding-index API is
gone in 10), and every call that reports failure is checked. Device buffers are torch CUDA tensors:
torch is already on the vehicle for Ultralytics; pycuda has no wheels and NVIDIA's samples moved to
cuda-python. One CUDA stream per role.

An engine has one optimization profile per use (frames, crop batches); each call picks the profile
whose range holds its shapes and runs on that profile's execution context. With ``cuda_graphs=True`` the
enqueue of each (role, input shapes) is captured once and replayed; a captured graph fixes its shapes,
addresses and context, so each has its own execution context (a context is not re-bound under a graph),
crop batches are padded to a power of two (fewer distinct shapes) and at most ``MAX_GRAPHS`` are kept.
Capture uses the thread-local mode, so the decoder and detector threads may use CUDA meanwhile.
Several contexts of one engine may share a profile because they never run concurrently: all of a role's
work is on that role's one stream (TensorRT requires separate profiles only for concurrent contexts).

Engines are specific to a GPU and a TensorRT version: each engine's sidecar (``<engine>.json``) is
checked before deserializing, and a mismatch says to rebuild with ``edgecgl export --engine BUNDLE``.
The sidecar also records the profiles the engine was built with, so ``check_frame_range`` refuses a
working size outside them from JSON alone, before TensorRT or any engine is loaded.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edgecgl.backends.base import RoleBackend
from edgecgl.backends.device_id import IDENTITY_KEYS, device_identity
from edgecgl.bundle import IO_NAMES, Bundle, _inside
from edgecgl.errors import EdgecglError

MAX_GRAPHS = 12
REBUILD = "rebuild the engines on this machine with: edgecgl export --engine BUNDLE"


def init_plugins(trt: Any, logger: Any) -> None:
    """Register TensorRT's plugin library (the InstanceNormalization plugin of 8.5 graphs and engines)."""
    if not trt.init_libnvinfer_plugins(logger, ""):
        raise EdgecglError(
            f"TensorRT {trt.__version__} could not load its plugin library (libnvinfer_plugin)",
            "install TensorRT completely (JetPack: the libnvinfer-plugin package)",
        )


def check_sidecar(sidecar: dict[str, Any], trt_version: str, identity: dict[str, str], engine: str) -> None:
    """Refuse an engine built for another GPU or TensorRT version, naming both and the fix."""
    problems = []
    if str(sidecar.get("tensorrt")) != str(trt_version):
        problems.append(f"TensorRT {sidecar.get('tensorrt')} (this machine has {trt_version})")
    for key in IDENTITY_KEYS:
        built, here = str(sidecar.get(key, "")), str(identity.get(key, ""))
        if built != here:
            problems.append(f"{key} {built or '(not recorded)'} (this GPU: {here or '(none)'})")
    if problems:
        raise EdgecglError(f"engine {engine} was built for {'; '.join(problems)}", REBUILD)


def engine_frame_range(bundle: Bundle) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(smallest, largest) working size HxW that every engine's frame profile takes, as recorded in the
    sidecars ``edgecgl export --engine`` writes; None where none records one (a missing sidecar is the
    backend's own error). The encoders' ``image`` is in pixels, the generator's ``content`` in 1/stride."""
    lo, hi = (0, 0), (1 << 30, 1 << 30)
    found = False
    for entry in bundle.manifest.get("models", {}).values():
        rel = (entry or {}).get("engine")
        if not rel:
            continue
        path = _inside(bundle.root, rel)
        side = path.with_name(path.name + ".json")
        if not side.is_file():
            continue
        frame = json.loads(side.read_text(encoding="utf-8")).get("profiles", {}).get("frame", {})
        for name, scale in (("image", 1), ("content", bundle.stride)):
            if name in frame:
                (*_, h0, w0), _, (*_, h1, w1) = frame[name]
                lo = (max(lo[0], h0 * scale), max(lo[1], w0 * scale))
                hi = (min(hi[0], h1 * scale), min(hi[1], w1 * scale))
                found = True
    return (lo, hi) if found else None


def check_frame_range(bundle: Bundle, size: tuple[int, int] | None, flag: str = "--size") -> None:
    """Refuse a ``--size`` outside the engines' frame profiles before anything loads: TensorRT itself
    would say so only at the first frame, in input shapes. None (the bundle's own size) and the crops
    need no check: the profiles were built for the manifest's frame and instance sizes."""
    found = engine_frame_range(bundle) if size is not None else None
    if size is None or found is None or _fits(size, *found):
        return
    (h0, w0), (h1, w1) = found
    fh, fw = bundle.frame_size
    raise EdgecglError(
        f"{flag} {size[0]}x{size[1]} is outside the TensorRT engines' frame range {h0}x{w0}..{h1}x{w1}",
        f"the engines were built for half to all of the bundle's working size {fh}x{fw}, its training "
        f"frame size; give {flag} in that range, or use --backend onnxruntime or torch, which take any size",
    )


def _fits(shape: tuple[int, ...], lo: tuple[int, ...], hi: tuple[int, ...]) -> bool:
    return len(shape) == len(lo) and all(a <= s <= b for s, a, b in zip(shape, lo, hi, strict=True))


class EngineRunner:
    """One engine and its execution contexts: the TensorRT calls only, on raw device pointers.

    Kept free of torch so the exact call sequence runs against fake ``tensorrt`` modules built from the
    real bindings' member lists in tests (every attribute touched must exist in 8.5, 8.6, 10.x and 11.x).
    """

    def __init__(self, trt: Any, data: bytes, name: str = "engine") -> None:
        self.trt = trt
        self.name = name
        self.logger = trt.Logger()
        init_plugins(trt, self.logger)  # an 8.5 engine holds the InstanceNormalization plugin
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise EdgecglError(f"TensorRT cannot deserialize {name}", REBUILD)
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.dtypes: dict[str, Any] = {}
        for i in range(self.engine.num_io_tensors):
            tname = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(tname) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(tname)
            self.dtypes[tname] = self.engine.get_tensor_dtype(tname)
        self.num_profiles = int(self.engine.num_optimization_profiles)
        self._contexts: dict[int, Any] = {}
        self.active: Any = None

    def profile(self, name: str, index: int = 0) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) of an input in one optimization profile."""
        shapes = self.engine.get_tensor_profile_shape(name, index)
        return tuple(tuple(int(d) for d in s) for s in shapes)

    def select_profile(self, shapes: dict[str, tuple[int, ...]]) -> int:
        """The profile whose ranges hold every input shape; the nearest to its opt shapes if several do."""
        best: tuple[int, int] | None = None
        for k in range(self.num_profiles):
            ranges = {n: self.profile(n, k) for n in self.inputs}
            if all(_fits(tuple(shapes[n]), ranges[n][0], ranges[n][2]) for n in self.inputs):
                dist = sum(
                    abs(s - o) for n in self.inputs for s, o in zip(shapes[n], ranges[n][1], strict=True)
                )
                if best is None or dist < best[0]:
                    best = (dist, k)
        if best is None:
            given = ", ".join(f"{n} {tuple(shapes[n])}" for n in self.inputs)
            ranges = "; ".join(
                f"{n} {self.profile(n, k)[0]}..{self.profile(n, k)[2]}"
                for k in range(self.num_profiles)
                for n in self.inputs
            )
            raise EdgecglError(
                f"{self.name}: input {given} is outside the engine's profiles ({ranges})",
                "use the bundle's working resolution, or " + REBUILD,
            )
        return best[1]

    def max_batch(self, shapes: dict[str, tuple[int, ...]]) -> int:
        """The largest batch any profile takes for these per-item shapes (0: none takes them)."""
        best = 0
        for k in range(self.num_profiles):
            ranges = {n: self.profile(n, k) for n in self.inputs}
            if all(_fits(tuple(shapes[n][1:]), ranges[n][0][1:], ranges[n][2][1:]) for n in self.inputs):
                best = max(best, min(ranges[n][2][0] for n in self.inputs))
        return best

    def new_context(self, profile: int, stream_handle: int) -> Any:
        """A fresh execution context on one optimization profile."""
        ctx = self.engine.create_execution_context()
        if ctx is None:
            raise EdgecglError(
                f"TensorRT could not create an execution context for {self.name} (GPU memory?)"
            )
        if not ctx.set_optimization_profile_async(profile, int(stream_handle)):
            raise EdgecglError(f"TensorRT refused optimization profile {profile} of {self.name}", REBUILD)
        return ctx

    def context(self, profile: int, stream_handle: int) -> Any:
        """The shared context of a profile (created on first use)."""
        if profile not in self._contexts:
            self._contexts[profile] = self.new_context(profile, stream_handle)
        return self._contexts[profile]

    def set_inputs(
        self,
        shapes: dict[str, tuple[int, ...]],
        addresses: dict[str, int],
        stream_handle: int = 0,
        context: Any = None,
    ) -> dict[str, tuple[int, ...]]:
        """Pick the profile, bind input shapes and addresses; returns the output shapes TensorRT infers."""
        ctx = context if context is not None else self.context(self.select_profile(shapes), stream_handle)
        for name in self.inputs:
            shape = tuple(int(d) for d in shapes[name])
            if not ctx.set_input_shape(name, shape):
                raise EdgecglError(f"{self.name}: TensorRT refused shape {shape} for input '{name}'", REBUILD)
            if not ctx.set_tensor_address(name, int(addresses[name])):
                raise EdgecglError(f"{self.name}: TensorRT refused the address of input '{name}'")
        self.active = ctx
        return {name: tuple(int(d) for d in ctx.get_tensor_shape(name)) for name in self.outputs}

    def set_outputs(self, addresses: dict[str, int]) -> None:
        for name in self.outputs:
            if not self.active.set_tensor_address(name, int(addresses[name])):
                raise EdgecglError(f"{self.name}: TensorRT refused the address of output '{name}'")

    def enqueue(self, stream_handle: int, context: Any = None) -> None:
        ctx = context if context is not None else self.active
        if not ctx.execute_async_v3(int(stream_handle)):
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


def padded_batch(n: int, max_batch: int) -> int:
    """The batch a graph is captured for: the next power of two, at most the profile's maximum."""
    b = 1
    while b < n:
        b *= 2
    return max(n, min(b, max_batch))


class TensorRTBackend(RoleBackend):
    """Runs each role's engine; numpy in, numpy out (the Backend protocol), torch CUDA buffers inside."""

    # One stream, buffer set and context per role: the frame and the crops would share the generator's.
    concurrent = False

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
        identity = device_identity(device)
        entries: dict[str, Any] = bundle.manifest.get("models", {})
        self._runners: dict[str, tuple[EngineRunner, Any]] = {}
        # (role, input shapes) -> (graph, static inputs, static outputs, its own execution context), or
        # None where no context could be made for a capture (those shapes run uncaptured)
        self._graphs: dict[tuple[Any, ...], tuple[Any, list[Any], list[Any], Any] | None] = {}
        with torch.cuda.device(self.device):
            for role in IO_NAMES:
                rel = (entries.get(role) or {}).get("engine")
                if not rel:
                    continue
                path = _inside(bundle.root, rel)
                side = path.with_name(path.name + ".json")
                if not path.is_file() or not side.is_file():
                    raise EdgecglError(f"bundle {bundle.root} is missing {rel} or its sidecar", REBUILD)
                check_sidecar(json.loads(side.read_text(encoding="utf-8")), trt.__version__, identity, rel)
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
        names = IO_NAMES[role][0]
        n = arrays[0].shape[0]
        most = runner.max_batch({nm: a.shape for nm, a in zip(names, arrays, strict=True)})
        if 0 < most < n:  # a batch above every profile's maximum (e.g. verify's 8 frames): in chunks
            parts = [self._run(role, *(a[i : i + most] for a in arrays)) for i in range(0, n, most)]
            return np.concatenate(parts)
        return self._run_batch(role, runner, stream, names, arrays)

    def _run_batch(
        self,
        role: str,
        runner: EngineRunner,
        stream: Any,
        names: tuple[str, ...],
        arrays: tuple[np.ndarray, ...],
    ) -> np.ndarray:
        t = self.torch
        n = arrays[0].shape[0]
        if self.cuda_graphs:
            k = runner.select_profile({nm: a.shape for nm, a in zip(names, arrays, strict=True)})
            b = padded_batch(n, runner.profile(names[0], k)[2][0])
            arrays = tuple(np.concatenate([a, np.repeat(a[-1:], b - n, 0)]) if b > n else a for a in arrays)
        key = (role, tuple(a.shape for a in arrays))
        with t.cuda.device(self.device), t.cuda.stream(stream):
            ins = [
                t.from_numpy(np.ascontiguousarray(a)).to(
                    self.device, _torch_dtype(self.trt, t, runner.dtypes[nm]), non_blocking=True
                )
                for nm, a in zip(names, arrays, strict=True)
            ]
            cached = self._graphs.get(key) if self.cuda_graphs else None
            if cached is not None:
                graph, static_in, static_out, _ = cached
                for dst, src in zip(static_in, ins, strict=True):
                    dst.copy_(src)
                graph.replay()
                out = static_out[0]
            else:
                outs = self._bind(runner, names, ins, stream)
                runner.enqueue(stream.cuda_stream)
                out = outs[0]
                if self.cuda_graphs and key not in self._graphs:
                    self._capture(key, runner, stream, names, ins)
            result = out[:n].float().cpu().numpy()
        return result

    def _bind(
        self, runner: EngineRunner, names: tuple[str, ...], ins: list[Any], stream: Any, context: Any = None
    ) -> list[Any]:
        t = self.torch
        shapes = runner.set_inputs(
            {nm: tuple(x.shape) for nm, x in zip(names, ins, strict=True)},
            {nm: x.data_ptr() for nm, x in zip(names, ins, strict=True)},
            stream.cuda_stream,
            context,
        )
        outs = [
            t.empty(shapes[nm], dtype=_torch_dtype(self.trt, t, runner.dtypes[nm]), device=self.device)
            for nm in runner.outputs
        ]
        runner.set_outputs({nm: o.data_ptr() for nm, o in zip(runner.outputs, outs, strict=True)})
        return outs

    def _capture(
        self, key: tuple[Any, ...], runner: EngineRunner, stream: Any, names: tuple[str, ...], ins: list[Any]
    ) -> None:
        """Capture one enqueue for these shapes on a context of their own, after an ordinary run on it
        (TensorRT's shape-dependent setup must not happen inside the capture)."""
        t = self.torch
        while len(self._graphs) >= MAX_GRAPHS:
            self._graphs.pop(next(iter(self._graphs)))
        static_in = [x.clone() for x in ins]
        shapes = {nm: tuple(x.shape) for nm, x in zip(names, static_in, strict=True)}
        try:
            ctx = runner.new_context(runner.select_profile(shapes), stream.cuda_stream)
        except EdgecglError:  # e.g. a TensorRT that allows one context per profile: run these uncaptured
            self._graphs[key] = None
            return
        static_out = self._bind(runner, names, static_in, stream, ctx)
        runner.enqueue(stream.cuda_stream, ctx)
        stream.synchronize()
        graph = t.cuda.CUDAGraph()
        with t.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
            runner.enqueue(stream.cuda_stream, ctx)
        self._graphs[key] = (graph, static_in, static_out, ctx)
