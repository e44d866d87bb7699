"""Every CPU measurement behind issue 17's targets, on this machine, one after another, resumable.

Sessions land on different CPU kinds (AMD EPYC Zen 3/4/5, Intel Sapphire Rapids); docs/PERFORMANCE.md
needs each target's same-run ratios per kind. This runs the commands that produced the AMD EPYC rows,
each writing ``benchmarks/results/<step>_<tag>.json`` (tag: the CPU kind, e.g. ``amd-f25m17``), and skips
a step whose result already exists, so a session that ends mid-way resumes where it stopped. Run it in the
background on a quiet machine (nothing else running: the steps time both cores); about an hour on 2 cores.

    python -m benchmarks.cpu_rows              # every step
    python -m benchmarks.cpu_rows --list       # what it would run, and what is done
    python -m benchmarks.cpu_rows --only pipeline_workers
    python -m benchmarks.targets               # the summary table from what is done (printed at the end)

The INT8 step judges speed and accuracy on a trained ``small``: the first run trains one as docs/PERFORMANCE.md
"INT8 on ONNX Runtime CPU" did (300 steps at 64x128 on the real fog photos, one thread, ~25 minutes) and
keeps it in ``runs/bench/int8-small`` for the next.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import targets
from benchmarks.common import ASSETS, CACHE, RESULTS, ROOT, log
from edgecgl.bench import cpu_name

# (step, benchmark module, its arguments; "{out}" is the result name)
STEPS: list[tuple[str, str, list[str]]] = [
    ("fast_decoder_small_streams", "fast_decoder", ["--preset", "small", "--threads", "2", "--arms", "6", "--streams", "2", "--out", "{out}"]),
    ("fast_decoder_small_1t", "fast_decoder", ["--preset", "small", "--threads", "1", "--arms", "2,6", "--out", "{out}"]),
    ("fast_decoder_paper_streams", "fast_decoder", ["--preset", "paper", "--threads", "2", "--arms", "6", "--streams", "2", "--repeats", "8", "--out", "{out}"]),
    ("pipeline_workers", "pipeline", ["--preset", "small", "--max-frames", "40", "--detect-every", "2", "--threads", "2", "--workers", "1,2", "--overlap", "--rounds", "3", "--out", "{out}"]),
    ("pipeline_overlap_1t", "pipeline", ["--preset", "small", "--max-frames", "40", "--detect-every", "2", "--threads", "1", "--overlap", "--rounds", "3", "--out", "{out}"]),
    ("upsampler_stages", "upsampler_cost", ["--stages", "--threads", "1,2", "--repeats", "15", "--name", "{out}"]),
    ("int8_cpu_small", "int8", ["--trained", "{trained_small}", "--threads", "1,2", "--repeats", "5", "--out", "{out}"]),
    ("backends", "backends", ["--presets", "small,paper", "--threads", "2", "--out", "{out}"]),
]  # fmt: skip


TRAINED_SMALL_ITERS = 300


def cpu_tag(name: str | None = None) -> str:
    """A file-name tag for this CPU kind: ``amd-f25m17`` for an AMD EPYC Zen 4, the model name's words
    where they name the part (``intel-xeon-platinum-8480``), else the vendor and cpuid family/model (a
    VM's generic "Intel(R) Xeon(R) Processor" -> ``intel-f6m167``)."""
    name = name or cpu_name()
    fam = re.search(r"family (\d+) model (\d+)", name)
    vendor = re.sub(r"\(.*?\)", "", name.split()[0]).lower() if name.split() else "cpu"
    words = re.sub(r"[^a-z0-9]+", "-", re.sub(r"\(.*?\)|@.*", " ", name).lower()).strip("-")[:40]
    if fam and (vendor == "amd" or not re.search(r"\d", words)):
        return f"{vendor}-f{fam.group(1)}m{fam.group(2)}"
    return words or "cpu"


def trained_small(
    logf: Path,
    iters: int = TRAINED_SMALL_ITERS,
    root: Path = CACHE / "int8-small",
    photos: Path = ASSETS / "realfog",
) -> Path:
    """A ``small`` (dim 32, 128 content channels) trained on the real fog photos, resumed until ``iters``:
    INT8 accuracy is judged on trained weights, never on random ones. -> its run folder."""
    from benchmarks.realfog import make_split, run_dir, trained_step

    make_split(photos, root / "data", fraction=0.2, seed=0)
    runs = root / "runs"
    run = run_dir(runs)
    if run is not None and trained_step(run) >= iters:
        return run
    cmd = [sys.executable, "-m", "edgecgl", "-q", "train", "--config", "realfog", "--out", str(runs),
           "--data", f"folder:{root / 'data' / 'train'}", "--iters", str(iters),
           "--set", "model.preset=small", "--set", "data.frame_size=[64,128]", "--set", "ema.decay=0.99",
           *(["--resume", str(run)] if run else [])]  # fmt: skip
    log(f"training the INT8 row's small to step {iters} (log {logf})")
    with logf.open("a") as fh:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        rc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
    run = run_dir(runs)
    if rc != 0 or run is None:
        raise SystemExit(f"training the small model failed; see {logf}")
    return run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tag", default="", help="result-name suffix (default: this CPU kind)")
    ap.add_argument("--only", default="", help="comma list of steps")
    ap.add_argument("--list", action="store_true", help="print the plan and what is done, run nothing")
    a = ap.parse_args(argv)
    tag = a.tag or cpu_tag()
    only = {s for s in a.only.split(",") if s}
    unknown = only - {s for s, _, _ in STEPS}
    if unknown:
        raise SystemExit(f"unknown steps {sorted(unknown)}; steps: {', '.join(s for s, _, _ in STEPS)}")
    plan = [(s, m, args) for s, m, args in STEPS if not only or s in only]
    log(f"CPU: {cpu_name()} -> tag {tag}")
    small_model = ""
    for step, module, args in plan:
        out = f"{step}_{tag}"
        done = (RESULTS / f"{out}.json").is_file()
        if a.list:
            shown = " ".join(x.replace("{out}", out) for x in args)
            print(f"{'done' if done else 'todo'}  {out}: python -m benchmarks.{module} {shown}")
            continue
        if done:
            log(f"{out}: done, skipped")
            continue
        (CACHE / "cpu_rows").mkdir(parents=True, exist_ok=True)
        logf = CACHE / "cpu_rows" / f"{out}.log"
        if "{trained_small}" in args and not small_model:
            small_model = str(trained_small(CACHE / "cpu_rows" / "train_small.log"))
        cmd = [sys.executable, "-m", f"benchmarks.{module}"]
        cmd += [x.replace("{out}", out).replace("{trained_small}", small_model) for x in args]
        log(f"{out}: {' '.join(cmd[1:])} (log {logf.relative_to(ROOT)})")
        t0 = time.time()
        with logf.open("w") as fh:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT).returncode
        log(f"{out}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.time() - t0:.0f} s")
        if rc != 0:
            raise SystemExit(f"{out} failed; see {logf}")
    if not a.list and not only:
        print("\n".join(targets.table(tag)))  # the summary rows docs/PERFORMANCE.md takes


if __name__ == "__main__":
    main()
