"""The machine's dense fp32 GEMM limit: the fastest of every matrix multiply this device offers.

A "% of the limit" is only honest when the limit is the best the device can do. torch's CPU GEMM (MKL)
is slow on AMD EPYC, where numpy's OpenBLAS and ONNX Runtime's MLAS multiply much faster; on Intel with
AMX the order changes again. So every reference available is timed in the *same* interleaved rounds as
what it bounds (see ``edgecgl.bench.time_interleaved``), the fastest defines the limit, and the report
names it. A network cannot beat a dense GEMM at its own FLOPs; if one does, the limit is capped at
100 % and flagged rather than printed above it.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PREFIX = "gemm:"  # keys of the reference fns inside a timing dict


@dataclass
class GemmReference:
    key: str  # "torch", "numpy", "onnxruntime"
    label: str  # library, kernel, threads: what the report prints
    fn: Callable[[], object]
    flops: float  # per call


def _blas_label() -> str:
    """numpy's BLAS as threadpoolctl sees it (library, version, kernel), and a forced kernel. Its thread
    count is the reference's hold, added by the caller."""
    label = "numpy matmul"
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        # numpy's own copy first: OpenCV's wheel brings another OpenBLAS (0.3.15 next to numpy's 0.3.31)
        here = Path(np.__file__).resolve().parent
        homes = (here, here.parent / "numpy.libs")
        own = [i for i in blas if any(Path(i.get("filepath", "")).resolve().is_relative_to(h) for h in homes)]
        if own or blas:
            b = (own or blas)[0]
            label += f" ({b.get('internal_api')} {b.get('version')}, kernel {b.get('architecture', '?')})"
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass
    forced = os.environ.get("OPENBLAS_CORETYPE")
    if forced:
        label += f" [OPENBLAS_CORETYPE={forced} forces the kernel]"
    return label


def _torch_ref(a: np.ndarray, b: np.ndarray, threads: int | None, reps: int) -> GemmReference | None:
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    tc = torch.empty_like(ta)

    def run() -> object:
        for _ in range(reps):
            torch.mm(ta, tb, out=tc)
        return tc

    n = a.shape[0]
    return GemmReference("torch", f"torch.mm ({torch.get_num_threads()} threads)", run, 2.0 * n**3 * reps)


def _concurrent(refs: list[GemmReference], blas_threads: int = 0) -> GemmReference:
    """The references at once, one Python thread each (their libraries drop the GIL; each has its own
    output): the limit of a network run as that many streams (``edgecgl video --workers``).
    ``blas_threads``: hold numpy's BLAS at that many threads while they run (process-wide: only then)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(len(refs))

    def run() -> object:
        if blas_threads:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(blas_threads, user_api="blas"):
                return list(pool.map(lambda r: r.fn(), refs))
        return list(pool.map(lambda r: r.fn(), refs))

    one = refs[0]
    label = f"{len(refs)} x {one.label} at once"
    return GemmReference(f"{one.key}-x{len(refs)}", label, run, one.flops * len(refs))


def _torch_cuda_ref(a: np.ndarray, b: np.ndarray, reps: int) -> GemmReference | None:
    """fp32 torch.mm on the GPU, synchronised: the limit of the rows that run there (a CPU GEMM would
    let a GPU network pass 100 % at any speed). TF32 stays as torch leaves it (off for matmul): the
    limit is true fp32, so fp16/bf16/int8 rows can exceed it and are flagged."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    tc = torch.empty_like(ta)

    def run() -> object:
        for _ in range(reps):
            torch.mm(ta, tb, out=tc)
        torch.cuda.synchronize()
        return tc

    n = a.shape[0]
    tf32 = "TF32 on" if torch.backends.cuda.matmul.allow_tf32 else "no TF32"
    label = f"torch.mm on {torch.cuda.get_device_name()} (fp32, {tf32})"
    return GemmReference("torch-cuda", label, run, 2.0 * n**3 * reps)


def _numpy_ref(a: np.ndarray, b: np.ndarray, reps: int, threads: int | None = None) -> GemmReference:
    """numpy's matmul; with ``threads``, BLAS is held at that many threads while it runs (numpy has no
    thread argument: without the hold a 1-thread network was compared with a 2-thread GEMM)."""
    c = np.empty_like(a)

    def run() -> object:
        for _ in range(reps):
            np.matmul(a, b, out=c)
        return c

    label = _blas_label()
    if threads:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        plain = run

        def run() -> object:
            with controller.limit(limits=threads, user_api="blas"):
                return plain()

        label += f" held at {threads} thread(s)"
    return GemmReference("numpy", label, run, 2.0 * a.shape[0] ** 3 * reps)


def _ort_ref(a: np.ndarray, b: np.ndarray, threads: int | None, reps: int) -> GemmReference | None:
    """ONNX Runtime's own MatMul (MLAS), with the session settings of our ONNX Runtime backend."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    n = a.shape[0]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        [numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 8)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def run() -> object:
        out = None
        for _ in range(reps):
            out = sess.run(None, {"a": a})
        return out

    label = f"onnxruntime MatMul ({threads or 'default'} threads, no spin-wait)"
    return GemmReference("onnxruntime", label, run, 2.0 * n**3 * reps)


@dataclass
class GemmLimit:
    """Every fp32 GEMM reference of this device; add them to a timing dict, then read the limit."""

    n: int = 2048
    threads: int | None = None
    reps: int = 2
    only: tuple[str, ...] = ("torch", "numpy", "onnxruntime")
    # also time ``streams`` 1-thread GEMMs at once (numpy, ONNX Runtime), each on threads // streams
    streams: int = 1
    refs: list[GemmReference] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        from edgecgl.backends.onnxruntime import usable_cpus

        rng = np.random.default_rng(0)
        a = rng.standard_normal((self.n, self.n), dtype=np.float32)
        b = rng.standard_normal((self.n, self.n), dtype=np.float32)
        makers: dict[str, Callable[[], GemmReference | None]] = {
            "torch": lambda: _torch_ref(a, b, self.threads, self.reps),
            # held at an explicit count: a caller (edgecgl video, bench) may hold BLAS at one thread around it
            "numpy": lambda: _numpy_ref(a, b, self.reps, self.threads or usable_cpus()),
            "onnxruntime": lambda: _ort_ref(a, b, self.threads, self.reps),
            "torch-cuda": lambda: _torch_cuda_ref(a, b, self.reps),
        }
        self.refs = [r for k in self.only if (r := makers[k]()) is not None]
        if self.streams > 1:
            each = max(1, (self.threads or usable_cpus()) // self.streams)
            if "numpy" in self.only:
                nps = [_numpy_ref(a, b, self.reps) for _ in range(self.streams)]
                nps[0].label = f"{nps[0].label} held at {each} thread(s)"
                self.refs.append(_concurrent(nps, blas_threads=each))
            if "onnxruntime" in self.only and (ort1 := _ort_ref(a, b, each, self.reps)) is not None:
                self.refs.append(_concurrent([ort1] * self.streams))  # run() allocates its outputs
        if not self.refs:
            raise ValueError(f"no GEMM reference available among {self.only}")

    def fns(self) -> dict[str, Callable[[], object]]:
        """Timing items, to be interleaved with the networks they bound."""
        return {PREFIX + r.key: r.fn for r in self.refs}

    def result(self, times: Mapping[str, list[float]]) -> dict[str, Any]:
        """The limit from the rounds' medians: the fastest reference, and every reference's rate."""
        rates = {
            r.key: r.flops / (statistics.median(times[PREFIX + r.key]) / 1000.0) / 1e9 for r in self.refs
        }
        best = max(self.refs, key=lambda r: rates[r.key])
        return {
            "library": best.label,
            "winner": best.key,
            "n": self.n,
            "gflop_per_s": round(rates[best.key], 1),
            "references": {
                r.key: {
                    "label": r.label,
                    "gflop_per_s": round(rates[r.key], 1),
                    "median_ms": round(statistics.median(times[PREFIX + r.key]), 3),
                }
                for r in self.refs
            },
        }


def fraction_of_limit(gflop_per_s: float, limit: Mapping[str, Any]) -> tuple[float, bool]:
    """(fraction, above): the fraction of the limit, never above 1.0; ``above`` flags a rate faster than
    every GEMM reference (the limit then underestimates the device, and the report says so)."""
    lim = float(limit["gflop_per_s"])
    frac = gflop_per_s / lim if lim > 0 else float("nan")
    return (min(1.0, round(frac, 3)), bool(frac > 1.0))


def split_times(times: Mapping[str, list[float]]) -> dict[str, list[float]]:
    """The timing dict without the GEMM reference items."""
    return {k: v for k, v in times.items() if not k.startswith(PREFIX)}
