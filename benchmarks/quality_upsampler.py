"""The upsampler's parameters against the quality metrics on a trained model: does a setting that passes
more of the input's detail (smaller ``eps``, a ``prior`` towards slope 1) reach the sharpness bar without
losing the target's look? Scores one ``model.pt`` from ``benchmarks/quality.py`` at the render size, each
parameter set a row (KID, domain accuracy, paired PSNR frame / boxes, sharpness ratio). A script, not a test.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.quality_upsampler \\
        runs/quality5k/runs/ours-s0/000-ours/checkpoints/model-1000.pt --data runs/quality5k/data-256x512 \\
        --classifier runs/quality5k/classifier-data-256x512-128x256.pt --seed 0 \\
        --out benchmarks/results/quality_upsampler_s0_1000.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from edgecgl.export.upsampler import GuidedUpsampler, UpsamplerConfig

from benchmarks.quality import sharpness_ratio
from edgecgl.bench import cpu_name

GRID = {
    "r16 eps0.1 prior0 (shipped)": {},
    "r16 eps0.1 prior0.5": {"prior": 0.5},
    "r16 eps0.1 prior1": {"prior": 1.0},
    "r16 eps0.01 prior0": {"eps": 0.01},
    "r4 eps0.01 prior0": {"radius": 4, "eps": 0.01},
}


class Upsampled:
    """A training run translated at its working size and brought to the eval size with one parameter set."""

    random_styles = True

    def __init__(self, run, name: str, cfg: UpsamplerConfig, size: tuple[int, int]) -> None:  # noqa: ANN001
        self.run, self.name, self.domains, self.frame_size = run, name, run.domains, size
        self.up = GuidedUpsampler(cfg).eval()

    @torch.inference_mode()
    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        low = F.interpolate(images.float(), size=tuple(self.run.frame_size), mode="area")
        return self.up(images.float(), low, self.run.translate(low, target, seed))


def main() -> None:
    from edgecgl.train.eval.run import EvalOptions, evaluate, load_eval_set
    from edgecgl.train.eval.translators import TorchRun

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument(
        "--data", type=Path, required=True, help="SynthWeather folder (rendered at the eval size)"
    )
    ap.add_argument("--classifier", type=Path, required=True)
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    size = tuple(int(v) for v in args.size.split("x"))
    run = TorchRun(args.model, name="ours")
    methods = [Upsampled(run, n, UpsamplerConfig(**kw), size) for n, kw in GRID.items()]
    opts = EvalOptions(metrics=["kid", "is", "paired"], split="val", max_images=200, classifier=args.classifier,
                       seed=args.seed, contact=10**6, size=size, baselines=False)  # fmt: skip
    spec = f"folder:{args.data}"
    results, extras = evaluate(spec, methods, opts, log=lambda m: None)
    es = load_eval_set(spec, run.domains, size, opts, extras["targets"])
    rows: dict[str, dict] = {}
    for m in results:
        rows[m] = {}
        for d in extras["targets"]:
            pos = {n: i for i, n in enumerate(es.real_names[d])}
            pairs = [(i, pos[n]) for i, n in enumerate(es.input_names) if n in pos]
            gt = es.real[d][[j for _, j in pairs]]
            out = extras["contact"]["outputs"][m][d][[i for i, _ in pairs]]
            rows[m][d] = {k: results[m][k][d] for k in ("kid", "domain_acc", "psnr", "psnr_instance")}
            rows[m][d]["sharpness"] = sharpness_ratio(out, gt)
        print(
            m, json.dumps({d: {k: round(v, 3) for k, v in r.items()} for d, r in rows[m].items()}), flush=True
        )
    meta = {"model": str(args.model), "size": list(size), "seed": args.seed, "cpu": cpu_name(), "grid": GRID}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
