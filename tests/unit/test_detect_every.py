"""``--detect-every N``: boxes predicted between detections, and detection on its own video stage."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.detect import BoxSmoother, Detection
from edgecgl.errors import EdgecglError
from edgecgl.motion import BoxPredictor
from edgecgl.pipeline import Pipeline, PipelineConfig
from edgecgl.translate import Translator
from edgecgl.video import VideoOptions, translate_video
from tests.runtime_helpers import make_clip, tiny_bundle_for

HW = (64, 96)  # make_clip: a red square of side 21 moving right 4 px per frame from x=0, rows 21..42


def det(box: tuple[float, float, float, float], tid: int | None = 1) -> Detection:
    return Detection(box, "car", 0.9, tid)


def test_constant_velocity_between_detections() -> None:
    p = BoxPredictor(velocity_smooth=0.0)
    p.observe([det((0, 10, 20, 30))], 0)
    assert p.predict(1) == [det((0, 10, 20, 30))]  # seen once: no velocity yet, holds still
    p.observe([det((6, 10, 26, 33))], 3)  # +2 px/frame in x, +1 px/frame at the bottom
    assert [d.box for d in p.predict(4)] == [(8.0, 10.0, 28.0, 34.0)]
    assert [d.box for d in p.predict(5)] == [(10.0, 10.0, 30.0, 35.0)]
    got = p.predict(5)[0]
    assert (got.cls, got.conf, got.track_id) == ("car", 0.9, 1)


def test_velocity_is_smoothed_and_tracks_are_independent() -> None:
    p = BoxPredictor(velocity_smooth=0.5)
    p.observe([det((0, 0, 10, 10), 1), det((50, 0, 60, 10), 2)], 0)
    p.observe([det((4, 0, 14, 10), 1), det((50, 0, 60, 10), 2)], 2)  # track 1: 2 px/frame, track 2 still
    p.observe([det((12, 0, 22, 10), 1), det((50, 0, 60, 10), 2)], 4)  # track 1: now 4 px/frame
    one, two = p.predict(5)
    assert one.box[0] == pytest.approx(12 + 0.5 * 2 + 0.5 * 4)  # EMA of 2 and 4 px/frame
    assert two.box == (50.0, 0.0, 60.0, 10.0)


def test_untracked_and_vanished_instances() -> None:
    p = BoxPredictor(forget_after=5)
    p.observe([det((0, 0, 10, 10), 1)], 0)
    p.observe([det((2, 0, 12, 10), 1), det((30, 30, 40, 40), None)], 1)
    assert [d.box for d in p.predict(2)] == [(4.0, 0.0, 14.0, 10.0), (30.0, 30.0, 40.0, 40.0)]
    p.observe([], 2)  # the detector lost it: nothing is predicted for a track not seen at the last detection
    assert p.predict(3) == []
    p.observe([], 9)
    assert p.tracks == {}  # forgotten after forget_after frames
    p.observe([det((0, 0, 10, 10), 1)], 10)
    assert p.predict(11) == [det((0, 0, 10, 10), 1)]  # a returning ID starts over, without velocity


def test_smoothing_time_constant_is_in_frames() -> None:
    every, sparse = BoxSmoother(smooth=0.5), BoxSmoother(smooth=0.5)
    every.update([det((0, 0, 10, 10))])
    sparse.update([det((0, 0, 10, 10))], step=3)
    for _ in range(3):
        a = every.update([det((8, 0, 18, 10))])
    (b,) = sparse.update([det((8, 0, 18, 10))], step=3)
    assert b.box == pytest.approx(a[0].box)  # three per-frame updates == one update three frames later
    assert b.box[0] == pytest.approx(8 * (1 - 0.5**3))


class SquareDetector:
    """A fake detector that finds make_clip's red square; records the frames and threads it ran on."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[int] = []  # x of the square it saw
        self.threads: set[int] = set()
        self.fail_at = fail_at

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        self.threads.add(threading.get_ident())
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise RuntimeError("tensor shape mismatch\nsecond line of a long message")
        box = square(frame)
        self.calls.append(int(round(box[0])))
        return [Detection(box, "car", 0.9, 1)]


class OneAtATime:
    """A backend that declares what TensorRTBackend declares: one call at a time per network."""

    name, concurrent = "tensorrt", False

    def __init__(self, be: object) -> None:
        self._be = be

    def __getattr__(self, k: str) -> object:
        return getattr(self._be, k)


def square(frame: np.ndarray) -> tuple[float, float, float, float]:
    red = (frame[..., 0] > 150) & (frame[..., 2] < 65)  # make_clip's background has blue 90 everywhere
    ys, xs = np.nonzero(red)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def test_pipeline_detects_every_nth_frame_and_predicts_between() -> None:
    frames = [np.zeros((*HW, 3), np.uint8) for _ in range(8)]
    for i, f in enumerate(frames):
        f[20:40, 3 * i : 3 * i + 20] = (230, 40, 40)
    fake = SquareDetector()
    pipe = Pipeline(None, fake, PipelineConfig(detect_every=3))  # type: ignore[arg-type] # detect() only
    got = [pipe.detect(f) for f in frames]
    assert fake.calls == [0, 9, 18]  # frames 0, 3, 6
    for i, (dets, ms) in enumerate(got):
        assert set(ms) == ({"detect"} if i % 3 == 0 else {"predict"})
        want = square(frames[i])
        if i in (1, 2):  # seen once so far: held where detection 0 put it
            want = square(frames[0])
        assert [d.box for d in dets] == [pytest.approx(want)], i
    with pytest.raises(EdgecglError, match="at least 1"):
        Pipeline(None, fake, PipelineConfig(detect_every=0))  # type: ignore[arg-type]


def test_reset_starts_the_next_video_on_a_detection_frame() -> None:
    """After a reset (each video of a folder) the first frame is detected, not predicted from the last
    video's motion, and the detector forgets its tracks."""
    frames = [np.zeros((*HW, 3), np.uint8) for _ in range(2)]
    for i, f in enumerate(frames):
        f[20:40, 30 * i : 30 * i + 20] = (230, 40, 40)
    fake = SquareDetector()
    fake.reset = lambda: fake.calls.append(-1)  # type: ignore[attr-defined]
    pipe = Pipeline(None, fake, PipelineConfig(detect_every=3))  # type: ignore[arg-type]
    pipe.detect(frames[0])
    pipe.reset()
    dets, ms = pipe.detect(frames[1])
    assert set(ms) == {"detect"} and fake.calls[-2:] == [-1, 30]
    assert [d.box for d in dets] == [pytest.approx(square(frames[1]))]


@pytest.fixture(scope="module")
def translator(tmp_path_factory: pytest.TempPathFactory) -> Translator:
    bundle = load_bundle(tiny_bundle_for(tmp_path_factory))
    return Translator(select_backend(bundle, "onnxruntime-cpu"), bundle, "night")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", n=13, hw=HW, audio=True)


def test_video_detect_stage_keeps_order_and_count(translator: Translator, clip: Path, tmp_path: Path) -> None:
    fake = SquareDetector()
    pipe = Pipeline(translator, fake, PipelineConfig(detect_every=3, harmonize=False))
    infer_threads: set[int] = set()
    orig = translator.translate_frame

    def spy(frame: np.ndarray) -> np.ndarray:
        infer_threads.add(threading.get_ident())
        return orig(frame)

    translator.translate_frame = spy  # type: ignore[method-assign]
    seen: list[tuple[int, np.ndarray, object]] = []
    try:
        res = translate_video(
            clip,
            tmp_path / "o.mp4",
            pipe,
            VideoOptions(queue_size=2),
            on_frame=lambda i, x, r: seen.append((i, x, r)),
        )
    finally:
        del translator.translate_frame
    assert [i for i, _, _ in seen] == list(range(13))
    assert len(fake.calls) == 5  # frames 0, 3, 6, 9, 12
    # every frame's boxes belong to that frame: detected ones exactly, predicted ones within 2 px
    # (the square moves 4 px per frame, so a box from a neighbouring frame would be off by 4 or more)
    for i, image, r in seen:
        (d,) = r.detections  # type: ignore[attr-defined]
        tol = 0.5 if i % 3 == 0 or i < 3 else 2.0
        want = square(image) if i >= 3 or i % 3 == 0 else square(seen[0][1])
        assert np.abs(np.subtract(d.box, want)).max() <= tol, (i, d.box, want)
    # detection ran on its own thread, not the one running the network
    assert len(fake.threads) == 1 and len(infer_threads) == 1 and fake.threads != infer_threads
    assert threading.get_ident() not in fake.threads
    s = res.stats.summary()
    assert s["frames"] == 13 and s["instances"] == 13
    assert s["stages_ms"]["detect"]["n"] == 5 and s["stages_ms"]["predict"]["n"] == 8
    assert s["stages_ms"]["frame"]["n"] == 13


def test_detector_error_reaches_the_user_as_one_line(
    translator: Translator, clip: Path, tmp_path: Path
) -> None:
    pipe = Pipeline(translator, SquareDetector(fail_at=2), PipelineConfig(detect_every=2))
    out = tmp_path / "o.mp4"
    with pytest.raises(EdgecglError) as ei:
        translate_video(clip, out, pipe, VideoOptions(queue_size=2))
    msg = str(ei.value)
    assert "\n" not in msg
    assert "detector failed on frame 4" in msg and "RuntimeError: tensor shape mismatch" in msg
    assert isinstance(ei.value.__cause__, RuntimeError)  # --debug prints the original traceback
    assert not out.exists()


def test_benchmark_box_matching_is_one_to_one() -> None:
    from benchmarks.detect_every import iou, match

    a, b = det((0, 0, 10, 10)), det((5, 0, 15, 10))
    assert iou(a.box, a.box) == 1.0 and iou(a.box, b.box) == pytest.approx(50 / 150)
    assert match([a, b], [a]) == [1.0, 0.0]  # one box cannot answer for two; the unmatched one counts 0
    assert match([a], []) == [0.0] and match([], [a]) == []
    assert match([a, b], [b, a]) == [1.0, 1.0]


def test_overlapped_instances_run_on_their_own_thread_and_give_the_same_video(
    translator: Translator, clip: Path, tmp_path: Path
) -> None:
    """``--overlap-instances``: the crops' network runs on its own stage thread; every frame, box,
    window and pixel is what the sequential pipeline gives, and the stage times still add up."""
    runs = {}
    for overlap in (False, True):
        cfg = PipelineConfig(detect_every=2, harmonize=False, overlap_instances=overlap)
        pipe = Pipeline(translator, SquareDetector(), cfg)
        threads: dict[str, set[int]] = {"frame": set(), "windows": set()}
        of, ow = translator.translate_frame, translator.translate_windows

        def spy_frame(frame: np.ndarray, _t=threads, _o=of) -> np.ndarray:
            _t["frame"].add(threading.get_ident())
            return _o(frame)

        def spy_windows(*a: object, _t=threads, _o=ow, **k: object) -> list[np.ndarray]:
            _t["windows"].add(threading.get_ident())
            return _o(*a, **k)  # type: ignore[arg-type]

        translator.translate_frame = spy_frame  # type: ignore[method-assign]
        translator.translate_windows = spy_windows  # type: ignore[method-assign]
        seen: list[tuple[int, object]] = []
        try:
            res = translate_video(
                clip, tmp_path / f"o{overlap}.mp4", pipe, VideoOptions(queue_size=2),
                on_frame=lambda i, x, r, _s=seen: _s.append((i, r)),
            )  # fmt: skip
        finally:
            del translator.translate_frame, translator.translate_windows
        runs[overlap] = (seen, threads, res.stats.summary())
    (seq, seq_threads, _), (par, par_threads, s) = runs[False], runs[True]
    assert seq_threads["frame"] == seq_threads["windows"]  # sequential: one inference thread
    assert len(par_threads["windows"]) == 1 and par_threads["windows"].isdisjoint(par_threads["frame"])
    assert [i for i, _ in par] == list(range(13))
    for (_, a), (_, b) in zip(seq, par, strict=True):
        assert a.windows == b.windows and len(a.windows) == 1  # type: ignore[attr-defined]
        assert np.array_equal(a.image, b.image)  # type: ignore[attr-defined]
    assert s["instances"] == 13
    for stage in ("instances", "upsample", "compose", "frame"):
        assert s["stages_ms"][stage]["n"] == 13 and s["stages_ms"][stage]["p50_ms"] > 0


def test_overlap_is_refused_quietly_where_the_backend_runs_one_call_at_a_time(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgecgl.backends as backends_mod
    from edgecgl.cli import runtime_opts as ro

    bundle = tiny_bundle_for(tmp_path_factory)
    said: list[str] = []
    args = ro.RuntimeArgs(bundle, "night", backend="onnxruntime-cpu", overlap_instances=True)
    pipe, _ = ro.build_pipeline(args, detector=SquareDetector(), log_fn=said.append)
    assert pipe.cfg.overlap_instances and any("own thread" in m for m in said)

    real = backends_mod.select_backend
    monkeypatch.setattr(backends_mod, "select_backend", lambda *a, **k: OneAtATime(real(*a, **k)))
    said.clear()
    pipe, _ = ro.build_pipeline(args, detector=SquareDetector(), log_fn=said.append)
    assert not pipe.cfg.overlap_instances and any("not overlapped" in m and "tensorrt" in m for m in said)
    monkeypatch.undo()
    args = ro.RuntimeArgs(
        bundle, "night", backend="onnxruntime-cpu", overlap_instances=True, no_instances=True
    )
    pipe, _ = ro.build_pipeline(args, log_fn=said.append)
    assert not pipe.cfg.overlap_instances  # nothing to overlap without a detector
