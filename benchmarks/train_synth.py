"""Does training work? Generate SynthWeather, train synth-tiny, translate held-out sunny frames.

Translation = content of the sunny frame + the target domain's mean *global* style (from model.pt's
style statistics), scored by PSNR against the paired ground-truth frame of the same scene in the target
domain; the identity baseline scores the untouched sunny frame. A script, not a test (minutes of CPU).

    .venv/bin/python benchmarks/train_synth.py --out runs/bench-train-synth --iters 3000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from edgecgl.train.data.synth_writer import write_synth
from edgecgl.train.eval.baselines import DomainColourStats, reinhard_transfer
from edgecgl.train.eval.metrics import psnr
from edgecgl.train.inference import load_inference
from edgecgl.train.launch import train
from PIL import Image


def load(path: Path, size: tuple[int, int]) -> torch.Tensor:
    im = Image.open(path).convert("RGB")
    if im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), Image.BILINEAR)
    return torch.from_numpy(np.asarray(im)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def to01(t: torch.Tensor) -> np.ndarray:
    return ((t.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()


@torch.no_grad()
def evaluate(model_pt: Path, data: Path, source: str = "sunny") -> dict[str, dict[str, float]]:
    inf = load_inference(model_pt)
    pairs = json.loads((data / "pairs.json").read_text())
    names = sorted(pairs["val"])
    train_names = sorted(set(pairs["scenes"]) - set(names))[:64]
    enc_c, _ = inf.encoders("global")
    gen = inf.modules["gen"]
    n_dom = len(inf.domains)
    out: dict[str, dict[str, float]] = {}
    for target in inf.domains:
        if target == source:
            continue
        t = inf.domains.index(target)
        style = inf.style_stats["global"][target]["mean"][None]
        z = F.one_hot(torch.tensor([t]), n_dom).float()
        colour = DomainColourStats.fit(
            torch.stack([load(data / target / f"{nm}.png", inf.frame_size) for nm in train_names])
        )
        ours, ident, rein = [], [], []
        for nm in names:
            x = load(data / source / f"{nm}.png", inf.frame_size)[None]
            gt = load(data / target / f"{nm}.png", inf.frame_size)
            y = gen(enc_c(x), style, z)[0]
            ours.append(psnr(to01(y), to01(gt)))
            ident.append(psnr(to01(x[0]), to01(gt)))
            rein.append(psnr(to01(reinhard_transfer(x, colour)[0].float()), to01(gt)))
        out[target] = {
            "model_psnr": float(np.mean(ours)),
            "identity_psnr": float(np.mean(ident)),
            "reinhard_psnr": float(np.mean(rein)),
            "n": len(names),
        }
        out[target]["gain_db"] = out[target]["model_psnr"] - out[target]["identity_psnr"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/bench-train-synth"))
    ap.add_argument("--scenes", type=int, default=400)
    ap.add_argument("--size", default="64x128")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--config", default="synth-tiny")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--eval-only", type=Path, default=None, help="Score an existing model.pt.")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    data = args.out / "data"
    if not (data / "pairs.json").is_file():
        t0 = time.time()
        write_synth(data, args.scenes, seed=args.seed, size=(h, w), workers=2)
        print(f"SynthWeather: {args.scenes} scenes x 4 domains at {h}x{w} in {time.time() - t0:.0f}s")
    if args.eval_only is not None:
        model_pt, seconds, step = args.eval_only, 0.0, -1
    else:
        res = train(
            args.config,
            data=f"folder:{data}",
            out=args.out / "runs",
            iters=args.iters,
            sets=[f"data.frame_size=[{h},{w}]", f"seed={args.seed}", *args.sets],
            progress=False,
        )
        model_pt, seconds, step = res.run_dir / "checkpoints" / "model.pt", res.seconds, res.step
        print(
            f"trained {step} iterations in {seconds:.0f}s ({step / max(seconds, 1e-9):.2f} it/s) -> {model_pt}"
        )
    scores = evaluate(model_pt, data)
    print(
        f"{'sunny ->':<10}{'model PSNR':>12}{'identity':>10}{'gain dB':>9}{'Reinhard':>10}   (held-out scenes)"
    )
    for target, s in scores.items():
        print(
            f"{target:<10}{s['model_psnr']:>12.2f}{s['identity_psnr']:>10.2f}{s['gain_db']:>+9.2f}"
            f"{s['reinhard_psnr']:>10.2f}   n={s['n']}"
        )
    report = {"model": str(model_pt), "iters": step, "train_seconds": seconds, "config": args.config,
              "sets": args.sets, "scores": scores}  # fmt: skip
    (args.out / "result.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
