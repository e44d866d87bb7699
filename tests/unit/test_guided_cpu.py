"""The guided upsampler's CPU path (edgecgl.guided_cpu) against the torch module the graph is exported
from, and the runtime's choice between it and the graph (edgecgl.upsample)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from edgecgl.export.bundle import add_upsampler, write_manifest
from edgecgl.export.upsampler import PARITY_SHAPES, GuidedUpsampler, UpsamplerConfig, example_inputs

from edgecgl import guided_cpu
from edgecgl.bundle import load_bundle
from edgecgl.compose import to_nchw, to_uint8
from edgecgl.upsample import OrtUpsampler, Upsampler, check_inputs

# PARITY_SHAPES plus a window smaller than its grid (bilinear downsampling), 1-pixel sizes, a tall one
SHAPES = [(full, low) for full, low, _ in PARITY_SHAPES] + [
    ((20, 30), (64, 100)),
    ((1, 1), (3, 3)),
    ((5, 7), (1, 1)),
    ((200, 90), (50, 40)),
]
CONFIGS = [
    UpsamplerConfig(radius=2, eps=0.01, prior=0.0),
    UpsamplerConfig(radius=2, eps=0.01, prior=1.0),
    UpsamplerConfig(radius=3, subsample=4),
    UpsamplerConfig(radius=16, subsample=3),
]


def uint8_case(full: tuple[int, int], low: tuple[int, int], seed: int) -> tuple[np.ndarray, ...]:
    """The runtime's inputs: uint8 guide and low guide, the float network output."""
    g, lg, li = example_inputs(full, low, 1, seed=seed)
    return to_uint8(g.numpy())[0], to_uint8(lg.numpy())[0], li[0].numpy()


def reference(
    cfg: UpsamplerConfig, guide: np.ndarray, low_guide: np.ndarray, low_image: np.ndarray
) -> np.ndarray:
    """The torch module's float output in uint8 units (before rounding), [H,W,3]."""
    with torch.no_grad():
        out = GuidedUpsampler(cfg)(
            torch.from_numpy(to_nchw(guide)),
            torch.from_numpy(to_nchw(low_guide)),
            torch.from_numpy(low_image[None]),
        )
    return out[0].numpy().transpose(1, 2, 0) * 127.5 + 127.5


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"r{c.radius}-s{c.subsample}-p{c.prior:g}")
def test_cpu_path_rounds_the_modules_output(cfg: UpsamplerConfig) -> None:
    """uint8 out within rounding (0.5 level) of the float function, every shape: any wrong step (a
    half-pixel shift, a box border, a partial cell) is off by whole levels."""
    p = guided_cpu.GuidedParams.from_manifest(cfg.to_json())
    for k, (full, low) in enumerate(SHAPES):
        g, lg, li = uint8_case(full, low, seed=10 + k)
        got = guided_cpu.upsample(g, lg, li, p)
        want = reference(cfg, g, lg, li)
        assert got.shape == want.shape and got.dtype == np.uint8
        assert np.abs(got - np.clip(want, 0, 255)).max() <= 0.5 + 1e-3, (full, low)


def test_coefficients_are_the_modules_before_rounding() -> None:
    """A and B on the grid, upsampled by torch and applied in float: the module's output to float
    tolerance (where it is not clamped)."""
    cfg = UpsamplerConfig(radius=3, eps=0.05, prior=0.5, subsample=2)
    g, lg, li = uint8_case((90, 160), (30, 51), seed=3)
    a, b = guided_cpu.fit(lg, li, guided_cpu.GuidedParams.from_manifest(cfg.to_json()))

    def up(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float64))
        return (
            F.interpolate(t, size=g.shape[:2], mode="bilinear", align_corners=False)[0]
            .numpy()
            .transpose(1, 2, 0)
        )

    got = up(a) * g + up(b)
    want = reference(cfg, g, lg, li)
    inside = (want > 0.01) & (want < 254.99)
    assert inside.mean() > 0.9
    assert np.abs(got - want)[inside].max() < 2e-3


def test_cell_mean_and_box_match_torch_pooling() -> None:
    x = np.random.default_rng(0).normal(size=(13, 22, 5))
    t = torch.from_numpy(x.transpose(2, 0, 1)[None])
    cells = (
        F.avg_pool2d(t, 4, stride=4, ceil_mode=True, count_include_pad=False)[0].numpy().transpose(1, 2, 0)
    )
    assert np.abs(guided_cpu.cell_mean(x, 4) - cells).max() < 1e-12
    r = 3
    box = (
        F.avg_pool2d(t, 2 * r + 1, stride=1, padding=r, count_include_pad=False)[0].numpy().transpose(1, 2, 0)
    )
    assert np.abs(guided_cpu.box(x, r) - box).max() < 1e-12
    wide = guided_cpu.box(x, 40)  # a box wider than the picture: every pixel gets the global mean
    assert np.abs(wide - x.mean((0, 1))).max() < 1e-12


def test_a_window_view_gives_what_its_copy_gives() -> None:
    """Instance windows are views into the frame (row stride of the frame), not copies."""
    p = guided_cpu.GuidedParams(radius=2, eps=0.01)
    g, lg, li = uint8_case((120, 200), (30, 51), seed=7)
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[50:170, 100:300] = g
    view = frame[50:170, 100:300]
    assert not view.flags.c_contiguous
    assert np.array_equal(guided_cpu.upsample(view, lg, li, p), guided_cpu.upsample(g, lg, li, p))


def test_strips_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    p = guided_cpu.GuidedParams(radius=2, eps=0.01)
    g, lg, li = uint8_case((200, 90), (50, 40), seed=8)
    a, b = guided_cpu.fit(lg, li, p)
    one = guided_cpu.apply(g, a, b)
    monkeypatch.setattr(guided_cpu, "strip_rows", lambda width: 3)  # many strips, a short last one
    assert np.array_equal(guided_cpu.apply(g, a, b), one)


def test_only_the_channel_mode_has_a_cpu_path() -> None:
    assert guided_cpu.GuidedParams.from_manifest(UpsamplerConfig().to_json()).supported
    for mode in ("gray", "color"):
        assert not guided_cpu.GuidedParams.from_manifest(UpsamplerConfig(mode=mode).to_json()).supported


def bundle_with(
    src: Path, dst: Path, cfg: UpsamplerConfig, manifest_cfg: UpsamplerConfig | None = None
) -> Path:
    """A copy of ``src`` whose upsampler graph is ``cfg`` and whose manifest says ``manifest_cfg``."""
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    m["models"]["upsampler"] = add_upsampler(dst, cfg)
    m["upsampler"] = (manifest_cfg or cfg).to_json()
    write_manifest(dst, m)
    return dst


def test_runtime_runs_the_cpu_path_on_ort_cpu_and_agrees_with_the_graph(tiny_bundle: Path) -> None:
    from edgecgl.backends.onnxruntime import OnnxRuntimeBackend

    b = load_bundle(tiny_bundle)
    be = OnnxRuntimeBackend(b, "cpu")
    fast, graph = Upsampler(b, be), Upsampler(b, be, cpu_path=False)
    assert fast.cpu is not None and graph.cpu is None
    g, lg, li = check_inputs(seed=5)
    big = np.ascontiguousarray(np.kron(g, np.ones((3, 3, 1), np.uint8)))  # 135x231 from a 14x23 grid
    for guide in (g, big):
        diff = np.abs(fast(guide, lg, li).astype(int) - graph(guide, lg, li).astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.01


def test_color_mode_runs_the_graph(tiny_bundle: Path, tmp_path: Path) -> None:
    b = load_bundle(bundle_with(tiny_bundle, tmp_path / "b", UpsamplerConfig(radius=2, mode="color")))
    up = Upsampler(b, None)
    assert isinstance(up._run, OrtUpsampler) and up.cpu is None
    g, lg, li = check_inputs()
    assert up(g, lg, li).shape == g.shape


def test_a_manifest_that_disagrees_with_its_graph_runs_the_graph(tiny_bundle: Path, tmp_path: Path) -> None:
    """The load-time check: parameters that do not describe the graph (here eps) -> the graph, said once."""
    graph_cfg = UpsamplerConfig(radius=2, eps=0.001)
    b = load_bundle(bundle_with(tiny_bundle, tmp_path / "b", graph_cfg, UpsamplerConfig(radius=2, eps=1.0)))
    said: list[str] = []
    up = Upsampler(b, None, log=said.append)
    assert up.cpu is None
    assert len(said) == 1 and "differs from the bundle's graph" in said[0]
    ok = Upsampler(load_bundle(bundle_with(tiny_bundle, tmp_path / "c", graph_cfg)), None, log=said.append)
    assert ok.cpu is not None and len(said) == 1


def blas_threads() -> set[int]:
    """Thread counts of the BLAS libraries loaded when guided_cpu first held BLAS (numpy's among them:
    numpy loads it on import, before edgecgl). A BLAS loaded later (scipy's own copy, imported by the
    metrics) is none of its business: numpy's matmul does not use it."""
    libs = guided_cpu._blas().select(user_api="blas").lib_controllers
    return {lib.num_threads for lib in libs}


def test_the_strip_matmuls_run_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A threaded BLAS on a strip's tiny matmul starves OpenCV's threads (400+ ms per frame): apply
    holds BLAS to one thread and gives the setting back."""
    from threadpoolctl import threadpool_limits

    seen: list[set[int]] = []
    real = np.matmul

    def spy(*args: object, **kw: object) -> np.ndarray:
        seen.append(blas_threads())
        return real(*args, **kw)

    p = guided_cpu.GuidedParams(radius=2, eps=0.01)
    g, lg, li = uint8_case((40, 64), (10, 16), seed=9)
    a, b = guided_cpu.fit(lg, li, p)
    with threadpool_limits(2, user_api="blas"):  # as on a 2-core machine (the tests run at 1)
        before = blas_threads()
        if before != {2}:
            pytest.skip(f"BLAS threads cannot be set to 2 here ({before})")
        monkeypatch.setattr(guided_cpu.np, "matmul", spy)
        guided_cpu.apply(g, a, b)
        monkeypatch.undo()
        assert seen and all(s == {1} for s in seen)
        assert blas_threads() == before


def test_one_blas_thread_from_two_threads_leaves_blas_as_it_found_it() -> None:
    """Two threads inside at once, the first in leaving first. threadpoolctl (3.8+) lets one thread set a
    pthreads OpenBLAS's limit and silently drops the others' calls: when the last thread out restored the
    limit the first had set, BLAS stayed at one thread for the process (numpy's GEMM at half speed, and
    even this thread could not set it back). Real threadpoolctl, numpy's own OpenBLAS."""
    import threading

    from threadpoolctl import ThreadpoolController, threadpool_info, threadpool_limits

    def no_controlling_thread() -> None:  # threadpoolctl < 3.8 has no such rule
        from threadpoolctl import OpenBLASController

        clear = getattr(OpenBLASController, "clear_controlling_thread", None)
        if clear is not None:
            clear(force=True)

    if not any(i["internal_api"] == "openblas" for i in threadpool_info()):
        pytest.skip("numpy's BLAS here is not OpenBLAS")
    base = ThreadpoolController().limit(limits=2, user_api="blas")  # as a 2-core machine's default
    no_controlling_thread()  # as in a fresh process: no thread has set it yet
    try:
        if blas_threads() != {2}:
            pytest.skip(f"BLAS threads cannot be set to 2 here ({blas_threads()})")
        a_in, b_in, a_out = (threading.Event() for _ in range(3))
        inside: dict[str, set[int]] = {}

        def a() -> None:
            with guided_cpu.one_blas_thread():
                inside["a"] = blas_threads()
                a_in.set()
                b_in.wait(5)
            a_out.set()

        def b() -> None:
            a_in.wait(5)
            with guided_cpu.one_blas_thread():
                inside["b"] = blas_threads()
                b_in.set()
                a_out.wait(5)

        threads = [threading.Thread(target=f) for f in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert inside == {"a": {1}, "b": {1}}
        assert blas_threads() == {2}  # the first thread in restored it itself
        with threadpool_limits(1, user_api="blas"):  # and this thread can still set it
            assert blas_threads() == {1}
        assert blas_threads() == {2}
    finally:
        no_controlling_thread()
        base.restore_original_limits()
        no_controlling_thread()
