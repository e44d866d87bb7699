"""Does it help a detector? YOLO fine-tuned with translated data, tested on the target weather (issue 18).

Users translate sunny footage to night, rain and cloud to grow their detectors' training sets; the number
that matters to them is the detector's mAP in the target weather, not FID. This measures it on
SynthWeather, where every scene exists in every weather with its own boxes:

1. data        ``edgecgl data synth`` (``--scenes`` scenes, ``--size``); pairs.json's ``val`` scenes are the
               held-out test scenes, never seen by the translator or any detector
2. translator  ``edgecgl train --config synth-tiny`` on the training scenes + ``edgecgl export`` (or
               ``--bundle PATH``: reuse an existing bundle)
3. copies      ``--train-images`` sunny training frames, each assigned one target weather round-robin
               (night, rainy, cloudy); for each frame: a Reinhard copy (train/eval/baselines.py, Lab
               statistics of the weather's training renders), an ``edgecgl augment`` copy (the real CLI,
               one subprocess per weather, timed), and the real render of the same scene (the oracle)
4. arms        the same COCO YOLOv8n (``$EDGECGL_ASSETS/models/yolov8n-coco.pt``) fine-tuned per ``--seeds``
               for ``--epochs`` on: (a) sunny; (b) sunny + the same sunny frames again; (c) sunny + Reinhard;
               (d) sunny + edgecgl augment; (e) sunny + real renders; (f) sunny + edgecgl augment
               --style-per-image (each frame its own style draw); (g) with --upsample residual-instances;
               (h) with --upsample residual; (i) with --upsample local. (b)-(i) have the same image count
               (2 x ``--train-images``); (a) has half of it (that is what (b) controls for)
5. eval        each arm's last.pt on the held-out scenes in night, rainy, cloudy (and sunny, for reference):
               mAP50, mAP50-95, AP of car and person; then the mean/spread over seeds, and the fraction of
               the (a) -> (e) gap that (d) closes
6. sheet       a contact sheet of detections on the night test set: ground truth | (a) | (d)

Labels: the folder format's classes (car, truck, bus, person, motorcycle, bicycle) are written as their
COCO ids, so the checkpoint's 80-class head is fine-tuned whole rather than re-initialised (a stable
signal at a small budget). Ultralytics runs offline (``YOLO_OFFLINE``, ``plots=False``: no font or weight
downloads), on the CPU with ``workers=0``. ``benchmarks/results/downstream.json`` is rewritten after every
step and every (arm, seed); finished ones are skipped on re-run.

Budget of the defaults (600 scenes at 128x256, a quarter held out, 240 sunny frames, 8 epochs at imgsz
256, batch 16, seeds 0,1,2, translator 2000 synth-tiny iterations), measured on an AMD EPYC, 2 cores
shared with other jobs (load ~3), one thread: 94 CPU min and 1 h 50 min wall for all six arms (the
translator 14.5 CPU min; a fine-tuning with its evaluations 2.5 CPU min for (a), 4.1-5.0 for (b)-(f);
edgecgl augment ~27 CPU s per 1000 images). All eight arms (session 33, AMD EPYC Zen 4, two or three
calls side by side, one thread each, then --merge): 118.7 CPU min, the translator 13.3 of it.
``--bundle`` skips the translator. (The first smoke run, 1 seed of 300 scenes / 120 frames / 3 epochs,
could not separate the arms.)

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/downstream.py --dry-run
    OMP_NUM_THREADS=1 nohup .venv/bin/python benchmarks/downstream.py > runs/downstream.log &
    # two cores: the translated arms beside the others, each call its own --out and --json, then one record
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/downstream.py --arms d,f,g,h --out runs/ds/t --json runs/ds/t.json &
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/downstream.py --arms a,b,c,e --out runs/ds/o --json runs/ds/o.json
    .venv/bin/python benchmarks/downstream.py --out runs/ds/o --json runs/ds/all.json --merge runs/ds/t.json runs/ds/o.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ASSETS, RESULTS, ROOT, display_path, log

SOURCE = "sunny"
WEATHERS = ("night", "rainy", "cloudy")
TEST_DOMAINS = (*WEATHERS, SOURCE)
FOLDER_CLASSES = ("car", "truck", "bus", "person", "motorcycle", "bicycle")
COCO_IDS = {"car": 2, "truck": 7, "bus": 5, "person": 0, "motorcycle": 3, "bicycle": 1}
REPORT_CLASSES = ("car", "person")
ARMS: dict[str, str] = {
    "a": "sunny only",
    "b": "sunny + the same sunny frames again",
    "c": "sunny + Reinhard copies",
    "d": "sunny + edgecgl augment copies",
    "e": "sunny + real renders (oracle)",
    "f": "sunny + edgecgl augment --style-per-image copies",
    "g": "sunny + edgecgl augment --upsample residual-instances copies",
    "h": "sunny + edgecgl augment --upsample residual copies",
    "i": "sunny + edgecgl augment --upsample local copies",
}
EXTRA_FOLDER = {
    "b": "sunny",
    "c": "reinhard",
    "d": "augment",
    "e": "real",
    "f": "augment-per-image",
    "g": "augment-residual-instances",
    "h": "augment-residual",
    "i": "augment-local",
}
TRANSLATED_ARMS = ("d", "f", "g", "h", "i")  # the arms that need the translator
AUGMENT_FLAGS: dict[str, list[str]] = {  # what each translated arm adds to `edgecgl augment`
    "d": [],
    "f": ["--style-per-image", "--style-seed", "0"],
    "g": ["--upsample", "residual-instances"],  # the instance network's own lights kept on the cars
    "h": ["--upsample", "residual"],  # ... and the frame network's (glows, wet road, its blur too)
    "i": ["--upsample", "local"],  # guided with a smaller window: the network's shading, the input's edges
}
SHEET_ARMS = ("a", "d")


@dataclass
class Plan:
    """Everything that decides the numbers; stored in the JSON so a re-run with other values is refused."""

    scenes: int = 600
    size: str = "128x256"
    data_seed: int = 0
    val_fraction: float = 0.25
    train_images: int = 240
    epochs: int = 8
    imgsz: int = 256
    batch: int = 16
    translator_iters: int = 2000
    translator_seed: int = 0
    bundle: str | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])


# ------------------------------------------------------------------------------------------------ dataset
def split_scenes(pairs: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(training scenes, held-out test scenes) of a SynthWeather pairs.json, sorted."""
    val = set(pairs.get("val") or [])
    if not val:
        raise SystemExit("pairs.json has no held-out 'val' scenes")
    scenes = sorted(pairs["scenes"])
    return [s for s in scenes if s not in val], sorted(val)


def choose_frames(train_scenes: Sequence[str], k: int, seed: int) -> list[str]:
    """A seeded sample of ``k`` training scenes (sorted), the same for every arm and detector seed."""
    if k > len(train_scenes):
        raise SystemExit(f"--train-images {k} > the {len(train_scenes)} training scenes; raise --scenes")
    order = sorted(train_scenes)
    random.Random(f"downstream:{seed}").shuffle(order)
    return sorted(order[:k])


def assign_weathers(names: Sequence[str]) -> dict[str, str]:
    """Each frame's target weather, round-robin over the sorted names: equal thirds per weather."""
    return {n: WEATHERS[i % len(WEATHERS)] for i, n in enumerate(sorted(names))}


def coco_label(text: str) -> str:
    """A folder-format YOLO label file with its class ids rewritten as COCO ids (boxes unchanged)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or line.lstrip().startswith("#"):
            continue
        cls = int(float(parts[0]))
        if not 0 <= cls < len(FOLDER_CLASSES):
            raise ValueError(f"class id {cls} is outside the folder format's {len(FOLDER_CLASSES)} classes")
        out.append(" ".join([str(COCO_IDS[FOLDER_CLASSES[cls]]), *parts[1:5]]))
    return "\n".join(out) + ("\n" if out else "")


@dataclass(frozen=True)
class Sample:
    """One training/test image and its folder-format label file, under the stem it gets in the split."""

    image: Path
    label: Path
    stem: str


def write_split(dst: Path, samples: Sequence[Sample]) -> int:
    """``dst/images/<stem><ext>`` (symlinks) + ``dst/labels/<stem>.txt`` (COCO ids): the layout
    Ultralytics finds labels in. Rewritten from scratch; -> number of images."""
    import shutil

    if dst.exists():
        shutil.rmtree(dst)
    (dst / "images").mkdir(parents=True)
    (dst / "labels").mkdir(parents=True)
    stems: set[str] = set()
    for s in samples:
        if s.stem in stems:
            raise ValueError(f"two images named {s.stem} in {dst}")
        stems.add(s.stem)
        if not s.image.is_file() or not s.label.is_file():
            raise SystemExit(f"missing image or label: {s.image} / {s.label}")
        (dst / "images" / f"{s.stem}{s.image.suffix}").symlink_to(s.image.resolve())
        (dst / "labels" / f"{s.stem}.txt").write_text(coco_label(s.label.read_text()), encoding="utf-8")
    return len(samples)


def folder_sample(root: Path, domain: str, name: str, stem: str, suffix: str = ".png") -> Sample:
    return Sample(root / domain / f"{name}{suffix}", root / domain / "labels" / f"{name}.txt", stem)


def arm_samples(arm: str, frames: Sequence[str], synth: Path, copies: Path) -> list[Sample]:
    """The training images of one arm: the sunny frames, then (b)-(e) one extra image per frame.

    ``copies/<kind>/<weather>/`` is one ``edgecgl augment --out`` folder (Reinhard copies are written in
    the same layout): ``<weather>/sunny_<name>.png`` + ``<weather>/labels/sunny_<name>.txt``."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm}")
    out = [folder_sample(synth, SOURCE, n, f"sunny_{n}") for n in frames]
    if arm == "a":
        return out
    weather = assign_weathers(frames)
    for n in frames:
        w = weather[n]
        if arm == "b":
            out.append(folder_sample(synth, SOURCE, n, f"again_{n}"))
        elif arm == "e":
            out.append(folder_sample(synth, w, n, f"real_{w}_{n}"))
        else:
            kind = EXTRA_FOLDER[arm]
            out.append(folder_sample(copies / kind / w, w, f"sunny_{n}", f"{kind}_{w}_{n}"))
    return out


def dataset_yaml(path: Path, train: Path, val: Path, names: dict[int, str]) -> Path:
    """An Ultralytics dataset YAML (absolute paths, the checkpoint's class names)."""
    import yaml

    data = {"train": str(train.resolve()), "val": str(val.resolve()), "names": dict(names)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------ record
class Record:
    """The JSON record: written after every step; finished steps and (arm, seed) runs are skipped."""

    def __init__(self, path: Path, plan: Plan, fresh: bool) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path.is_file() and not fresh:
            self.data = json.loads(path.read_text(encoding="utf-8"))
            old = plan_fields(self.data.get("plan") or {}, ("seeds",)) if self.data.get("plan") else {}
            new = plan_fields(asdict(plan), ("seeds",))
            if old and old != new:
                raise SystemExit(
                    f"{display_path(path)} was made with another plan ({old}); use --fresh to start over"
                )
        self.data["plan"] = asdict(plan)
        self.data.setdefault("steps", {})
        self.data.setdefault("runs", {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def done(self, step: str) -> bool:
        return bool(self.data["steps"].get(step, {}).get("done"))

    def record(self, step: str, **info: Any) -> None:
        self.data["steps"][step] = {"done": True, **info}
        self.save()


def cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def edgecgl(argv: Sequence[str], logfile: Path) -> tuple[float, float]:
    """Run ``edgecgl -q ARGV`` (one thread unless OMP_NUM_THREADS says otherwise) -> (wall s, CPU s)."""
    cmd = [sys.executable, "-m", "edgecgl", "-q", *argv]
    log("$ " + shlex.join(["edgecgl", "-q", *argv]))
    logfile.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    before, t0 = cpu_children(), time.perf_counter()
    with open(logfile, "ab") as fh:
        fh.write(("$ " + shlex.join(cmd) + "\n").encode())
        fh.flush()
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if rc != 0:
        tail = logfile.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(f"'{argv[0]}' failed (exit {rc}); {logfile} ends:\n" + "\n".join(tail))
    return time.perf_counter() - t0, cpu_children() - before


# ------------------------------------------------------------------------------------------------ steps
def synth_matches(pairs_json: Path, plan: Plan) -> bool:
    """Whether an existing SynthWeather folder is the one the plan would generate."""
    pairs = json.loads(pairs_json.read_text(encoding="utf-8"))
    h, w = (int(v) for v in plan.size.lower().split("x"))
    return (
        pairs.get("seed") == plan.data_seed
        and len(pairs.get("scenes") or {}) == plan.scenes
        and list(pairs.get("size") or []) == [h, w]
        and len(pairs.get("val") or []) == round(plan.val_fraction * plan.scenes)
    )


def step_data(rec: Record, plan: Plan, out: Path) -> Path:
    synth = out / "synth"
    if (synth / "pairs.json").is_file() and synth_matches(synth / "pairs.json", plan):
        if not rec.done("data"):  # written by an earlier run of this plan (or by hand): reuse, never rewrite
            rec.record("data", path=display_path(synth), reused=True)
        return synth
    argv = ["data", "synth", "--out", str(synth), "--n", str(plan.scenes), "--seed", str(plan.data_seed)]
    argv += ["--size", plan.size, "--val-fraction", str(plan.val_fraction), "--workers", "1"]
    if synth.exists():
        argv.append("--overwrite")
    wall, cpu = edgecgl(argv, out / "logs" / "data.log")
    rec.record("data", wall_s=round(wall, 1), cpu_s=round(cpu, 1), path=display_path(synth))
    return synth


def run_wall_s(run: Path) -> float | None:
    """Wall seconds between the first and last metrics.jsonl lines of a training run (all its calls)."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return None
    times = [json.loads(line)["time"] for line in path.read_text().splitlines() if '"time"' in line]
    return round(times[-1] - times[0], 1) if len(times) > 1 else None


def step_translator(rec: Record, plan: Plan, out: Path, synth: Path) -> Path:
    """The bundle the translated arms (d, f, g, h, i) use: ``--bundle``, or synth-tiny trained here and exported."""
    if plan.bundle:
        bundle = Path(plan.bundle)
        if not (bundle / "manifest.json").is_file():
            raise SystemExit(f"--bundle {bundle} has no manifest.json")
        rec.data["steps"].setdefault(
            "translator", {"done": True, "bundle": str(bundle), "trained_here": False}
        )
        rec.save()
        return bundle
    bundle = out / "translator" / "bundle"
    if rec.done("translator") and (bundle / "manifest.json").is_file():
        return bundle
    from edgecgl.runs import newest

    runs = out / "translator" / "runs"
    argv = ["train", "--config", "synth-tiny", "--data", f"folder:{synth}", "--out", str(runs)]
    argv += ["--iters", str(plan.translator_iters), "--set", f"seed={plan.translator_seed}"]
    try:
        run = newest(runs, must_contain="checkpoints/last.pt")
    except Exception:  # noqa: BLE001 - no run yet
        run = None
    if run is not None:
        argv += ["--resume", str(run)]
    wall, cpu = edgecgl(argv, out / "logs" / "translator-train.log")
    run = newest(runs, must_contain="checkpoints/model.pt")
    ew, ec = edgecgl(["export", str(run), "--out", str(bundle), "--overwrite"], out / "logs" / "export.log")
    rec.record(
        "translator",
        bundle=display_path(bundle),
        run=display_path(run),
        trained_here=True,
        iters=plan.translator_iters,
        train_cpu_s_this_call=round(cpu, 1),
        train_wall_s_logged=run_wall_s(run),
        export_cpu_s=round(ec, 1),
    )
    return bundle


def step_reinhard(
    rec: Record, out: Path, synth: Path, frames: Sequence[str], train_scenes: Sequence[str]
) -> None:
    """Reinhard copies of the frames, in the layout edgecgl augment writes, labels copied unchanged."""
    if rec.done("reinhard"):
        return
    import shutil

    import cv2
    import numpy as np
    import torch
    from edgecgl.train.eval.baselines import DomainColourStats, reinhard_transfer

    def read(p: Path) -> np.ndarray:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read {p}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0

    t0, c0 = time.perf_counter(), cpu_self()
    weather = assign_weathers(frames)
    root = out / "copies" / "reinhard"
    for w in WEATHERS:
        stats = DomainColourStats.fit(np.stack([read(synth / w / f"{n}.png") for n in train_scenes]))
        dst = root / w / w
        (dst / "labels").mkdir(parents=True, exist_ok=True)
        for n in (n for n in frames if weather[n] == w):
            img = torch.from_numpy(read(synth / SOURCE / f"{n}.png"))[None]
            rgb = ((reinhard_transfer(img, stats)[0].numpy().transpose(1, 2, 0) + 1.0) * 127.5).round()
            cv2.imwrite(
                str(dst / f"sunny_{n}.png"),
                cv2.cvtColor(rgb.clip(0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR),
            )
            shutil.copyfile(synth / SOURCE / "labels" / f"{n}.txt", dst / "labels" / f"sunny_{n}.txt")
    rec.record(
        "reinhard",
        images=len(frames),
        wall_s=round(time.perf_counter() - t0, 1),
        cpu_s=round(cpu_self() - c0, 1),
    )


def step_augment(rec: Record, out: Path, synth: Path, frames: Sequence[str], bundle: Path, arm: str) -> None:
    """``edgecgl augment`` of each weather's third of the frames (the real CLI, timed), with the
    translated arm's flags (AUGMENT_FLAGS)."""
    kind = EXTRA_FOLDER[arm]
    if rec.done(kind):
        return
    weather = assign_weathers(frames)
    wall = cpu = 0.0
    for w in WEATHERS:
        src = out / "copies" / "augment-input" / w
        sunny = src / SOURCE
        (sunny / "labels").mkdir(parents=True, exist_ok=True)
        for n in (n for n in frames if weather[n] == w):
            for p, q in (
                (synth / SOURCE / f"{n}.png", sunny / f"{n}.png"),
                (synth / SOURCE / "labels" / f"{n}.txt", sunny / "labels" / f"{n}.txt"),
            ):
                if not q.exists():
                    q.symlink_to(p.resolve())
        dst = out / "copies" / kind / w
        argv = [
            "augment",
            f"folder:{src}",
            "--to",
            w,
            "--out",
            str(dst),
            "--bundle",
            str(bundle),
            "--overwrite",
            *AUGMENT_FLAGS[arm],
        ]
        dw, dc = edgecgl(argv, out / "logs" / f"{kind}-{w}.log")
        wall, cpu = wall + dw, cpu + dc
    n = len(frames)
    rec.record(
        kind,
        images=n,
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
        wall_s_per_1000_images=round(wall / n * 1000, 1),
        cpu_s_per_1000_images=round(cpu / n * 1000, 1),
        note="three edgecgl augment processes (one per weather), start-up included; --backend auto (CPU: ONNX Runtime), one thread",
    )


def step_test_sets(
    rec: Record, out: Path, synth: Path, test_scenes: Sequence[str], names: dict[int, str]
) -> dict[str, Path]:
    """One YOLO split + dataset YAML per test weather (the held-out scenes' own renders and boxes)."""
    yamls: dict[str, Path] = {}
    for d in TEST_DOMAINS:
        split = out / "yolo" / "test" / d
        n = write_split(split, [folder_sample(synth, d, s, f"{d}_{s}") for s in test_scenes])
        yamls[d] = dataset_yaml(out / "yolo" / f"test-{d}.yaml", split, split, names)
        rec.data["steps"].setdefault("test_sets", {})[d] = n
    rec.save()
    return yamls


def step_arm_sets(
    rec: Record,
    out: Path,
    synth: Path,
    frames: Sequence[str],
    names: dict[int, str],
    val: Path,
    arms: Sequence[str] = tuple(ARMS),
) -> dict[str, Path]:
    yamls: dict[str, Path] = {}
    counts: dict[str, int] = dict(rec.data["steps"].get("arm_sets", {}).get("images", {}))
    for arm in arms:
        split = out / "yolo" / "train" / arm
        counts[arm] = write_split(split, arm_samples(arm, frames, synth, out / "copies"))
        yamls[arm] = dataset_yaml(out / "yolo" / f"train-{arm}.yaml", split, val, names)
    rec.data["steps"]["arm_sets"] = {"done": True, "images": counts}
    rec.save()
    return yamls


def yolo_offline(out: Path) -> None:
    """Before ultralytics is imported: no network checks, settings kept under OUT (not ~/.config)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str((out / "yolo" / "config").resolve()))
    (out / "yolo" / "config").mkdir(parents=True, exist_ok=True)


def unfused_detector(weights: Path, dst: Path, calib: Sequence[Path]) -> Path:
    """A trainable copy of ``weights``. The shipped COCO checkpoint holds a fused model (BatchNorm folded
    into the convolutions); Ultralytics would train a fresh unfused model from it and transfer only 70 of
    355 tensors, i.e. mostly from scratch. Un-folding: each conv keeps its folded weight W and bias b; its
    BN gets the per-channel mean m and variance v of W*x measured on ``calib`` images, with gamma =
    sqrt(v + eps) and beta = b + m, so eval mode computes W*x + b exactly and train mode (batch statistics
    close to m, v) starts from nearly the same function (an identity BN would not: it renormalises)."""
    if dst.is_file():
        return dst
    import cv2
    import numpy as np
    import torch
    from torch import nn
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    yolo = YOLO(str(weights))
    fused = yolo.model.float().eval()
    if not fused.is_fused():
        return weights
    model = DetectionModel(fused.yaml, nc=len(fused.names), verbose=False).eval()
    src = dict(fused.named_modules())
    target = model.state_dict()
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d, torch.Tensor]] = []
    with torch.no_grad():
        for key, value in fused.state_dict().items():
            if key in target and target[key].shape == value.shape:
                target[key].copy_(value)
        for name, m in model.named_modules():
            bn = getattr(m, "bn", None)
            if isinstance(bn, nn.BatchNorm2d) and isinstance(getattr(m, "conv", None), nn.Conv2d):
                f = src[name].conv
                m.conv.weight.copy_(f.weight)
                (
                    bn.weight.fill_(1.0),
                    bn.bias.zero_(),
                    bn.running_mean.zero_(),
                    bn.running_var.fill_(1.0 - bn.eps),
                )
                pairs.append((m.conv, bn, f.bias.detach().clone()))
        # with identity BNs the model computes W*x (no bias yet) per conv: add the biases back as a
        # forward hook while measuring, so every layer sees what the fused network feeds it
        stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        hooks = []
        for i, (conv, _, bias) in enumerate(pairs):

            def hook(
                _m: nn.Module, _inp: Any, out: torch.Tensor, i: int = i, bias: torch.Tensor = bias
            ) -> torch.Tensor:
                stats[i] = (out.mean(dim=(0, 2, 3)), out.var(dim=(0, 2, 3)))
                return out + bias.view(1, -1, 1, 1)

            hooks.append(conv.register_forward_hook(hook))
        imgs = []
        for p in calib:
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is not None:
                imgs.append(cv2.cvtColor(cv2.resize(bgr, (256, 128)), cv2.COLOR_BGR2RGB))
        if not imgs:
            raise SystemExit("no calibration images to un-fuse the detector with")
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255.0
        ref = fused(x)[0]
        model(x)
        for h in hooks:
            h.remove()
        for i, (_conv, bn, bias) in enumerate(pairs):
            mean, var = stats[i]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(bias + mean)
        model.names = dict(fused.names)
        out = model(x)[0]
        if not torch.allclose(ref, out, rtol=1e-3, atol=1e-2):
            raise SystemExit(
                f"un-fusing {weights} changed its outputs (max diff {(ref - out).abs().max():.3g})"
            )
    yolo.model = model
    dst.parent.mkdir(parents=True, exist_ok=True)
    yolo.save(str(dst))
    return dst


def train_arm(weights: Path, data_yaml: Path, project: Path, name: str, plan: Plan, seed: int) -> Path:
    """Fine-tune ``weights`` on one arm -> its last.pt (best.pt would be picked on a test set)."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    model.train(
        data=str(data_yaml),
        epochs=plan.epochs,
        imgsz=plan.imgsz,
        batch=plan.batch,
        workers=0,
        device="cpu",
        seed=seed,
        deterministic=True,
        plots=False,
        val=False,
        warmup_epochs=0,  # the default warmup (bias lr 0.1) spans the whole of a short fine-tune and wrecks the head
        amp=False,
        project=str(project.resolve()),
        name=name,
        exist_ok=True,
        verbose=False,
    )
    last = project / name / "weights" / "last.pt"
    if not last.is_file():
        raise SystemExit(f"ultralytics wrote no {last}")
    return last


def evaluate(weights: Path, data_yaml: Path, project: Path, plan: Plan) -> dict[str, Any]:
    """mAP50, mAP50-95 and AP50 / AP50-95 of car and person on one test set."""
    from ultralytics import YOLO

    metrics = YOLO(str(weights)).val(
        data=str(data_yaml),
        imgsz=plan.imgsz,
        batch=plan.batch,
        workers=0,
        device="cpu",
        plots=False,
        project=str(project.resolve()),
        name="val",
        exist_ok=True,
        verbose=False,
    )
    box = metrics.box
    res: dict[str, Any] = {"map50": round(float(box.map50), 5), "map50_95": round(float(box.map), 5)}
    index = [int(c) for c in box.ap_class_index]
    for cls in REPORT_CLASSES:
        cid = COCO_IDS[cls]
        if cid in index:
            i = index.index(cid)
            res[f"ap50_{cls}"] = round(float(box.ap50[i]), 5)
            res[f"ap50_95_{cls}"] = round(float(box.ap[i]), 5)
        else:
            res[f"ap50_{cls}"] = res[f"ap50_95_{cls}"] = None
    return res


def step_runs(
    rec: Record, out: Path, plan: Plan, weights: Path, arms: dict[str, Path], tests: dict[str, Path]
) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    for seed in plan.seeds:
        for arm, data_yaml in arms.items():
            key = f"{arm}/s{seed}"
            if rec.data["runs"].get(key, {}).get("done"):
                log(f"{key}: done, skipped")
                continue
            log(f"{key}: training ({ARMS[arm]})")
            t0, c0 = time.perf_counter(), cpu_self()
            project = out / "yolo" / "runs"
            last = train_arm(weights, data_yaml, project, f"{arm}-s{seed}", plan, seed)
            train_cpu = cpu_self() - c0
            scores = {d: evaluate(last, y, project / f"{arm}-s{seed}", plan) for d, y in tests.items()}
            rec.data["runs"][key] = {
                "done": True,
                "weights": display_path(last),
                "train_cpu_s": round(train_cpu, 1),
                "cpu_s": round(cpu_self() - c0, 1),
                "wall_s": round(time.perf_counter() - t0, 1),
                "scores": scores,
            }
            rec.save()
            log(f"{key}: night mAP50-95 {scores['night']['map50_95']:.4f}")


# ------------------------------------------------------------------------------------------------ report
def mean_std(values: Sequence[float]) -> dict[str, float | int]:
    import statistics

    vals = [float(v) for v in values]
    return {
        "mean": round(statistics.fmean(vals), 5),
        "std": round(statistics.stdev(vals), 5) if len(vals) > 1 else 0.0,
        "n": len(vals),
    }


def summarise(runs: dict[str, Any], seeds: Sequence[int]) -> dict[str, Any]:
    """Per arm and test weather: mean/std over seeds of every score; per weather: the gap (d) closes."""
    metrics = ["map50", "map50_95", *(f"{m}_{c}" for c in REPORT_CLASSES for m in ("ap50", "ap50_95"))]
    table: dict[str, Any] = {}
    for arm in ARMS:
        done = [runs[f"{arm}/s{s}"] for s in seeds if runs.get(f"{arm}/s{s}", {}).get("done")]
        if not done:
            continue
        table[arm] = {}
        for d in TEST_DOMAINS:
            row = {}
            for m in metrics:
                vals = [r["scores"][d][m] for r in done if r["scores"][d].get(m) is not None]
                if vals:
                    row[m] = mean_std(vals)
            table[arm][d] = row
    out: dict[str, Any] = {"table": table}
    # from (a), as the issue asks; from (b) too: (a) has half the images and so half the steps, and (b)
    # shows how much of the gap more steps on the same frames close without any new weather
    for arm in TRANSLATED_ARMS:
        for base in ("a", "b"):
            key = f"gap_closed_by_{arm}" + ("_from_b" if base == "b" else "")
            gap: dict[str, Any] = {}
            if all(x in table for x in (base, arm, "e")):
                for d in WEATHERS:
                    for m in ("map50", "map50_95"):
                        lo, dd, e = (table[x][d][m]["mean"] for x in (base, arm, "e"))
                        gap.setdefault(d, {})[m] = round((dd - lo) / (e - lo), 3) if e - lo > 1e-9 else None
            if gap or arm == "d":
                out[key] = gap
    return out


def markdown_table(summary: dict[str, Any]) -> str:
    """The RESULTS.md table: rows arms, columns night/rainy/cloudy/sunny mAP50-95 and mAP50 (mean ± std)."""

    def cell(row: dict[str, Any], m: str) -> str:
        if m not in row:
            return "-"
        v = row[m]
        return f"{v['mean']:.3f}" + (f" ± {v['std']:.3f}" if v["n"] > 1 else "")

    head = (
        "| arm | "
        + " | ".join(f"{d} mAP50-95 | {d} mAP50" for d in TEST_DOMAINS)
        + " | night AP50-95 car | night AP50-95 person |"
    )
    lines = [head, "|" + "---|" * (1 + 2 * len(TEST_DOMAINS) + 2)]
    for arm, per in summary["table"].items():
        cells = [cell(per[d], m) for d in TEST_DOMAINS for m in ("map50_95", "map50")]
        cells += [cell(per["night"], "ap50_95_car"), cell(per["night"], "ap50_95_person")]
        lines.append(f"| ({arm}) {ARMS[arm]} | " + " | ".join(cells) + " |")
    lines.append("")
    for arm in TRANSLATED_ARMS:
        for base in ("a", "b"):
            gap = summary.get(f"gap_closed_by_{arm}" + ("_from_b" if base == "b" else "")) or {}
            if gap:
                parts = [
                    f"{d} {g['map50_95']:+.2f}" if g.get("map50_95") is not None else f"{d} n/a (no gap)"
                    for d, g in gap.items()
                ]
                lines.append(
                    f"Fraction of the ({base}) -> (e) mAP50-95 gap that ({arm}) closes: "
                    + ", ".join(parts)
                    + "  "
                )
    return "\n".join(lines).rstrip()


# ------------------------------------------------------------------------------------------------ sheet
def draw_boxes(
    rgb: Any,
    boxes: Sequence[tuple[float, float, float, float]],
    labels: Sequence[str],
    colour: tuple[int, int, int],
) -> Any:
    import cv2

    img = rgb.copy()
    for (x1, y1, x2, y2), text in zip(boxes, labels, strict=True):
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), colour, 1)
        cv2.putText(
            img, text, (int(x1), max(int(y1) - 2, 7)), cv2.FONT_HERSHEY_PLAIN, 0.6, colour, 1, cv2.LINE_AA
        )
    return img


def cpu_total(data: dict[str, Any]) -> float:
    """CPU seconds of every finished step and (arm, seed) run, start-up included (what the run cost).
    Runs recorded before per-run totals existed count their training only."""
    keys = ("cpu_s", "train_cpu_s_this_call", "export_cpu_s")
    steps = sum(
        float(st.get(k) or 0) for st in data.get("steps", {}).values() if isinstance(st, dict) for k in keys
    )
    runs = sum(float(r.get("cpu_s", r.get("train_cpu_s", 0))) for r in data.get("runs", {}).values())
    return round(steps + runs, 1)


def step_sheet(
    rec: Record, out: Path, plan: Plan, test_split: Path, names: dict[int, str], rows: int, dst: Path
) -> Path | None:
    """Night test images: ground truth | (a) | (d) of the first seed, detections at conf >= 0.25."""
    import cv2
    import numpy as np
    from ultralytics import YOLO

    seed = plan.seeds[0]
    weights = {a: rec.data["runs"].get(f"{a}/s{seed}", {}).get("weights") for a in SHEET_ARMS}
    if not all(weights.values()):
        return None
    paths = {a: ROOT / w for a, w in weights.items()}  # an absolute w stays itself
    gone = [f"({a}) {display_path(p)}" for a, p in paths.items() if not p.is_file()]
    if gone:  # a merge of records whose YOLO runs were cleaned up: the table still comes
        log(f"sheet: skipped, the detector weights are gone: {', '.join(gone)}")
        return None
    models = {a: YOLO(str(p)) for a, p in paths.items()}
    images = sorted((test_split / "images").iterdir())[:rows]
    scale = 2
    tiles = []
    for p in images:
        bgr = cv2.imread(str(p))
        h, w = bgr.shape[:2]
        gt_boxes, gt_labels = [], []
        for line in (test_split / "labels" / f"{p.stem}.txt").read_text().splitlines():
            c, cx, cy, bw, bh = (float(v) for v in line.split()[:5])
            gt_boxes.append(
                (
                    (cx - bw / 2) * w * scale,
                    (cy - bh / 2) * h * scale,
                    (cx + bw / 2) * w * scale,
                    (cy + bh / 2) * h * scale,
                )
            )
            gt_labels.append(names[int(c)])
        big = cv2.resize(bgr, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
        row = [draw_boxes(big, gt_boxes, gt_labels, (0, 255, 0))]
        for a in SHEET_ARMS:
            r = models[a].predict(str(p), imgsz=plan.imgsz, conf=0.25, device="cpu", verbose=False)[0]
            xyxy = (r.boxes.xyxy.numpy() * scale).tolist()
            labels = [
                f"{names[int(c)]} {float(s):.2f}" for c, s in zip(r.boxes.cls, r.boxes.conf, strict=True)
            ]
            row.append(draw_boxes(big, xyxy, labels, (0, 200, 255)))
        tiles.append(np.concatenate(row, axis=1))
    header = np.zeros((18, tiles[0].shape[1], 3), np.uint8)
    for i, text in enumerate(("ground truth", f"(a) {ARMS['a']}", f"(d) {ARMS['d']}")):
        cv2.putText(
            header,
            text,
            (i * tiles[0].shape[1] // 3 + 4, 13),
            cv2.FONT_HERSHEY_PLAIN,
            1.0,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    sheet = np.concatenate([header, *tiles], axis=0)
    dst.parent.mkdir(parents=True, exist_ok=True)
    for quality in (85, 75, 65, 55):  # the committed sheet stays under 300 KB
        cv2.imwrite(str(dst), sheet, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if dst.stat().st_size < 300_000:
            break
    rec.record("sheet", path=display_path(dst), rows=len(images), seed=seed, conf=0.25)
    return dst


# ------------------------------------------------------------------------------------------------ merge
def merge_records(paths: Sequence[Path], plan: Plan) -> dict[str, Any]:
    """One record from calls that ran side by side, each with its own --out and --json (two cores: the
    translated arms in one, the others in the other; a shared record or folder would be written by both).
    The first record's step wins where two did the same step; the plans must agree but for the seeds and
    where the bundle came from."""
    mine = plan_fields(asdict(plan), ("seeds", "bundle"))
    data: dict[str, Any] = {"plan": asdict(plan), "steps": {}, "runs": {}, "commands": [], "parts": []}
    for path in paths:
        part = json.loads(path.read_text(encoding="utf-8"))
        theirs = plan_fields(part.get("plan") or {}, ("seeds", "bundle"))
        if theirs != mine:
            raise SystemExit(f"{display_path(path)} was made with another plan ({theirs})")
        for step, info in part.get("steps", {}).items():
            data["steps"].setdefault(step, info)
        for key, run in part.get("runs", {}).items():
            if run.get("done"):
                data["runs"].setdefault(key, run)
        data["commands"] += [c for c in part.get("commands", []) if c not in data["commands"]]
        keep = ("cpu", "threads", "load_average_at_start", "git_commit_at_start", "cpu_s_total")
        data["parts"].append({"json": display_path(path), **{k: part.get(k) for k in keep}})
    return data


# ------------------------------------------------------------------------------------------------ main
def cpu_name() -> str:
    from benchmarks.realfog import cpu_name as name

    return name()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "runs" / "downstream",
        help="Working folder (data, copies, YOLO runs).",
    )
    ap.add_argument("--json", type=Path, default=RESULTS / "downstream.json")
    ap.add_argument("--sheet", type=Path, default=RESULTS / "downstream_night_sheet.jpg")
    ap.add_argument("--seeds", default="0,1,2", help="Detector seeds, comma-separated.")
    ap.add_argument("--scenes", type=int, default=Plan.scenes, help="SynthWeather scenes (train + held out).")
    ap.add_argument("--size", default=Plan.size, help="SynthWeather frame size HxW.")
    ap.add_argument("--data-seed", type=int, default=Plan.data_seed)
    ap.add_argument("--val-fraction", type=float, default=Plan.val_fraction, help="Held-out test scenes.")
    ap.add_argument("--train-images", type=int, default=Plan.train_images, help="Sunny frames per arm.")
    ap.add_argument("--epochs", type=int, default=Plan.epochs)
    ap.add_argument("--imgsz", type=int, default=Plan.imgsz)
    ap.add_argument("--batch", type=int, default=Plan.batch)
    ap.add_argument(
        "--translator-iters", type=int, default=Plan.translator_iters, help="synth-tiny iterations."
    )
    ap.add_argument(
        "--translator-seed",
        type=int,
        default=Plan.translator_seed,
        help="synth-tiny's seed (the translator's own spread: one training per seed).",
    )
    ap.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="Reuse this bundle for the translated arms instead of training.",
    )
    ap.add_argument("--weights", type=Path, default=ASSETS / "models" / "yolov8n-coco.pt")
    ap.add_argument("--sheet-rows", type=int, default=6)
    ap.add_argument(
        "--arms",
        default=",".join(ARMS),
        help="Run only these arms now (e.g. a,b,c,e while the translator trains).",
    )
    ap.add_argument("--fresh", action="store_true", help="Ignore an existing JSON record.")
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        metavar="JSON",
        help="Merge the records of calls run side by side into --json, then summarise and draw the sheet"
        " (from --out's night test split).",
    )
    ap.add_argument("--dry-run", action="store_true", help="Print the plan and exit.")
    return ap.parse_args(argv)


def plan_fields(plan: dict[str, Any], drop: Sequence[str]) -> dict[str, Any]:
    """A record's plan without ``drop``, read as today's (records before --translator-seed had seed 0)."""
    return {k: v for k, v in {"translator_seed": 0, **plan}.items() if k not in drop}


def make_plan(args: argparse.Namespace) -> Plan:
    seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
    if not seeds:
        raise SystemExit("--seeds needs at least one seed")
    return Plan(
        scenes=args.scenes,
        size=args.size,
        data_seed=args.data_seed,
        val_fraction=args.val_fraction,
        train_images=args.train_images,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        translator_iters=args.translator_iters,
        translator_seed=args.translator_seed,
        bundle=str(args.bundle) if args.bundle else None,
        seeds=seeds,
    )


def describe(plan: Plan, args: argparse.Namespace, selected: Sequence[str]) -> str:
    n = plan.train_images
    test = round(plan.val_fraction * plan.scenes)
    translator = (
        f"reuse bundle {plan.bundle}"
        if plan.bundle
        else f"edgecgl train --config synth-tiny --iters {plan.translator_iters} --set seed={plan.translator_seed} + edgecgl export"
    )
    lines = [
        "downstream benchmark plan (issue 18)",
        f"  data        edgecgl data synth --n {plan.scenes} --seed {plan.data_seed} --size {plan.size} (~{test} held-out test scenes)",
        f"  translator  {translator}",
        f"  copies      {n} sunny frames, {n // 3}-{-(-n // 3)} per weather ({', '.join(WEATHERS)}): Reinhard, edgecgl augment, real renders",
        f"  detector    {display_path(args.weights)} fine-tuned {plan.epochs} epochs, imgsz {plan.imgsz}, batch {plan.batch}, CPU, workers=0",
    ]
    for arm, what in ARMS.items():
        later = "" if arm in selected else " (not in this call: --arms)"
        lines.append(f"  arm ({arm})     {what}: {n if arm == 'a' else 2 * n} images{later}")
    lines.append(
        f"  seeds       {plan.seeds}: {len(selected) * len(plan.seeds)} fine-tunings, each scored on {', '.join(TEST_DOMAINS)}"
    )
    lines.append(f"  results     {display_path(args.json)}, contact sheet {display_path(args.sheet)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    selected = [a.strip() for a in str(args.arms).split(",") if a.strip()]
    if not selected or any(a not in ARMS for a in selected):
        raise SystemExit(f"--arms takes a comma-separated subset of {','.join(ARMS)}")
    print(describe(plan, args, selected))
    if args.dry_run:
        return 0
    if not args.weights.is_file():
        raise SystemExit(f"no detector weights at {args.weights} (set EDGECGL_ASSETS)")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    yolo_offline(out)
    if args.merge:
        return merge_main(args, plan)
    rec = Record(args.json, plan, args.fresh)
    command = shlex.join(["benchmarks/downstream.py", *(argv if argv is not None else sys.argv[1:])])
    commands = rec.data.setdefault("commands", [])
    if "command" in rec.data:  # records written before "commands"
        commands.insert(0, rec.data.pop("command"))
    if command not in commands:
        commands.append(command)  # a resumed or phased run (--arms) lists every invocation
    rec.data.update(
        cpu=cpu_name(),
        threads=int(os.environ.get("OMP_NUM_THREADS", "1")),
        load_average_at_start=[round(x, 2) for x in os.getloadavg()],
    )
    from benchmarks.realfog import git_commit

    rec.data.setdefault("git_commit_at_start", git_commit())
    rec.save()
    synth = step_data(rec, plan, out)
    pairs = json.loads((synth / "pairs.json").read_text(encoding="utf-8"))
    train_scenes, test_scenes = split_scenes(pairs)
    frames = choose_frames(train_scenes, plan.train_images, plan.data_seed)
    step_reinhard(rec, out, synth, frames, train_scenes)
    if any(a in selected for a in TRANSLATED_ARMS):
        bundle = step_translator(rec, plan, out, synth)
        for arm in TRANSLATED_ARMS:
            if arm in selected:
                step_augment(rec, out, synth, frames, bundle, arm)
    from ultralytics import YOLO

    names = {int(k): str(v) for k, v in YOLO(str(args.weights)).names.items()}
    tests = step_test_sets(rec, out, synth, test_scenes, names)
    arms = step_arm_sets(rec, out, synth, frames, names, out / "yolo" / "test" / "night", selected)
    calib = [synth / SOURCE / f"{n}.png" for n in frames[:32]]
    weights = unfused_detector(args.weights, out / "yolo" / f"{args.weights.stem}-unfused.pt", calib)
    step_runs(rec, out, plan, weights, arms, tests)
    rec.data["summary"] = summarise(rec.data["runs"], plan.seeds)
    rec.data["cpu_s_total"] = cpu_total(rec.data)
    rec.save()
    step_sheet(rec, out, plan, out / "yolo" / "test" / "night", names, args.sheet_rows, args.sheet)
    print(markdown_table(rec.data["summary"]))
    log(f"wrote {display_path(args.json)}")
    return 0


def merge_main(args: argparse.Namespace, plan: Plan) -> int:
    from ultralytics import YOLO

    night = args.out / "yolo" / "test" / "night"
    if not (night / "images").is_dir():
        raise SystemExit(f"no night test split in {night}: give the --out of one of the merged calls")
    rec = Record(args.json, plan, fresh=True)
    rec.data.update(merge_records(args.merge, plan))
    rec.data["summary"] = summarise(rec.data["runs"], plan.seeds)
    rec.data["cpu_s_total"] = cpu_total(rec.data)
    rec.save()
    names = {int(k): str(v) for k, v in YOLO(str(args.weights)).names.items()}
    step_sheet(rec, args.out, plan, night, names, args.sheet_rows, args.sheet)
    print(markdown_table(rec.data["summary"]))
    log(f"wrote {display_path(args.json)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
