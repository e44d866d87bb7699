"""Test data for the runtime: a tiny bundle from an untrained CGLModel, and small clips with audio.

Tests may import training and export code; the runtime never does. The bundle is built once per test
session (cached under pytest's base temp folder) because exporting costs a few seconds.
"""

from __future__ import annotations

import fractions
import json
import shutil
from pathlib import Path

import numpy as np

from edgecgl.bundle import MANIFEST

FRAME = (32, 64)
INSTANCE = (16, 16)


def make_tiny_bundle(root: Path, seed: int = 0, pt2: bool = True) -> Path:
    """A random-init tiny checkpoint exported by the real exporter (ONNX + torch.export programs)."""
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.toy import make_toy_checkpoint

    root = Path(root)
    if (root / MANIFEST).is_file():
        return root
    ckpt = make_toy_checkpoint(root.parent / f"{root.name}-model.pt", "tiny", FRAME, INSTANCE, seed=seed)
    return write_bundle(ckpt, root, "fp32", "onnxslim", pt2=pt2)


def tiny_checkpoint(root: Path) -> Path:
    """The checkpoint ``make_tiny_bundle(root)`` exported (for comparisons with torch)."""
    return Path(root).parent / f"{Path(root).name}-model.pt"


def tiny_bundle_for(tmp_path_factory: object) -> Path:
    base = tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return make_tiny_bundle(Path(base) / "tiny_bundle")


def with_luma_range(bundle: Path, dst: Path, domain: str, lo: float, hi: float) -> Path:
    """A copy of ``bundle`` whose ``domain`` says its photos' mean luma ran from ``lo`` to ``hi``."""
    shutil.copytree(bundle, dst)
    m = json.loads((dst / MANIFEST).read_text())
    m["style_stats"]["global"][domain]["luma"] = [lo, hi]
    (dst / MANIFEST).write_text(json.dumps(m))
    return dst


def clip_frames(n: int, hw: tuple[int, int]) -> list[np.ndarray]:
    """Moving gradient + a bright square: content that changes every frame."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(n):
        f = np.stack(
            [(xx * 255 // max(1, w - 1) + 7 * i) % 256, yy * 255 // max(1, h - 1), np.full_like(xx, 90)], -1
        )
        x0 = (4 * i) % max(1, w - h // 3)
        f[h // 3 : 2 * h // 3, x0 : x0 + h // 3] = (230, 40, 40)
        frames.append(f.astype(np.uint8))
    return frames


def make_clip(
    path: Path,
    n: int = 12,
    hw: tuple[int, int] = (64, 96),
    fps: int = 25,
    audio: bool = True,
    rotation: int = 0,
) -> Path:
    """H.264 mp4 (optionally with an AAC sine track and a display rotation) via PyAV."""
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = hw[1], hw[0], "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "20"}
        if rotation:
            vs.set_display_rotation(rotation)
        ast = None
        if audio:
            ast = out.add_stream("aac", rate=16000)
            ast.layout = "mono"
        for i, f in enumerate(clip_frames(n, hw)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            vf.time_base = fractions.Fraction(1, fps)
            for p in vs.encode(vf):
                out.mux(p)
        if ast is not None:
            total = int(16000 * n / fps)
            for s in range(0, total, 1024):
                t = np.arange(s, s + 1024) / 16000
                arr = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                af = av.AudioFrame.from_ndarray(arr, format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, s
                for p in ast.encode(af):
                    out.mux(p)
            for p in ast.encode():
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path
