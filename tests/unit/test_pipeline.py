"""One frame through the pipeline with a fake detector: where pixels come from, and the stats."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecgl.backends import select_backend
from edgecgl.bundle import load_bundle
from edgecgl.compose import expand_box, feather_mask, resize
from edgecgl.detect import Detection
from edgecgl.errors import EdgecglError
from edgecgl.pipeline import Pipeline, PipelineConfig, RunStats
from edgecgl.translate import Translator, parse_size
from tests.runtime_helpers import clip_frames, tiny_bundle_for


class FakeDetector:
    """Returns fixed boxes on chosen frames; counts calls."""

    def __init__(self, boxes: list[tuple[float, float, float, float]], every: int = 1) -> None:
        self.boxes, self.every, self.calls = boxes, every, 0

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        self.calls += 1
        if (self.calls - 1) % self.every:
            return []
        return [Detection(b, "car", 0.9, i + 1) for i, b in enumerate(self.boxes)]


@pytest.fixture(scope="module")
def translator(tmp_path_factory: pytest.TempPathFactory) -> Translator:
    bundle = load_bundle(tiny_bundle_for(tmp_path_factory))
    return Translator(select_backend(bundle, "onnxruntime-cpu"), bundle, "night")


def test_pixels_come_from_global_outside_and_instance_inside(translator: Translator) -> None:
    frame = clip_frames(1, (72, 120))[0]
    box = (40.0, 20.0, 80.0, 52.0)
    pipe = Pipeline(translator, FakeDetector([box]), PipelineConfig(context=0.25, harmonize=False))
    res = pipe(frame)
    glob = translator.translate_frame(frame)
    win = expand_box(box, 0.25, frame.shape[:2])
    assert res.windows == [win]
    x1, y1, x2, y2 = win
    # outside the crop window: exactly the global translation
    outside = np.ones(frame.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(res.image[outside], glob[outside])
    # inside the box: exactly the instance translation, back at the window's size (guided by the crop)
    inst = translator.translate_windows(frame, [win])[0]
    crop = resize(frame[y1:y2, x1:x2], translator.instance_size)
    low = translator.translate_crops(crop[None])[0]  # the network's crop, what the upsampler started from
    assert inst.shape == (y2 - y1, x2 - x1, 3) and low.shape == (*translator.instance_size, 3)
    bx1, by1, bx2, by2 = (int(v) for v in box)
    got = res.image[by1:by2, bx1:bx2].astype(int)
    want = inst[by1 - y1 : by2 - y1, bx1 - x1 : bx2 - x1].astype(int)
    assert np.abs(got - want).max() <= 1
    assert not np.array_equal(inst[by1 - y1 : by2 - y1, bx1 - x1 : bx2 - x1], glob[by1:by2, bx1:bx2])
    # the margin is a blend of the two, weighted by the feather mask
    alpha = feather_mask(win, box, frame.shape[:2])[..., None]
    blend = glob[y1:y2, x1:x2] * (1 - alpha) + inst * alpha
    assert np.abs(res.image[y1:y2, x1:x2].astype(float) - blend).max() <= 1.0
    ramp = (alpha[..., 0] > 0.05) & (alpha[..., 0] < 0.95)
    assert ramp.sum() > 0


def test_frames_without_detections_are_global_only(translator: Translator) -> None:
    frames = clip_frames(2, (40, 64))
    # no fade: a track missing on the next frame is gone at once (tests/unit/test_fade.py has the fade)
    pipe = Pipeline(
        translator, FakeDetector([(10.0, 10.0, 30.0, 30.0)], every=2), PipelineConfig(fade_frames=1)
    )
    stats = RunStats()
    with_det, without = pipe(frames[0]), pipe(frames[1])
    stats.add(with_det)
    stats.add(without)
    assert len(with_det.detections) == 1 and without.detections == []
    assert np.array_equal(without.image, translator.translate_frame(frames[1]))
    assert stats.frames == 2 and stats.frames_with_instances == 1 and stats.instances == 1
    s = stats.summary()
    assert {"detect", "frame", "instances", "upsample", "compose"} <= set(s["stages_ms"])
    assert s["stages_ms"]["frame"]["p50_ms"] > 0


def test_upsample_is_its_own_stage(translator: Translator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The upsampler's time (frame and windows) is taken out of "frame" and "instances": stages add up."""
    import edgecgl.upsample as upsample_mod

    assert translator.upsampler.cpu is not None  # ORT CPU: the numpy + OpenCV path
    real = upsample_mod.guided_cpu.upsample

    def slow(*args: object) -> np.ndarray:  # 30 ms more per call, inside the upsampler's timing
        t0 = time.perf_counter()
        out = real(*args)
        while time.perf_counter() - t0 < 0.03:
            pass
        return out

    monkeypatch.setattr(upsample_mod.guided_cpu, "upsample", slow)
    frame = clip_frames(1, (72, 120))[0]
    pipe = Pipeline(translator, FakeDetector([(40.0, 20.0, 80.0, 52.0)]))
    t0 = time.perf_counter()
    ms = pipe(frame).ms
    wall = (time.perf_counter() - t0) * 1000.0
    assert ms["upsample"] >= 60.0  # the frame and one window
    assert 0 < ms["frame"] < wall - 60.0 and 0 < ms["instances"] < wall - 60.0
    assert sum(ms[k] for k in ("detect", "frame", "instances", "upsample", "compose")) <= wall + 1.0


def test_output_at_input_resolution(translator: Translator) -> None:
    frame = clip_frames(1, (50, 130))[0]
    out = Pipeline(translator)(frame)
    assert out.image.shape == frame.shape and out.image.dtype == np.uint8


def test_crops_are_one_batched_call(translator: Translator) -> None:
    calls: list[int] = []
    be = translator.backend
    orig = be.generate

    def spy(content, style, domain):
        calls.append(content.shape[0])
        return orig(content, style, domain)

    be.generate = spy  # type: ignore[method-assign]
    try:
        boxes = [(2.0, 2.0, 20.0, 20.0), (30.0, 5.0, 60.0, 30.0), (5.0, 25.0, 25.0, 38.0)]
        Pipeline(translator, FakeDetector(boxes))(clip_frames(1, (40, 64))[0])
    finally:
        del be.generate
    assert calls == [1, 3]


def test_style_seed_and_reference_change_the_style(translator: Translator) -> None:
    b = translator.bundle
    t_seed = Translator(translator.backend, b, "night", style_seed=3)
    ref = clip_frames(1, (40, 64))[0]
    t_ref = Translator(translator.backend, b, "night", style_ref=ref)
    assert not np.allclose(t_seed.style, translator.style)
    assert t_ref.style.shape == translator.style.shape and t_ref.style_source == "reference image"
    assert np.allclose(Translator(translator.backend, b, "night", style_seed=3).style, t_seed.style)


def test_track_styles_are_fixed_per_track(translator: Translator) -> None:
    pipe = Pipeline(
        translator, FakeDetector([(2.0, 2.0, 20.0, 20.0)]), PipelineConfig(instance_style="track")
    )
    frame = clip_frames(1, (40, 64))[0]
    assert np.array_equal(pipe(frame).image, pipe(frame).image)


def test_unknown_domain_lists_valid(translator: Translator) -> None:
    with pytest.raises(EdgecglError, match="unknown domain") as ei:
        Translator(translator.backend, translator.bundle, "snowy")
    assert "night" in (ei.value.hint or "")


@pytest.mark.parametrize("text", ["30x64", "32x62", "abc", "0x64"])
def test_size_must_be_multiple_of_4(text: str) -> None:
    with pytest.raises(EdgecglError):
        parse_size(text)
    assert parse_size("32x64") == (32, 64)


def test_working_size_override(translator: Translator) -> None:
    t = Translator(translator.backend, translator.bundle, "rainy", frame_size=(16, 32))
    frame = clip_frames(1, (40, 64))[0]
    assert t.translate_frame(frame).shape == frame.shape


def test_reference_bank_gives_each_item_one_photos_style(translator: Translator, tmp_path: Path) -> None:
    from edgecgl.bundle import item_seed
    from edgecgl.cli.runtime_opts import per_image_reference
    from edgecgl.compose import resize, to_nchw
    from edgecgl.references import ReferenceBank, pick
    from edgecgl.translate import read_image

    frames = clip_frames(3, (40, 64))
    (tmp_path / "night").mkdir()
    for i, f in enumerate(frames):  # a dataset root: the target's sub-folder is used
        cv2.imwrite(
            str(tmp_path / "night" / f"r{i}.png"), cv2.cvtColor(f[::-1] // (i + 1), cv2.COLOR_RGB2BGR)
        )
    t = Translator(translator.backend, translator.bundle, "night")
    bank = ReferenceBank(t, tmp_path)
    assert [p.name for p in bank.files] == ["r0.png", "r1.png", "r2.png"]
    for f, code in zip(bank.files, bank.codes, strict=True):
        want = t.backend.encode_style(
            to_nchw(resize(read_image(f), t.frame_size)), t.domain_onehot, "global"
        )[0]
        assert np.allclose(code, want, atol=1e-6)
    per_image_reference(t, bank, 5, "a.jpg")
    i = pick(item_seed(5, "night", "a.jpg"), 3)
    assert np.allclose(t.style, bank.codes[i]) and t.style_source == f"reference r{i}.png"
    picked = set()
    for name in ("a", "b", "c", "d", "e", "f"):
        per_image_reference(t, bank, 0, name)
        picked.add(t.style_source)
    assert len(picked) > 1  # different images, different photos
    flat = ReferenceBank(t, tmp_path, spread=0.0)
    assert np.allclose(flat.codes, t.bundle.style("night", "global")[None], atol=1e-6)
    with pytest.raises(EdgecglError, match="no reference photos"):
        ReferenceBank(t, tmp_path / "night" / "r0.png")


class ResettableDetector(FakeDetector):
    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        super().__init__(boxes)
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1


def test_a_new_frame_size_starts_fresh_tracks(translator: Translator) -> None:
    """A node switching camera or resolution without reset(): the predicted frame after the switch reused
    the old frame's boxes in the old pixels, and the tracker matched new boxes against them."""
    det = ResettableDetector([(4.0, 4.0, 20.0, 20.0)])
    pipe = Pipeline(translator, det, PipelineConfig(detect_every=2))
    small, large = clip_frames(1, (40, 64))[0], clip_frames(1, (80, 128))[0]
    for f in (small, small, small):
        pipe.detect(f)
    assert det.calls == 2 and det.resets == 0
    pipe.detect(large)  # frame 3 would be predicted from the 40x64 boxes: a reset makes it a detection
    assert det.resets == 1 and det.calls == 3
    pipe.detect(large)
    assert det.resets == 1 and det.calls == 3  # same size: predicted again


def test_empty_frames_and_warmup(translator: Translator) -> None:
    det = ResettableDetector([(4.0, 4.0, 20.0, 20.0)])
    pipe = Pipeline(translator, det)
    for shape in ((0, 0, 3), (0, 64, 3), (40, 0, 3)):
        with pytest.raises(EdgecglError, match=r"empty frame \(\d+x\d+\)"):
            pipe(np.zeros(shape, np.uint8))
    assert det.calls == 0  # refused before the detector or the frame count
    ms = pipe.warmup((40, 64))
    assert ms > 0 and det.calls == 1 and det.resets == 1 and pipe._frame == 0
