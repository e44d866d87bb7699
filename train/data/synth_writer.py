"""Write a SynthWeather dataset to disk in the folder format, plus ``pairs.json``.

Deterministic: scene ``i`` of seed ``S`` is drawn from ``SeedSequence([S, i])`` whatever the number
of workers, PNGs are encoded with fixed settings and ``pairs.json`` holds no timestamps, so the same
arguments give byte-identical files. The whole folder is written under a temporary name and renamed
into place at the end (a crash never leaves a half dataset under the final name).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from edgecgl.train.data.folder import format_yolo
from edgecgl.train.data.records import order_key

from edgecgl.atomic import atomic_dir
from edgecgl.classes import FOLDER_CLASSES
from edgecgl.domains import DOMAINS
from edgecgl.errors import EdgecglError
from edgecgl.outdir import check_output_dir, holding

PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]


def scene_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def scene_name(index: int) -> str:
    return f"{index:06d}"


def val_scenes(names: list[str], seed: int, val_fraction: float) -> list[str]:
    """The held-out scenes: the loader's hash order, so ``pairs.json`` and ``split_records`` agree."""
    order = sorted(names, key=lambda n: order_key(seed, n))
    k = round(val_fraction * len(order))
    if val_fraction > 0 and len(order) >= 2:
        k = min(max(k, 1), len(order) - 1)
    return sorted(order[:k])


def is_synth_set(folder: Path) -> bool:
    """Whether ``folder`` is a SynthWeather set (its pairs.json says so): the only folder that
    ``--overwrite`` replaces as a whole."""
    try:
        pairs = json.loads((Path(folder) / "pairs.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(pairs, dict) and pairs.get("format") == "synthweather"


def not_a_synth_set(folder: Path) -> str | None:
    """Why ``folder`` is not a SynthWeather set, for --overwrite's refusal (None when it is one)."""
    return (
        None if is_synth_set(folder) else holding(folder, lambda p: p.name in DOMAINS, "it has no pairs.json")
    )


def _render_one(args: tuple[str, int, int, tuple[int, int], tuple[str, ...]]) -> tuple[str, int]:
    from edgecgl.train.data.synth import render_domains

    root, seed, index, size, domains = args
    name = scene_name(index)
    imgs, boxes, cls = render_domains(scene_seed(seed, index), size, domains)
    text = format_yolo(cls.tolist(), boxes, size[1], size[0])
    for d in domains:
        ok, buf = cv2.imencode(".png", imgs[d][:, :, ::-1], PNG_PARAMS)
        if not ok:  # pragma: no cover - OpenCV failure
            raise RuntimeError(f"PNG encoding failed for {d}/{name}")
        Path(root, d, f"{name}.png").write_bytes(buf.tobytes())
        Path(root, d, "labels", f"{name}.txt").write_text(text, encoding="utf-8")
    return name, len(boxes)


def write_synth(
    out: Path,
    n: int,
    seed: int = 0,
    size: tuple[int, int] = (128, 256),
    *,
    domains: tuple[str, ...] = DOMAINS,
    workers: int = 2,
    val_fraction: float = 0.1,
    overwrite: bool = False,
    on_scene: Callable[[int], None] | None = None,
) -> dict:
    """Render ``n`` scenes in every domain into ``out``; returns the ``pairs.json`` content."""
    out = Path(out)
    if n < 1:
        raise EdgecglError(f"--n must be at least 1, got {n}")
    if size[0] < 16 or size[1] < 16:
        raise EdgecglError(f"size {size[0]}x{size[1]} is too small", "use at least 16x16, e.g. 128x256")
    check_output_dir(out, overwrite, "SynthWeather set", not_a_synth_set)
    with atomic_dir(out) as tmp:
        for d in domains:
            (tmp / d / "labels").mkdir(parents=True)
        jobs = [(str(tmp), int(seed), i, (int(size[0]), int(size[1])), tuple(domains)) for i in range(n)]
        n_boxes = 0
        if workers > 1 and n > 1:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ctx.Pool(min(workers, n)) as pool:
                for _, nb in pool.imap_unordered(_render_one, jobs, chunksize=4):
                    n_boxes += nb
                    if on_scene:
                        on_scene(1)
        else:
            for job in jobs:
                n_boxes += _render_one(job)[1]
                if on_scene:
                    on_scene(1)
        names = [scene_name(i) for i in range(n)]
        pairs = {
            "format": "synthweather",
            "version": 1,
            "seed": int(seed),
            "size": [int(size[0]), int(size[1])],
            "domains": list(domains),
            "classes": list(FOLDER_CLASSES),
            "boxes": n_boxes,
            "val": val_scenes(names, seed, val_fraction),
            "scenes": {nm: {d: f"{d}/{nm}.png" for d in domains} for nm in names},
        }
        (tmp / "pairs.json").write_text(json.dumps(pairs, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        for p in [tmp, *tmp.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return pairs
