"""Test data for the runtime: a tiny ONNX bundle from an untrained CGLModel, and small clips with audio.

Tests may import training code; the runtime never does. The bundle is built once per test session
(cached under pytest's base temp folder) because ONNX export costs about a second.
"""

from __future__ import annotations

import fractions
import json
from pathlib import Path

import numpy as np

from edgecgl.bundle import FORMAT, FORMAT_VERSION, IO_NAMES, MANIFEST, sha256_file
from edgecgl.domains import DOMAINS

FRAME = (32, 64)
INSTANCE = (16, 16)


def make_tiny_bundle(root: Path, seed: int = 0, torch_programs: bool = False) -> Path:
    """Export CGLModel(tiny) to ONNX per role (dynamic batch/H/W) and write a verified manifest."""
    import torch
    from edgecgl.train.nets import CGLModel, ModelConfig

    root = Path(root)
    if (root / MANIFEST).is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = ModelConfig(preset="tiny")
    model = CGLModel(cfg).eval()
    d = len(DOMAINS)
    img = torch.rand(2, 3, *FRAME) * 2 - 1
    dom = torch.eye(d)[:2]
    content = model.content_enc(img)
    style = torch.randn(2, cfg.style_dim)
    mods = {
        "content_encoder": (model.content_enc, (img,)),
        "content_encoder_instance": (model.content_enc_inst, (img,)),
        "style_encoder": (model.style_enc, (img, dom)),
        "style_encoder_instance": (model.style_enc_inst, (img, dom)),
        "generator": (model.gen, (content, style, dom)),
    }
    dyn_axes = {
        "image": {0: "batch", 2: "height", 3: "width"},
        "content": {0: "batch", 2: "h", 3: "w"},
        "style": {0: "batch"},
        "domain": {0: "batch"},
    }
    models: dict[str, dict[str, str]] = {}
    files: dict[str, str] = {}
    for role, (mod, args) in mods.items():
        ins, outs = IO_NAMES[role]
        name = f"{role}.onnx"
        with torch.no_grad():
            torch.onnx.export(
                mod,
                args,
                str(root / name),
                dynamo=False,
                opset_version=17,
                input_names=list(ins),
                output_names=list(outs),
                dynamic_axes={k: v for k, v in dyn_axes.items() if k in ins or k in outs},
            )
        models[role] = {"file": name}
        files[name] = sha256_file(root / name)
        if torch_programs:
            ep = torch.export.export(mod, args, dynamic_shapes=_dynamic_shapes(role, args))
            pt2 = f"{role}.pt2"
            torch.export.save(ep, str(root / pt2))
            models[role]["torch"] = pt2
            files[pt2] = sha256_file(root / pt2)
    rng = np.random.default_rng(seed)
    stats = {
        g: {
            dn: {
                "mean": (rng.standard_normal(cfg.style_dim) * 0.5).tolist(),
                "cov": np.eye(cfg.style_dim).tolist(),
            }
            for dn in DOMAINS
        }
        for g in ("global", "instance")
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "domains": list(DOMAINS),
        "style_dim": cfg.style_dim,
        "resolution": {"frame": list(FRAME), "instance": list(INSTANCE)},
        "precision": "fp32",
        "models": models,
        "files": files,
        "style_stats": stats,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return root


def _dynamic_shapes(role: str, args: tuple) -> object:
    from torch.export import Dim

    b = Dim("batch", min=1, max=64)
    h, w = Dim("h", min=1, max=256), Dim("w", min=1, max=256)
    if role.startswith("content"):
        return ({0: b, 2: 4 * h, 3: 4 * w},)
    if role.startswith("style"):
        return ({0: b, 2: 4 * h, 3: 4 * w}, {0: b})
    return ({0: b, 2: h, 3: w}, {0: b}, {0: b})


def tiny_bundle_for(tmp_path_factory: object) -> Path:
    base = tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return make_tiny_bundle(Path(base) / "tiny_bundle")


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
