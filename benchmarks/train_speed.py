"""Training iterations/s of each preset on this machine's CPU (one iteration = the trainer's full step:
n_critic critic updates + one generator update, all CGL losses, EMA), interleaved across presets.

Uses the real ``Trainer`` on SynthWeather at a small frame size so ``paper`` fits in a minute on two cores;
the per-preset cost ratio carries to larger frames (it is convolution-bound). On a GPU pass
``--device cuda``.

    python -m benchmarks.train_speed --data folder:runs/bench/synth --frame 64x128 --instance 32x32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import load_average, log, write_results
from edgecgl.bench import machine_info, summarize


def make_trainer(preset: str, data: str, frame: str, inst: str, threads: int, device: str, root: Path) -> Any:
    from edgecgl.train.launch import open_training_data, resolve_config
    from edgecgl.train.trainer import Trainer

    sets = [
        f"model.preset={preset}",
        f"data.frame_size=[{frame.replace('x', ',')}]",
        f"data.instance_size=[{inst.replace('x', ',')}]",
        f"threads={threads}",
        "log.every=100000",
        "log.sample_every=0",
        "log.checkpoint_every=100000",
        "ema.decay=0.999",
    ]
    cfg = resolve_config("synth-tiny", sets, data, iters=10_000, device=device)
    return Trainer(cfg, open_training_data(cfg), root / preset, device)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="paper,small,tiny")
    ap.add_argument("--data", default="folder:runs/bench/synth")
    ap.add_argument("--frame", default="64x128")
    ap.add_argument("--instance", default="32x32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="train_speed")
    a = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-train-"))
    presets = a.presets.split(",")
    trainers = {p: make_trainer(p, a.data, a.frame, a.instance, a.threads, a.device, root) for p in presets}
    torch.set_num_threads(a.threads)
    items = {p: t._items(0, a.steps + 2) for p, t in trainers.items()}
    n_critic = {p: t.cfg.optim.n_critic for p, t in trainers.items()}

    def step(p: str) -> float:
        batch = [next(items[p]) for _ in range(n_critic[p])]
        t0 = time.perf_counter()
        trainers[p].train_step(batch)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1000.0

    for p in presets:  # warm-up: allocator, oneDNN primitive caches
        step(p)
    load0 = load_average()
    times: dict[str, list[float]] = {p: [] for p in presets}
    for r in range(a.steps):
        order = presets[r % len(presets) :] + presets[: r % len(presets)]
        for p in order:
            time.sleep(0.1)
            times[p].append(step(p))
    rows = {}
    for p, ms in times.items():
        med = statistics.median(ms)
        rows[p] = {**summarize(ms), "it_per_s": round(1000.0 / med, 3), "n_critic": n_critic[p]}
        log(f"{p:6s} {a.frame} + {a.instance} crops: {med:8.1f} ms/it  {1000 / med:6.2f} it/s")
    write_results(
        a.out,
        {
            "machine": machine_info(a.threads),
            "command": "python -m benchmarks.train_speed " + " ".join(sys.argv[1:] if argv is None else argv),
            "device": a.device,
            "frame_size": a.frame,
            "instance_size": a.instance,
            "batch": next(iter(trainers.values())).cfg.batch,
            "load_average_before": load0,
            "load_average_after": load_average(),
            "presets": rows,
        },
    )


if __name__ == "__main__":
    main()
