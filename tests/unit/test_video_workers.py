"""``edgecgl video --workers N``: N frames rendered at once, written in input order, same pixels."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from edgecgl.errors import EdgecglError
from edgecgl.pipeline import Pipeline, PipelineConfig
from edgecgl.translate import Translator
from edgecgl.video import VideoOptions, translate_video
from tests.runtime_helpers import tiny_bundle_for
from tests.unit import test_detect_every as detect_every
from tests.unit.test_detect_every import OneAtATime, SquareDetector, square

# the same module-scoped fixtures: a tiny bundle's translator, 13 frames of a moving red square with audio
translator, clip = detect_every.translator, detect_every.clip


def _run(
    translator: Translator, clip: Path, out: Path, workers: int, slow_even: bool = False
) -> tuple[list[tuple[int, object]], set[int]]:
    """The clip through the detector pipeline; the frames handed to on_frame and the render threads.

    ``slow_even``: even frames' networks take 60 ms longer, so with workers the odd frame after each
    finishes first and only the pipeline's ordering can put them back in order."""
    pipe = Pipeline(
        translator, SquareDetector(), PipelineConfig(detect_every=2, harmonize=False, workers=workers)
    )
    threads: set[int] = set()
    orig = translator.translate_frame

    def spy(frame: np.ndarray) -> np.ndarray:
        threads.add(threading.get_ident())
        if slow_even and round(square(frame)[0] / 4) % 2 == 0:  # the square moves 4 px a frame
            time.sleep(0.06)
        return orig(frame)

    translator.translate_frame = spy  # type: ignore[method-assign]
    seen: list[tuple[int, object]] = []
    try:
        translate_video(
            clip, out, pipe, VideoOptions(queue_size=2, crf=0),
            on_frame=lambda i, x, r: seen.append((i, r)),
        )  # fmt: skip
    finally:
        del translator.translate_frame
    return seen, threads


def _decoded(path: Path) -> tuple[list[np.ndarray], list[str]]:
    with av.open(str(path)) as c:
        kinds = [s.type for s in c.streams]
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], kinds


def test_workers_render_frames_at_once_and_write_them_in_order(
    translator: Translator, clip: Path, tmp_path: Path
) -> None:
    one, one_threads = _run(translator, clip, tmp_path / "one.mp4", 1)
    three, three_threads = _run(translator, clip, tmp_path / "three.mp4", 3, slow_even=True)
    assert len(one_threads) == 1 and len(three_threads) > 1  # frames rendered on several threads
    assert [i for i, _ in three] == list(range(13))  # handed on in input order despite finishing out of it
    for (_, a), (_, b) in zip(one, three, strict=True):
        assert a.windows == b.windows and len(a.windows) == 1  # type: ignore[attr-defined]
        assert np.array_equal(a.image, b.image)  # type: ignore[attr-defined]
    frames_one, kinds_one = _decoded(tmp_path / "one.mp4")
    frames_three, kinds_three = _decoded(tmp_path / "three.mp4")
    assert kinds_three == kinds_one == ["video", "audio"]  # audio still passes through
    assert len(frames_three) == 13
    for a, b in zip(frames_one, frames_three, strict=True):
        assert np.array_equal(a, b)  # --crf 0: the same video


def test_a_render_error_with_workers_stops_the_run_and_leaves_no_output(
    translator: Translator, clip: Path, tmp_path: Path
) -> None:
    pipe = Pipeline(translator, None, PipelineConfig(workers=2))
    calls = [0]
    orig = translator.translate_frame

    def fails_on_the_fifth(frame: np.ndarray) -> np.ndarray:
        calls[0] += 1
        if calls[0] == 5:
            raise EdgecglError("the network ran out of memory", "use a smaller --size")
        return orig(frame)

    translator.translate_frame = fails_on_the_fifth  # type: ignore[method-assign]
    out = tmp_path / "o.mp4"
    try:
        with pytest.raises(EdgecglError, match="ran out of memory"):
            translate_video(clip, out, pipe, VideoOptions(queue_size=2))
    finally:
        del translator.translate_frame
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial file either


def test_the_run_holds_blas_at_one_thread_for_all_its_threads(
    translator: Translator, clip: Path, tmp_path: Path
) -> None:
    """The guided upsampler's tiny matmuls want BLAS on one thread; with workers, each thread setting and
    restoring it left OpenBLAS at one thread for good (threadpoolctl drops a non-controlling thread's
    call). translate_video holds it once, from its own thread, around the run, and gives it back."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    with threadpool_limits(2, user_api="blas"):  # as on a 2-core machine (the suite may run at 1)
        if blas_threads() != {2}:
            pytest.skip(f"BLAS threads cannot be set to 2 here ({blas_threads()})")
        seen: list[set[int]] = []
        orig = translator.translate_frame

        def spy(frame: np.ndarray) -> np.ndarray:
            seen.append(blas_threads())  # on a render thread, outside any guard of its own
            return orig(frame)

        translator.translate_frame = spy  # type: ignore[method-assign]
        try:
            pipe = Pipeline(translator, None, PipelineConfig(workers=2))
            translate_video(clip, tmp_path / "o.mp4", pipe, VideoOptions(queue_size=2))
        finally:
            del translator.translate_frame
        assert len(seen) == 13 and all(s == {1} for s in seen)
        assert blas_threads() == {2}


def test_workers_below_one_are_refused() -> None:
    with pytest.raises(EdgecglError, match="--workers must be at least 1"):
        Pipeline(None, None, PipelineConfig(workers=0))  # type: ignore[arg-type]


def _threads(pipe: Pipeline) -> set[int]:
    """ONNX Runtime's intra-op threads of the pipeline's sessions (0: ORT's default, one per core)."""
    sessions = pipe.translator.backend._sessions.values()  # type: ignore[attr-defined]
    return {s.get_session_options().intra_op_num_threads for s in sessions}


def cpus(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """This process may run on ``n`` CPUs, with no OMP_NUM_THREADS cap (unless a test sets one)."""
    from edgecgl.backends import onnxruntime as ortb

    monkeypatch.setattr(ortb.os, "sched_getaffinity", lambda _: set(range(n)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_build_pipeline_splits_the_cores_between_workers(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgecgl.backends as backends_mod
    from edgecgl.cli import runtime_opts as ro

    bundle = tiny_bundle_for(tmp_path_factory)
    cpus(monkeypatch, 4)
    said: list[str] = []
    args = ro.RuntimeArgs(bundle, "night", backend="onnxruntime-cpu", no_instances=True, workers=2)
    pipe, _ = ro.build_pipeline(args, log_fn=said.append)
    assert pipe.cfg.workers == 2 and _threads(pipe) == {2}
    assert any("2 frames at once, 2 ONNX Runtime thread(s) each" in m for m in said)

    args = ro.RuntimeArgs(bundle, "night", backend="onnxruntime-cpu", no_instances=True)
    pipe, _ = ro.build_pipeline(args, log_fn=said.append)
    assert pipe.cfg.workers == 1 and _threads(pipe) == {0}  # image/augment: one call, ORT's own default
    auto = ro.RuntimeArgs(bundle, "night", backend="onnxruntime-cpu", no_instances=True, workers=0)
    pipe, _ = ro.build_pipeline(auto, log_fn=said.append)
    assert pipe.cfg.workers == ro.AUTO_WORKERS == 2 and _threads(pipe) == {2}  # video's default, 4 cores
    cpus(monkeypatch, 1)
    pipe, _ = ro.build_pipeline(auto, log_fn=said.append)
    assert pipe.cfg.workers == 1 and _threads(pipe) == {0}  # one core: nothing to split

    real = backends_mod.select_backend
    monkeypatch.setattr(backends_mod, "select_backend", lambda *a, **k: OneAtATime(real(*a, **k)))
    said.clear()
    pipe, _ = ro.build_pipeline(args.__class__(**{**vars(args), "workers": 2}), log_fn=said.append)
    assert pipe.cfg.workers == 1 and any("workers: 1" in m and "tensorrt" in m for m in said)
    said.clear()
    pipe, _ = ro.build_pipeline(auto, log_fn=said.append)
    assert pipe.cfg.workers == 1 and not any("workers" in m for m in said)  # auto: nothing to say


def test_omp_num_threads_caps_every_onnx_runtime_session(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service file's OMP_NUM_THREADS=1 on a shared vehicle computer: torch obeyed it, ONNX Runtime took
    one thread per core and --workers the default 2 frames at once."""
    from edgecgl.backends import onnxruntime as ortb
    from edgecgl.cli import runtime_opts as ro
    from edgecgl.upsample import OrtUpsampler

    bundle = tiny_bundle_for(tmp_path_factory)
    cpus(monkeypatch, 8)
    auto = ro.RuntimeArgs(bundle, "night", backend="onnxruntime-cpu", no_instances=True, workers=0)
    for cap, workers, threads in (("1", 1, {1}), ("3", 2, {1}), ("6", 2, {3}), ("", 2, {4}), ("x", 2, {4})):
        monkeypatch.setenv("OMP_NUM_THREADS", cap)
        assert ortb.usable_cpus() == (int(cap) if cap.isdigit() else 8)
        pipe, _ = ro.build_pipeline(auto, log_fn=lambda s: None)
        assert (pipe.cfg.workers, _threads(pipe)) == (workers, threads), cap
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    one = ro.RuntimeArgs(bundle, "night", backend="onnxruntime-cpu", no_instances=True, workers=1)
    pipe, _ = ro.build_pipeline(one, log_fn=lambda s: None)
    assert _threads(pipe) == {2}
    up = OrtUpsampler(Path(bundle) / "upsampler.onnx")
    assert up.sess.get_session_options().intra_op_num_threads == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    pipe, _ = ro.build_pipeline(one, log_fn=lambda s: None)
    assert _threads(pipe) == {0}  # no cap, one call: ONNX Runtime's own default (one per physical core)
