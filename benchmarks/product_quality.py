"""What the product delivers on SynthWeather: each model exported to a bundle and run through the real
`edgecgl augment` on the held-out sunny scenes, with the dataset's boxes as the instances (the detector
oracle) and with ``--no-instances``, scored against the same scenes rendered in the target weather.

``benchmarks/quality.py`` scores the generator on whole frames only; the instance branch reaches users
through the crops the runtime cuts from the full-resolution frame and pastes back. This scores that:

  psnr, ssim                      the whole frame against the paired render
  psnr_instance, ssim_instance    inside the target's boxes
  lights                          inside the boxes of cars, trucks and buses, the contrast of the render's
                                  lights: (mean brightness on the pixels that are lights in the render
                                  minus that on the rest of the box) in the output over the same in the
                                  render. 1: lights as bright against the car as in the render; 0: none.
                                  Brightness is the max over R, G, B; light pixels are those over 0.6.

Rows: identity (the sunny input) and, per model, ``<name>/frame`` (global only) and ``<name>/instances``,
through the guided upsampler, and the same with ``+local`` (``--upsample local``), ``+residual``
(``--upsample residual``) and ``instances+residual-instances`` (guided frame, residual crops).
Pictures: ``--sheet`` writes zoomed crops of the most lit vehicle of the first scenes: input, render,
then each row. A script, not a test; quality.py calls ``score_product`` with ``--product``.

    .venv/bin/python benchmarks/product_quality.py --data runs/q13/data-256x512 --work runs/q13/product \\
        --model ours=runs/q13/runs/ours-s0/000-ours/checkpoints/model-3000.pt --out /tmp/product.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("night", "cloudy", "rainy")
VEHICLES = (0, 1, 2)  # the folder format's car, truck, bus
LIGHT = 0.6
UPSAMPLES = ("guided", "local", "residual", "residual-instances")  # edgecgl --upsample modes scored


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def edgecgl(argv: list[str], logfile: Path) -> None:
    """``edgecgl -q ARGV`` on one thread; its output goes to ``logfile``; a failure stops the script."""
    cmd = [sys.executable, "-m", "edgecgl", "-q", *argv]
    log("$ " + shlex.join(["edgecgl", "-q", *argv]))
    logfile.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with open(logfile, "ab") as fh:
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if rc != 0:
        tail = logfile.read_text(errors="replace").splitlines()[-10:]
        raise SystemExit(f"'{argv[0]}' failed (exit {rc}); {logfile} ends:\n" + "\n".join(tail))


def held_out(data: Path, work: Path) -> tuple[Path, list[str]]:
    """A folder dataset of the held-out sunny scenes (pairs.json's ``val``) with their labels."""
    names = sorted(json.loads((data / "pairs.json").read_text())["val"])
    root = work / "val"
    if not (root / "sunny" / "labels").is_dir():
        tmp = work / "val.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "sunny" / "labels").mkdir(parents=True)
        for n in names:
            shutil.copyfile(data / "sunny" / f"{n}.png", tmp / "sunny" / f"{n}.png")
            lab = data / "sunny" / "labels" / f"{n}.txt"
            if lab.is_file():
                shutil.copyfile(lab, tmp / "sunny" / "labels" / f"{n}.txt")
        tmp.rename(root)
    return root, names


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def read_boxes(label: Path, h: int, w: int, classes: tuple[int, ...] | None = None) -> np.ndarray:
    """YOLO label file -> [N, 4] pixel xyxy (only ``classes`` when given)."""
    rows = []
    if label.is_file():
        for line in label.read_text().splitlines():
            p = line.split()
            if len(p) < 5 or (classes is not None and int(float(p[0])) not in classes):
                continue
            cx, cy, bw, bh = (float(v) for v in p[1:5])
            rows.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return np.asarray(rows, np.float64).reshape(-1, 4)


def light_contrast(image: np.ndarray, mask: np.ndarray, box: np.ndarray) -> float:
    """Mean brightness (max over RGB) on ``mask`` minus that on the rest of ``box`` (same HxW)."""
    bright = image.max(axis=2)
    rest = box & ~mask
    return float(bright[mask].mean() - bright[rest].mean())


def lights_score(out: np.ndarray, gt: np.ndarray, boxes: np.ndarray) -> tuple[float, float] | None:
    """(contrast in the output, in the render) over the vehicle boxes that hold render lights; None
    when the render has no light pixel inside a vehicle box."""
    h, w = gt.shape[:2]
    mask = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in boxes:
        mask[max(0, int(y1)) : min(h, int(np.ceil(y2))), max(0, int(x1)) : min(w, int(np.ceil(x2)))] = True
    lights = mask & (gt.max(axis=2) > LIGHT)
    if lights.sum() < 4 or (mask & ~lights).sum() < 4:
        return None
    return light_contrast(out, lights, mask), light_contrast(gt, lights, mask)


def score_folder(outputs: dict[str, Path], data: Path, names: list[str], target: str) -> dict[str, float]:
    """Every metric of one row and target; ``outputs`` maps scene name -> translated image."""
    from edgecgl.train.eval.metrics import paired_scores

    acc: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_instance": [], "ssim_instance": []}
    lights_out, lights_gt = [], []
    for n in names:
        out, gt = read_rgb(outputs[n]), read_rgb(data / target / f"{n}.png")
        if out.shape != gt.shape:
            raise SystemExit(f"{outputs[n]} is {out.shape}, the render {gt.shape}")
        h, w = gt.shape[:2]
        lab = data / target / "labels" / f"{n}.txt"
        s = paired_scores(
            out.transpose(2, 0, 1) * 2 - 1, gt.transpose(2, 0, 1) * 2 - 1, read_boxes(lab, h, w)
        )
        for k in acc:
            acc[k] += s[k]
        ls = lights_score(out, gt, read_boxes(lab, h, w, VEHICLES))
        if ls is not None:
            lights_out.append(ls[0])
            lights_gt.append(ls[1])
    res = {k: round(float(np.mean(v)), 4) for k, v in acc.items() if v}
    if lights_gt:
        res["lights"] = round(float(np.mean(lights_out) / np.mean(lights_gt)), 4)
        res["lights_scenes"] = len(lights_gt)
    return res


def run_model(
    model: Path, name: str, val: Path, work: Path, upsamples: tuple[str, ...] = UPSAMPLES
) -> dict[str, Path]:
    """Export (once) and augment with and without instances, per ``--upsample`` mode -> {row suffix: dir}
    ("frame", "instances", "frame+residual", ...)."""
    bundle = work / "bundles" / name
    if not (bundle / "manifest.json").is_file():
        edgecgl(
            ["export", str(model), "--out", str(bundle), "--overwrite", "--no-pt2"],
            work / "logs" / f"{name}.log",
        )
    outs = {}
    for up in upsamples:
        for mode, extra in (("frame", ["--no-instances"]), ("instances", [])):
            if mode == "frame" and up == "residual-instances":
                continue  # the frame is the guided one: only the crops differ
            row = mode if up == "guided" else f"{mode}+{up}"
            dst = work / "out" / name / row
            if not all((dst / t).is_dir() for t in TARGETS):
                edgecgl(["augment", f"folder:{val}", "--to", ",".join(TARGETS), "--out", str(dst), "--bundle",
                         str(bundle), "--overwrite", "--upsample", up, *extra], work / "logs" / f"{name}.log")  # fmt: skip
            outs[row] = dst
    return outs


def score_product(
    data: Path,
    work: Path,
    models: dict[str, Path],
    sheet: Path | None = None,
    upsamples: tuple[str, ...] = UPSAMPLES,
) -> dict[str, Any]:
    """{row: {target: metrics}} for identity and each model's frame/instances rows."""
    work.mkdir(parents=True, exist_ok=True)
    val, names = held_out(data, work)
    rows: dict[str, dict[str, Path]] = {"identity": {n: val / "sunny" / f"{n}.png" for n in names}}
    per_target: dict[str, dict[str, dict[str, Path]]] = {}
    for name, model in models.items():
        for mode, dst in run_model(model, name, val, work, upsamples).items():
            per_target[f"{name}/{mode}"] = {t: dst / t for t in TARGETS}
    results: dict[str, Any] = {}
    for t in TARGETS:
        results.setdefault("identity", {})[t] = score_folder(rows["identity"], data, names, t)
        for row, dirs in per_target.items():
            files = {n: dirs[t] / f"sunny_{n}.png" for n in names}
            results.setdefault(row, {})[t] = score_folder(files, data, names, t)
    if sheet is not None:
        write_sheet(sheet, data, names, {r: d["night"] for r, d in per_target.items()})
    return {"results": results, "scenes": len(names), "targets": list(TARGETS)}


def write_sheet(path: Path, data: Path, names: list[str], rows: dict[str, Path], k: int = 6) -> None:
    """Night, zoomed on the vehicle with the most render lights: input | render | every row (nearest)."""
    tiles = []
    for n in names:
        gt = read_rgb(data / "night" / f"{n}.png")
        h, w = gt.shape[:2]
        boxes = read_boxes(data / "night" / "labels" / f"{n}.txt", h, w, VEHICLES)
        if not len(boxes):
            continue
        lit = gt.max(axis=2) > LIGHT
        n_lit = [lit[int(b[1]) : int(np.ceil(b[3])), int(b[0]) : int(np.ceil(b[2]))].sum() for b in boxes]
        x1, y1, x2, y2 = boxes[int(np.argmax(n_lit))]
        cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * 1.3
        c0 = int(np.clip(cx - side, 0, max(0, w - 2 * side)))
        r0 = int(np.clip(cy - side / 2, 0, max(0, h - side)))
        c1, r1 = min(w, int(c0 + 2 * side)), min(h, int(r0 + side))
        imgs = [read_rgb(data / "sunny" / f"{n}.png"), gt] + [
            read_rgb(d / f"sunny_{n}.png") for d in rows.values()
        ]
        crops = [cv2.resize(im[r0:r1, c0:c1], (192, 96), interpolation=cv2.INTER_NEAREST) for im in imgs]
        tiles.append(
            np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=1) for c in crops], 1)
        )
        if len(tiles) == k:
            break
    if not tiles:
        return
    body = (np.concatenate(tiles, 0) * 255).round().astype(np.uint8)
    head = np.full((18, body.shape[1], 3), 255, np.uint8)
    for i, label in enumerate(["input", "night render", *rows]):
        cv2.putText(head, label, (i * 196 + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    sheet = np.concatenate([head, body], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def table(rep: dict[str, Any]) -> str:
    cols = ("psnr", "psnr_instance", "ssim_instance", "lights")
    lines = ["| row | target | " + " | ".join(cols) + " |", "| --- | --- |" + " ---: |" * len(cols)]
    for row, per in rep["results"].items():
        for t, m in per.items():
            lines.append(f"| {row} | {t} | " + " | ".join(str(m.get(c, "–")) for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="a SynthWeather folder (with pairs.json)")
    ap.add_argument("--work", type=Path, required=True, help="bundles, outputs and logs")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=PATH", help="a run or model.pt")
    ap.add_argument("--out", type=Path, required=True, help="JSON to write")
    ap.add_argument("--sheet", type=Path, default=None, help="PNG/JPEG of zoomed night vehicles")
    ap.add_argument("--upsample", nargs="+", default=list(UPSAMPLES), help="edgecgl --upsample modes")
    args = ap.parse_args()
    models = {n: Path(p) for n, _, p in (m.partition("=") for m in args.model)}
    rep = score_product(args.data, args.work, models, args.sheet, tuple(args.upsample))
    rep["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    from edgecgl.atomic import write_text_atomic
    from edgecgl.bench import cpu_name

    rep["cpu"] = cpu_name()
    write_text_atomic(args.out, json.dumps(rep, indent=1) + "\n")
    print(table(rep))


if __name__ == "__main__":
    main()
