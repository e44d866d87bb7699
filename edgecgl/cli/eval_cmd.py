"""``edgecgl eval``: the paper's tables for runs and bundles, and ``eval classifier-train``.

``eval`` is a group whose default command is the evaluation itself, so both
``edgecgl eval RUN --data ...`` and ``edgecgl eval classifier-train ...`` work. Training and
evaluation code is imported inside the commands (the runtime never loads it).
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from edgecgl.cli import runtime_opts as ro
from edgecgl.cli.common import BDD_RULES, log
from edgecgl.errors import EdgecglError

EXAMPLE = (
    "Example: edgecgl eval runs/train/000-synth-tiny --data folder:data/synth --metrics fid,kid,paired "
    "--out eval/synth | edgecgl eval classifier-train --data folder:data/synth --out classifier.pt"
)


class _DefaultToRun(TyperGroup):
    """Anything that is not a subcommand name goes to the hidden default command ``run``."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _csv(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def distinct_names(paths: list[Path]) -> list[str]:
    """Row names for models whose default names collide (snapshots of one run, or two runs' model.pt):
    the shortest path tails that tell them apart, without ``checkpoints/`` and ``.pt``."""
    parts = [[q for q in (*Path(p).parent.parts, Path(p).stem) if q != "checkpoints"] for p in paths]
    for k in range(1, max(len(x) for x in parts) + 1):
        names = ["/".join(x[-k:]) for x in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def percent(value: float | None) -> str:
    """66.66666666666666 -> '66.7%'; None (no validation split) -> 'n/a'."""
    return "n/a" if value is None else f"{value:.1f}%"


def register(app: typer.Typer) -> None:
    sub = typer.Typer(
        cls=_DefaultToRun,
        no_args_is_help=True,
        help="Evaluate runs or bundles (FID, KID, IS, LPIPS diversity, paired PSNR/SSIM/LPIPS) against "
        "identity and colour-transfer baselines; train the IS domain classifier. "
        "'edgecgl eval RUN_OR_BUNDLE --data KIND:PATH' runs the default command: see 'edgecgl eval run --help'.",
        epilog=EXAMPLE,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @sub.command("run", epilog=EXAMPLE)
    def eval_run(
        models: list[Path] = typer.Argument(
            ..., help="Run folders, model.pt files or bundle folders (one row each)."
        ),
        data: str = typer.Option(..., "--data", help="Dataset KIND:PATH (folder:, bdd100k:, init:)."),
        metrics: str = typer.Option("fid,kid,is,lpips,paired", "--metrics", help="Comma list of metrics."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output folder (default runs/eval/NNN-name)."
        ),
        names: str | None = typer.Option(None, "--name", help="Comma list of row names, one per model."),
        source: str = typer.Option("sunny", "--source", help="Domain translated from."),
        targets: str | None = typer.Option(None, "--targets", help="Comma list (default: all but --source)."),
        split: str = typer.Option("val", "--split", help="Dataset split: val, train or all."),
        size: str | None = typer.Option(None, "--size", help="HxW working size (default: the model's)."),
        output_size: str | None = typer.Option(
            None,
            "--output-size",
            help="HxW: measure at the resolution the user gets (models translate at --size and come back "
            "through --upsample); default: measure at the working size.",
        ),
        upsample: str = typer.Option(
            "guided",
            "--upsample",
            help="With --output-size: guided (the runtime's default), local, residual or resize.",
        ),
        style: str = typer.Option(
            "mean",
            "--style",
            help="Models' style per image: mean (the domain's mean style), sample (each image its own "
            "draw from the domain, as edgecgl augment --style-per-image writes, kept inside the domain's "
            "brightness range the same way) or reference (each image "
            "the style of one photo of --style-refs).",
        ),
        style_spread: float = typer.Option(
            1.0,
            "--style-spread",
            min=0.0,
            help="With --style sample/reference: widen the draws about the domain's mean (1: as they are).",
        ),
        style_refs: Path | None = typer.Option(
            None,
            "--style-refs",
            help="With --style reference: photos of the target domain (a folder, or a dataset root with "
            "one sub-folder per domain). Not the photos you measure against.",
        ),
        keep_objects: bool = typer.Option(
            False,
            "--keep-objects",
            help="With --style sample/reference: score what 'edgecgl image --keep-objects' delivers (where "
            "the detector loses a near object of the input, the draw is redone lighter); the results say "
            "how many images were redrawn and how many near boxes survived.",
        ),
        detector: Path | None = ro.DETECTOR,
        conf: float = ro.CONF,
        max_images: int = typer.Option(100, "--max-images", help="Images per domain."),
        lpips_inputs: int = typer.Option(
            100, "--lpips-inputs", help="Inputs for LPIPS diversity (MUNIT: 100)."
        ),
        lpips_pairs: int = typer.Option(
            19, "--lpips-pairs", help="Random-style pairs per input (MUNIT: 19)."
        ),
        inception: str = typer.Option(
            "auto", "--inception", help="auto, pt_inception, fid-helper or a file."
        ),
        lpips_net: str = typer.Option("alex", "--lpips-net", help="LPIPS backbone: alex, vgg or squeeze."),
        lpips_backbone: Path | None = typer.Option(
            None, "--lpips-backbone", help="torchvision ImageNet state dict for the LPIPS backbone."
        ),
        classifier: Path | None = typer.Option(
            None,
            "--classifier",
            help="Domain classifier from 'edgecgl eval classifier-train' (IS, accuracy).",
        ),
        no_baselines: bool = typer.Option(
            False, "--no-baselines", help="Skip the identity and Reinhard rows."
        ),
        batch_size: int = typer.Option(8, "--batch-size", help="Translation batch size."),
        device: str = typer.Option("cpu", "--device", help="torch device for runs (cpu, cuda)."),
        seed: int = typer.Option(0, "--seed", help="Seed for splits, random styles, KID subsets."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Write into an existing --out folder."),
        bdd_rules: Path | None = BDD_RULES,
    ) -> None:
        """(default) Evaluate runs or bundles: writes results.json, results.md, contact_sheet.png.

        'edgecgl eval RUN ...' is short for 'edgecgl eval run RUN ...'.
        """
        from edgecgl.atomic import check_output
        from edgecgl.runs import new_run_dir
        from edgecgl.train.eval.run import ALL_METRICS, EvalOptions, evaluate, write_outputs
        from edgecgl.train.eval.translators import open_method
        from edgecgl.translate import parse_size

        wanted = _csv(metrics) or []
        bad = [m for m in wanted if m not in ALL_METRICS]
        if bad:
            raise EdgecglError(f"unknown metric '{bad[0]}'", f"choose from {', '.join(ALL_METRICS)}")
        row_names = _csv(names)
        if row_names is not None and len(row_names) != len(models):
            raise EdgecglError(f"--name gives {len(row_names)} names for {len(models)} models")
        if max_images < 2:
            raise EdgecglError("--max-images must be at least 2")
        for flag, given in (("--lpips-backbone", lpips_backbone), ("--classifier", classifier)):
            if given is not None and not Path(given).is_file():  # said now, not after the translations
                raise EdgecglError(f"{flag} {given} does not exist", "give the file's path")
        from edgecgl.domains import load_bdd_rules

        rules = load_bdd_rules(bdd_rules)
        if out is not None:
            check_output(out, inputs=list(models), overwrite=overwrite)
        from edgecgl.runs import run_or_newest

        if wanted == ["is"] and classifier is None and not keep_objects:  # it wrote empty tables, exit 0
            raise EdgecglError(
                "--metrics is needs --classifier", "train one with edgecgl eval classifier-train"
            )
        if detector is not None and not keep_objects:
            raise EdgecglError("--detector is only read with --keep-objects", "add --keep-objects")
        if keep_objects and style.strip().lower() == "mean":
            raise EdgecglError(
                "--keep-objects redraws a sampled style", "add --style sample (or --style reference)"
            )
        models = [
            p if (Path(p) / "manifest.json").is_file() else run_or_newest(p, "checkpoints/model.pt", log)
            for p in models
        ]
        detect = None
        if keep_objects:
            from edgecgl.detect import DetectorConfig, load_detector

            detect = load_detector(detector, DetectorConfig(conf=conf, track=False), log=log)
        methods = [open_method(p, row_names[i] if row_names else None, device) for i, p in enumerate(models)]
        if row_names is None and len({m.name for m in methods}) != len(methods):
            for m, name in zip(methods, distinct_names([Path(p) for p in models]), strict=True):
                m.name = name
        if len({m.name for m in methods}) != len(methods) or {m.name for m in methods} & {
            "identity",
            "reinhard",
        }:
            raise EdgecglError("two rows would share a name", "pass --name a,b,... with distinct names")
        opts = EvalOptions(
            metrics=wanted,
            source=source,
            targets=_csv(targets),
            split=split,
            size=parse_size(size) if size else None,
            output_size=parse_size(output_size, "--output-size") if output_size else None,
            upsample=upsample.strip().lower(),
            style=style.strip().lower(),
            style_spread=style_spread,
            style_refs=style_refs,
            keep_objects=keep_objects,
            max_images=max_images,
            lpips_inputs=lpips_inputs,
            lpips_pairs=lpips_pairs,
            inception=inception,
            lpips_net=lpips_net,
            lpips_backbone=lpips_backbone,
            classifier=classifier,
            baselines=not no_baselines,
            batch_size=batch_size,
            seed=seed,
            bdd_rules=rules,
        )
        results, extras = evaluate(data, methods, opts, log=log, detect=detect)
        extras["meta"]["models"] = {m.name: str(p) for m, p in zip(methods, models, strict=True)}
        out_dir = out if out is not None else new_run_dir(Path("runs/eval"), methods[0].name)
        paths = write_outputs(out_dir, results, extras)
        print(paths["markdown"].read_text(encoding="utf-8"))
        log(f"wrote {paths['json']}, {paths['markdown']}, {paths['contact_sheet']}")

    @sub.command(
        "classifier-train",
        epilog="Example: edgecgl eval classifier-train --data folder:data/synth --arch resnet18 "
        "--backbone resnet18-f37072fd.pth --out classifier.pt",
    )
    def classifier_train(
        data: str = typer.Option(
            ..., "--data", help="Dataset KIND:PATH; its domains (image sub-folders) are the classes."
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Classifier checkpoint to write (.pt)."),
        arch: str = typer.Option("resnet18", "--arch", help="resnet18, resnet34, resnet50 or inception_v3."),
        backbone: Path | None = typer.Option(
            None, "--backbone", help="torchvision ImageNet state dict to fine-tune from (else: from scratch)."
        ),
        size: str = typer.Option("64x128", "--size", help="HxW classifier input (inception_v3: 299x299)."),
        epochs: int = typer.Option(5, "--epochs"),
        batch_size: int = typer.Option(16, "--batch-size"),
        max_images: int = typer.Option(2000, "--max-images", help="Training images per domain."),
        lr: float | None = typer.Option(None, "--lr", help="Default 1e-4 fine-tuning, 1e-3 from scratch."),
        seed: int = typer.Option(0, "--seed"),
        overwrite: bool = typer.Option(False, "--overwrite"),
        bdd_rules: Path | None = BDD_RULES,
    ) -> None:
        """Train the domain classifier used for IS and domain accuracy."""
        import random

        import torch

        from edgecgl.atomic import check_output
        from edgecgl.domains import load_bdd_rules
        from edgecgl.train.data import open_dataset
        from edgecgl.train.data.open import data_domains
        from edgecgl.train.eval.classifier import train_classifier
        from edgecgl.translate import parse_size

        check_output(out, overwrite=overwrite)
        if backbone is not None and not backbone.is_file():  # before minutes of data loading
            raise EdgecglError(
                f"--backbone {backbone} does not exist", "give a torchvision ImageNet state dict"
            )
        hw = parse_size(size)
        rules = load_bdd_rules(bdd_rules)
        domains = data_domains(data, rules)

        def split_of(name: str):  # noqa: ANN202 - the loader's dataset type lives in edgecgl.train
            return open_dataset(
                data,
                size=hw,
                split=name,
                domains=domains,
                seed=seed,
                allow_empty_domains=True,
                bdd_rules=rules,
            )

        random.seed(seed)  # the training split's random crops: the same classifier for the same seed
        train = split_of("train")
        idx: list[int] = []
        for di in range(len(domains)):
            idx += [i for i, d in enumerate(train.domain_indices()) if d == di][:max_images]
        empty = [d for d, n in train.counts().items() if n == 0]
        if len(domains) - len(empty) < 2:  # one class: every image is "right", IS and accuracy say nothing
            found = ", ".join(d for d in domains if d not in empty) or "none"
            raise EdgecglError(
                f"a domain classifier needs training images of 2 or more domains; {data} has {found}",
                "point --data at a dataset with one image folder per domain",
            )
        if empty:
            log(f"warning: no training images for {', '.join(empty)}")
        samples = [train[i] for i in idx]
        images = torch.stack([s.image for s in samples])
        labels = torch.tensor([s.domain for s in samples])
        log(f"classifier-train: {len(samples)} images ({train.counts()})")
        try:
            val_ds = split_of("val")
            vs = [val_ds[i] for i in range(min(len(val_ds), 4 * max_images))]
            val = (torch.stack([s.image for s in vs]), torch.tensor([s.domain for s in vs]))
        except EdgecglError:
            val = None

        def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
            perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed + epoch))
            return [(images[p], labels[p]) for p in perm.split(batch_size)]

        clf = train_classifier(batches, val, domains, arch, backbone, hw, epochs, lr, seed, log)
        clf.save(out)
        log(f"wrote {out} (val accuracy {percent(clf.val_accuracy)})")

    app.add_typer(sub, name="eval")
