"""The upsampler's parameters against the quality metrics on a trained model: does a setting that passes
more of the input's detail (smaller ``eps``, a ``prior`` towards slope 1) reach the sharpness bar without
losing the target's look? Scores one ``model.pt`` from ``benchmarks/quality.py`` at the render size, each
parameter set a row (KID, domain accuracy, paired PSNR frame / boxes, sharpness ratio). A script, not a test.

``--oracle 64x128,128x256`` scores the ceiling instead of a model: the paired *render* itself, shrunk to
each working size and brought back as the runtime's ``--upsample guided`` (the shipped default),
``residual`` and ``resize`` (bilinear) would: what a perfect network at that working size would deliver. If the
oracle misses a bar, no recipe at that working size can meet it.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.quality_upsampler \\
        runs/quality5k/runs/ours-s0/000-ours/checkpoints/model-1000.pt --data runs/quality5k/data-256x512 \\
        --classifier runs/quality5k/classifier-data-256x512-128x256.pt --seed 0 \\
        --out benchmarks/results/quality_upsampler_s0_1000.json
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.quality_upsampler --oracle 64x128,128x256 \\
        --data runs/q13p/data-256x512 --classifier runs/q13p/classifier-data-256x512-128x256.pt \\
        --out benchmarks/results/sharpness_ceiling.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from edgecgl.export.upsampler import GuidedUpsampler, UpsamplerConfig
from torch import nn

from benchmarks.quality import pair_indices, sharpness_ratio
from edgecgl.atomic import atomic_path
from edgecgl.bench import cpu_name

GRID = {
    "r16 eps0.1 prior0 (shipped)": {},
    "r16 eps0.1 prior0.5": {"prior": 0.5},
    "r16 eps0.1 prior1": {"prior": 1.0},
    "r16 eps0.01 prior0": {"eps": 0.01},
    "r4 eps0.01 prior0": {"radius": 4, "eps": 0.01},
    "r16 eps0.1 residual (--upsample residual)": {"how": "residual"},
    "bilinear (--upsample resize)": {"how": "bilinear"},
}


def bring_back(up: nn.Module, images: torch.Tensor, low: torch.Tensor, how: str) -> torch.Tensor:
    """``low`` (a translation at the working size) to the size of ``images`` as the runtime's
    ``--upsample guided | residual | resize`` does (the last as ``bilinear``)."""
    if how == "bilinear":
        return F.interpolate(low, size=images.shape[2:], mode="bilinear", align_corners=False).clamp(-1, 1)
    low_guide = F.interpolate(images, size=low.shape[2:], mode="area")
    out = up(images, low_guide, low)
    if how == "residual":  # + what the fit leaves out, bilinearly up (edgecgl.upsample.add_residual)
        left = low - up(low_guide, low_guide, low)
        out = out + F.interpolate(left, size=images.shape[2:], mode="bilinear", align_corners=False)
    return out.clamp(-1, 1)


class Upsampled:
    """A training run translated at its working size and brought to the eval size with one parameter set."""

    random_styles = True

    def __init__(self, run, name: str, setting: dict, size: tuple[int, int]) -> None:  # noqa: ANN001
        self.run, self.name, self.domains, self.frame_size = run, name, run.domains, size
        cfg = {k: v for k, v in setting.items() if k != "how"}
        self.how = setting.get("how", "guided")
        self.up = GuidedUpsampler(UpsamplerConfig(**cfg)).eval()

    @torch.inference_mode()
    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        low = F.interpolate(images.float(), size=tuple(self.run.frame_size), mode="area")
        return bring_back(self.up, images.float(), self.run.translate(low, target, seed), self.how)


class Oracle:
    """The paired render of each input (found by its pixels), at ``low`` and upsampled like a model's output."""

    random_styles = False

    def __init__(self, pairs: dict[str, dict[bytes, torch.Tensor]], domains: list[str],
                 low: tuple[int, int], how: str) -> None:  # fmt: skip
        self.pairs, self.domains, self.low, self.how = pairs, domains, low, how
        self.name = f"oracle@{low[0]}x{low[1]} {how}" if how != "render" else "render"
        self.up = GuidedUpsampler(UpsamplerConfig()).eval()

    @torch.inference_mode()
    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        gt = torch.stack([self.pairs[target][key(x)] for x in images]).float()
        if self.how == "render":
            return gt
        return bring_back(self.up, images.float(), F.interpolate(gt, size=self.low, mode="area"), self.how)


def key(image: torch.Tensor) -> bytes:
    return image.contiguous().numpy().tobytes()


def oracle_pairs(es, targets: list[str]) -> dict[str, dict[bytes, torch.Tensor]]:  # noqa: ANN001
    """target -> {input pixels: its paired render}; SynthWeather renders every scene in every domain."""
    return {d: {key(es.inputs[i]): es.real[d][j] for i, j in pair_indices(es, d)} for d in targets}


def main() -> None:
    from edgecgl.train.eval.run import EvalOptions, evaluate, load_eval_set
    from edgecgl.train.eval.translators import TorchRun

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, nargs="?", help="model.pt (or --oracle)")
    ap.add_argument("--oracle", help="working sizes HxW,... : score the paired renders through them")
    ap.add_argument(
        "--data", type=Path, required=True, help="SynthWeather folder (rendered at the eval size)"
    )
    ap.add_argument("--classifier", type=Path, required=True)
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sheet", type=Path, help="also write a contact sheet of the first inputs, every row")
    ap.add_argument("--sheet-rows", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    size = tuple(int(v) for v in args.size.split("x"))
    opts = EvalOptions(metrics=["kid", "is", "paired"], split="val", max_images=200, classifier=args.classifier,
                       seed=args.seed, contact=10**6, size=size, baselines=args.oracle is not None)  # fmt: skip
    spec = f"folder:{args.data}"
    if args.oracle:
        from edgecgl.train.data.open import data_domains

        domains = data_domains(spec)
    elif args.model is None:
        ap.error("give a model.pt or --oracle")
    else:
        run = TorchRun(args.model, name="ours")
        domains = run.domains
    targets = [d for d in domains if d != opts.source]
    es = load_eval_set(spec, domains, size, opts, targets)
    if args.oracle:
        pairs = oracle_pairs(es, targets)
        lows = [tuple(int(v) for v in hw.split("x")) for hw in args.oracle.split(",")]
        methods = [Oracle(pairs, domains, size, "render")]
        methods += [
            Oracle(pairs, domains, low, how) for low in lows for how in ("guided", "residual", "bilinear")
        ]
    else:
        methods = [Upsampled(run, n, kw, size) for n, kw in GRID.items()]
    results, extras = evaluate(spec, methods, opts, log=lambda m: None)
    rows: dict[str, dict] = {}
    for m in results:
        rows[m] = {}
        for d in targets:
            index = pair_indices(es, d)
            gt = es.real[d][[j for _, j in index]]
            out = extras["contact"]["outputs"][m][d][[i for i, _ in index]]
            rows[m][d] = {k: results[m][k][d] for k in ("kid", "domain_acc", "psnr", "psnr_instance")}
            rows[m][d]["sharpness"] = sharpness_ratio(out, gt)
        print(
            m,
            json.dumps(
                {d: {k: None if v is None else round(v, 3) for k, v in r.items()} for d, r in rows[m].items()}
            ),
            flush=True,
        )
    if args.sheet:
        from edgecgl.train.eval.tables import contact_sheet, write_png

        k = args.sheet_rows
        outs = {m: {d: o[:k] for d, o in per.items()} for m, per in extras["contact"]["outputs"].items()}
        write_png(args.sheet, contact_sheet(es.inputs[:k], outs, targets))
    meta = {
        "command": "python -m benchmarks.quality_upsampler " + " ".join(sys.argv[1:]),
        "model": str(args.model or f"oracle {args.oracle}"),
        "size": list(size),
        "seed": args.seed,
        "cpu": cpu_name(),
        "grid": None if args.oracle else GRID,
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
