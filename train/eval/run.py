"""``edgecgl eval``: translate a source domain's images to each target domain with every method, then
measure. One function (``evaluate``) does the work; the CLI only parses flags.

What is compared (per target domain, the columns of the tables):
  fid / kid   translated images vs real target-domain images (Inception pool-3 features)
  is          Inception Score with the domain classifier; domain_acc: % classified as the target
  lpips       LPIPS diversity over random styles (MUNIT's protocol)
  paired      PSNR / SSIM (/ LPIPS) against the same scene's real target image where the dataset has one
              (SynthWeather: same scene rendered in every domain), whole frame and inside the boxes

At the working size by default. With ``output_size`` every metric is taken at the resolution the user gets:
the images are loaded at that size, each model translates at its working size and comes back through the
runtime's guided upsampler (or a resize, ``upsample="resize"``); the baselines work at the output size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from edgecgl.train.eval.baselines import DomainColourStats
from edgecgl.train.eval.keep import KeepObjects
from edgecgl.train.eval.translators import (
    AtOutputResolution,
    Identity,
    Method,
    ReferenceStyles,
    Reinhard,
    SampledStyles,
    sampled_styles,
)

from edgecgl.detect import DetectorLike
from edgecgl.errors import EdgecglError

ALL_METRICS = ("fid", "kid", "is", "lpips", "paired")
STYLES = ("mean", "sample", "reference")
# The paper's Tables 2-8 translate sunny to each other domain.
DEFAULT_SOURCE = "sunny"
# Below this many images in the inputs or any target's real set, the report says its numbers are noise.
FEW_IMAGES = 20


@dataclass
class EvalOptions:
    metrics: Sequence[str] = ALL_METRICS
    source: str = DEFAULT_SOURCE
    targets: Sequence[str] | None = None  # default: every domain but the source
    split: str = "val"
    size: tuple[int, int] | None = None  # default: the first model's working resolution
    output_size: tuple[int, int] | None = None  # measure here (models upsampled to it); None: at ``size``
    upsample: str = "guided"  # how models get from ``size`` to ``output_size``: guided | residual | resize
    style: str = "mean"  # models' style per image: mean | sample (a draw from the domain's Gaussian)
    style_spread: float = 1.0  # with style="sample"/"reference": scales each draw's distance from the mean
    style_refs: Path | None = None  # with style="reference": photos of the target (or ROOT/<target>/)
    keep_objects: bool = False  # with a sampled style: redraw lighter where a near object vanished
    max_images: int = 100  # per domain
    lpips_inputs: int = 100
    lpips_pairs: int = 19
    inception: str = "auto"
    lpips_net: str = "alex"
    lpips_backbone: Path | None = None
    classifier: Path | None = None
    baselines: bool = True
    batch_size: int = 8
    contact: int = 4
    seed: int = 0
    bdd_rules: Any = None  # bdd100k: the attributes -> domain table (--bdd-rules); None: the paper's Table 1


@dataclass
class EvalSet:
    """Images in memory, already at the working resolution."""

    domains: list[str]
    source: str
    inputs: torch.Tensor
    input_names: list[str]
    real: dict[str, torch.Tensor] = field(default_factory=dict)
    real_names: dict[str, list[str]] = field(default_factory=dict)
    real_boxes: dict[str, list[torch.Tensor]] = field(default_factory=dict)


def _take(ds: Any, domain_idx: int, limit: int) -> tuple[torch.Tensor, list[str], list[torch.Tensor]]:
    """Up to ``limit`` samples of one domain, ordered by scene name so paired domains line up."""
    idx = [i for i, r in enumerate(ds.records) if r.domain == domain_idx]
    idx.sort(key=lambda i: (ds.records[i].name, ds.records[i].path))
    samples = [ds[i] for i in idx[:limit]]
    if not samples:
        return torch.zeros(0), [], []
    names = [Path(s.path).stem for s in samples]
    return torch.stack([s.image for s in samples]), names, [s.boxes for s in samples]


def domain_images(spec: str, domains: Sequence[str], domain: str, size: tuple[int, int]) -> torch.Tensor:
    """Every image of one domain of a dataset (split ``all``) at ``size``, in name order: what the
    benchmarks score with KID outside a full evaluation (real fog against real fog, a folder of outputs)."""
    from edgecgl.train.data import open_dataset

    ds = open_dataset(spec, size=size, split="all", domains=list(domains), allow_empty_domains=True)
    return _take(ds, list(domains).index(domain), len(ds.records))[0]


def load_eval_set(
    spec: str, domains: list[str], size: tuple[int, int], opts: EvalOptions, targets: list[str]
) -> EvalSet:
    from edgecgl.train.data import open_dataset

    ds = open_dataset(
        spec, size=size, split=opts.split, domains=domains, seed=opts.seed, allow_empty_domains=True,
        bdd_rules=opts.bdd_rules,
    )  # fmt: skip
    src = domains.index(opts.source)
    inputs, names, _ = _take(ds, src, opts.max_images)
    if len(names) < 2:
        raise EdgecglError(
            f"the '{opts.split}' split of {spec} has {len(names)} '{opts.source}' image(s); need at least 2",
            "add images, or pass --split all",
        )
    es = EvalSet(domains, opts.source, inputs, names)
    for d in targets:
        imgs, nms, boxes = _take(ds, domains.index(d), opts.max_images)
        es.real[d], es.real_names[d], es.real_boxes[d] = imgs, nms, boxes
    return es


def fit_reinhard(
    spec: str,
    domains: list[str],
    size: tuple[int, int],
    targets: list[str],
    opts: EvalOptions,
    es: EvalSet,
    notes: list[str],
) -> Reinhard:
    """Target statistics from the training split (falls back to the evaluation images, and says so)."""
    from edgecgl.train.data import open_dataset

    stats: dict[str, DomainColourStats] = {}
    try:
        train = open_dataset(
            spec, size=size, split="train", domains=domains, seed=opts.seed, allow_empty_domains=True,
            bdd_rules=opts.bdd_rules,
        )  # fmt: skip
    except EdgecglError:
        train = None
    for d in targets:
        imgs = _take(train, domains.index(d), opts.max_images)[0] if train is not None else torch.zeros(0)
        if imgs.shape[0] == 0:
            imgs = es.real[d]
            notes.append(f"reinhard: no '{d}' training images; fit on the evaluation images")
        if imgs.shape[0] == 0:
            continue
        stats[d] = DomainColourStats.fit(imgs)
    return Reinhard(domains, stats)


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, bs: int) -> torch.Tensor:
    return torch.cat([fn(chunk) for chunk in x.split(bs)]) if x.shape[0] else x


def _crops(
    images: torch.Tensor, boxes: Sequence[torch.Tensor], size: int = 64
) -> list[tuple[int, torch.Tensor]]:
    from edgecgl.train.eval.metrics import box_slices

    out = []
    for i, (img, bx) in enumerate(zip(images, boxes, strict=True)):
        for rows, cols in box_slices(bx.numpy(), img.shape[1], img.shape[2]):
            crop = img[:, rows, cols][None]
            out.append((i, F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)[0]))
    return out


def evaluate(
    spec: str,
    models: Sequence[Method],
    opts: EvalOptions,
    log: Callable[[str], None] = print,
    detect: DetectorLike | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every metric for every method. Returns (results[method][metric][domain], extras).

    ``extras`` holds the notes (skipped metrics and why), the metadata, and the images for the
    contact sheet. ``detect`` checks the translations with ``opts.keep_objects`` (train/eval/keep.py).
    """
    t0 = time.time()
    metrics = list(opts.metrics)
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise EdgecglError(f"unknown metric '{unknown[0]}'", f"choose from {', '.join(ALL_METRICS)}")
    if not models:
        raise EdgecglError("nothing to evaluate", "give a run folder, a model.pt or a bundle")
    domains = list(models[0].domains)
    for m in models[1:]:
        if list(m.domains) != domains:
            raise EdgecglError(f"{m.name} has domains {m.domains}, {models[0].name} has {domains}")
    if opts.source not in domains:
        raise EdgecglError(f"source domain '{opts.source}' is not one of the model's {domains}")
    targets = list(opts.targets) if opts.targets else [d for d in domains if d != opts.source]
    for d in targets:
        if d not in domains:
            raise EdgecglError(f"unknown target domain '{d}'", f"valid: {', '.join(domains)}")
    size = opts.size or tuple(getattr(models[0], "frame_size", (128, 256)))
    if size[0] % 4 or size[1] % 4:
        raise EdgecglError(
            f"working size {size} is not a multiple of 4", "pass --size H,W with multiples of 4"
        )
    torch.manual_seed(opts.seed)
    measure = tuple(opts.output_size or size)
    if measure[0] % 4 or measure[1] % 4:
        raise EdgecglError(
            f"output size {measure} is not a multiple of 4", "pass --output-size HxW, multiples of 4"
        )
    if opts.style not in STYLES:
        raise EdgecglError(f"unknown style '{opts.style}'", f"choose from {', '.join(STYLES)}")
    if opts.style == "sample":
        models = [SampledStyles(m, opts.seed, opts.style_spread) for m in models]  # type: ignore[arg-type]
    if opts.style == "reference":
        if opts.style_refs is None:
            raise EdgecglError("--style reference needs --style-refs DIR", "give a folder of target photos")
        models = [ReferenceStyles(m, opts.style_refs, opts.seed, opts.style_spread) for m in models]  # type: ignore[arg-type]
    elif opts.style_refs is not None:
        raise EdgecglError("--style-refs is only read with --style reference", "add --style reference")
    if opts.output_size is not None:
        models = [AtOutputResolution(m, size, opts.upsample) for m in models]  # type: ignore[arg-type]
    if opts.keep_objects:
        if detect is None:
            raise EdgecglError("--keep-objects needs a detector", "pass --detector PATH")
        models = [KeepObjects(m, detect) for m in models]  # type: ignore[arg-type]

    es = load_eval_set(spec, domains, measure, opts, targets)
    notes: list[str] = []
    at = f"{measure[0]}x{measure[1]}"
    if opts.output_size is not None:
        at += f" (output size; models at {size[0]}x{size[1]}, upsample {opts.upsample})"
    log(
        f"eval: {es.inputs.shape[0]} '{opts.source}' inputs at {at}; real per target: "
        + ", ".join(f"{d} {es.real[d].shape[0]}" for d in targets)
    )
    methods: list[Method] = []
    if opts.baselines:
        methods += [Identity(domains), fit_reinhard(spec, domains, measure, targets, opts, es, notes)]
    methods += list(models)

    # Every method's mean-style translation of every input, per target.
    outputs: dict[str, dict[str, torch.Tensor]] = {}
    for m in methods:
        t = time.time()
        outputs[m.name] = {}
        for d in targets:
            if isinstance(m, Reinhard) and d not in m.stats:
                continue
            outputs[m.name][d] = _batched(lambda x, m=m, d=d: m.translate(x, d), es.inputs, opts.batch_size)
        log(f"translated with {m.name} ({time.time() - t:.1f}s)")

    results: dict[str, dict[str, dict[str, float | None]]] = {m.name: {} for m in methods}
    meta: dict[str, Any] = {
        "data": spec,
        "split": opts.split,
        "size": list(size),
        "output_size": list(measure),
        "upsample": opts.upsample if opts.output_size is not None else None,
        "style": opts.style
        if opts.style == "mean"
        else f"{opts.style} (spread {opts.style_spread:g})"
        + (", --keep-objects" if opts.keep_objects else ""),
        "style_refs": str(opts.style_refs) if opts.style_refs is not None else None,
        "source": opts.source,
        "targets": targets,
        "n_inputs": int(es.inputs.shape[0]),
        "n_real": {d: int(es.real[d].shape[0]) for d in targets},
        "methods": [m.name for m in methods],
        "seed": opts.seed,
    }
    few = min([es.inputs.shape[0], *(es.real[d].shape[0] for d in targets)])
    if few < FEW_IMAGES:  # a 2-image val split gave negative KIDs and 0/100 % accuracies without a word
        notes.append(
            f"only {few} images in the smallest set here ({opts.split} split): at this size every number "
            "is noise (KID can come out negative, accuracy moves in steps of 100/n %); evaluate on more "
            "(--split all, more data)"
        )
        log(f"warning: {notes[-1]}")
    for m in methods:
        sampled = sampled_styles(m)
        if sampled is not None and sampled.in_range:
            meta.setdefault("brightness", {})[m.name] = {d: vars(c) for d, c in sampled.in_range.items()}
            notes += [f"{m.name} -> {d}: {c.summary()}" for d, c in sampled.in_range.items()]
        if isinstance(m, KeepObjects):
            meta.setdefault("keep_objects", {})[m.name] = {d: c.as_dict() for d, c in m.counts.items()}
            for d, c in m.counts.items():
                notes.append(
                    f"--keep-objects: {m.name} -> {d}: {c.redrawn} of {c.images} images redrawn lighter; "
                    f"{c.near_kept} of {c.near} near boxes of the inputs found again"
                )

    if "fid" in metrics or "kid" in metrics:
        _fid_kid(metrics, methods, outputs, es, targets, opts, results, meta, notes, log)
    if "is" in metrics:
        _inception_score(methods, outputs, es, targets, opts, results, meta, notes, log)
    lp = None
    if "lpips" in metrics or "paired" in metrics:
        from edgecgl.train.eval.lpips_div import load_lpips, no_backbone_message

        lp = load_lpips(opts.lpips_net, opts.lpips_backbone)
        if lp is None:
            notes.append(no_backbone_message(opts.lpips_net))
            log(notes[-1])
        else:
            meta["lpips"] = lp.source
    if "lpips" in metrics and lp is not None:
        _lpips_diversity(lp, methods, es, targets, opts, results, log)
    if "paired" in metrics:
        _paired(lp, methods, outputs, es, targets, results, meta, notes, log)

    meta["seconds"] = round(time.time() - t0, 1)
    meta["notes"] = notes
    k = min(opts.contact, es.inputs.shape[0])
    sheet = {
        "inputs": es.inputs[:k],
        "outputs": {m: {d: o[:k] for d, o in per.items()} for m, per in outputs.items()},
    }
    return results, {"meta": meta, "contact": sheet, "targets": targets}


def _fid_kid(metrics, methods, outputs, es, targets, opts, results, meta, notes, log) -> None:  # noqa: ANN001
    from edgecgl.train.eval.fid import fid_from_features, kid
    from edgecgl.train.eval.inception import load_inception

    ext = load_inception(opts.inception)
    meta["inception"] = ext.source
    log(f"FID/KID features: {ext.source}")
    real_feats = {d: ext(es.real[d]) for d in targets if es.real[d].shape[0] >= 2}
    for d in targets:
        if d not in real_feats:
            notes.append(f"FID/KID for '{d}' skipped: fewer than 2 real '{d}' images in the split")
    if "fid" in metrics and any(f.shape[0] < 50 for f in real_feats.values()):
        notes.append(
            "FID on fewer than 50 images per domain is strongly biased upwards; compare rows, not papers"
        )
    for m in methods:
        for metric in ("fid", "kid"):
            if metric in metrics:
                results[m.name][metric] = {}
        for d, rf in real_feats.items():
            if d not in outputs[m.name]:
                continue
            ff = ext(outputs[m.name][d])
            if "fid" in metrics:
                results[m.name]["fid"][d] = fid_from_features(ff, rf)
            if "kid" in metrics:
                results[m.name]["kid"][d] = (
                    100.0 * kid(ff, rf, n_subsets=100, subset_size=1000, seed=opts.seed)[0]
                )
        log(f"FID/KID done for {m.name}")


def _inception_score(methods, outputs, es, targets, opts, results, meta, notes, log) -> None:  # noqa: ANN001
    from edgecgl.train.eval.classifier import domain_accuracy, inception_score, load_classifier

    if opts.classifier is None:
        notes.append(
            "IS and domain accuracy skipped: no --classifier (train one with edgecgl eval classifier-train)"
        )
        log(notes[-1])
        return
    clf = load_classifier(opts.classifier)
    meta["classifier"] = {"arch": clf.arch, "pretrained": clf.pretrained, "val_accuracy": clf.val_accuracy}
    if clf.pretrained == "scratch":
        notes.append(
            f"IS uses a domain classifier trained from scratch ({clf.arch}); not comparable to the paper's"
        )
    missing = [d for d in targets if d not in clf.domains]
    if missing:
        raise EdgecglError(f"the classifier does not know domain '{missing[0]}'", f"it knows {clf.domains}")
    real_acc = {
        d: domain_accuracy(clf.probs(es.real[d]), clf.domains.index(d))
        for d in targets
        if es.real[d].shape[0]
    }
    meta["classifier"]["real_accuracy"] = real_acc
    for m in methods:
        results[m.name]["is"], results[m.name]["domain_acc"] = {}, {}
        for d, out in outputs[m.name].items():
            p = clf.probs(out)
            results[m.name]["is"][d] = inception_score(p)
            results[m.name]["domain_acc"][d] = domain_accuracy(p, clf.domains.index(d))
    log("IS / domain accuracy done")


def _lpips_diversity(lp, methods, es, targets, opts, results, log) -> None:  # noqa: ANN001
    from edgecgl.train.eval.lpips_div import lpips_diversity

    inputs = es.inputs[: opts.lpips_inputs]
    for m in methods:
        if not m.random_styles:
            continue
        results[m.name]["lpips_div"] = {}
        for d in targets:

            def translate(x: torch.Tensor, seed: int, m: Method = m, d: str = d) -> torch.Tensor:
                return torch.cat(
                    [
                        m.translate(c, d, seed=seed * 100003 + j)
                        for j, c in enumerate(x.split(opts.batch_size))
                    ]
                )

            results[m.name]["lpips_div"][d] = lpips_diversity(
                lp, translate, inputs, opts.lpips_pairs, opts.seed
            )
        log(f"LPIPS diversity done for {m.name} ({inputs.shape[0]} inputs x {opts.lpips_pairs} pairs)")


def _paired(lp, methods, outputs, es, targets, results, meta, notes, log) -> None:  # noqa: ANN001
    from edgecgl.train.eval.metrics import paired_scores

    matched: dict[str, int] = {}
    for d in targets:
        pos = {n: i for i, n in enumerate(es.real_names[d])}
        pairs = [(i, pos[n]) for i, n in enumerate(es.input_names) if n in pos]
        matched[d] = len(pairs)
        if not pairs:
            continue
        gt = es.real[d][[j for _, j in pairs]]
        gt_boxes = [es.real_boxes[d][j] for _, j in pairs]
        for m in methods:
            out = outputs[m.name].get(d)
            if out is None:
                continue
            out = out[[i for i, _ in pairs]]
            acc: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_instance": [], "ssim_instance": []}
            for o, g, b in zip(out, gt, gt_boxes, strict=True):
                for k, v in paired_scores(o.numpy(), g.numpy(), b.numpy()).items():
                    acc[k] += [x for x in v if np.isfinite(x)]
            if lp is not None:
                acc["lpips"] = lp(out, gt).tolist()
                co, cg = _crops(out, gt_boxes), _crops(gt, gt_boxes)
                if co:
                    acc["lpips_instance"] = lp(
                        torch.stack([c for _, c in co]), torch.stack([c for _, c in cg])
                    ).tolist()
            for k, v in acc.items():
                results[m.name].setdefault(k, {})[d] = float(np.mean(v)) if v else None
    meta["paired_matches"] = matched
    if not any(matched.values()):
        notes.append(
            "paired metrics skipped: no target image shares a scene name with an input (not SynthWeather?)"
        )
        log(notes[-1])
    else:
        n_inst = sum(len(b) for d in targets for b in es.real_boxes[d])
        meta["paired_instances_in_targets"] = n_inst
        log(f"paired metrics done ({matched})")


def write_outputs(out_dir: Path, results: dict[str, Any], extras: dict[str, Any]) -> dict[str, Path]:
    from edgecgl.train.eval.tables import build_table, contact_sheet, write_png, write_table

    table = build_table(results, extras["targets"], extras["meta"])
    jpath, mpath = write_table(out_dir, table)
    c = extras["contact"]
    png = write_png(
        out_dir / "contact_sheet.png", contact_sheet(c["inputs"], c["outputs"], extras["targets"])
    )
    return {"json": jpath, "markdown": mpath, "contact_sheet": png}
