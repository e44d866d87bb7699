"""``edgecgl bench``: how fast a bundle runs on *this* device, next to the device's own matmul limit.

Shared machines (and thermally throttled Jetsons) drift during a run, so everything compared is timed
in the same rounds, interleaved (A, B, C, A, B, C, ...) with the order rotated each round, and results
are medians after warm-up. The dense fp32 GEMMs that define "the machine's limit" (torch, numpy's BLAS,
ONNX Runtime's MatMul: the fastest wins, see ``edgecgl.gemm_limit``) are interleaved items too, so they
see the same load as the networks they are compared with.

FLOPs come from the ONNX graph itself (Conv / ConvTranspose / Gemm / MatMul, 2 FLOP per multiply-add),
so the runtime needs no training code to know what a frame costs.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecgl.bundle import Bundle, _inside, fp32_graph
from edgecgl.errors import EdgecglError
from edgecgl.gemm_limit import GemmLimit, fraction_of_limit

# ---------------------------------------------------------------------------------------------- timing


def time_interleaved(
    fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1, settle_s: float = 0.0
) -> dict[str, list[float]]:
    """Milliseconds per call for each fn, measured in rounds; each round runs every fn once.

    The order rotates every round so no fn always follows the same neighbour (cache and frequency
    effects of the previous item are spread evenly). ``settle_s`` > 0 pauses before each timed call at
    least that long and until the process is idle: thread pools keep spinning after a call returns
    (OpenBLAS's for ~0.1 s, longer than the bench's 0.05 s pause) and steal the cores from whatever is
    timed next.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    names = list(fns)
    for _ in range(max(0, warmup)):
        for n in names:
            fns[n]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names) if names else 0
        for n in names[k:] + names[:k]:
            if settle_s > 0:
                settle(settle_s)
            t0 = time.perf_counter()
            fns[n]()
            out[n].append((time.perf_counter() - t0) * 1000.0)
    return out


def settle(
    at_least_s: float, idle_share: float = 0.1, window_s: float = 0.01, at_most_s: float = 0.5
) -> None:
    """Sleep ``at_least_s``, then until this process burns under ``idle_share`` of a core over a
    ``window_s`` window (its pools have stopped spinning), or ``at_most_s`` in all."""
    t_end = time.perf_counter() + at_most_s
    time.sleep(at_least_s)
    while time.perf_counter() < t_end:
        c0 = time.process_time()
        time.sleep(window_s)
        if time.process_time() - c0 < idle_share * window_s:
            return


def summarize(ms: list[float]) -> dict[str, float]:
    """median / min / p90 of a list of milliseconds (rounded for JSON)."""
    arr = np.asarray(ms, dtype=np.float64)
    return {
        "median_ms": round(float(np.median(arr)), 3),
        "min_ms": round(float(arr.min()), 3),
        "p90_ms": round(float(np.percentile(arr, 90)), 3),
        "n": len(ms),
    }


# -------------------------------------------------------------------------------------- ONNX FLOPs


def onnx_node_flops(path: Path, inputs: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[str, float]]:
    """node name -> (op type, FLOPs of one call) for Conv / ConvTranspose / Gemm / MatMul nodes.

    Shapes come from ONNX shape inference with the dynamic dims fixed; weights behind a
    DequantizeLinear (INT8 Q/DQ graphs) are followed to their initializer. Where inference loses a
    dim (shape arithmetic it cannot fold, e.g. the exact sub-pixel decoder's edge strips), the shapes
    are read from one ONNX Runtime run at those input shapes.
    """
    import onnx

    model = onnx.load(str(path))
    for vi in model.graph.input:
        if vi.name in inputs:
            dims = vi.type.tensor_type.shape.dim
            for d, v in zip(dims, inputs[vi.name], strict=True):
                d.ClearField("dim_param")
                d.dim_value = int(v)
    model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int]] = {}
    for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    producer = {o: n for n in model.graph.node for o in n.output}
    measured: dict[str, list[int]] = {}

    def shape_of(name: str) -> list[int]:
        s = shapes.get(name)
        if s and all(v > 0 for v in s):
            return s
        node = producer.get(name)  # e.g. DequantizeLinear(weight) -> follow to the int8 initializer
        if node is not None and node.op_type in ("DequantizeLinear", "Cast", "Identity") and node.input:
            return shape_of(node.input[0])
        if not measured:
            measured.update(_runtime_shapes(model, inputs))
        if name in measured:
            return measured[name]
        raise EdgecglError(f"cannot infer the shape of '{name}' in {path}", "re-export the bundle")

    out: dict[str, tuple[str, float]] = {}
    for i, node in enumerate(model.graph.node):
        op = node.op_type
        if op in ("Conv", "ConvTranspose"):
            w = shape_of(node.input[1])
            # Conv: Cin/g*kh*kw MACs per output element; ConvTranspose: Cout/g*kh*kw per input element.
            y = shape_of(node.output[0]) if op == "Conv" else shape_of(node.input[0])
            macs = float(np.prod(y)) * float(np.prod(w[1:]))
        elif op in ("Gemm", "MatMul"):
            a, y = shape_of(node.input[0]), shape_of(node.output[0])
            k = a[-2] if op == "Gemm" and _attr(node, "transA", 0) else a[-1]
            macs = float(np.prod(y)) * k
        else:
            continue
        out[node.name or f"{op}_{i}"] = (op, 2.0 * macs)
    return out


def _runtime_shapes(model: Any, inputs: Mapping[str, tuple[int, ...]]) -> dict[str, list[int]]:
    """Shapes of every FLOP-counted node's activations, from one CPU run on zeros (one-hot-free zeros
    are valid for every role: images, styles and domain vectors only scale values, never shapes)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = [
        n.output[0] if n.op_type != "ConvTranspose" else n.input[0]
        for n in probe.graph.node
        if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul")
    ] + [n.input[0] for n in probe.graph.node if n.op_type in ("Gemm", "MatMul")]
    have = {o.name for o in probe.graph.output}
    for name in dict.fromkeys(names):
        if name not in have:
            probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every node's output
    sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.zeros(inputs[i.name], np.float32) for i in sess.get_inputs()}
    outs = sess.run(None, feeds)
    return {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs, strict=True)}


def onnx_flops(path: Path, inputs: Mapping[str, tuple[int, ...]]) -> dict[str, float]:
    """FLOPs of one call at concrete input shapes, by op type, and their ``total``."""
    out: dict[str, float] = {}
    for op, f in onnx_node_flops(path, inputs).values():
        out[op] = out.get(op, 0.0) + f
    out["total"] = sum(out.values())
    return out


def _attr(node: Any, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def frame_flops(bundle: Bundle, size: tuple[int, int], batch: int = 1) -> dict[str, float]:
    """GFLOP of one frame at ``size``: content encoder + generator (the style is fixed per video)."""
    h, w = size
    c = int(bundle.manifest.get("content_channels", 0)) or _content_channels(bundle)
    s, d = bundle.style_dim, len(bundle.domains)
    enc = onnx_flops(_fp32_path(bundle, "content_encoder"), {"image": (batch, 3, h, w)})["total"]
    gen = onnx_flops(
        _fp32_path(bundle, "generator"),
        {"content": (batch, c, h // 4, w // 4), "style": (batch, s), "domain": (batch, d)},
    )["total"]
    return {"content_encoder": enc / 1e9, "generator": gen / 1e9, "total": (enc + gen) / 1e9}


def _content_channels(bundle: Bundle) -> int:
    import onnx

    m = onnx.load(str(_fp32_path(bundle, "generator")), load_external_data=False)
    return next(i.type.tensor_type.shape.dim[1].dim_value for i in m.graph.input if i.name == "content")


def _fp32_path(bundle: Bundle, role: str) -> Path:
    return fp32_graph(bundle, role) or bundle.model_path(role)


# ------------------------------------------------------------------------------------------ variants


@dataclass
class Variant:
    """One backend at one precision, opened on demand."""

    label: str  # e.g. "onnxruntime-cpu fp32"
    backend: str  # onnxruntime-cpu | onnxruntime-cuda | openvino-cpu | torch | tensorrt
    precision: str
    open: Callable[[], Any]
    skipped: str | None = None  # why it cannot run here
    streams: int = 1  # frames at once, each on threads // streams (edgecgl video --workers)


# The roles that run on every frame; a precision is judged on these. The style encoders run once per
# video (and an INT8 export keeps them FP32), the upsampler is FP32 in every bundle.
PER_FRAME_ROLES = ("content_encoder", "content_encoder_instance", "generator")


def _precision_file(entry: dict[str, Any], precision: str) -> str | None:
    if precision == "fp32":
        return entry.get("fp32") or entry["file"]
    return entry["file"] if entry.get("precision") == precision else entry.get(precision)


def precision_view(bundle: Bundle, precision: str) -> Bundle:
    """The same bundle running the per-frame roles in one precision (where exported); the other roles
    (style encoders, upsampler) run the file they have in that precision, else their FP32 one."""
    models: dict[str, Path] = {}
    for role, entry in bundle.manifest.get("models", {}).items():
        rel = _precision_file(entry, precision)
        if not rel and role not in PER_FRAME_ROLES:
            rel = _precision_file(entry, "fp32")
        if rel:
            models[role] = _inside(bundle.root, rel)
    return dataclasses.replace(bundle, models=models, precision=precision)


def bundle_precisions(bundle: Bundle) -> list[str]:
    """Precisions the bundle holds for every per-frame role (fp32 first)."""
    entries = [e for r, e in bundle.manifest.get("models", {}).items() if r in PER_FRAME_ROLES]
    out = ["fp32"]
    for p in ("fp16", "int8"):
        if entries and all(_precision_file(e, p) for e in entries):
            out.append(p)
    return out


def variants(
    bundle: Bundle,
    threads: int = 0,
    only: list[str] | None = None,
    workers: int = 1,
    size: tuple[int, int] | None = None,
) -> list[Variant]:
    """Every backend x precision this bundle and this machine could run, with a reason for each skip.

    ``workers`` > 1 adds, after each ONNX Runtime CPU variant, the same run as ``workers`` frames at once on
    ``threads // workers`` threads each: what ``edgecgl video --workers`` does. ``size``: the working size
    timed (TensorRT refuses one outside its engines' profiles when opened)."""
    import importlib.util

    from edgecgl.backends.onnxruntime import (
        OnnxRuntimeBackend,
        available_providers,
        has_cpu_int8,
        usable_cpus,
    )

    found: list[Variant] = []
    providers = available_providers()
    precs = bundle_precisions(bundle)
    for device in ("cpu", "cuda"):
        provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
        for prec in precs:
            label = f"onnxruntime-{device} {prec}"

            def make(p: str = prec, dev: str = device) -> Any:
                return OnnxRuntimeBackend(precision_view(bundle, p), device=dev, threads=threads)

            skip = None
            if provider not in providers:
                skip = f"onnxruntime has no {provider}"
            elif device == "cpu" and prec == "fp16":
                skip = "FP16 graphs are for GPUs (ONNX Runtime's CPU provider runs them through casts)"
            elif device == "cpu" and prec == "int8" and not has_cpu_int8(bundle):
                skip = (
                    "the bundle's INT8 graphs are TensorRT Q/DQ (slower than FP32 on ONNX Runtime's CPU); "
                    "re-export with edgecgl export --int8 for the CPU graphs"
                )
            found.append(Variant(label, f"onnxruntime-{device}", prec, make, skip))
            if device == "cpu" and workers > 1:
                each = max(1, (threads or usable_cpus()) // workers)

                def make_each(p: str = prec, n: int = each) -> Any:
                    return OnnxRuntimeBackend(precision_view(bundle, p), device="cpu", threads=n)

                label_w = f"{label} x{workers} at once"
                found.append(Variant(label_w, "onnxruntime-cpu", prec, make_each, skip, workers))
    found += _openvino_variants(bundle, threads, workers)
    has_pt2 = all(
        (bundle.manifest.get("models", {}).get(r) or {}).get("torch")
        for r in ("content_encoder", "generator")
    )
    torch_skip = None
    if importlib.util.find_spec("torch") is None:
        torch_skip = "torch is not installed"
    elif not has_pt2:
        torch_skip = "the bundle has no torch.export programs (.pt2)"

    def make_torch() -> Any:
        import torch

        from edgecgl.backends.torch import TorchBackend

        if threads:
            torch.set_num_threads(threads)
        return TorchBackend(bundle)

    found.append(Variant("torch fp32", "torch", "fp32", make_torch, torch_skip))
    for dtype in ("bf16", "fp16"):
        skip = torch_skip or _autocast_skip(dtype)

        def make_lowp(dtype: str = dtype) -> Any:
            return AutocastBackend(make_torch(), dtype)

        found.append(Variant(f"torch {dtype}", "torch", dtype, make_lowp, skip))
    trt_skip = None
    if importlib.util.find_spec("tensorrt") is None:
        trt_skip = "TensorRT is not installed"
    elif not any((e or {}).get("engine") for e in bundle.manifest.get("models", {}).values()):
        trt_skip = "the bundle has no TensorRT engines (edgecgl export --engine BUNDLE)"

    def make_trt() -> Any:
        from edgecgl.backends import select_backend

        return select_backend(bundle, "tensorrt", frame_size=size)

    found.append(Variant(f"tensorrt {bundle.precision}", "tensorrt", bundle.precision, make_trt, trt_skip))
    if only:
        keep = [v for v in found if any(o in v.label for o in only)]
        if not keep:
            raise EdgecglError(
                f"no backend matches {', '.join(only)}", f"choose from: {', '.join(v.label for v in found)}"
            )
        found = keep
    return found


def _openvino_variants(bundle: Bundle, threads: int, workers: int) -> list[Variant]:
    """OpenVINO on the CPU (``--backend openvino`` / ``openvino-bf16``), one stream and ``workers`` at once."""
    import importlib.util

    skip: dict[str, str | None] = {"fp32": None, "bf16": None}
    if importlib.util.find_spec("openvino") is None:
        skip = dict.fromkeys(skip, "OpenVINO is not installed (pip install -e '.[openvino]')")
    else:
        from edgecgl.backends.openvino import cpu_has_bf16  # the flags, not OpenVINO: listing loads nothing

        if cpu_has_bf16() is False:
            skip["bf16"] = "this CPU has no bf16 units (OpenVINO would run f32)"
    out = []
    for prec in ("fp32", "bf16"):

        def make(p: str = prec, n: int = 1) -> Any:
            from edgecgl.backends.openvino import OpenVinoBackend

            return OpenVinoBackend(bundle, p, threads=threads, streams=n)

        out.append(Variant(f"openvino-cpu {prec}", "openvino-cpu", prec, make, skip[prec]))
        if workers > 1:
            label = f"openvino-cpu {prec} x{workers} at once"
            out.append(
                Variant(label, "openvino-cpu", prec, lambda p=prec: make(p, workers), skip[prec], workers)
            )
    return out


def _autocast_skip(dtype: str) -> str | None:
    """Why torch autocast at ``dtype`` is not worth timing here (None: it is)."""
    import torch

    if torch.cuda.is_available():
        return None
    if dtype == "fp16":
        return "fp16 autocast is for GPUs"
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return "this CPU has no bf16 matrix instructions (AVX512-BF16 / AMX)"
    return None


class AutocastBackend:
    """The torch backend under ``torch.autocast`` (bf16 / fp16); InstanceNorm stays fp32 under autocast.

    On a CPU the programs' weights go channels_last, the layout oneDNN's bf16 (AMX) convolutions use.
    """

    def __init__(self, inner: Any, dtype: str) -> None:
        import torch

        self.inner, self.torch = inner, torch
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
        self.device_type = inner.device.type
        self.name = f"{inner.name}-{dtype}"
        if self.device_type == "cpu":
            for prog in {id(p): p for p in getattr(inner, "_programs", {}).values()}.values():
                prog.to(memory_format=torch.channels_last)

    def _ctx(self) -> Any:
        return self.torch.autocast(self.device_type, dtype=self.dtype)

    def encode_content(self, image: np.ndarray, granularity: str = "global") -> np.ndarray:
        with self._ctx():
            return self.inner.encode_content(image, granularity)

    def encode_style(self, image: np.ndarray, domain: np.ndarray, granularity: str = "global") -> np.ndarray:
        with self._ctx():
            return self.inner.encode_style(image, domain, granularity)

    def generate(self, content: np.ndarray, style: np.ndarray, domain: np.ndarray) -> np.ndarray:
        with self._ctx():
            return self.inner.generate(content, style, domain)


# ---------------------------------------------------------------------------------------------- run


@dataclass
class BenchOptions:
    size: tuple[int, int] | None = None  # working resolution (H, W); default: the bundle's
    source: tuple[int, int] = (720, 1280)  # frame size for the end-to-end path
    repeats: int = 10
    warmup: int = 2
    threads: int = 0  # 0: the library default
    matmul_n: int = 2048
    only: list[str] = field(default_factory=list)
    end_to_end: bool = True
    settle_s: float = 0.05  # pause before each timed call (see time_interleaved)
    workers: int = 1  # > 1: also each ONNX Runtime CPU variant as that many frames at once


ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name and kind (what every number is written next to), from /proc/cpuinfo where it
    exists: "AMD EPYC (family 25 model 1; avx2)". A cloud guest's model name can be just "AMD EPYC" for
    Zen 3 (AVX2 only), Zen 4 and Zen 5 (AVX-512, VNNI): different speeds, and INT8 kernels that differ."""
    try:
        text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
        if not line.strip() and fields:
            break  # the first processor is enough
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" not in fields:
        return name
    flags = set(fields.get("flags", "").split())
    isa = [f for f in ISA_FLAGS if f in flags]
    return f"{name} (family {fields['cpu family']} model {fields.get('model', '?')}; {' '.join(isa) or 'no AVX2'})"


def machine_info(threads: int = 0) -> dict[str, Any]:
    import importlib.metadata as md

    cpu = cpu_name()
    vers: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("edgecgl", "numpy", "onnxruntime", "onnxruntime-gpu", "torch", "tensorrt"):
        try:
            vers[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "threads": threads or None,
        "load_average": _load(),
        "versions": vers,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _load() -> list[float] | None:
    """1/5/15-minute load averages (None where the OS has none): say how busy the device was."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _test_frame(hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth synthetic frame (gradients + noise): real-image-like statistics, deterministic."""
    h, w = hw
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / max(1, w - 1), yy / max(1, h - 1), 0.5 + 0.3 * np.sin(xx / 37.0)], -1) * 255
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def bench_bundle(
    bundle: Bundle, opts: BenchOptions, log: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    """Open every runnable variant, then time them all interleaved with the matmul limit."""
    from edgecgl.compose import letterbox, to_nchw
    from edgecgl.domains import one_hot
    from edgecgl.translate import Translator, check_frame_size

    size = tuple(opts.size or bundle.frame_size)
    if size[0] % bundle.stride or size[1] % bundle.stride:
        raise EdgecglError(
            f"--size {size[0]}x{size[1]} is not a multiple of {bundle.stride}",
            f"the network stride is {bundle.stride}",
        )
    check_frame_size(size, bundle)  # type: ignore[arg-type]
    flops = frame_flops(bundle, size)  # type: ignore[arg-type]
    frame = _test_frame(opts.source)
    canvas, _ = letterbox(frame, size)  # type: ignore[arg-type]
    x = to_nchw(canvas)
    domain_name = bundle.domains[0]
    dom = one_hot(0, len(bundle.domains))
    style = bundle.style(domain_name)[None].astype(np.float32)

    fns: dict[str, Callable[[], object]] = {}
    rows: list[dict[str, Any]] = []
    for v in variants(bundle, opts.threads, opts.only or None, opts.workers, opts.size):
        row: dict[str, Any] = {"variant": v.label, "backend": v.backend, "precision": v.precision}
        if v.streams > 1:
            row["streams"] = v.streams
        rows.append(row)
        if v.skipped:
            row["skipped"] = v.skipped
            log(f"skip {v.label}: {v.skipped}")
            continue
        try:
            be = v.open()
        except EdgecglError as exc:
            row["skipped"] = exc.message
            log(f"skip {v.label}: {exc.message}")
            continue
        log(f"{v.label}: opened ({getattr(be, 'name', v.backend)})")
        row["device"] = backend_device(v.backend, be)

        def model_only(be: Any = be) -> object:
            return be.generate(be.encode_content(x), style, dom)

        fns[f"{v.label}|model"] = at_once(model_only, v.streams)
        row["model_key"] = f"{v.label}|model"
        if opts.end_to_end:
            tr = Translator(be, precision_view(bundle, v.precision), domain_name, frame_size=size)  # type: ignore[arg-type]
            fns[f"{v.label}|e2e"] = at_once(lambda tr=tr: tr.translate_frame(frame), v.streams)
            row["e2e_key"] = f"{v.label}|e2e"
    if not fns:
        raise EdgecglError("no backend of this bundle can run on this machine", "see the skip reasons above")
    # Accuracy on the same input before timing: every variant against the first fp32 one (uint8 PSNR).
    outs = {
        r["model_key"]: np.asarray(_first(fns[r["model_key"]](), r.get("streams", 1)))
        for r in rows
        if r.get("model_key")
    }
    ref_key = next((r["model_key"] for r in rows if r.get("model_key") and r["precision"] == "fp32"), None)
    for r in rows:
        if r.get("model_key") and ref_key:
            r["psnr_db_vs_fp32"] = _psnr(outs[ref_key], outs[r["model_key"]])
    streams = max((r.get("streams", 1) for r in rows if r.get("model_key")), default=1)
    gemm = GemmLimit(opts.matmul_n, opts.threads or None, streams=streams)  # N GEMMs at once too
    fns.update(gemm.fns())
    # Rows on the GPU are bounded by the GPU's own GEMM, timed in the same rounds.
    gpu_gemm = None
    if any(r.get("device") == "cuda" for r in rows):
        try:
            gpu_gemm = GemmLimit(opts.matmul_n, only=("torch-cuda",))
            fns.update(gpu_gemm.fns())
        except ValueError:
            log("no GPU GEMM reference (torch without CUDA): GPU rows get no % of a limit")
    log(f"timing {len(fns)} items x {opts.repeats} rounds (warm-up {opts.warmup}) at {size[0]}x{size[1]}")
    load_before = _load()
    times = _timed_with_one_library_thread(fns, opts)
    for r in rows:  # N frames a call: ms per frame of throughput
        for k in ("model_key", "e2e_key"):
            if r.get(k) and r.get("streams", 1) > 1:
                times[r[k]] = [t / r["streams"] for t in times[r[k]]]
    limit = gemm.result(times)
    gpu_limit = gpu_gemm.result(times) if gpu_gemm else None
    ref = next((r for r in rows if r.get("model_key") and r["backend"] == "torch"), None)
    ref_ms = statistics.median(times[ref["model_key"]]) if ref else None
    for row in rows:
        key = row.pop("model_key", None)
        if key is None:
            continue
        model = summarize(times[key])
        row["model_only"] = model
        gflops = flops["total"] / (model["median_ms"] / 1000.0)
        row["gflop_per_s"] = round(gflops, 1)
        on_gpu = row.get("device") == "cuda"
        if on_gpu and gpu_limit is None:
            row["fraction_of_matmul"] = None
        else:
            row["fraction_of_matmul"], above = fraction_of_limit(gflops, gpu_limit if on_gpu else limit)
            if above:
                row["above_gemm_limit"] = True
        row["fps_model"] = round(1000.0 / model["median_ms"], 3)
        if ref_ms:
            row["speedup_vs_torch"] = round(ref_ms / model["median_ms"], 3)
        ekey = row.pop("e2e_key", None)
        if ekey:
            e2e = summarize(times[ekey])
            row["end_to_end"] = e2e
            row["fps_end_to_end"] = round(1000.0 / e2e["median_ms"], 3)
            row["e2e_over_model"] = round(model["median_ms"] / e2e["median_ms"], 3)
    return {
        "bundle": str(bundle.root),
        "size": list(size),
        "source_size": list(opts.source),
        "repeats": opts.repeats,
        "warmup": opts.warmup,
        "machine": {
            **{k: v for k, v in machine_info(opts.threads).items() if k != "load_average"},
            "load_average_before": load_before,
            "load_average_after": _load(),
        },
        "settle_s": opts.settle_s,
        "opencv_threads_while_timing": 1,
        "gflop_per_frame": {k: round(v, 3) for k, v in flops.items()},
        "matmul": limit,
        "matmul_gpu": gpu_limit,
        "psnr_reference": ref_key.split("|")[0] if ref_key else None,
        "results": rows,
    }


def at_once(fn: Callable[[], object], n: int) -> Callable[[], object]:
    """One timing item making ``n`` calls of ``fn`` at once, one thread each (as ``edgecgl video
    --workers`` does); the caller divides its ms by ``n`` for ms per frame of throughput."""
    if n == 1:
        return fn
    pool = ThreadPoolExecutor(n)  # idle threads between calls; they end with the process
    return lambda: list(pool.map(lambda _i: fn(), range(n)))


def _timed_with_one_library_thread(
    fns: dict[str, Callable[[], object]], opts: BenchOptions
) -> dict[str, list[float]]:
    """``time_interleaved`` with OpenCV and numpy's BLAS held at one thread. OpenCV's pool, woken by an end-to-end item's resizes
    and guided upsampling, kept taking CPU from the next item: on 2 cores the one-call model row read
    377 ms instead of 299 (docs/PERFORMANCE.md); ``edgecgl video``'s frames/s do not depend on it.
    numpy's BLAS is held at one thread from here as ``edgecgl video`` holds it, so the x2 rows' threads
    never set it (the GEMM references hold their own count)."""
    import cv2

    from edgecgl.guided_cpu import one_blas_thread

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with one_blas_thread():
            return time_interleaved(fns, opts.repeats, opts.warmup, opts.settle_s)
    finally:
        cv2.setNumThreads(before)


def _first(out: object, streams: int) -> object:
    """One frame's output of a timing item (the first of ``streams`` calls made at once)."""
    return out[0] if streams > 1 else out  # type: ignore[index]


def _psnr(ref: np.ndarray, out: np.ndarray) -> float | None:
    """dB between two [-1, 1] network outputs after the runtime's uint8 conversion (None: identical)."""
    from edgecgl.compose import to_uint8

    mse = float(np.mean((to_uint8(ref).astype(np.float64) - to_uint8(out).astype(np.float64)) ** 2))
    return None if mse == 0 else round(10 * np.log10(255.0**2 / mse), 2)


def backend_device(kind: str, backend: Any) -> str:
    """'cuda' or 'cpu': where an opened variant runs, so its row is held to that device's GEMM."""
    if kind in ("onnxruntime-cuda", "tensorrt"):
        return "cuda"
    dev = getattr(backend, "device", None) or getattr(getattr(backend, "inner", None), "device", None)
    return "cuda" if getattr(dev, "type", str(dev or "cpu")).startswith("cuda") else "cpu"


def _percent(frac: float | None) -> str:
    return f"{100 * frac:5.1f}%" if frac is not None else f"{'-':>6}"


def format_table(res: dict[str, Any]) -> str:
    """The human summary printed by ``edgecgl bench``."""
    h, w = res["size"]
    lines = [
        f"{res['bundle']} at {h}x{w}: {res['gflop_per_frame']['total']:.2f} GFLOP/frame; "
        f"limit {res['matmul']['gflop_per_s']:.0f} GFLOP/s, the fastest fp32 GEMM here: "
        f"{res['matmul']['library']}; load {res['machine'].get('load_average_before')}",
        "GEMM references: "
        + ", ".join(f"{k} {v['gflop_per_s']:.0f}" for k, v in res["matmul"].get("references", {}).items()),
        *(
            [f"GPU rows: limit {g['gflop_per_s']:.0f} GFLOP/s, {g['library']}"]
            if (g := res.get("matmul_gpu"))
            else []
        ),
        f"{'variant':<32} {'model ms':>9} {'fps':>7} {'GFLOP/s':>8} {'% lim':>7} {'x torch':>8} "
        f"{'e2e ms':>8} {'e2e fps':>8} {'PSNR dB':>8}",
    ]

    def num(v: float | None, width: int) -> str:
        return f"{v:{width}.2f}" if v is not None else f"{'-':>{width}}"

    for r in res["results"]:
        if "skipped" in r:
            lines.append(f"{r['variant']:<32} skipped: {r['skipped']}")
            continue
        lines.append(
            f"{r['variant']:<32} {r['model_only']['median_ms']:9.2f} {r['fps_model']:7.2f} "
            f"{r['gflop_per_s']:8.1f} {_percent(r.get('fraction_of_matmul'))}{'*' if r.get('above_gemm_limit') else ' '}"
            f"{num(r.get('speedup_vs_torch'), 8)} "
            f"{num(r.get('end_to_end', {}).get('median_ms'), 8)} {num(r.get('fps_end_to_end'), 8)} "
            f"{num(r.get('psnr_db_vs_fp32'), 8) if r.get('psnr_db_vs_fp32') is not None else f'{chr(8734):>8}'}"
        )
    if any(r.get("above_gemm_limit") for r in res["results"]):
        lines.append("* faster than every GEMM reference measured: the limit underestimates this device")
    if any(r.get("streams", 1) > 1 for r in res["results"]):
        lines.append(
            "x N at once: N frames at a time on 1/N of the threads each (edgecgl video --workers); "
            "ms are per frame of throughput"
        )
    return "\n".join(lines)


__all__ = [
    "BenchOptions",
    "Variant",
    "at_once",
    "bench_bundle",
    "bundle_precisions",
    "cpu_name",
    "format_table",
    "frame_flops",
    "machine_info",
    "onnx_flops",
    "onnx_node_flops",
    "precision_view",
    "summarize",
    "time_interleaved",
    "variants",
]
