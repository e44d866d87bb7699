"""``edgecgl image --keep-objects``: what the redraw costs in KID and buys in near objects kept.

Translates the held-out sunny photos of a realfog work folder (``benchmarks/realfog.py --out W``: W/bundle,
W/data/heldout) with per-image styles at one spread, once as drawn and once with ``--keep-objects``, for
each style seed, plus the mean style; then for each arm KID x100 of the translations against the
held-out real fog (both read by the same loader at ``--size``, so the arms compare with each other, not
with ``edgecgl eval``'s numbers, which translate at that size directly) and the detector recall of the
inputs' boxes by distance band (benchmarks/retention.py), and the % the realfog domain classifier
(W/classifier.pt or ``--classifier``) calls foggy. Resumable: finished arms are reused.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.keep_objects --work runs/realfog-keep2 --spread 2 \\
        --json benchmarks/results/keep_objects_keep2.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ASSETS, ROOT, log, write_results
from benchmarks.retention import retention, retention_detector
from edgecgl.atomic import write_text_atomic
from edgecgl.bench import cpu_name
from edgecgl.domains import IMAGE_SUFFIXES

SOURCE, TARGET = "sunny", "foggy"


def translate(work: Path, out: Path, detector: Path, extra: list[str]) -> float:
    """``edgecgl image`` of the held-out sunny photos into ``out``; -> wall seconds."""
    cmd = [sys.executable, "-m", "edgecgl", "image", str(work / "data" / "heldout" / SOURCE), "--to",
           TARGET, "--bundle", str(work / "bundle"), "--detector", str(detector), "--out", str(out),
           "--overwrite", *extra]  # fmt: skip
    log("$ " + " ".join(cmd[2:]))
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"edgecgl image failed:\n{r.stderr[-2000:]}")
    write_text_atomic(out / "edgecgl_image.log", r.stderr)  # read back for the redraw counts
    return time.time() - t0


def folder_scores(
    translated: Path, heldout: Path, size: tuple[int, int], tmp: Path, clf: Path | None
) -> dict[str, float | None]:
    """KID x100 of a folder of translations against the held-out real fog, both at ``size``, and the %
    of translations ``clf`` (an ``edgecgl eval classifier-train`` model) calls the target domain."""
    from edgecgl.train.eval.fid import kid
    from edgecgl.train.eval.inception import load_inception
    from edgecgl.train.eval.run import domain_images

    root = tmp / "kid_root"
    root.mkdir(parents=True, exist_ok=True)
    for name, src in ((SOURCE, translated), (TARGET, heldout / TARGET)):
        link = root / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(src.resolve(), target_is_directory=True)

    def images(domain: str) -> Any:
        return domain_images(f"folder:{root}", [SOURCE, TARGET], domain, size)

    ours = images(SOURCE)
    acc = None
    if clf is not None:
        from edgecgl.train.eval.classifier import domain_accuracy, load_classifier

        c = load_classifier(clf)
        acc = domain_accuracy(c.probs(ours), c.domains.index(TARGET))
    ext = load_inception("auto")
    value = 100.0 * kid(ext(ours), ext(images(TARGET)), n_subsets=100, subset_size=1000, seed=0)[0]
    return {"kid_x100": value, "domain_acc": acc}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="a benchmarks/realfog.py --out folder")
    ap.add_argument("--spread", type=float, default=2.0)
    ap.add_argument("--style-seeds", default="0,1,2")
    ap.add_argument("--size", default="256x512", help="HxW both sides are read at for KID")
    ap.add_argument("--detector", type=Path, default=ASSETS / "models" / "yolov8n-coco.pt")
    ap.add_argument(
        "--classifier", type=Path, default=None, help="domain classifier (default WORK/classifier.pt)"
    )
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    work = args.work.resolve()
    if not (work / "bundle").is_dir() or not (work / "data" / "heldout" / SOURCE).is_dir():
        ap.exit(
            2, f"error: {work} has no bundle/ and data/heldout/{SOURCE}/ (run benchmarks/realfog.py first)\n"
        )
    size = tuple(int(v) for v in args.size.lower().split("x"))
    seeds = [int(v) for v in args.style_seeds.split(",")]
    data: dict[str, Any] = json.loads(args.json.read_text()) if args.json.is_file() else {}
    data.update(command="OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.keep_objects "
                + " ".join(argv if argv is not None else sys.argv[1:]), cpu=cpu_name(),
                cpu_count=os.cpu_count(), work=str(work), spread=args.spread, size=list(size))  # fmt: skip
    clf = args.classifier or (work / "classifier.pt")
    clf = clf.resolve() if clf.is_file() else None
    data["classifier"] = None if clf is None else str(clf)
    arms = data.setdefault("arms", {})
    out_root = work / "keep_objects"
    det = retention_detector(args.detector)
    src = work / "data" / "heldout" / SOURCE
    inputs = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    cache: dict[str, Any] = {}
    plan: list[tuple[str, list[str]]] = [("mean style", [])]
    for s in seeds:
        per = ["--style-per-image", "--style-spread", f"{args.spread:g}", "--style-seed", str(s)]
        plan += [
            (f"per-image, seed {s}", per),
            (f"per-image, seed {s}, --keep-objects", [*per, "--keep-objects"]),
        ]
    for name, extra in plan:
        out = out_root / name.replace(", ", "_").replace(" ", "-").replace("--", "")
        if name in arms:
            if clf is not None and arms[name].get("domain_acc") is None and out.is_dir():
                arms[name].update(folder_scores(out, work / "data" / "heldout", size, out_root, clf))
                write_results(str(args.json), data)
            continue
        wall = translate(work, out, args.detector, extra)
        lighter = [
            ln for ln in (out / "edgecgl_image.log").read_text().splitlines() if "redrawn lighter" in ln
        ]
        arms[name] = {
            "flags": extra,
            "wall_s": round(wall, 1),
            **folder_scores(out, work / "data" / "heldout", size, out_root, clf),
            "retention": retention(det, inputs, out, cache)["bands"],
            "log": lighter[0].strip() if lighter else None,
        }
        log(
            f"{name}: KID x100 {arms[name]['kid_x100']:.2f}, foggy {arms[name]['domain_acc']}, "
            f"near kept {arms[name]['retention']['near']['retention']}"
        )
        write_results(str(args.json), data)
    write_results(str(args.json), data)
    return data


if __name__ == "__main__":
    main()
