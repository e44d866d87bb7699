"""What the benchmark scripts share: test bundles per preset, real frames, the load, JSON results.

Bundles are random-init checkpoints of each preset exported by the real exporter (speed does not depend
on the weights' values; quality numbers use a trained model and say so). They are cached under
``runs/bench/`` (ignored by git) because exporting ``paper`` takes a while on two cores.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "runs" / "bench"
ASSETS = Path(os.environ.get("EDGECGL_ASSETS", ROOT.parent / "shared" / "assets"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def shipped_instance_size(preset: str) -> tuple[int, int]:
    """The crop size the shipped configs train ``preset`` with (what a user's bundle translates crops at).

    Until session 24 the benchmark bundles used 128x128 crops, four times the pixels of the shipped
    ``small`` and ``paper`` configs' 64x64, so the pipeline benchmarks overcharged the instance stage.
    """
    import yaml

    sizes = set()
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text()) or {}
        if (cfg.get("model") or {}).get("preset") == preset and "instance_size" in (cfg.get("data") or {}):
            sizes.add(tuple(int(v) for v in cfg["data"]["instance_size"]))
    if len(sizes) != 1:
        raise SystemExit(f"the shipped configs give preset {preset} instance sizes {sorted(sizes)}, want one")
    return sizes.pop()  # type: ignore[return-value]


def toy_bundle(
    preset: str,
    frame: tuple[int, int] = (256, 512),
    instance: tuple[int, int] | None = None,
    pt2: bool = False,
) -> Path:
    """A cached FP32 bundle of a random-init ``preset`` (the exporter's real path, parity-checked), with
    crops at ``instance`` (default: the shipped configs' size for the preset)."""
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.toy import make_toy_checkpoint

    from edgecgl.bundle import MANIFEST

    instance = instance or shipped_instance_size(preset)
    name = f"{preset}-{frame[0]}x{frame[1]}-i{instance[0]}x{instance[1]}"
    out = CACHE / "bundles" / name
    if (out / MANIFEST).is_file():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    ckpt = make_toy_checkpoint(CACHE / f"{name}-model.pt", preset, frame, instance, seed=0)
    log(f"exporting {preset} -> {out}")
    return write_bundle(ckpt, out, "fp32", "onnxslim", pt2=pt2, overwrite=True)


def toy_checkpoint(bundle: Path) -> Path:
    return CACHE / f"{Path(bundle).name}-model.pt"


def clip_frames(path: Path, n: int, step: int = 1) -> list[np.ndarray]:
    """The first ``n`` RGB uint8 frames of a video, every ``step``-th, decoded with PyAV as ``edgecgl video``
    reads them."""
    import av

    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % step == 0:
                out.append(f.to_ndarray(format="rgb24"))
            if len(out) >= n:
                break
    return out


def real_footage(clip_n: int, clip_step: int, clip_first: bool = False) -> dict[str, list[np.ndarray]]:
    """The shared real footage as RGB uint8 frames, by name: ``bdd100k frames`` (every BDD100K still) and
    ``clip <name>`` (the dashcam clip's first ``clip_n`` frames, every ``clip_step``-th); absent sets left
    out. ``clip_first`` puts the clip first (the order a benchmark reports them in)."""
    from edgecgl.translate import read_image

    sets: dict[str, list[np.ndarray]] = {}
    bdd = sorted((ASSETS / "frames").glob("bdd_*.jpg"))
    if bdd:
        sets["bdd100k frames"] = [read_image(p) for p in bdd]
    clip = next(iter(sorted((ASSETS / "video").glob("*.mp4"))), None)
    if clip is not None:
        sets[f"clip {clip.name}"] = clip_frames(clip, clip_n, clip_step)
    return dict(reversed(sets.items())) if clip_first else sets


def real_frames(size: tuple[int, int], n: int = 4) -> np.ndarray:
    """[n,3,H,W] float32 in [-1,1]: BDD100K frames from EDGECGL_ASSETS letterboxed to ``size``
    (synthetic gradients where the assets are absent, said on stderr)."""
    from edgecgl.compose import letterbox, to_nchw

    paths = sorted((ASSETS / "frames").glob("*.jpg"))[:n]
    if not paths:
        log(f"no frames under {ASSETS}/frames: using synthetic frames")
        from edgecgl.bench import _test_frame

        imgs = [_test_frame((720, 1280), seed=i) for i in range(n)]
    else:
        from edgecgl.translate import read_image

        imgs = [read_image(p) for p in paths]
    return np.concatenate([to_nchw(letterbox(im, size)[0]) for im in imgs], 0)


def display_path(path: Path) -> str:
    """``path`` relative to the repository when it is inside it, else as given (``--out /tmp/x``)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def write_results(name: str, data: dict[str, Any]) -> Path:
    """``name`` is a results name (``benchmarks/results/<name>.json``) or a path ending in .json.
    Written atomically: the long benchmarks rewrite it after every stage."""
    path = Path(name) if name.endswith(".json") else RESULTS / f"{name}.json"
    from edgecgl.atomic import write_text_atomic  # a benchmark killed mid-write keeps the last results

    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    log(f"wrote {display_path(path)}")
    return path
