"""Does the cross-granularity consistency loss (CGC) help? Train with and without it, same budget and
seeds, on SynthWeather, and score held-out scenes against their paired ground truth: PSNR/SSIM over the
whole frame and inside the instance boxes only (where CGC is supposed to act), plus FID/KID if asked.

Both arms run the same config and data; the only difference is ``--set loss.cgc=false``. Arms train in
parallel subprocesses (one CPU thread each, the synth-tiny default). A script, not a test.

    .venv/bin/python benchmarks/cgc_ablation.py --out runs/cgc-ablation --iters 600 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ARMS = {"cgc": [], "no-cgc": ["loss.cgc=false"]}
SUMMARY = ("psnr", "psnr_instance", "ssim", "ssim_instance", "lpips", "lpips_instance", "fid", "kid")


def train_arms(args: argparse.Namespace, data: Path) -> dict[tuple[str, int], Path]:
    from edgecgl.runs import newest

    jobs: list[tuple[tuple[str, int], Path, subprocess.Popen[bytes] | None]] = []
    h, w = args.size.split("x")
    for seed in args.seeds:
        for arm, extra in ARMS.items():
            root = args.out / "runs" / f"{arm}-s{seed}"
            sets = [f"data.frame_size=[{h},{w}]", f"seed={seed}", "log.sample_every=0",
                    f"log.checkpoint_every={args.iters}", f"name={arm}", *extra, *args.set]  # fmt: skip
            cmd = [sys.executable, "-m", "edgecgl", "-q", "train", "--config", args.config,
                   "--data", f"folder:{data}", "--out", str(root), "--iters", str(args.iters)]  # fmt: skip
            for s in sets:
                cmd += ["--set", s]
            done = root.is_dir() and any(root.glob("*/checkpoints/model.pt"))
            if done:
                print(f"{arm} seed {seed}: reusing {root}")
                jobs.append(((arm, seed), root, None))
                continue
            print("$ " + " ".join(cmd), flush=True)
            log = open(args.out / f"train-{arm}-s{seed}.log", "wb")  # noqa: SIM115 - closed with the process
            jobs.append(((arm, seed), root, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)))
            if not args.parallel:
                jobs[-1][2].wait()  # type: ignore[union-attr]
    for key, _, proc in jobs:
        if proc is not None and proc.wait() != 0:
            raise SystemExit(f"training {key} failed: see {args.out}/train-{key[0]}-s{key[1]}.log")
    return {
        key: newest(root, must_contain="checkpoints/model.pt") / "checkpoints" / "model.pt"
        for key, root, _ in jobs
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/cgc-ablation"))
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--size", default="64x128", help="HxW of SynthWeather and of training")
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--config", default="synth-tiny")
    ap.add_argument("--set", action="append", default=[], help="extra --set for both arms")
    ap.add_argument("--metrics", default="paired", help="comma list for edgecgl eval (paired,fid,kid,...)")
    ap.add_argument("--lpips-backbone", type=Path, default=None)
    ap.add_argument(
        "--sequential", dest="parallel", action="store_false", help="train arms one after another"
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = args.out / "data"
    if not (data / "pairs.json").is_file():
        from edgecgl.train.data.synth_writer import write_synth

        h, w = (int(v) for v in args.size.split("x"))
        t0 = time.time()
        write_synth(data, args.scenes, seed=0, size=(h, w), workers=2)
        print(f"SynthWeather: {args.scenes} scenes x 4 domains at {h}x{w} in {time.time() - t0:.0f}s")

    t0 = time.time()
    models = train_arms(args, data)
    train_s = time.time() - t0

    from edgecgl.train.eval.run import EvalOptions, evaluate, write_outputs
    from edgecgl.train.eval.translators import TorchRun

    per_seed: dict[int, dict] = {}
    for seed in args.seeds:
        methods = [TorchRun(models[(arm, seed)], name=arm) for arm in ARMS]
        opts = EvalOptions(metrics=args.metrics.split(","), split="val", max_images=200,
                           lpips_backbone=args.lpips_backbone, seed=seed)  # fmt: skip
        results, extras = evaluate(f"folder:{data}", methods, opts, log=print)
        write_outputs(args.out / f"eval-s{seed}", results, extras)
        per_seed[seed] = {"results": results, "meta": extras["meta"]}

    # Average over target domains, then over seeds.
    summary: dict[str, dict[str, float]] = {}
    for method in ["identity", "reinhard", *ARMS]:
        summary[method] = {}
        for metric in SUMMARY:
            vals = []
            for s in per_seed.values():
                cells = s["results"].get(method, {}).get(metric, {})
                v = [x for x in cells.values() if x is not None and np.isfinite(x)]
                if v:
                    vals.append(float(np.mean(v)))
            if vals:
                summary[method][metric] = float(np.mean(vals))
    report = {"iters": args.iters, "seeds": args.seeds, "scenes": args.scenes, "size": args.size,
              "config": args.config, "train_seconds_wall": round(train_s), "summary": summary,
              "per_seed": {str(k): v["results"] for k, v in per_seed.items()},
              "eval_meta": {str(k): v["meta"] for k, v in per_seed.items()}}  # fmt: skip
    (args.out / "ablation.json").write_text(json.dumps(report, indent=1) + "\n")

    cols = [m for m in SUMMARY if any(m in row for row in summary.values())]
    lines = ["| method | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for method, row in summary.items():
        lines.append(f"| {method} | " + " | ".join(f"{row[c]:.3f}" if c in row else "–" for c in cols) + " |")
    delta = {
        c: summary["cgc"][c] - summary["no-cgc"][c]
        for c in cols
        if c in summary["cgc"] and c in summary["no-cgc"]
    }
    lines.append(
        "| cgc − no-cgc | " + " | ".join(f"{delta[c]:+.3f}" if c in delta else "–" for c in cols) + " |"
    )
    table = "\n".join(lines)
    (args.out / "ablation.md").write_text(table + "\n")
    print(
        f"\ntrained {len(models)} runs x {args.iters} iterations in {train_s:.0f}s wall; held-out val scenes\n"
    )
    print(table)


if __name__ == "__main__":
    main()
