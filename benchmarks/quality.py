"""How good are the translations? Train arms (config variants) per seed on SynthWeather, then score the
held-out sunny scenes translated to night / cloudy / rainy, per seed, per method, per target domain:

  fid, kid         against the target-domain renders (Inception pool-3; train/eval/fid.py)
  domain_acc, is   through a domain classifier trained on the renders (``edgecgl eval classifier-train``)
  psnr, ssim       against the same scene rendered in the target weather, whole frame
  psnr_instance, ssim_instance   the same inside the target's boxes
  sharpness        variance of the Laplacian of the output's luma over that of the paired render (mean
                   over scenes of each, then the ratio): 1 = as sharp as the ground truth, < 1 blurrier

Methods: identity and Reinhard Lab colour transfer (train/eval/baselines.py), then one row per arm. The
training of each (arm, seed) is resumable (``--resume`` of the same run folder) and so is the scoring
(done cells are kept in the JSON); the JSON is rewritten after every step. Each run's critic trajectory
(d_adv, ‖∇D‖, λ_gp per logged step) is copied from its metrics.jsonl. A script, not a test.

With ``--eval-every K`` every arm and seed is trained in stages of K iterations (all runs to K, score, all
runs to 2K, ...), each stage's weights are kept (``checkpoints/model-<step>.pt``) and scored, so a long
run is measured along the way and its stability (final vs best stage) is in ``stability``. With
``--render-size`` larger than ``--size`` SynthWeather is rendered at the larger size, the models train
at ``--size`` (the loader downscales) and ``--output-size`` scores them at the render size through the
runtime's guided upsampler, as users get them.

    .venv/bin/python benchmarks/quality.py --iterations 600 --seeds 0 \\
        --arm old=loss.gp.rule=penalty --arm recipe=model.d_domain_src=true
    .venv/bin/python benchmarks/quality.py --iterations 5000 --eval-every 1000 --seeds 0 1 2 --jobs 2 \\
        --render-size 256x512 --output-size 256x512 --out benchmarks/results/quality_5000.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgecgl.bench import cpu_name

ROOT = Path(__file__).resolve().parents[1]
TRACK = ("d_adv_global", "d_adv_instance", "d_gradnorm_global", "d_gradnorm_instance",
         "lambda_gp_global", "lambda_gp_instance", "g_adv_global")  # fmt: skip


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_arm(spec: str) -> tuple[str, list[str]]:
    """NAME or NAME=key=value;key=value (``--set`` overrides on top of ``--config``)."""
    name, _, rest = spec.partition("=")
    return name, [s for s in rest.split(";") if s]


def laplacian_variance(images: torch.Tensor) -> np.ndarray:
    """Per-image variance of the 4-neighbour Laplacian of the luma, images [N,3,H,W] in [-1, 1]."""
    y = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])[:, None].float()
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None, None]
    lap = torch.nn.functional.conv2d(y, k)
    return lap.flatten(1).var(dim=1).numpy()


def sharpness_ratio(out: torch.Tensor, gt: torch.Tensor) -> float:
    return float(laplacian_variance(out).mean() / max(laplacian_variance(gt).mean(), 1e-12))


def pair_indices(es: Any, domain: str) -> list[tuple[int, int]]:
    """(input index, index of the same scene's render in ``domain``) for every input that has one."""
    pos = {n: i for i, n in enumerate(es.real_names[domain])}
    return [(i, pos[n]) for i, n in enumerate(es.input_names) if n in pos]


class Report:
    """quality.json, rewritten atomically after every change so a killed run loses nothing done."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {"runs": {}, "results": {}}
        if path.is_file():
            self.data = json.loads(path.read_text())
        self.data.update(meta)

    def save(self) -> None:
        from edgecgl.atomic import write_text_atomic

        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(self.data, indent=1) + "\n")


def run_step(root: Path) -> tuple[Path | None, int]:
    """(the newest run under ``root`` with a checkpoint, its step); (None, 0) when there is none."""
    from edgecgl.train.checkpoint import load_checkpoint

    from edgecgl.errors import EdgecglError
    from edgecgl.runs import newest

    try:
        run = newest(root, must_contain="checkpoints/last.pt")
    except EdgecglError:
        return None, 0
    return run, int(load_checkpoint(run / "checkpoints" / "last.pt", map_location="cpu")["step"])


def snapshot(run: Path, step: int) -> Path:
    """The weights of ``step`` (kept beside model.pt so later stages can be compared with this one)."""
    import shutil

    from edgecgl.atomic import atomic_path

    path = run / "checkpoints" / f"model-{step}.pt"
    if not path.is_file():
        with atomic_path(path) as tmp:
            shutil.copyfile(run / "checkpoints" / "model.pt", tmp)
    return path


def train_arm(
    args: argparse.Namespace, data: Path, arm: str, sets: list[str], seed: int, rep: Report, iters: int
) -> Path | None:
    """Train (or resume) one arm to ``iters``; adds the training processes' CPU minutes. None when the run
    is already past ``iters`` with no weights kept for it (a run trained before with other stages): that
    stage is not scored for it, the later ones are."""
    key = f"{arm}/s{seed}"
    root = args.work / "runs" / f"{arm}-s{seed}"
    info = rep.data["runs"].setdefault(key, {"cpu_minutes": 0.0, "wall_minutes": 0.0})
    run, step = run_step(root)
    if run is not None and step >= iters and (run / "checkpoints" / "model.pt").is_file():
        if (run / "checkpoints" / f"model-{iters}.pt").is_file() or step == iters:
            log(f"{key}: trained to step {step}, reusing {run}")
            info["run"] = str(run)
            return snapshot(run, iters)
        log(f"{key}: {run} is at step {step}, past {iters}, with no model-{iters}.pt: not scored at {iters}")
        return None
    if run is not None:
        cmd = [sys.executable, "-m", "edgecgl", "-q", "train", "--resume", str(run),
               "--iters", str(iters)]  # fmt: skip
    else:
        overrides = [f"seed={seed}", f"name={arm}", f"log.checkpoint_every={args.checkpoint_every}",
                     f"log.sample_every={args.sample_every}", *args.set, *sets]  # fmt: skip
        cmd = [sys.executable, "-m", "edgecgl", "-q", "train", "--config", args.config,
               "--data", f"folder:{data}", "--out", str(root), "--iters", str(iters)]  # fmt: skip
        for s in overrides:
            cmd += ["--set", s]
        info["overrides"] = overrides
    log("$ " + " ".join(cmd))
    info.setdefault("commands", []).append(" ".join(cmd))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    t0 = time.time()
    with open(args.work / f"train-{arm}-s{seed}.log", "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        # this child's own rusage (RUSAGE_CHILDREN would mix in the trainings running beside it)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    info["cpu_minutes"] += (usage.ru_utime + usage.ru_stime) / 60
    info["wall_minutes"] += (time.time() - t0) / 60
    rep.save()
    if proc.returncode != 0:
        raise SystemExit(f"training {key} failed: see {args.work}/train-{arm}-s{seed}.log")
    run, step = run_step(root)
    assert run is not None
    info["run"], info["step"] = str(run), step
    return snapshot(run, step)


def trajectory(run_dir: Path) -> list[dict[str, float]]:
    rows = []
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            rows.append({"step": r["step"], **{k: round(r[k], 4) for k in TRACK if k in r}})
    return rows


def classifier(args: argparse.Namespace, data: Path) -> Path:
    size = args.classifier_size or args.size
    path = args.work / ("classifier.pt" if data.name == "data" else f"classifier-{data.name}-{size}.pt")
    if not path.is_file():
        cmd = [sys.executable, "-m", "edgecgl", "-q", "eval", "classifier-train", "--data", f"folder:{data}",
               "--out", str(path), "--size", size,
               "--epochs", str(args.classifier_epochs)]  # fmt: skip
        log("$ " + " ".join(cmd))
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        subprocess.run(cmd, check=True, env=env)
    return path


def score_seed(
    args: argparse.Namespace, data: Path, models: dict[str, Path], seed: int, clf: Path, tag: str
) -> dict:
    """Every metric for identity, Reinhard and each arm; through train/eval/run.py's ``evaluate``."""
    from edgecgl.train.eval.run import EvalOptions, evaluate, load_eval_set
    from edgecgl.train.eval.tables import contact_sheet, write_png
    from edgecgl.train.eval.translators import TorchRun

    methods = [TorchRun(p, name=arm) for arm, p in models.items()]
    opts = EvalOptions(metrics=["fid", "kid", "is", "paired"], split="val", max_images=args.max_images,
                       classifier=clf, seed=seed, contact=10**6, size=args.size_hw,
                       output_size=args.output_size_hw)  # fmt: skip
    results, extras = evaluate(f"folder:{data}", methods, opts, log=log)
    targets = extras["targets"]
    outs = extras["contact"]["outputs"]  # every translation (contact=10**6), for the sharpness ratio
    es = load_eval_set(
        f"folder:{data}", methods[0].domains, tuple(extras["meta"]["output_size"]), opts, targets
    )
    for d in targets:
        pairs = pair_indices(es, d)
        gt = es.real[d][[j for _, j in pairs]]
        for m, per in outs.items():
            if d in per:
                results[m].setdefault("sharpness", {})[d] = sharpness_ratio(per[d][[i for i, _ in pairs]], gt)
    k = min(4, es.inputs.shape[0])
    sheet = contact_sheet(es.inputs[:k], {m: {d: o[:k] for d, o in per.items()} for m, per in outs.items()},
                          targets)  # fmt: skip
    write_png(args.work / f"contact_{'-'.join(models)}_{tag}.png", sheet)  # arms named: runs share --work
    return {"results": results, "meta": extras["meta"]}


def summary_table(rep: dict[str, Any]) -> str:
    cols = ("kid", "fid", "domain_acc", "psnr", "psnr_instance", "ssim", "ssim_instance", "sharpness")
    lines = [
        "| seed | method | domain | " + " | ".join(cols) + " |",
        "| --- | --- | --- |" + " ---: |" * len(cols),
    ]
    for seed, block in sorted(rep["results"].items()):
        for method, per in block["results"].items():
            for d in block["meta"]["targets"]:
                vals = []
                for c in cols:
                    v = per.get(c, {}).get(d)
                    vals.append("–" if v is None else f"{v:.3f}")
                lines.append(f"| {seed} | {method} | {d} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def seed_summary(results: dict[str, Any], cols: tuple[str, ...] = ("kid", "domain_acc", "psnr",
                 "psnr_instance", "ssim", "sharpness")) -> str:  # fmt: skip
    """Markdown: per step, method and target domain, the mean and spread (min-max) over seeds."""
    cells: dict[tuple[int, str, str, str], list[float]] = {}
    seeds: dict[int, set[str]] = {}
    for key, block in results.items():
        seed, _, step = key.partition("@")
        if not step:
            continue
        seeds.setdefault(int(step), set()).add(seed)
        for method, per in block["results"].items():
            for c in cols:
                for d, v in per.get(c, {}).items():
                    if v is not None:
                        cells.setdefault((int(step), method, d, c), []).append(float(v))
    lines = ["| step | method | domain | seeds | " + " | ".join(cols) + " |",
             "| ---: | --- | --- | ---: |" + " ---: |" * len(cols)]  # fmt: skip
    rows = sorted({k[:3] for k in cells}, key=lambda r: (r[0], r[2], r[1]))
    for step, method, d in rows:
        vals = []
        for c in cols:
            v = cells.get((step, method, d, c))
            vals.append("–" if not v else f"{np.mean(v):.2f} ({min(v):.2f}-{max(v):.2f})")
        n = len(cells.get((step, method, d, cols[0]), []))
        lines.append(f"| {step} | {method} | {d} | {n} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def mean_over_targets(per: dict[str, Any], metric: str) -> float | None:
    vals = [v for v in per.get(metric, {}).values() if v is not None]
    return float(np.mean(vals)) if vals else None


def stability(results: dict[str, Any], arms: list[str]) -> dict[str, Any]:
    """Per arm and seed: the final stage against the stage with the best KID and the best frame PSNR
    (the issue's test: final within 10 % KID and 1 dB of the run's best)."""
    out: dict[str, Any] = {}
    by_seed: dict[str, dict[int, dict]] = {}
    for key, block in results.items():
        seed, _, step = key.partition("@")
        if step:
            by_seed.setdefault(seed, {})[int(step)] = block["results"]
    for seed, stages in by_seed.items():
        for arm in arms:
            rows = {st: r[arm] for st, r in stages.items() if arm in r}
            if len(rows) < 2:
                continue
            kid = {st: mean_over_targets(r, "kid") for st, r in rows.items()}
            psnr = {st: mean_over_targets(r, "psnr") for st, r in rows.items()}
            last = max(rows)
            best_kid = min((st for st in kid if kid[st] is not None), key=lambda st: kid[st])
            best_psnr = max((st for st in psnr if psnr[st] is not None), key=lambda st: psnr[st])
            out[f"{arm}/s{seed}"] = {
                "final_step": last, "kid": kid, "psnr": psnr,
                "best_kid_step": best_kid, "best_psnr_step": best_psnr,
                "kid_within_10pct": bool(kid[last] <= 1.1 * kid[best_kid]),
                "psnr_within_1db": bool(psnr[last] >= psnr[best_psnr] - 1.0),
            }  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "quality", help="data, runs, logs, sheets")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality.json")
    ap.add_argument("--iterations", type=int, default=1200)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--config", default="synth-tiny")
    ap.add_argument("--arm", action="append", default=[],
                    help="NAME or NAME=key=value;key=value (default: ours, and no-cgc with --no-cgc)")  # fmt: skip
    ap.add_argument("--no-cgc", action="store_true", help="add the w/o CGC arm (loss.cgc=false)")
    ap.add_argument("--set", action="append", default=[], help="--set for every arm")
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--size", default="64x128", help="HxW of SynthWeather (and of the classifier)")
    ap.add_argument("--max-images", type=int, default=200, help="held-out images per domain")
    ap.add_argument("--classifier-epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--sample-every", type=int, default=250)
    ap.add_argument("--eval-every", type=int, default=0, help="score every K iterations (0: at the end)")
    ap.add_argument("--render-size", default=None, help="HxW SynthWeather is rendered at (default --size)")
    ap.add_argument("--output-size", default=None, help="HxW to score at, through the guided upsampler")
    ap.add_argument("--classifier-size", default=None, help="HxW of the domain classifier (default --size)")
    ap.add_argument("--jobs", type=int, default=1, help="trainings run at once (each --threads threads)")
    ap.add_argument("--summary", action="store_true", help="print --out's mean/spread table and exit")
    ap.add_argument("--product", action="store_true",
                    help="also score each stage through export + edgecgl augment, with and without the "
                         "instances (benchmarks/product_quality.py)")  # fmt: skip
    ap.add_argument("--arm-iterations", action="append", default=[], metavar="NAME=N",
                    help="train (and score) arm NAME only to N iterations, e.g. an ablation arm")  # fmt: skip
    args = ap.parse_args()
    if args.summary:
        print(seed_summary(json.loads(args.out.read_text())["results"]))
        return
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    args.size_hw = tuple(int(v) for v in args.size.split("x"))
    args.output_size_hw = tuple(int(v) for v in args.output_size.split("x")) if args.output_size else None
    render = args.render_size or args.size
    arms = dict(parse_arm(a) for a in args.arm) or {"ours": []}
    if args.no_cgc:
        arms["no-cgc"] = ["loss.cgc=false"]

    rep = Report(args.out, {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "budget": {"iterations": args.iterations, "threads": args.threads, "jobs": args.jobs,
                   "cpu": cpu_name(), "cpu_count": os.cpu_count(),
                   "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "config": args.config, "arms": {a: s for a, s in arms.items()}, "seeds": args.seeds,
        "data": {"scenes": args.scenes, "render_size": render, "train_size": args.size,
                 "output_size": args.output_size, "seed": 0},
    })  # fmt: skip
    rep.data.setdefault("arms_seen", {}).update({a: s for a, s in arms.items()})

    data = args.work / ("data" if render == args.size else f"data-{render}")
    if not (data / "pairs.json").is_file():
        from edgecgl.train.data.synth_writer import write_synth

        h, w = (int(v) for v in render.split("x"))
        write_synth(data, args.scenes, seed=0, size=(h, w), workers=1)
    clf = classifier(args, data)
    caps = {a: int(n) for a, _, n in (c.partition("=") for c in args.arm_iterations)}
    stages = list(range(args.eval_every, args.iterations, args.eval_every)) if args.eval_every else []
    stages = sorted({*stages, args.iterations, *(n for n in caps.values() if n < args.iterations)})
    for stage in stages:
        active = {arm: sets for arm, sets in arms.items() if caps.get(arm, args.iterations) >= stage}
        jobs = [(arm, sets, seed) for seed in args.seeds for arm, sets in active.items()]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            done_models = list(pool.map(lambda j, st=stage: train_arm(args, data, *j, rep, st), jobs))
        for seed in args.seeds:
            models = {
                arm: m
                for (arm, _, s), m in zip(jobs, done_models, strict=True)
                if s == seed and m is not None
            }
            if not models:
                continue
            for arm in models:
                rep.data["runs"][f"{arm}/s{seed}"]["trajectory"] = trajectory(models[arm].parents[1])
            key = f"{seed}@{stage}"
            block = rep.data["results"].get(key, {})
            if set(models) <= set(block.get("results", {})):
                log(f"seed {seed}, step {stage}: scored already")
            else:
                block = score_seed(args, data, models, seed, clf, f"s{seed}_{stage}")
                block["iterations"] = stage
            if args.product and not set(models) <= {r.split("/")[0] for r in block.get("product", {})}:
                if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
                    sys.path.insert(0, str(ROOT))
                from benchmarks.product_quality import score_product

                named = {f"{arm}": models[arm] for arm in models}
                prod = score_product(data, args.work / "product" / f"s{seed}_{stage}", named,
                                     args.work / f"product_s{seed}_{stage}_{'-'.join(models)}.png")  # fmt: skip
                block["product"] = prod["results"]
            rep.data["results"][key] = block
            rep.data["stability"] = stability(rep.data["results"], list(rep.data["arms_seen"]))
            rep.save()
            log(summary_table({"results": {key: block}}))
    rep.save()
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
