"""``edgecgl bench`` and its parts, at toy sizes. No assertion here depends on how fast anything ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgecgl.bench import (
    bundle_precisions,
    cpu_name,
    frame_flops,
    onnx_flops,
    precision_view,
    summarize,
    time_interleaved,
    variants,
)
from edgecgl.bundle import load_bundle
from edgecgl.errors import EdgecglError
from tests.runtime_helpers import tiny_bundle_for, tiny_checkpoint


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle_for(tmp_path_factory)


def test_interleaved_rounds_rotate_and_count_every_call() -> None:
    calls: list[str] = []
    fns = {n: (lambda n=n: calls.append(n)) for n in "abc"}
    times = time_interleaved(fns, repeats=3, warmup=1)
    assert calls[:3] == ["a", "b", "c"]  # warm-up
    assert calls[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # each round starts one later
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(t >= 0 for v in times.values() for t in v)
    with pytest.raises(ValueError):
        time_interleaved(fns, repeats=0)


def test_settle_waits_until_the_process_stops_spinning() -> None:
    """OpenBLAS's threads spin ~0.1 s after a call, longer than the bench's pause: a spinning thread
    (here a Python one) keeps settle waiting until it stops, up to its cap; an idle process does not."""
    import threading

    from edgecgl.bench import settle

    def spin(until: float, stop: threading.Event) -> None:
        while time.perf_counter() < until and not stop.is_set():
            pass

    stop = threading.Event()
    t0 = time.perf_counter()
    th = threading.Thread(target=spin, args=(t0 + 0.3, stop))
    th.start()
    settle(0.01)
    waited = time.perf_counter() - t0
    th.join()
    assert waited >= 0.25  # not while it spun
    t0 = time.perf_counter()
    settle(0.01)
    assert time.perf_counter() - t0 < 0.2  # idle: the pause and a window or two
    th = threading.Thread(target=spin, args=(time.perf_counter() + 5.0, stop))
    th.start()
    t0 = time.perf_counter()
    settle(0.01, at_most_s=0.2)
    capped = time.perf_counter() - t0
    stop.set()
    th.join()
    assert capped < 1.0


def test_summarize_known_values() -> None:
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s["median_ms"], s["min_ms"], s["n"]) == (3.0, 1.0, 5)
    assert s["p90_ms"] == pytest.approx(4.6)


def test_onnx_flops_match_torch_flop_counter(bundle_dir: Path) -> None:
    """The runtime counts FLOPs from the ONNX graph; they must equal torch's count of the same modules."""
    import torch
    from edgecgl.export.fast_decoder import subpixel_decoder
    from edgecgl.train.inference import load_inference
    from torch.utils.flop_counter import FlopCounterMode

    im = load_inference(tiny_checkpoint(bundle_dir))
    cfg = im.cfg
    b = load_bundle(bundle_dir)
    h, w = 40, 72
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        im.modules["content_enc"](torch.zeros(2, 3, h, w))
    enc_torch = fc.get_total_flops()
    gen = im.modules["gen"]  # in the form the bundle holds: the export's exact sub-pixel decoder
    gen.decoder = subpixel_decoder(gen.decoder, cfg.padding)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        gen(
            torch.zeros(1, cfg.content_channels, h // 4, w // 4),
            torch.zeros(1, cfg.style_dim),
            torch.zeros(1, cfg.n_domains),
        )
    gen_torch = fc.get_total_flops()
    enc = onnx_flops(b.model_path("content_encoder"), {"image": (2, 3, h, w)})
    assert enc["total"] == enc_torch
    assert enc["Conv"] == enc_torch  # an encoder is all convolutions
    f = frame_flops(b, (h, w))
    assert f["generator"] * 1e9 == pytest.approx(gen_torch)
    assert f["total"] == pytest.approx(f["content_encoder"] + f["generator"])
    assert f["content_encoder"] * 2 * 1e9 == pytest.approx(enc_torch)  # batch 2 above, batch 1 here


def test_precision_views_pick_the_right_files(bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)
    assert bundle_precisions(b) == ["fp32"]
    fp32 = precision_view(b, "fp32")
    assert fp32.models["generator"].name == "generator.onnx"
    # A manifest that also lists INT8 files (as an --int8 export writes them) gets an int8 view.
    m = json.loads(json.dumps(b.manifest))
    for role, e in m["models"].items():
        if role.startswith(("content_encoder", "generator")):  # style encoders stay FP32 (run once a video)
            e.update(file=f"{role}.int8.onnx", precision="int8")
    import dataclasses

    b8 = dataclasses.replace(b, manifest=m)
    assert bundle_precisions(b8) == ["fp32", "int8"]  # judged on the per-frame roles only
    v8 = precision_view(b8, "int8")
    assert v8.models["generator"].name == "generator.int8.onnx"
    assert v8.models["content_encoder"].name == "content_encoder.int8.onnx"
    assert v8.models["style_encoder"].name == "style_encoder.onnx"  # its FP32 file
    assert precision_view(b8, "fp32").models["generator"].name == "generator.onnx"
    assert v8.models["upsampler"].name == "upsampler.onnx"
    assert "generator" not in precision_view(b8, "fp16").models  # no fp16 per-frame files: not offered
    assert bundle_precisions(b8) == ["fp32", "int8"] and "fp16" not in bundle_precisions(b8)


def test_variants_say_why_they_skip(bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)
    vs = {v.label: v for v in variants(b)}
    assert vs["onnxruntime-cpu fp32"].skipped is None
    assert vs["torch fp32"].skipped is None  # the tiny bundle carries .pt2 programs
    if "tensorrt" not in sys.modules:
        assert vs["tensorrt fp32"].skipped
    assert [v.label for v in variants(b, only=["onnxruntime-cpu"])] == ["onnxruntime-cpu fp32"]
    two = variants(b, only=["cpu fp32"], workers=2)  # edgecgl video --workers 2: the CPU runtimes only
    assert [(v.label, v.streams) for v in two] == [
        ("onnxruntime-cpu fp32", 1),
        ("onnxruntime-cpu fp32 x2 at once", 2),
        ("openvino-cpu fp32", 1),
        ("openvino-cpu fp32 x2 at once", 2),
    ]
    assert [v.label for v in variants(b, only=["torch fp32"], workers=2)] == ["torch fp32"]
    with pytest.raises(EdgecglError, match="no backend matches"):
        variants(b, only=["nosuch"])


def test_openvino_variants_say_how_to_get_it(bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    b = load_bundle(bundle_dir)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    vs = {v.label: v for v in variants(b, only=["openvino"])}
    assert set(vs) == {"openvino-cpu fp32", "openvino-cpu bf16"}
    assert all("pip install -e '.[openvino]'" in (v.skipped or "") for v in vs.values())
    monkeypatch.setattr(importlib.util, "find_spec", real)
    variants(b)
    assert "openvino" not in sys.modules  # listing the rows must not load OpenVINO into this process


def test_cpu_has_bf16_reads_the_flags_openvino_reads() -> None:
    from edgecgl.backends.openvino import cpu_has_bf16

    assert cpu_has_bf16("flags\t\t: fpu avx512f avx512_bf16 amx_tile\n") is True
    assert cpu_has_bf16("flags\t\t: fpu avx2 avx512f avx512_vnni\n") is False  # AVX-512 without BF16
    assert cpu_has_bf16("processor : 0\n") is False


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGECGL_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "edgecgl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_bench_writes_results_for_every_variant(bundle_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    args = ["bench", str(bundle_dir), "--size", "32x64", "--source", "48x96", "--repeats", "2"]
    r = _cli(*args, "--warmup", "0", "--threads", "1", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["size"] == [32, 64] and res["repeats"] == 2
    assert res["matmul"]["gflop_per_s"] > 0 and res["gflop_per_frame"]["total"] > 0
    # the limit is the fastest of every GEMM reference timed in the same rounds, and the report names it
    refs = res["matmul"]["references"]
    assert {"torch", "numpy", "onnxruntime"} <= set(refs)
    assert res["matmul"]["gflop_per_s"] == max(v["gflop_per_s"] for v in refs.values())
    assert refs[res["matmul"]["winner"]]["label"] == res["matmul"]["library"]
    assert all(0 < row["fraction_of_matmul"] <= 1.0 for row in res["results"] if "skipped" not in row)
    rows = {row["variant"]: row for row in res["results"]}
    ort, tch = rows["onnxruntime-cpu fp32"], rows["torch fp32"]
    for row in (ort, tch):
        assert row["model_only"]["n"] == 2 and row["end_to_end"]["n"] == 2
        assert row["fraction_of_matmul"] > 0 and row["fps_model"] > 0
    assert tch["speedup_vs_torch"] == 1.0
    assert "speedup_vs_torch" in ort
    assert rows["onnxruntime-cuda fp32"]["skipped"]
    assert res["psnr_reference"] == "onnxruntime-cpu fp32"
    assert ort["psnr_db_vs_fp32"] is None  # the reference itself (None: identical uint8 output)
    assert tch["psnr_db_vs_fp32"] is None or tch["psnr_db_vs_fp32"] > 50  # same model, same weights
    bf16 = rows["torch bf16"]  # timed where the CPU has bf16 units (or on a GPU), else says why not
    assert bf16.get("skipped") or 20 < bf16["psnr_db_vs_fp32"] < 90
    assert "onnxruntime-cpu fp32" in r.stdout and "GFLOP/frame" in r.stdout
    # The same --out again is refused without --overwrite; a bad size is a one-line user error.
    again = _cli(*args, "--out", str(out), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = _cli("bench", str(bundle_dir), "--size", "30x64", cwd=tmp_path)
    assert bad.returncode == 2 and "multiple of 4" in bad.stderr


@pytest.mark.slow
def test_cli_bench_workers_times_frames_at_once(bundle_dir: Path, tmp_path: Path) -> None:
    """``--workers 2``: each ONNX Runtime CPU variant again as 2 frames at once on 1 thread each, in ms
    per frame of throughput, against a limit that also times 2 GEMMs at once."""
    out = tmp_path / "w.json"
    r = _cli(
        "bench", str(bundle_dir), "--size", "32x64", "--source", "48x96", "--repeats", "3", "--warmup",
        "0", "--threads", "2", "--workers", "2", "--backend", "onnxruntime-cpu fp32", "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    rows = {row["variant"]: row for row in res["results"]}
    assert set(rows) == {"onnxruntime-cpu fp32", "onnxruntime-cpu fp32 x2 at once"}
    one, two = rows["onnxruntime-cpu fp32"], rows["onnxruntime-cpu fp32 x2 at once"]
    assert two["streams"] == 2 and "streams" not in one
    assert two["psnr_db_vs_fp32"] is None or two["psnr_db_vs_fp32"] > 60  # same graph, 1 thread
    assert two["model_only"]["n"] == 3 and 0 < two["fraction_of_matmul"] <= 1.0
    assert {"numpy-x2", "onnxruntime-x2"} <= set(res["matmul"]["references"])
    assert "x2 at once" in r.stdout and "per frame of throughput" in r.stdout


def test_bench_times_with_opencv_at_one_thread_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV's pool, woken by the end-to-end items, took CPU from the next timed item (docs/PERFORMANCE.md):
    the timing holds it at one thread and gives the user's setting back afterwards, also on an error."""
    import cv2

    from edgecgl import bench

    seen: list[int] = []
    monkeypatch.setattr(bench, "time_interleaved", lambda *a, **k: seen.append(cv2.getNumThreads()) or {})
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        assert bench._timed_with_one_library_thread({}, bench.BenchOptions()) == {}
        assert seen == [1] and cv2.getNumThreads() == 3

        def boom(*a: object, **k: object) -> None:
            raise RuntimeError("timing failed")

        monkeypatch.setattr(bench, "time_interleaved", boom)
        with pytest.raises(RuntimeError):
            bench._timed_with_one_library_thread({}, bench.BenchOptions())
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


def test_cpu_rows_names_results_by_cpu_kind_and_runs_real_benchmarks() -> None:
    """benchmarks/cpu_rows.py: one tag per CPU kind, and every step names a benchmark module that exists
    with options that module accepts (a typo would only show an hour into an Intel session)."""
    import importlib

    from benchmarks.cpu_rows import STEPS, cpu_tag

    assert cpu_tag("AMD EPYC (family 25 model 17; avx2 avx512f avx512_vnni avx512_bf16)") == "amd-f25m17"
    assert cpu_tag("AMD EPYC (family 25 model 1; avx2)") == "amd-f25m1"
    xeon = "Intel(R) Xeon(R) Platinum 8480+ (family 6 model 143; avx512f amx_tile)"
    assert cpu_tag(xeon) == "intel-xeon-platinum-8480"
    generic = "Intel(R) Xeon(R) Processor (family 6 model 167; avx512f amx_tile)"
    assert cpu_tag(generic) == "intel-f6m167"  # a VM's name alone would not tell two Intel kinds apart
    for step, module, args in STEPS:
        src = importlib.import_module(f"benchmarks.{module}").__file__
        text = Path(str(src)).read_text()
        for opt in (x for x in args if x.startswith("--")):
            assert f'"{opt}"' in text, (step, opt)
        assert "{out}" in args, step


def test_bench_module_does_not_import_training_code() -> None:
    code = (
        "import sys, edgecgl.bench, edgecgl.cli.bench_cmd; "
        "bad = [m for m in sys.modules if m.startswith(('edgecgl.train', 'edgecgl.export', 'edgecgl.calib'))]; "
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_gemm_limit_is_the_fastest_reference() -> None:
    from edgecgl.gemm_limit import PREFIX, GemmLimit, split_times

    g = GemmLimit(n=64, threads=1, reps=1)
    assert [r.key for r in g.refs] == ["torch", "numpy", "onnxruntime"]
    assert "kernel" in g.refs[1].label  # numpy's BLAS kernel, from threadpoolctl
    for fn in g.fns().values():  # every reference really multiplies
        fn()
    flops = 2.0 * 64**3
    # made-up medians: numpy fastest (1 ms), torch 4 ms, ONNX Runtime 2 ms
    times = {
        PREFIX + "torch": [4.0, 5.0, 4.0],
        PREFIX + "numpy": [1.0],
        PREFIX + "onnxruntime": [2.0],
        "net": [9.0],
    }
    res = g.result(times)
    assert res["winner"] == "numpy" and res["library"] == g.refs[1].label
    assert res["gflop_per_s"] == round(flops / 1e-3 / 1e9, 1)
    assert res["references"]["torch"]["gflop_per_s"] == round(flops / 4e-3 / 1e9, 1)
    assert split_times(times) == {"net": [9.0]}


def test_gemm_limit_numpy_runs_at_the_threads_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy has no thread argument: a 1-thread limit held its BLAS at 1 thread only while it runs (a
    2-thread numpy GEMM once bounded a 1-thread network: 48 % "of the limit" for 94 %)."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    from edgecgl.gemm_limit import GemmLimit

    def blas() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"}

    seen: list[set[int]] = []
    real = np.matmul

    def spy(*a: object, **k: object) -> object:
        seen.append(blas())
        return real(*a, **k)  # type: ignore[call-overload]

    with threadpool_limits(2, user_api="blas"):
        g = GemmLimit(n=32, threads=1, reps=1, only=("numpy",))
        assert "held at 1 thread" in g.refs[0].label
        monkeypatch.setattr(np, "matmul", spy)
        g.refs[0].fn()
        monkeypatch.undo()
        assert seen == [{1}] and blas() == {2}
    from edgecgl.backends.onnxruntime import usable_cpus

    # no threads given: every core this process may use, whatever the caller holds BLAS at (edgecgl video
    # and bench hold it at one thread around their runs; a reference read there once ran at half speed)
    with threadpool_limits(1, user_api="blas"):
        seen.clear()
        g = GemmLimit(n=32, reps=1, only=("numpy",))
        assert f"held at {usable_cpus()} thread" in g.refs[0].label and "openblas" in g.refs[0].label
        monkeypatch.setattr(np, "matmul", spy)
        g.refs[0].fn()
        monkeypatch.undo()
        assert seen == [{usable_cpus()}] and blas() == {1}


def test_gemm_limit_with_streams_also_times_gemms_at_once() -> None:
    """``streams``: N GEMMs at once on threads // N each join the references (the limit of a network run
    as N streams, ``edgecgl video --workers``); each really multiplies, and its FLOPs count N products."""
    import numpy as np

    from edgecgl.gemm_limit import PREFIX, GemmLimit

    g = GemmLimit(n=64, threads=2, reps=1, streams=2)
    keys = [r.key for r in g.refs]
    assert keys == ["torch", "numpy", "onnxruntime", "numpy-x2", "onnxruntime-x2"]
    by = {r.key: r for r in g.refs}
    assert by["numpy-x2"].flops == 2 * by["numpy"].flops and "held at 1 thread" in by["numpy-x2"].label
    assert "2 x onnxruntime MatMul (1 threads" in by["onnxruntime-x2"].label
    outs = by["numpy-x2"].fn()
    assert len(outs) == 2 and outs[0] is not outs[1] and np.array_equal(outs[0], outs[1])  # type: ignore[index]
    assert len(by["onnxruntime-x2"].fn()) == 2  # type: ignore[arg-type]
    times = {PREFIX + k: [4.0] for k in keys} | {PREFIX + "onnxruntime-x2": [3.0]}
    assert g.result(times)["winner"] == "onnxruntime-x2"  # 2 products in 3 ms beat 1 in 4 ms
    assert [r.key for r in GemmLimit(n=64, threads=2, reps=1).refs] == ["torch", "numpy", "onnxruntime"]


def test_fraction_of_limit_never_above_one_and_the_table_says_why() -> None:
    from edgecgl.bench import format_table
    from edgecgl.gemm_limit import fraction_of_limit

    limit = {"gflop_per_s": 200.0, "library": "torch.mm", "references": {"torch": {"gflop_per_s": 200.0}}}
    assert fraction_of_limit(100.0, limit) == (0.5, False)
    assert fraction_of_limit(331.0, limit) == (1.0, True)  # 165.5 % before: the limit was not one
    row = {"variant": "onnxruntime-cpu fp32", "model_only": {"median_ms": 10.0}, "fps_model": 100.0,
           "gflop_per_s": 331.0, "fraction_of_matmul": 1.0, "above_gemm_limit": True}  # fmt: skip
    res = {"bundle": "b", "size": [32, 64], "gflop_per_frame": {"total": 3.31}, "matmul": limit,
           "machine": {}, "results": [row]}  # fmt: skip
    text = format_table(res)
    assert "100.0%*" in text and "165" not in text and "underestimates" in text


def test_gpu_rows_are_held_to_the_gpu_gemm_not_the_cpu_one() -> None:
    """On a GPU machine a CUDA row against the CPU's GEMM passed 100 % at any speed (H200, session 22)."""
    import types

    import torch

    from edgecgl.bench import backend_device, format_table
    from edgecgl.gemm_limit import GemmLimit

    cuda = types.SimpleNamespace(device=torch.device("cuda", 0))
    cpu = types.SimpleNamespace(device=torch.device("cpu"))
    assert backend_device("torch", cuda) == "cuda" and backend_device("torch", cpu) == "cpu"
    assert backend_device("torch", types.SimpleNamespace(inner=cuda)) == "cuda"  # autocast wraps the backend
    assert (
        backend_device("tensorrt", object()) == "cuda"
        and backend_device("onnxruntime-cuda", object()) == "cuda"
    )
    assert backend_device("onnxruntime-cpu", object()) == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError):
            GemmLimit(n=64, only=("torch-cuda",))
    limit = {"gflop_per_s": 1300.0, "library": "torch.mm (16 threads)", "references": {}}
    gpu = {"gflop_per_s": 50000.0, "library": "torch.mm on NVIDIA H200 (fp32, no TF32)"}
    rows = [
        {"variant": "torch fp32", "model_only": {"median_ms": 11.0}, "fps_model": 90.0, "gflop_per_s": 7000.0,
         "fraction_of_matmul": 0.14, "device": "cuda"},
        {"variant": "torch fp16", "model_only": {"median_ms": 11.0}, "fps_model": 90.0, "gflop_per_s": 7000.0,
         "fraction_of_matmul": None, "device": "cuda"},
    ]  # fmt: skip
    res = {"bundle": "b", "size": [256, 512], "gflop_per_frame": {"total": 77.0}, "matmul": limit,
           "matmul_gpu": gpu, "machine": {}, "results": rows}  # fmt: skip
    text = format_table(res)
    assert "GPU rows: limit 50000 GFLOP/s, torch.mm on NVIDIA H200" in text and " 14.0%" in text
    assert "100.0%" not in text


def test_cpu_name_names_the_kind_behind_a_generic_model_name() -> None:
    zen4 = (
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
        "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n\n"
        "processor\t: 1\ncpu family\t: 99\nmodel name\t: other\n"
    )
    assert cpu_name(zen4) == "AMD EPYC (family 25 model 17; avx2 avx512f avx512_vnni avx512_bf16)"
    zen3 = "cpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx avx2 fma\n"
    assert cpu_name(zen3) == "AMD EPYC (family 25 model 1; avx2)"
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n"  # no model name, no family
    assert cpu_name(arm)  # falls back to the platform's name
    assert "family" not in cpu_name(arm)


def test_cpu_rows_trains_the_int8_rows_small_once_and_resumes(tmp_path: Path) -> None:
    """The INT8 row is judged on a trained ``small``: cpu_rows trains one to the step asked (resuming a
    shorter run) and reuses it when it is there."""
    import cv2
    import numpy as np

    from benchmarks.cpu_rows import trained_small
    from benchmarks.realfog import trained_step

    rng = np.random.default_rng(0)
    for domain in ("sunny", "foggy"):
        (tmp_path / "photos" / domain).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(
                str(tmp_path / "photos" / domain / f"{i}.jpg"), rng.integers(0, 255, (72, 136, 3), np.uint8)
            )
    kw = {"root": tmp_path / "int8-small", "photos": tmp_path / "photos"}
    run = trained_small(tmp_path / "train.log", iters=1, **kw)
    assert trained_step(run) == 1
    again = trained_small(tmp_path / "train.log", iters=2, **kw)
    assert again == run and trained_step(run) == 2  # resumed, not a second run
    log_size = (tmp_path / "train.log").stat().st_size
    assert trained_small(tmp_path / "train.log", iters=2, **kw) == run
    assert (tmp_path / "train.log").stat().st_size == log_size  # nothing trained the third time


def test_openvino_probe_says_how_to_install_it_and_scores_psnr_on_the_2_wide_scale(monkeypatch) -> None:
    """benchmarks/openvino_probe.py: OpenVINO is an optional extra, so without it the probe stops with
    the pip line (before building any bundle); its PSNR is on [-1, 1] (peak-to-peak 2), as the bench's."""
    import sys

    import numpy as np
    import pytest

    from benchmarks import openvino_probe

    monkeypatch.setitem(sys.modules, "openvino", None)  # import fails as if not installed
    with pytest.raises(SystemExit, match="pip install openvino"):
        openvino_probe.main(["--preset", "small"])
    ref = np.zeros((1, 3, 4, 4), np.float32)
    assert openvino_probe.psnr(ref, ref) == float("inf")
    assert abs(openvino_probe.psnr(ref + 0.02, ref) - 10 * np.log10(4 / 0.0004)) < 1e-6  # 40 dB


def test_ort_profile_sums_kernel_time_per_call_by_op_type() -> None:
    """benchmarks/ort_profile.py reads ONNX Runtime's profile: only the ``*_kernel_time`` node events count
    (the fence events around them would double it), summed per op type and divided by the calls."""
    from benchmarks.ort_profile import op_times

    events = [
        {"cat": "Node", "name": "/a/Conv_kernel_time", "dur": 3000, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "/b/Conv_kernel_time", "dur": 1000, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "/a/Conv_fence_before", "dur": 500, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "Pad_kernel_time", "dur": 200, "args": {"op_name": "Pad"}},
        {"cat": "Session", "name": "model_run", "dur": 9000, "args": {}},
    ]
    assert op_times(events, calls=2) == {"Conv": 2.0, "Pad": 0.1}


def test_video_backends_psnr_is_per_frame_on_8_bits_and_needs_equal_lengths() -> None:
    """benchmarks/video_backends.py compares decoded runs frame by frame; a run that lost a frame is an error,
    not a shorter average."""
    import numpy as np
    import pytest

    from benchmarks.video_backends import psnr_db

    a = [np.full((4, 4, 3), 100, np.uint8)] * 2
    b = [np.full((4, 4, 3), 101, np.uint8)] * 2
    assert abs(psnr_db(a, b) - 20 * np.log10(255.0)) < 1e-9  # one level everywhere: 48.13 dB
    with pytest.raises(ValueError):
        psnr_db(a, b[:1])
