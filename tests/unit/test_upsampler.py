"""The guided upsampler at toy sizes: its ONNX graph vs torch, what it must reproduce exactly, and the
runtime path through the Translator (letterbox, instance windows, old bundles)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from edgecgl.export.bundle import add_upsampler, write_manifest
from edgecgl.export.upsampler import (
    MODES,
    GuidedUpsampler,
    UpsamplerConfig,
    example_inputs,
    export_upsampler,
    upsampler_parity,
)

from edgecgl.bundle import load_bundle
from edgecgl.compose import resize, to_nchw, to_uint8
from edgecgl.quality import gradient_correlation
from edgecgl.translate import Translator


def textured(hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    """uint8 RGB with edges at every scale: blocks, thin lines and noise (what resizing blurs away)."""
    rng = np.random.default_rng(seed)
    h, w = hw
    img = np.kron(rng.integers(40, 215, (h // 8 + 1, w // 8 + 1, 3)), np.ones((8, 8, 1)))[:h, :w]
    img[::5] = 30
    img[:, ::7] = 230
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "cfg",
    [UpsamplerConfig(radius=2, eps=0.01, mode=m, prior=p) for m in MODES for p in (0.0, 1.0)]
    + [UpsamplerConfig(radius=3, subsample=4), UpsamplerConfig(radius=16)],
    ids=lambda c: f"{c.mode}-p{c.prior:g}-r{c.radius}-s{c.subsample}",
)
def test_onnx_matches_torch(tmp_path: Path, cfg: UpsamplerConfig) -> None:
    path = export_upsampler(cfg, tmp_path / "upsampler.onnx")
    assert upsampler_parity(cfg, path) < 1e-4
    import onnx

    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "AveragePool" in ops and "CumSum" not in ops  # box filters that build on every TensorRT


@pytest.mark.parametrize("mode", ["channel", "color"])
def test_constant_colour_shift_is_reproduced_exactly(mode: str) -> None:
    """With the identity prior; the textbook prior (0) shrinks A where the variance is below eps."""
    guide, low, _ = example_inputs((40, 72), (10, 18), batch=2)
    shift = torch.tensor([0.12, -0.2, 0.05]).view(1, 3, 1, 1)
    guide, low = guide * 0.7, low * 0.7  # keep guide + shift inside [-1, 1]
    for eps in (1e-3, 0.1):
        cfg = UpsamplerConfig(radius=2, eps=eps, mode=mode, prior=1.0)
        out = GuidedUpsampler(cfg)(guide, low, low + shift)
        assert float((out - (guide + shift)).abs().max()) < 1e-5


def test_textbook_prior_loses_flat_region_detail() -> None:
    """prior=0 (He's filter) flattens what is flat at low resolution; prior=1 keeps it."""
    guide, low, _ = example_inputs((40, 72), (10, 18))
    out0 = GuidedUpsampler(UpsamplerConfig(mode="channel", prior=0.0, eps=0.1))(guide, low, low)
    out1 = GuidedUpsampler(UpsamplerConfig(mode="channel", prior=1.0, eps=0.1))(guide, low, low)
    assert float((out1 - guide).abs().max()) < 1e-5
    assert float((out0 - guide).abs().max()) > 0.05


def test_edges_kept_where_resize_blurs() -> None:
    frame = textured((96, 192))
    low_guide = resize(frame, (12, 24))
    low = torch.from_numpy(to_nchw(low_guide))
    low_image = low * torch.tensor([0.5, 0.6, 0.9]).view(1, 3, 1, 1) - 0.3  # a "night" colour change
    out = GuidedUpsampler()(torch.from_numpy(to_nchw(frame)), low, low_image)  # the shipped defaults
    guided = to_uint8(out.numpy())[0]
    resized = resize(to_uint8(low_image.numpy())[0], frame.shape[:2])
    assert gradient_correlation(frame, guided) > 0.9
    assert gradient_correlation(frame, resized) < 0.5
    # and the colours are the network's: the means agree with the low-resolution output's
    assert np.abs(guided.reshape(-1, 3).mean(0) - resized.reshape(-1, 3).mean(0)).max() < 6


class ShiftBackend:
    """A 'network' that adds a constant colour: content = image, generate = content + shift."""

    name = "shift"

    def __init__(self, shift: tuple[float, float, float]) -> None:
        self.shift = np.asarray(shift, np.float32).reshape(1, 3, 1, 1)

    def encode_content(self, image: np.ndarray, granularity: str = "global") -> np.ndarray:
        return image

    def encode_style(self, image: np.ndarray, domain: np.ndarray, granularity: str = "global") -> np.ndarray:
        raise NotImplementedError

    def generate(self, content: np.ndarray, style: np.ndarray, domain: np.ndarray) -> np.ndarray:
        return np.clip(content + self.shift, -1, 1)


@pytest.fixture(scope="module")
def shift_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bundle with an identity-prior upsampler (re-exported the way write_bundle adds one)."""
    root = tmp_path_factory.mktemp("shift") / "bundle"
    shutil.copytree(tiny_bundle, root)
    cfg = UpsamplerConfig(radius=2, eps=0.01, mode="channel", prior=1.0)
    m = json.loads((root / "manifest.json").read_text())
    m["models"]["upsampler"] = add_upsampler(root, cfg)
    m["upsampler"] = cfg.to_json()
    write_manifest(root, m)
    return root


def test_translator_guided_through_the_letterbox(shift_bundle: Path) -> None:
    """A frame whose aspect differs from the working size's: the guided output is the input + the shift
    to the pixel (the guide and the network saw the same region); resize loses the detail."""
    b = load_bundle(shift_bundle)
    shift = (0.1, -0.1, 0.0)
    frame = (textured((45, 150), seed=3) * 0.7 + 30).astype(np.uint8)  # room for the shift
    want = np.clip(frame.astype(np.float32) + np.array(shift) * 127.5, 0, 255)
    guided = Translator(ShiftBackend(shift), b, "night").translate_frame(frame)
    resized = Translator(ShiftBackend(shift), b, "night", upsample="resize").translate_frame(frame)
    assert guided.shape == resized.shape == frame.shape
    assert np.abs(guided.astype(np.float32) - want).max() <= 1.0
    assert np.abs(resized.astype(np.float32) - want).mean() > 5.0


def test_instance_windows_come_back_at_their_size_with_detail(shift_bundle: Path) -> None:
    b = load_bundle(shift_bundle)
    frame = (textured((60, 100), seed=4) * 0.7 + 30).astype(np.uint8)
    tr = Translator(ShiftBackend((0.0, 0.1, 0.0)), b, "night")
    windows = [(10, 5, 60, 45), (0, 0, 7, 9)]
    outs = tr.translate_windows(frame, windows)
    for (x1, y1, x2, y2), o in zip(windows, outs, strict=True):
        crop = frame[y1:y2, x1:x2].astype(np.float32)
        assert o.shape == (y2 - y1, x2 - x1, 3)
        assert np.abs(o - np.clip(crop + [0, 12.75, 0], 0, 255)).max() <= 1.0


def test_real_bundle_guided_beats_resize_on_detail(tiny_bundle: Path) -> None:
    from edgecgl.backends import select_backend

    b = load_bundle(tiny_bundle)
    be = select_backend(b, "onnxruntime-cpu")
    frame = textured((128, 256), seed=5)
    g = Translator(be, b, "rainy").translate_frame(frame)
    r = Translator(be, b, "rainy", upsample="resize").translate_frame(frame)
    assert gradient_correlation(frame, g) > gradient_correlation(frame, r) + 0.2


def test_old_bundle_falls_back_to_resize_with_a_notice(tiny_bundle: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(tiny_bundle, old)
    m = json.loads((old / "manifest.json").read_text())
    del m["models"]["upsampler"], m["upsampler"]
    (old / "upsampler.onnx").unlink()
    write_manifest(old, m)
    said: list[str] = []
    tr = Translator(ShiftBackend((0, 0, 0)), load_bundle(old), "night", log=said.append)
    assert tr.upsampler.mode == "resize"
    assert len(said) == 1 and "no upsampler" in said[0]
    frame = textured((32, 64))
    assert tr.translate_frame(frame).shape == frame.shape


def test_manifest_records_the_upsampler(tiny_bundle: Path) -> None:
    b = load_bundle(tiny_bundle)
    assert b.has_upsampler
    assert b.upsampler == UpsamplerConfig().to_json()  # 32x64 working size: no subsampling
    assert UpsamplerConfig.for_working_size((256, 512)).subsample == 4
    entry = b.manifest["models"]["upsampler"]
    assert entry["inputs"] == ["guide", "low_guide", "low_image"] and entry["precision"] == "fp32"


def test_area_downsample_matches_the_guide_geometry() -> None:
    """The runtime's low guide is an INTER_AREA resize; the graph's upsampling is half-pixel bilinear.
    A smooth ramp must come back unchanged (no half-pixel shift between the two)."""
    h, w = 64, 128
    ramp = np.broadcast_to(np.linspace(20, 230, w, dtype=np.float32)[None, :, None], (h, w, 3))
    frame = np.rint(ramp).astype(np.uint8)
    low = resize(frame, (16, 32))
    li = torch.from_numpy(to_nchw(low))
    out = GuidedUpsampler(UpsamplerConfig(radius=2, prior=0.0, eps=1.0, mode="channel"))(
        torch.from_numpy(to_nchw(frame)), li, li
    )
    # prior 0 with a huge eps: A ~ 0, the output is the bilinear upsampling of the (box-smoothed) low
    # guide itself. A half-pixel misalignment would offset the whole ramp by ~3.3 levels; away from the
    # box filter's border effects it is within rounding.
    got = to_uint8(out.numpy())[0].astype(np.float32)
    assert np.abs(got[:, 24:-24] - frame[:, 24:-24]).max() <= 1.0


def test_fast_conversions_match_compose() -> None:
    from edgecgl.upsample import _hwc_uint8, _nchw

    img = textured((37, 61), seed=6)
    assert np.abs(_nchw(img) - to_nchw(img)).max() < 1e-6
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 37, 61)).astype(np.float32)
    assert np.abs(_hwc_uint8(x[0]).astype(int) - to_uint8(x)[0]).max() <= 1


class LightsBackend(ShiftBackend):
    """Paints a bright 3x3 'light' at a fixed spot of the working-size output (the input is flat there)."""

    def generate(self, content: np.ndarray, style: np.ndarray, domain: np.ndarray) -> np.ndarray:
        out = np.clip(content * 0.5 - 0.5, -1, 1)  # darker: a 'night'
        h, w = out.shape[-2:]
        out[..., h // 2 - 1 : h // 2 + 2, w // 2 - 1 : w // 2 + 2] = 1.0
        return out


def test_residual_keeps_the_lights_the_guided_fit_drops(tiny_bundle: Path) -> None:
    """A flat grey car: guided can only map grey to one colour, so the painted light is lost (smeared into
    a haze around it); residual brings it back at the window's size, and away from it is the network's
    'night' grey exactly."""
    b = load_bundle(tiny_bundle)
    frame = np.full((120, 240, 3), 128, np.uint8)
    frame[:, :60] = 40  # some structure for the fit elsewhere
    window = (60, 0, 240, 120)
    outs = {
        m: Translator(LightsBackend((0, 0, 0)), b, "night", upsample=m).translate_windows(frame, [window])[0]
        for m in ("guided", "residual")
    }
    h, w = outs["guided"].shape[:2]
    centre = (slice(h // 2 - 2, h // 2 + 3), slice(w // 2 - 2, w // 2 + 3))
    lit_g = float(outs["guided"][centre].mean())
    lit_r = float(outs["residual"][centre].mean())
    assert lit_r > lit_g + 60  # the light is there
    corner = (slice(0, h // 5), slice(0, w // 5))
    want = (128 / 127.5 - 1) * 0.5 - 0.5  # LightsBackend's output for the grey, in [-1, 1]
    assert abs(float(outs["residual"][corner].mean()) - (want + 1) * 127.5) <= 1.5


def test_residual_at_the_working_size_is_the_network_output(shift_bundle: Path) -> None:
    from edgecgl import guided_cpu
    from edgecgl.upsample import add_residual

    b = load_bundle(shift_bundle)
    full, low, out = __import__("edgecgl.upsample", fromlist=["check_inputs"]).check_inputs()
    p = guided_cpu.GuidedParams.from_manifest(b.upsampler)
    fitted = guided_cpu.upsample(low, low, out, p)
    same = add_residual(fitted, out, fitted)
    assert np.abs(same.astype(np.int16) - to_uint8(out[None])[0].astype(np.int16)).max() <= 1


def test_residual_on_the_graph_path_matches_the_cpu_path(tiny_bundle: Path) -> None:
    """A graph backend (TensorRT, torch) runs the graph and fits the residual in numpy: same output."""
    from edgecgl.upsample import Upsampler, check_inputs

    b = load_bundle(tiny_bundle)
    full, low, out = check_inputs()
    cpu = Upsampler(b, None, "residual")
    graph = Upsampler(b, None, "residual", cpu_path=False)
    assert cpu.cpu is not None and graph.cpu is None
    diff = np.abs(cpu(full, low, out).astype(np.int16) - graph(full, low, out).astype(np.int16))
    assert diff.max() <= 2


def test_residual_instances_is_guided_on_the_frame_and_residual_on_the_crops(tiny_bundle: Path) -> None:
    """--upsample residual-instances: the frame exactly as guided (the scene keeps the input's detail),
    the instance windows exactly as residual (the cars keep the network's lights)."""
    b = load_bundle(tiny_bundle)
    frame = np.full((120, 240, 3), 128, np.uint8)
    frame[:, :60] = 40
    window = (60, 0, 240, 120)
    trs = {m: Translator(LightsBackend((0, 0, 0)), b, "night", upsample=m) for m in MODES_UNDER_TEST}
    both = trs["residual-instances"]
    assert both.upsample_mode == "residual-instances"
    assert np.array_equal(both.translate_frame(frame), trs["guided"].translate_frame(frame))
    assert not np.array_equal(trs["guided"].translate_frame(frame), trs["residual"].translate_frame(frame))
    win = both.translate_windows(frame, [window])[0]
    assert np.array_equal(win, trs["residual"].translate_windows(frame, [window])[0])
    assert not np.array_equal(win, trs["guided"].translate_windows(frame, [window])[0])

    assert both.instance_upsampler._run is both.upsampler._run  # one graph session for both


class ShadingBackend(ShiftBackend):
    """Darkens, and lights a band of rows the input knows nothing of (a lit road under a dark sky)."""

    def generate(self, content: np.ndarray, style: np.ndarray, domain: np.ndarray) -> np.ndarray:
        out = content * 0.3 - 0.6
        h = out.shape[-2]
        out[..., h // 2 : h // 2 + h // 4, :] += 0.8
        return np.clip(out, -1, 1)


def band_contrast(img: np.ndarray) -> float:
    """Mean grey of the lit band's inner half minus that of a band's height above and below it."""
    g = img.astype(np.float32).mean(axis=2)
    h = g.shape[0]
    band = g[h // 2 + h // 16 : h // 2 + 3 * h // 16].mean()
    rest = np.concatenate([g[h // 4 : h // 2 - h // 16], g[3 * h // 4 + h // 16 :]])
    return float(band - rest.mean())


def test_local_keeps_the_networks_shading_that_guided_flattens(tiny_bundle: Path) -> None:
    """The radius-16 window spans the band (a quarter of the working height) and its surroundings, so
    guided spreads the band's light over them; local's 4x smaller window keeps half the band's contrast,
    and the input's texture."""
    b = load_bundle(tiny_bundle)
    frame = textured((256, 512), seed=3)
    outs = {
        m: Translator(ShadingBackend((0, 0, 0)), b, "night", upsample=m).translate_frame(frame)
        for m in ("guided", "local")
    }
    want = 0.8 * 127.5  # the band's lift in the network's output
    assert band_contrast(outs["local"]) > 0.4 * want  # 55 % seen
    assert band_contrast(outs["guided"]) < 0.1 * want  # 1 % seen
    assert gradient_correlation(frame, outs["local"]) > 0.9  # the input's texture: 0.97 (guided 0.996)


@pytest.mark.parametrize("cpu_path", [True, False])
def test_local_is_the_numpy_fit_at_the_local_radius_on_every_backend(
    tiny_bundle: Path, cpu_path: bool
) -> None:
    """The graph has the bundle's radius built in, so local always runs the numpy path (no graph session)."""
    import dataclasses

    from edgecgl import guided_cpu
    from edgecgl.upsample import LOCAL_RADIUS, Upsampler, check_inputs

    b = load_bundle(tiny_bundle)
    up = Upsampler(b, None, "local", cpu_path=cpu_path)
    assert up.mode == "local" and up._run is None and up.cpu is not None and up.cpu.radius == LOCAL_RADIUS
    full, low, out = check_inputs(up.cpu)
    p = dataclasses.replace(guided_cpu.GuidedParams.from_manifest(b.upsampler), radius=LOCAL_RADIUS)
    assert np.array_equal(up(full, low, out), guided_cpu.upsample(full, low, out, p))
    assert not np.array_equal(up(full, low, out), Upsampler(b, None, "guided")(full, low, out))
    with pytest.raises(ValueError):
        up.sibling("residual")


def test_local_on_a_bundle_the_numpy_path_lacks_runs_guided_and_says_so(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    root = tmp_path / "colour"
    shutil.copytree(tiny_bundle, root)
    cfg = UpsamplerConfig(radius=4, eps=0.1, mode="color")
    m = json.loads((root / "manifest.json").read_text())
    m["models"]["upsampler"] = add_upsampler(root, cfg)
    m["upsampler"] = cfg.to_json()
    write_manifest(root, m)
    said: list[str] = []
    tr = Translator(ShadingBackend((0, 0, 0)), load_bundle(root), "night", upsample="local", log=said.append)
    assert tr.upsampler.mode == "guided" and tr.upsample_mode == "guided"
    assert any("local needs a per-channel upsampler" in line and "running guided" in line for line in said)


@pytest.mark.parametrize("cpu_path", [True, False])
def test_sibling_upsampler_shares_the_session_and_matches_a_fresh_one(
    tiny_bundle: Path, cpu_path: bool
) -> None:
    from edgecgl.upsample import Upsampler, check_inputs

    b = load_bundle(tiny_bundle)
    full, low, out = check_inputs()
    guided = Upsampler(b, None, "guided", cpu_path=cpu_path)
    sib = guided.sibling("residual")
    assert sib.mode == "residual" and guided.mode == "guided"
    assert sib._run is guided._run and sib.cpu is guided.cpu
    fresh = Upsampler(b, None, "residual", cpu_path=cpu_path)
    assert np.array_equal(sib(full, low, out), fresh(full, low, out))
    assert np.array_equal(
        guided(full, low, out), Upsampler(b, None, "guided", cpu_path=cpu_path)(full, low, out)
    )
    sib.take_ms()
    assert guided.take_ms() > 0  # each keeps its own stage time
    with pytest.raises(ValueError):
        guided.sibling("resize")


MODES_UNDER_TEST = ("guided", "local", "residual", "residual-instances")


def test_unknown_upsample_mode_lists_every_choice(tiny_bundle: Path) -> None:
    from edgecgl.errors import EdgecglError

    with pytest.raises(EdgecglError, match="residual-instances") as err:
        Translator(LightsBackend((0, 0, 0)), load_bundle(tiny_bundle), "night", upsample="bicubic")
    assert "unknown --upsample 'bicubic'" in str(err.value)
