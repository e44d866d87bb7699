"""From the network's working resolution back to the input's: guided (the bundle's upsampler) or resize.

``guided`` runs the bundle's ``upsampler`` graph (``edgecgl.export.upsampler``: a fast guided filter
that fits the translation as a local affine colour transform of the input at the working resolution and
applies it to the full-resolution input), so the output keeps the input's edges and texture.
``resize`` is the plain bilinear resize of the network's output (the only choice for bundles exported
before the upsampler existed; they fall back to it with a one-line notice).
``residual`` is ``guided`` plus what the guided fit leaves out of the network's output, bilinearly
upsampled: a local affine map of the input cannot light a tail-light that is dark in the input, so
``guided`` drops the lights and glows the network paints (docs/RESULTS.md, "Lights"); at the working
resolution ``residual`` equals the network's output, above it the input's detail is added as ``guided``
adds it. The residual's fit runs in numpy (``edgecgl.guided_cpu``) whatever the backend.
``residual-instances`` is ``guided`` for the frame and ``residual`` for the instance crops: the cars' lights
without the working-size network's blur over the whole scene (``split_mode``; two Upsamplers).
``local`` is ``guided`` with a 4x smaller window (``LOCAL_RADIUS``): the shipped radius-16 window covers
half the fit grid's height, so its affine fit keeps the input's structure and flattens the network's own
large-scale shading (a lit road, a dark sky: 40 % of a night's contrast at 1/8 scale); the smaller window
keeps that shading, at some of the input's detail. It runs on the numpy path on every backend (the graph
has the bundle's radius built in; the cost is the CPU path's, docs/PERFORMANCE.md).

The graph runs on the translator's backend where that backend has it (TensorRT when the bundle has an
upsampler engine; torch when it has a ``.pt2``; ONNX Runtime on CUDA). Where it would run on ONNX Runtime's
CPU provider (the CPU backend, or the fallback session for a backend without the role), the same function
runs as numpy + OpenCV instead (``edgecgl.guided_cpu``: the fit at low resolution, uint8 in and out at full
resolution; ~10x cheaper at 1080p, docs/PERFORMANCE.md), once checked against the graph on a small
input; the graph runs where that check fails or for the modes the CPU path does not have.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgecgl import guided_cpu
from edgecgl.bundle import IO_NAMES, Bundle
from edgecgl.compose import resize, to_nchw, to_uint8
from edgecgl.errors import EdgecglError

CHOICES = ("guided", "local", "resize", "residual")
# ``local``'s box radius on the fit grid (about 64 rows at any working size, ``UpsamplerConfig.subsample``).
# benchmarks/downstream.py (SynthWeather, YOLOv8n fine-tuned on sunny frames + translated copies, 3 detector
# seeds), radius 16 / 8 / 4 / 2: night mAP50-95 0.168 / 0.174 / 0.178 / 0.180, cloudy 0.360 / 0.352 /
# 0.344 / 0.334 (the night gain and the cloud loss grow together; 4 keeps 5/6 of the one at 3/5 of the other,
# docs/RESULTS.md "A smaller window")
LOCAL_RADIUS = 4
# what --upsample takes: one mode for everything, or (frame, instance crops); "residual-instances" keeps the
# input's detail on the frame (guided) and the network's lights on the cars and people (residual)
MODES: dict[str, tuple[str, str]] = {
    **{m: (m, m) for m in CHOICES},
    "residual-instances": ("guided", "residual"),
}


def split_mode(mode: str) -> tuple[str, str]:
    """--upsample value -> (the frame's mode, the instance crops' mode); a user error if unknown."""
    key = mode.strip().lower()
    if key not in MODES:
        raise EdgecglError(f"unknown --upsample '{mode}'", f"choose one of: {', '.join(MODES)}")
    return MODES[key]


class Upsampler:
    """uint8 input at full size + its working-size copy + the network's float output -> uint8 full size."""

    def __init__(
        self,
        bundle: Bundle,
        backend: Any = None,
        mode: str = "guided",
        log: Callable[[str], None] | None = None,
        cpu_path: bool = True,
    ) -> None:
        """``cpu_path`` False always runs the graph (to compare the two)."""
        mode = mode.strip().lower()
        if mode not in CHOICES:
            raise EdgecglError(f"unknown --upsample '{mode}'", f"choose one of: {', '.join(CHOICES)}")
        if mode != "resize" and not bundle.has_upsampler:
            if log is not None:
                log(
                    f"upsample: bundle {bundle.root} has no upsampler (exported before it existed): "
                    "resizing the output; re-export the bundle for full-resolution detail"
                )
            mode = "resize"
        self.mode = mode
        self._bundle = bundle
        self.params: dict[str, Any] = dict(bundle.upsampler or {}) if mode != "resize" else {}
        self._run: Callable[..., np.ndarray] | None = None
        # time in __call__ since the last take_ms(), per thread: the pipeline's "upsample" stage, also
        # when the instance crops run on their own thread (edgecgl.video, --overlap-instances)
        self._spent = threading.local()
        self.cpu: guided_cpu.GuidedParams | None = None  # set when the numpy + OpenCV path runs instead
        self._fit_low: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
        if mode == "local":
            self.cpu = _local_params(self.params)
            if self.cpu is None:
                if log is not None:
                    log(
                        f"upsample: local needs a per-channel upsampler and bundle {bundle.root} has "
                        f"{self.params.get('mode')!r}: running guided"
                    )
                self.mode = mode = "guided"
        if mode in ("guided", "residual"):
            self._run = _runner(bundle, backend)
            if cpu_path and _on_ort_cpu(backend, self._run):
                self.cpu = _checked_cpu_path(self.params, self._graph, log)
        if mode == "residual" and self.cpu is None:  # the CPU path reuses its own fit
            self._fit_low = _low_fit(bundle, self.params)

    @property
    def guided(self) -> bool:
        return self.mode != "resize"

    def sibling(self, mode: str) -> Upsampler:
        """The same bundle's upsampler in another of guided | residual, sharing this one's graph session
        and checked CPU path (--upsample residual-instances: the crops' upsampler, built without a second
        session or check). A resize upsampler (no graph in the bundle) has only resize siblings."""
        mode = mode.strip().lower()
        if mode not in ("guided", "residual") or self.mode == "local":
            raise ValueError(
                f"a sibling upsampler is guided or residual of one, not {mode!r} of {self.mode!r}"
            )
        other = copy.copy(self)
        other._spent = threading.local()
        if self.guided:
            other.mode = mode
            other._fit_low = (
                _low_fit(self._bundle, self.params) if mode == "residual" and self.cpu is None else None
            )
        return other

    def __call__(self, guide: np.ndarray, low_guide: np.ndarray, low_image: np.ndarray) -> np.ndarray:
        """``guide`` uint8 [H,W,3], ``low_guide`` uint8 [h,w,3], ``low_image`` float32 [3,h,w] in [-1, 1]
        (the network's output for ``low_guide``) -> uint8 [H,W,3]."""
        if low_image.ndim != 3 or low_image.shape[0] != 3 or low_image.shape[1:] != low_guide.shape[:2]:
            raise ValueError(f"low_image {low_image.shape} does not match low_guide {low_guide.shape}")
        t0 = time.perf_counter()
        if not self.guided:
            out = resize(to_uint8(low_image[None])[0], guide.shape[:2])
        elif self.cpu is not None and self.mode == "residual":  # one fit, applied at both sizes
            a, b = guided_cpu.fit(low_guide, low_image, self.cpu)
            out = add_residual(guided_cpu.apply(guide, a, b), low_image, guided_cpu.apply(low_guide, a, b))
        elif self.cpu is not None:
            out = guided_cpu.upsample(guide, low_guide, low_image, self.cpu)
        else:
            out = self._graph(guide, low_guide, low_image)
            if self._fit_low is not None:  # residual on a graph backend
                out = add_residual(out, low_image, self._fit_low(low_guide, low_image))
        self._spent.ms = getattr(self._spent, "ms", 0.0) + (time.perf_counter() - t0) * 1000.0
        return out

    def take_ms(self) -> float:
        """Milliseconds this thread spent upsampling since its last call (and start counting again)."""
        ms = getattr(self._spent, "ms", 0.0)
        self._spent.ms = 0.0
        return ms

    def _graph(self, guide: np.ndarray, low_guide: np.ndarray, low_image: np.ndarray) -> np.ndarray:
        """The bundle's graph on the backend (float NCHW in and out, converted here)."""
        assert self._run is not None
        out = self._run(_nchw(guide), to_nchw(low_guide), np.ascontiguousarray(low_image[None], np.float32))
        return _hwc_uint8(out[0])


def add_residual(out: np.ndarray, low_image: np.ndarray, fitted_low: np.ndarray) -> np.ndarray:
    """``out`` uint8 [H,W,3] plus (the network's output - the guided fit at the working size), the
    difference bilinearly upsampled; saturated. The difference goes up as its uint8 positive and negative
    parts (bilinear resizing is linear): full-resolution work in uint8 OpenCV calls only, ~3x cheaper at
    1080p than in float (benchmarks/upsampler_cost.py)."""
    import cv2

    low = cv2.merge([np.ascontiguousarray(c, dtype=np.float32) for c in low_image])
    res = (np.clip(low, -1.0, 1.0) + 1.0) * 127.5 - fitted_low.astype(np.float32)
    size = (out.shape[1], out.shape[0])
    pos = cv2.resize(np.clip(res + 0.5, 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_LINEAR)
    neg = cv2.resize(np.clip(0.5 - res, 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_LINEAR)
    return cv2.subtract(cv2.add(out, pos.reshape(out.shape)), neg.reshape(out.shape))


def _cpu_params(params: dict[str, Any]) -> guided_cpu.GuidedParams | None:
    """The manifest's upsampler parameters for the numpy path; None where it lacks their mode."""
    try:
        p = guided_cpu.GuidedParams.from_manifest(params)
    except (KeyError, TypeError, ValueError):
        return None
    return p if p.supported else None


def _local_params(params: dict[str, Any]) -> guided_cpu.GuidedParams | None:
    """The bundle's upsampler parameters with ``LOCAL_RADIUS`` (None where the numpy path lacks its mode)."""
    p = _cpu_params(params)
    return dataclasses.replace(p, radius=LOCAL_RADIUS) if p is not None else None


def _low_fit(bundle: Bundle, params: dict[str, Any]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(low guide, network output) -> uint8 [h,w,3], the guided fit applied at the working size: numpy
    where the CPU path has the bundle's mode, else the bundle's graph on ONNX Runtime's CPU provider."""
    p = _cpu_params(params)
    if p is not None:
        return lambda low_guide, low_image: guided_cpu.upsample(low_guide, low_guide, low_image, p)
    ort_run = OrtUpsampler(bundle.model_path("upsampler"), threads=1)
    return lambda low_guide, low_image: _hwc_uint8(
        ort_run(_nchw(low_guide), to_nchw(low_guide), np.ascontiguousarray(low_image[None], np.float32))[0]
    )


def _on_ort_cpu(backend: Any, run: Callable[..., np.ndarray]) -> bool:
    """Would the graph run on ONNX Runtime's CPU provider?"""
    return isinstance(run, OrtUpsampler) or str(getattr(backend, "name", "")) == "onnxruntime-cpu"


def check_inputs(
    p: guided_cpu.GuidedParams | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured frame, its area-downsampled copy and a colour-changed low output, at odd sizes. With
    ``p``, the low size gives a fit grid larger than the box window (else the coefficients come out
    nearly constant and would hide an interpolation error)."""
    rng = np.random.default_rng(seed)
    s, r = (p.subsample, p.radius) if p is not None else (1, 4)
    low_hw = (s * (2 * r + 7) - 1, s * (4 * r + 9) + 1)
    full_hw = (low_hw[0] * 5 // 3, low_hw[1] * 7 // 4)
    full = resize(
        rng.integers(0, 256, (max(2, full_hw[0] // 5), max(2, full_hw[1] // 5), 3), dtype=np.uint8), full_hw
    )
    full = np.clip(full.astype(np.int16) + rng.integers(-20, 21, full.shape), 0, 255).astype(np.uint8)
    low = resize(full, low_hw)
    mix = np.array([[0.7, 0.1, 0.0], [0.05, 0.6, 0.1], [0.0, 0.2, 0.9]], np.float32)
    out = np.einsum("ck,khw->chw", mix, to_nchw(low)[0]) - 0.25
    out += 0.3 * np.sin(np.arange(low_hw[1], dtype=np.float32) / (2.0 * s))  # colours varying over the grid
    out += 0.3 * np.cos(np.arange(low_hw[0], dtype=np.float32) / (1.5 * s))[:, None]
    return full, low, np.clip(out, -1.0, 1.0).astype(np.float32)


def _checked_cpu_path(
    params: dict[str, Any], graph: Callable[..., np.ndarray], log: Callable[[str], None] | None
) -> guided_cpu.GuidedParams | None:
    """The CPU path's parameters when it has this bundle's mode and agrees with its graph to one level
    (rounding) on ``check_inputs``; None (run the graph) otherwise, said through ``log``."""
    p = _cpu_params(params)
    if p is None:
        return None
    ins = check_inputs(p)
    diff = np.abs(guided_cpu.upsample(*ins, p).astype(np.int16) - graph(*ins).astype(np.int16)).max()
    if diff > 1:
        if log is not None:
            log(f"upsample: the CPU path differs from the bundle's graph by {diff} levels: running the graph")
        return None
    return p


def _nchw(image: np.ndarray) -> np.ndarray:
    """``compose.to_nchw`` for one full-resolution uint8 RGB image, in OpenCV's C++ (6x faster at 1080p:
    the conversions cost more than the graph; docs/PERFORMANCE.md)."""
    import cv2

    h, w = image.shape[:2]
    return cv2.dnn.blobFromImage(image, 1.0 / 127.5, (w, h), (127.5, 127.5, 127.5), False, False)


def _hwc_uint8(chw: np.ndarray) -> np.ndarray:
    """float32 [3,H,W] in [-1, 1] (the graph clamps) -> uint8 [H,W,3], rounded and saturated by OpenCV."""
    import cv2

    hwc = cv2.merge([np.ascontiguousarray(c, dtype=np.float32) for c in chw])
    return cv2.convertScaleAbs(hwc, alpha=127.5, beta=127.5)


def _runner(bundle: Bundle, backend: Any) -> Callable[..., np.ndarray]:
    """The backend's ``upsampler`` role where it has one, else an ONNX Runtime CPU session on the file."""
    entry = bundle.manifest.get("models", {}).get("upsampler") or {}
    name = str(getattr(backend, "name", ""))
    has = (
        name.startswith("onnxruntime")
        or (name == "tensorrt" and bool(entry.get("engine")))
        or (name.startswith("torch") and bool(entry.get("torch")))
    )
    if has and hasattr(backend, "_run"):
        return lambda *xs: backend._run("upsampler", *xs)
    return OrtUpsampler(bundle.model_path("upsampler"))


class OrtUpsampler:
    """The upsampler graph alone on ONNX Runtime's CPU provider (no spin-waiting, docs/PERFORMANCE.md)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        from edgecgl.backends.onnxruntime import ort_threads

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        threads = threads or ort_threads()
        if threads:
            opts.intra_op_num_threads = threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a broken file is the user's bundle problem
            raise EdgecglError(
                f"onnxruntime cannot load {path}: {str(exc)[:200]}", "re-export the bundle"
            ) from None
        self.names = IO_NAMES["upsampler"][0]

    def __call__(self, *xs: np.ndarray) -> np.ndarray:
        return self.sess.run(None, dict(zip(self.names, xs, strict=True)))[0]
