"""Deterministic, domain-balanced INT8 calibration sets from a dataset, an image folder or videos.

A calibration set is a ``.npz``: ``frames`` uint8 [N,H,W,3] RGB with ``domains`` int64 [N], and
``instances`` uint8 [M,h,w,3] with ``instance_domains`` (object crops where the source has boxes,
seeded random crops otherwise), plus ``meta`` (JSON: source, seed, sizes, domains). uint8 keeps 512
frames at 128x256 to 50 MB; the quantizer converts to the model's [-1, 1] range.

The same (source, n, size, seed) always gives the same set: items are ordered per domain by a hash of
(seed, path) and taken round-robin across domains, so every domain is represented as evenly as the
source allows.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgecgl.domains import DOMAINS, IMAGE_SUFFIXES, VIDEO_SUFFIXES, videos_under
from edgecgl.errors import EdgecglError


@dataclass
class CalibSet:
    frames: np.ndarray  # uint8 [N,H,W,3]
    domains: np.ndarray  # int64 [N]
    instances: np.ndarray  # uint8 [M,h,w,3]
    instance_domains: np.ndarray  # int64 [M]
    meta: dict[str, Any] = field(default_factory=dict)

    def images(self, which: str = "frames") -> np.ndarray:
        """float32 NCHW in [-1, 1], the networks' input range."""
        arr = self.frames if which == "frames" else self.instances
        return (arr.transpose(0, 3, 1, 2).astype(np.float32) / 127.5) - 1.0


def parse_size(text: str) -> tuple[int, int]:
    """'128x256' -> (128, 256); both multiples of 4 (the network stride)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise EdgecglError(f"bad size '{text}'", "use HxW, e.g. 128x256") from None
    if h <= 0 or w <= 0 or h % 4 or w % 4:
        raise EdgecglError(f"size {h}x{w} must be positive multiples of 4", "e.g. 128x256")
    return h, w


def cover_crop(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale to cover ``size`` keeping aspect, centre crop."""
    th, tw = size
    h, w = img.shape[:2]
    s = max(th / h, tw / w)
    nh, nw = max(th, round(h * s)), max(tw, round(w * s))
    if (nh, nw) != (h, w):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0, x0 = (nh - th) // 2, (nw - tw) // 2
    return np.ascontiguousarray(img[y0 : y0 + th, x0 : x0 + tw])


def _key(seed: int, name: str) -> str:
    return hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()


def balanced_order(items: list[tuple[str, int]], n: int, seed: int) -> list[int]:
    """Indices of up to ``n`` (name, domain) items: hash order within each domain, round-robin across.

    Names are hashed below their common folder, so the same dataset draws the same frames wherever it
    lies (a copy, another mount, a test's temporary folder)."""
    per: dict[int, list[int]] = {}
    for i, (_name, dom) in enumerate(items):
        per.setdefault(dom, []).append(i)
    names = [name for name, _ in items]
    if len(names) > 1 and all(os.path.isabs(x) for x in names):
        base = os.path.commonpath(names)
        names = [os.path.relpath(x, base) for x in names]
    queues = [sorted(v, key=lambda i: _key(seed, names[i])) for _, v in sorted(per.items())]
    out: list[int] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def _domain_from_name(path: Path, domains: list[str], default: int) -> int:
    """A flat folder's file names may carry the domain (``bdd_night_1.jpg``); else the default."""
    parts = set(path.stem.lower().replace("-", "_").split("_")) | {path.parent.name.lower()}
    hits = [i for i, d in enumerate(domains) if d in parts]
    return hits[0] if len(hits) == 1 else default


def _instance_crop(
    img: np.ndarray, boxes: np.ndarray, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """The largest box with 10% context when there is one, else a seeded random square-ish crop."""
    h, w = img.shape[:2]
    if len(boxes):
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        x1, y1, x2, y2 = boxes[int(np.argmax(areas))]
        cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * 1.1, (y2 - y1) * 1.1
    else:
        bw = bh = max(8.0, min(h, w) * float(rng.uniform(0.2, 0.5)))
        cx, cy = float(rng.uniform(bw / 2, w - bw / 2)), float(rng.uniform(bh / 2, h - bh / 2))
    x1, x2 = int(max(0, cx - bw / 2)), int(min(w, cx + bw / 2))
    y1, y2 = int(max(0, cy - bh / 2)), int(min(h, cy + bh / 2))
    crop = img[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
    return cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise EdgecglError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _video_frames(
    paths: list[Path], n: int, size: tuple[int, int], log: Callable[[str], None] = lambda s: None
) -> list[tuple[str, np.ndarray]]:
    """``n`` frames spread evenly over the videos (deterministic: by frame index, not by time).

    A cut or corrupt video gives every frame FFmpeg can decode, as ``edgecgl video`` does: when the
    file ends before the frames its header promised, the frames are picked again over those that
    decoded, and a warning says so.
    """
    from edgecgl.video import probe

    counts = [int(probe(p)["frames"]) for p in paths]  # the headers' promise; decoding checks it
    total = sum(counts)
    if total <= 0:
        raise EdgecglError(f"no video frames in {', '.join(map(str, paths))}")
    out: list[tuple[str, np.ndarray]] = []
    for p, cnt in zip(paths, counts, strict=True):
        k = max(1, round(n * cnt / total))
        picked, decoded, bad = _pick_frames(p, cnt, k, size)
        if len(picked) < min(k, cnt):  # it ended early
            if decoded == 0:
                raise EdgecglError(f"no decodable video frames in {p}", "the file is truncated or corrupt")
            picked, _, _ = _pick_frames(p, decoded, k, size)  # bad packets: counted by the first pass
            log(
                f"warning: {p} is truncated or corrupt: sampled {len(picked)} frame(s) from its "
                f"{decoded} decodable frames (of {cnt}), skipped {bad} bad packet(s)"
            )
        elif bad:
            log(f"warning: {p} is corrupt: skipped {bad} bad packet(s)")
        out += picked
    return out[:n]


def _pick_frames(
    path: Path, count: int, k: int, size: tuple[int, int]
) -> tuple[list[tuple[str, np.ndarray]], int, int]:
    """``k`` frames at even indices in ``0..count-1``, how many frames were decoded to get them (all
    that decode, when the file ends first), and how many bad packets were skipped."""
    from edgecgl.video import decodable_frames

    want = set(np.linspace(0, max(count - 1, 0), num=min(k, count), dtype=int).tolist())
    picked: list[tuple[str, np.ndarray]] = []
    bad = [0]
    decoded = 0
    for i, fr in enumerate(decodable_frames(path, bad)):
        decoded = i + 1
        if i in want:
            picked.append((f"{path.name}#{i}", cover_crop(fr.to_ndarray(format="rgb24"), size)))
            if len(picked) == len(want):
                break
    return picked, decoded, bad[0]


def sample_calibration(
    source: str | Path,
    n: int = 512,
    size: tuple[int, int] = (128, 256),
    instance_size: tuple[int, int] = (64, 64),
    seed: int = 0,
    domains: list[str] | None = None,
    default_domain: str = "sunny",
    log: Callable[[str], None] = lambda s: None,
    bdd_rules: Any = None,
) -> CalibSet:
    """Calibration set from a dataset spec (``folder:``, ``bdd100k:``, ``init:`` or a path), a flat image
    folder, a video file, or a folder of videos. ``bdd_rules``: a BDD100K domain table (``--bdd-rules``)."""
    doms = list(domains or DOMAINS)
    if n < 1:
        raise EdgecglError("--n must be at least 1")
    if default_domain not in doms:
        raise EdgecglError(f"unknown domain '{default_domain}'", f"valid domains: {', '.join(doms)}")
    rng = np.random.default_rng(seed)
    spec = str(source)
    path = _source_path(spec)
    frames: list[np.ndarray] = []
    labels: list[int] = []
    crops: list[np.ndarray] = []
    kind = ""
    videos = _videos(path)
    if videos:
        kind = "video"
        d = doms.index(default_domain)
        for _, img in _video_frames(videos, n, size, log):
            frames.append(img)
            labels.append(d)
            crops.append(_instance_crop(img, np.zeros((0, 4)), instance_size, rng))
    else:
        ds = _try_dataset(spec, size, doms, seed, bdd_rules)
        if ds is not None:
            kind = f"dataset:{ds.source}" if hasattr(ds, "source") else "dataset"
            items = [(r.path, int(r.domain)) for r in ds.records]
            for i in balanced_order(items, n, seed):
                s = ds[i]
                img = ((s.image.permute(1, 2, 0).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
                frames.append(img)
                labels.append(int(s.domain))
                crops.append(_instance_crop(img, s.boxes.numpy().reshape(-1, 4), instance_size, rng))
        else:
            files = _images(path)
            if not files:
                raise EdgecglError(
                    f"no dataset, images or videos found at {spec}",
                    "give a dataset (folder:ROOT with ROOT/<domain>/*.jpg, bdd100k:, init:), an image folder or a video",
                )
            kind = "images"
            d = doms.index(default_domain)
            items = [(str(f), _domain_from_name(f, doms, d)) for f in files]
            for i in balanced_order(items, n, seed):
                img = cover_crop(_read_image(Path(items[i][0])), size)
                frames.append(img)
                labels.append(items[i][1])
                crops.append(_instance_crop(img, np.zeros((0, 4)), instance_size, rng))
    if len(frames) < n:
        log(
            f"calibration: the source has {len(frames)} usable frames, fewer than the {n} asked for; using all of them"
        )
    counts = {doms[k]: int(v) for k, v in zip(*np.unique(labels, return_counts=True), strict=True)}
    missing = [d for d in doms if d not in counts]
    if kind.startswith("dataset") and missing:  # silently calibrating on one domain skews the INT8 ranges
        hint = " (bdd100k: finds its domains through --bdd-rules)" if spec.startswith("bdd100k:") else ""
        log(
            f"warning: calibration has no {', '.join(missing)} frames in {spec}; the ranges come from the rest{hint}"
        )
    meta = {
        "source": spec,
        "kind": kind,
        "n": len(frames),
        "seed": seed,
        "size": list(size),
        "instance_size": list(instance_size),
        "domains": doms,
        "per_domain": counts,
    }
    return CalibSet(
        np.stack(frames),
        np.asarray(labels, np.int64),
        np.stack(crops),
        np.asarray(labels, np.int64),
        meta,
    )


def _videos(path: Path) -> list[Path]:
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return [path]
    if path.is_dir():  # a recorder's card: clips in dated sub-folders, as edgecgl video FOLDER reads it
        vids = videos_under(path)
        if vids and not _images(path):
            return vids
    return []


def _images(path: Path) -> list[Path]:
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _try_dataset(
    spec: str, size: tuple[int, int], domains: list[str], seed: int, bdd_rules: Any = None
) -> Any:
    """The data engineer's ``open_dataset`` when the spec is a dataset; None for a plain image folder."""
    try:
        from edgecgl.train.data.open import open_dataset, parse_spec
    except ImportError:  # pragma: no cover - data loaders not installed
        return None
    try:
        parse_spec(spec, domains)
    except EdgecglError:
        return None
    return open_dataset(
        spec,
        size=size,
        split="all",
        seed=seed,
        domains=domains,
        allow_empty_domains=True,
        bdd_rules=bdd_rules,
    )


def save_calib(path: Path, cs: CalibSet) -> Path:
    from edgecgl.atomic import atomic_path

    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            frames=cs.frames,
            domains=cs.domains,
            instances=cs.instances,
            instance_domains=cs.instance_domains,
            meta=np.asarray(json.dumps(cs.meta)),
        )
    return Path(path)


def _source_path(spec: str) -> Path:
    """The path of a ``KIND:PATH`` spec (or of a plain path, which may itself contain a colon)."""
    return Path(spec.split(":", 1)[1] if ":" in spec and not Path(spec).exists() else spec)


def check_calib_source(calib: str | Path) -> None:
    """Cheap checks on ``export --int8 --calib`` before the export spends minutes: the .npz exists and
    is an archive, the data exists, its videos open and have a video stream."""
    import zipfile

    spec = str(calib)
    if spec.endswith(".npz"):
        if not Path(spec).is_file():
            raise EdgecglError(
                f"calibration file {spec} does not exist", "make one with edgecgl calib DATA --out calib.npz"
            )
        if not zipfile.is_zipfile(spec):
            raise EdgecglError(
                f"{spec} is not an edgecgl calibration set",
                "make one with edgecgl calib DATA --out calib.npz",
            )
        return
    path = _source_path(spec)
    if not path.exists():
        raise EdgecglError(
            f"calibration data {spec} does not exist",
            "give a calib.npz from edgecgl calib, a dataset (folder:ROOT, bdd100k:, init:), an image folder or a video",
        )
    from edgecgl.video import probe

    for video in _videos(path):
        probe(video)  # an unreadable or audio-only file: one line now, not after the export


def load_calib(path: Path) -> CalibSet:
    p = Path(path)
    if not p.is_file():
        raise EdgecglError(
            f"calibration file {p} does not exist", "make one with edgecgl calib DATA --out calib.npz"
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            return CalibSet(
                z["frames"], z["domains"], z["instances"], z["instance_domains"], json.loads(str(z["meta"]))
            )
    except (KeyError, ValueError, OSError) as exc:
        raise EdgecglError(
            f"{p} is not an edgecgl calibration set ({exc})", "make one with edgecgl calib"
        ) from None
