"""``edgecgl augment``: translate a labelled dataset to other domains, labels carried over unchanged
(BDD100K's weather/timeofday attributes, its domain label, set to the target's; an Ultralytics set comes
back as one, with its data.yaml)."""

from __future__ import annotations

from pathlib import Path

import typer

from edgecgl.cli import runtime_opts as ro
from edgecgl.cli.common import BDD_RULES, log, progress
from edgecgl.errors import EdgecglError


def register(app: typer.Typer) -> None:
    @app.command(
        "augment",
        epilog="Example: edgecgl augment folder:data/fleet --to night,rainy --out data/fleet-aug; "
        "an Ultralytics set: edgecgl augment yolo:data/fleet/data.yaml --to night,rainy --out data/fleet-aug",
    )
    def augment_(
        dataset: str = typer.Argument(
            ...,
            help="folder:ROOT (ROOT/<domain>/*.jpg + labels/*.txt), synth:ROOT (SynthWeather), "
            "yolo:DATA.yaml or yolo:ROOT (Ultralytics: images/<split>/ + labels/<split>/) or bdd100k:LABELS.json.",
            show_default=False,
        ),
        to: str = typer.Option(..., "--to", "-t", help="Target domains, comma-separated (e.g. night,rainy)."),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Output dataset folder (same format as the input)."
        ),
        bundle: Path | None = ro.BUNDLE,
        style_seed: int | None = ro.STYLE_SEED,
        style_spread: float = ro.STYLE_SPREAD,
        style_per_image: bool = ro.STYLE_PER_IMAGE,
        style_ref: Path | None = ro.STYLE_REF,
        keep_objects: bool = ro.KEEP_OBJECTS,
        no_instances: bool = ro.NO_INSTANCES,
        detector: Path | None = typer.Option(
            None,
            "--detector",
            help="Find instances with this Ultralytics model instead of the dataset's boxes.",
        ),
        conf: float = ro.CONF,
        backend: str = ro.BACKEND,
        size: str | None = ro.SIZE,
        upsample: str = ro.UPSAMPLE,
        overwrite: bool = ro.OVERWRITE,
        bdd_rules: Path | None = BDD_RULES,
    ) -> None:
        """Translate a labelled dataset (folder+YOLO, an Ultralytics dataset or BDD100K), carrying its labels over unchanged."""
        from dataclasses import asdict

        from edgecgl.augment import (
            LabelBoxes,
            copy_is_current,
            foreign_domains,
            input_folders,
            not_augment_output,
            open_augment_dataset,
            plan_outputs,
            yolo_summary,
        )
        from edgecgl.augment import augment as run_augment
        from edgecgl.brightness import RangeCounts
        from edgecgl.cli.image_cmd import encode_image
        from edgecgl.cli.video_cmd import run_settings
        from edgecgl.domains import IMAGE_SUFFIXES, load_bdd_rules, parse_domains
        from edgecgl.resume import check_folder_run, strays
        from edgecgl.retain import KeepCounts
        from edgecgl.translate import Translator, as_source, read_image

        targets = parse_domains(to, None)  # checked against the bundle's domains once it is loaded
        ds = open_augment_dataset(dataset, load_bdd_rules(bdd_rules))
        root = ds.root if ds.root.is_dir() else ds.root.parent
        for folder in input_folders(ds):
            if out.resolve() == folder.resolve() or folder.resolve() in out.resolve().parents:
                listed = ds.yolo is not None and folder.resolve() != ds.root.resolve()
                raise EdgecglError(
                    f"output {out} is inside the dataset's {folder}"
                    + (f", which {ds.yolo.yaml_file or ds.root} lists as a split" if listed else ""),
                    "take the copies out of its train: list to augment the originals again"
                    if listed
                    else "write the augmented set elsewhere",
                )
        ro.check_style_choice(style_per_image, style_ref)
        ro.check_spread_used(style_spread, style_seed, style_per_image, style_ref)
        sampled = style_per_image or style_seed is not None
        ro.check_keep_objects(keep_objects, sampled, no_instances, style_ref, detector is not None)
        log(f"dataset: {ds.kind} {ds.root}, {len(ds.items)} images; targets: {', '.join(targets)}")
        for line in yolo_summary(ds):
            log(line)
        if ds.class_warning:
            log(ds.class_warning)
        labels = LabelBoxes()
        use_labels = detector is None and not no_instances
        args = ro.RuntimeArgs(
            bundle,
            targets[0],
            style_seed,
            style_ref,
            no_instances,
            detector,
            conf,
            backend,
            size,
            upsample,
            style_spread=style_spread,
        )
        # Written copy by copy into --out beside a record of these settings: an interrupted run (hours
        # on a CPU) continues where it stopped; the dataset-wide files and the marker come last.
        settings = run_settings(
            args, dataset=str(ds.root.resolve()), targets=sorted(targets), style_per_image=style_per_image,
            keep_objects=keep_objects, bdd_rules=[asdict(r) for r in ds.bdd_rules.rules] if ds.kind == "bdd100k" else None,
        )  # fmt: skip
        settings.pop("to")
        item_of = {dst: item for _, item, dst in plan_outputs(ds, targets, out)}
        planned = list(item_of)
        run = check_folder_run(
            out, "augment", settings, planned, overwrite, not_augment_output, tuple(input_folders(ds)),
            "augmented dataset", lambda dst: copy_is_current(ds, item_of[dst], dst),
        )  # fmt: skip
        if run.done:
            log(f"{len(run.done)} of {len(planned)} copies already written with these settings, kept")
        if not run.empty_first and (gone := strays(out, planned, IMAGE_SUFFIXES)):
            log(f"warning: {len(gone)} copies in {out} have no source in the dataset any more, e.g. "
                f"{gone[0].relative_to(out)} (kept; --overwrite starts the set again)")  # fmt: skip
        kept = KeepCounts()
        in_range = RangeCounts()
        finished = bool(planned) and len(run.done) == len(planned)
        # every copy current: the dataset-wide files need no network, so no bundle or detector is loaded
        if finished:
            translate = _nothing_left
        else:
            pipeline, bund = ro.build_pipeline(
                args,
                detector=labels if use_labels else None,
                track=False,
                style_per="image" if style_per_image else "",
                targets=targets,
            )
            if use_labels:
                classes = f" of {', '.join(ds.instance_classes)}" if ds.instance_classes else ""
                log(f"instances: the dataset's own boxes{classes}")
            if ds.kind == "folder" and (foreign := foreign_domains(ds, bund.domains)):
                log(f"warning: sub-folder(s) {', '.join(foreign)} of {ds.root} are not domains of the bundle "
                    f"({', '.join(bund.domains)}): their images are translated to every target")  # fmt: skip
            if ds.kind == "bdd100k" and (unknown := [it for it in ds.items if it.source is None]):
                attrs = (unknown[0].entry or {}).get("attributes") or {}
                said = "/".join(str(attrs.get(k, "?")) for k in ("weather", "timeofday"))
                log(f"warning: {len(unknown)} frame(s) match no domain of the BDD100K table (e.g. {unknown[0].image.name}: "
                    f"{said}): translated to every target (--bdd-rules to name their domain)")  # fmt: skip
            for t in targets:
                parse_domains(t, bund.domains)
                if ds.kind == "bdd100k" and t not in ds.bdd_rules.domains():
                    log(f"{t} is not in the BDD100K domain table: its copies are labelled weather: {t}, timeofday:"
                        " daytime (--bdd-rules names its attributes)")  # fmt: skip
            tr0 = pipeline.translator
            translators = {
                t: tr0
                if t == tr0.domain
                else Translator(
                    tr0.backend,
                    bund,
                    t,
                    style_seed,
                    tr0.style_ref,  # the --style-ref photo build_pipeline read, encoded for this target
                    tr0.frame_size,
                    tr0.upsample_mode,
                    style_spread=style_spread,
                )
                for t in targets
            }
            banks = {t: ro.reference_bank(tr, style_ref, style_spread) for t, tr in translators.items()}

            def translate(target: str, item):  # noqa: ANN001, ANN202
                labels.item = item
                pipeline.translator = translators[target]
                key = item.image.relative_to(root) if item.image.is_relative_to(root) else item.image
                tr, name = pipeline.translator, key.as_posix()
                if banks[target] is not None:
                    ro.per_image_reference(tr, banks[target], style_seed, name)
                elif style_per_image:
                    ro.per_image_style(tr, style_seed, name, style_spread)
                img = read_image(item.image)
                res = pipeline(img)
                check = style_per_image and banks[target] is None and ro.luma_range(tr) is not None
                image = ro.deliver_draw(pipeline, img, res, style_seed, name, style_spread, check_range=check,
                                        keep_objects=keep_objects, per_image=style_per_image,
                                        in_range=in_range, kept=kept)  # fmt: skip
                return as_source(image, item.image), len(res.detections)

        # all loaded and checked: only now is an earlier output removed (--overwrite), this run recorded
        run.start(log)
        with progress() as bar:
            task = bar.add_task("augmenting", total=len(planned) - len(run.done), rate="")
            rep = run_augment(
                ds,
                targets,
                out,
                translate,
                encode_image,
                on_item=lambda: bar.advance(task),
                done=run.done,
                claim=run.claim,
            )
        for t in targets:
            log(f"{t}: {rep.written.get(t, 0)} images")
        if rep.skipped_same_domain:
            log(f"skipped {rep.skipped_same_domain} image(s) already in a target domain")
        if rep.skipped:
            log(f"warning: skipped {len(rep.skipped)} unusable item(s), e.g. {rep.skipped[0]}")
        log(f"{rep.instances} instances translated")
        if in_range.images:
            log(in_range.summary())
        if keep_objects:
            log(kept.summary())
        if ds.yolo is not None:
            from edgecgl.yolo_set import train_hint

            log(f"Ultralytics dataset: {out / 'data.yaml'} (each split's copies; labels copied unchanged)")
            log(train_hint(ds.yolo, out.resolve()))
            # Ultralytics' check_det_dataset refuses a data.yaml without names or a val split
            if ds.yolo.names is None:
                log(
                    f"warning: the input names no classes: {out / 'data.yaml'} names each by its id; put yours there"
                )
            if "val" not in ds.yolo.splits:
                log(
                    f"warning: the input has no val split: add one to {out / 'data.yaml'} before training with it"
                )
        typer.echo(f"wrote {out}")


def _nothing_left(target: str, item: object) -> tuple[object, int]:
    raise AssertionError(f"augment: {item} to {target} was planned as already written")
