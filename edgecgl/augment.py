"""Grow a labelled detector dataset by domain: translate every image, carry its labels over unchanged.

Translation moves no pixel geometry (the frame is letterboxed through the network and back; crops are
pasted where they were cut), so every box stays valid and the label files are copied byte for byte. Only
BDD100K's frame ``attributes`` change: its weather and time of day are the domain label, so a translated
copy is relabelled as its target (``BddRules.attributes_for``, the loader's table read backwards).
The dataset's own boxes serve as the instances by default: no detector is needed and no object is
missed or invented (of an Ultralytics set whose names include a vehicle or a person, only those classes'
boxes: a traffic light or a sign is translated with the frame).

Formats read (no training code needed, this runs on the vehicle-side install too):

    folder:   ROOT/<domain>/<name>.jpg|jpeg|png  +  ROOT/<domain>/labels/<name>.txt (YOLO)
              -> OUT/<target>/<source>_<name>.<ext>  +  OUT/<target>/labels/<source>_<name>.txt
    synth:    a SynthWeather set: the folder format plus pairs.json, read as folder:
    yolo:     an Ultralytics detection dataset, read as Ultralytics reads it (edgecgl.yolo_set): a data.yaml
              (train/val/test a folder, a list of folders or a .txt list) or a root with images/ + labels/;
              its images have no domain, so each is translated to every target
              -> OUT/images/<split>/<name>_<target>.<ext>  +  OUT/labels/<split>/<name>_<target>.txt (the
              label path Ultralytics derives) + OUT/data.yaml (path: OUT, each split its images/<split>,
              the input's names); an image without a label file gets none, as in the input
    bdd100k:  a labels JSON (list of frames: name, attributes, labels[].box2d) and the images it names,
              found by file name anywhere under the JSON's folder (its images/ also as a symlink) or its
              parent's images/ folder; symlinked image files are followed, as the loader follows them
              -> OUT/<target>/images/<stem>_<target>.<ext>  +  OUT/<target>/labels.json (the same frame
              entries under the new names, their weather/timeofday set to the target's; the domain rules
              are edgecgl.domains.BddRules), so the copies' labels join the original's without two frames
              of one name
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecgl import interrupt
from edgecgl.classes import (
    CLASS_FILE,
    FOLDER_CLASSES,
    folder_class_names,
    instance_ids,
    is_instance,
    no_instance_names,
)
from edgecgl.detect import Detection
from edgecgl.domains import IMAGE_SUFFIXES, BddRules, folder_domains
from edgecgl.errors import EdgecglError
from edgecgl.yolo_set import YoloSet, label_path, looks_like_yolo, open_yolo_set

# Written last into every augmented dataset: how --overwrite knows a folder is one (not a .json, so no
# loader globbing for labels JSON picks it up).
MARKER = ".edgecgl-augment"

BDD_INSTANCE_CATEGORIES = ("car", "truck", "bus", "person", "rider", "bike", "motor", "motorcycle", "bicycle")


@dataclass
class Item:
    """One labelled image: where it is, its source domain (None when unknown) and its boxes (pixels)."""

    image: Path
    name: str  # output file name stem (unique in the dataset)
    source: str | None
    boxes: list[tuple[float, float, float, float]]
    classes: list[str]
    label_file: Path | None = None  # folder and yolo formats: copied unchanged
    entry: dict | None = None  # bdd100k: the frame's JSON entry, copied with the target's attributes


@dataclass
class Dataset:
    kind: str
    root: Path
    items: list[Item]
    skipped: list[str] = field(default_factory=list)
    bdd_rules: BddRules = field(default_factory=BddRules)  # bdd100k: attributes <-> domain, both ways
    yolo: YoloSet | None = None  # yolo: its splits and names, for OUT/data.yaml
    instance_classes: list[str] | None = None  # the class names whose boxes are instances (None: all)
    class_warning: str | None = None  # its own class names hold no vehicle or person: every box an instance


READS = "folder:ROOT, synth:ROOT (SynthWeather), yolo:DATA.yaml|ROOT (Ultralytics) or bdd100k:LABELS.json"


def parse_spec(spec: str) -> tuple[str, Path]:
    """KIND:PATH or a plain path -> (format, path). A SynthWeather set is the folder format plus
    pairs.json, so ``synth:`` reads as ``folder:``; other kinds (``init:``) are training-only. A plain
    path is an Ultralytics set when it is a .yaml or a root with images/ + labels/ (or a data.yaml); the
    folder format never reads one (its splits would be taken for domains, its labels lost)."""
    kind, sep, rest = str(spec).partition(":")
    if sep and kind in ("folder", "synth", "bdd100k", "yolo"):
        fmt = kind if kind in ("bdd100k", "yolo") else "folder"
        if fmt == "folder":
            _not_yolo(Path(rest), spec)
        return fmt, Path(rest)
    p = Path(spec)
    if not p.exists():
        if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", kind):
            raise EdgecglError(f"edgecgl augment cannot read {kind}: datasets", f"give {READS}")
        raise EdgecglError(f"dataset {spec} does not exist", f"give {READS}")
    if p.is_file() and p.suffix == ".json":
        return "bdd100k", p
    if (p.is_file() and p.suffix.lower() in (".yaml", ".yml")) or looks_like_yolo(p) == p:
        return "yolo", p
    if p.is_dir():
        _not_yolo(p, spec)  # a folder inside one (its images/, a split)
    if p.is_dir() and folder_domains(p):
        return "folder", p
    if p.is_dir() and (list(p.glob("*.json")) or list(p.glob("labels/*.json"))):
        return "bdd100k", p
    raise EdgecglError(
        f"cannot tell which dataset format {spec} is",
        "expected ROOT/<domain>/*.jpg (one folder per domain), an Ultralytics data.yaml or ROOT with images/ + "
        "labels/, or a BDD100K labels JSON; or prefix folder:/yolo:/bdd100k:",
    )


def _not_yolo(path: Path, spec: str) -> None:
    """Refuse to read an Ultralytics set (or a folder inside one) as the folder format."""
    root = looks_like_yolo(path)
    if root is not None:
        where = "is an" if root == path else "is inside the"
        raise EdgecglError(
            f"{spec} {where} Ultralytics dataset {root} (images/ + labels/ or a data.yaml), not one folder per "
            "domain: its splits would be read as domains and its labels lost",
            f"give yolo:{root / 'data.yaml' if (root / 'data.yaml').is_file() else root}",
        )


def foreign_domains(ds: Dataset, domains: list[str] | tuple[str, ...]) -> list[str]:
    """A folder dataset's sub-folders that are not among ``domains`` (a bundle's): their images are
    translated to every target, as images of no known domain."""
    return sorted({it.source for it in ds.items if it.source is not None and it.source not in domains})


def open_folder(root: Path) -> Dataset:
    if not root.is_dir():
        raise EdgecglError(f"dataset folder {root} does not exist")
    names, own = folder_class_names(root)
    ids = set(instance_ids(names, own))
    ds = Dataset("folder", root, [], instance_classes=sorted({names[i] for i in ids}) if own else None)
    ds.class_warning = no_instance_names(names) if own else None
    for name in folder_domains(root):
        dom = root / name
        for img in sorted(p for p in dom.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            lab = dom / "labels" / f"{img.stem}.txt"
            boxes, classes = [], []
            if lab.is_file():  # the instances: boxes of the instance classes (the label file is copied whole)
                text = lab.read_text(encoding="utf-8", errors="replace")
                boxes, classes = _yolo_boxes(text, dict(enumerate(names)), only={names[i] for i in ids})
            ds.items.append(
                Item(img, f"{dom.name}_{img.stem}", dom.name, boxes, classes, lab if lab.is_file() else None)
            )
    if not ds.items:
        raise EdgecglError(f"no images under {root}/<domain>/", "put the images in one folder per domain")
    return ds


def _yolo_boxes(
    text: str, names: dict[int, str] | None = None, polygons: bool = False, only: set[str] | None = None
) -> tuple[list[tuple[float, float, float, float]], list[str]]:
    """Normalised (cx, cy, w, h) boxes; scaled to pixels once the image size is known. ``names``: class
    id -> name (default the folder format's table); ``polygons``: a segment row (class x1 y1 x2 y2 ...)
    is its bounding box, as Ultralytics' detection reads it; ``only``: the class names kept (the instance
    classes; None: all)."""
    names = dict(enumerate(FOLDER_CLASSES)) if names is None else names
    boxes, classes = [], []
    for line in text.splitlines():
        parts = line.split()
        poly = polygons and len(parts) >= 7 and len(parts) % 2 == 1
        if (len(parts) not in (5, 6) and not poly) or line.lstrip().startswith("#"):
            continue
        try:
            c, values = int(float(parts[0])), [float(v) for v in parts[1:]]
        except ValueError:
            continue
        if poly:
            xs, ys = values[0::2], values[1::2]
            box = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys))
        else:
            box = (values[0], values[1], values[2], values[3])
        name = names.get(c, str(c))
        if only is None or name in only:
            boxes.append(box)
            classes.append(name)
    return boxes, classes


def open_yolo(path: Path) -> Dataset:
    """An Ultralytics set (``edgecgl.yolo_set``): every image of every split, of no domain; its label
    file (copied unchanged) gives the instances, of the vehicle and person classes where ``names`` has
    any (else of every class)."""
    ys = open_yolo_set(path)
    wanted = [n for n in sorted(set(ys.names_by_id.values())) if is_instance(n)]
    ds = Dataset("yolo", ys.root, [], yolo=ys, instance_classes=wanted or None)
    ds.class_warning = no_instance_names(sorted(set(ys.names_by_id.values())))
    for im in ys.images:
        if im.image.suffix.lower() not in IMAGE_SUFFIXES:
            ds.skipped.append(f"{im.image} (edgecgl reads {', '.join(s[1:] for s in IMAGE_SUFFIXES)})")
            continue
        boxes, classes = [], []
        if im.label is not None:
            text = im.label.read_text(encoding="utf-8-sig", errors="replace")
            boxes, classes = _yolo_boxes(text, ys.names_by_id, polygons=True, only=set(wanted) or None)
        name = f"{im.split}/{im.rel.with_suffix('')}"
        ds.items.append(Item(im.image, name, None, boxes, classes, im.label))
    if not ds.items:
        raise EdgecglError(
            f"no images edgecgl can read in {ys.yaml_file or ys.root}",
            f"edgecgl reads {', '.join(s[1:] for s in IMAGE_SUFFIXES)}",
        )
    return ds


def open_bdd100k(path: Path, rules: BddRules | None = None) -> Dataset:
    """Frames of a labels JSON; each one's source domain by the loader's table (``rules``, default the
    paper's Table 1). A frame with no domain is still translated, to every target."""
    if path.is_dir():
        found = sorted(path.glob("*.json")) + sorted(path.glob("labels/*.json"))
        if not found:
            raise EdgecglError(f"no labels JSON in {path}", "give bdd100k:PATH/TO/labels.json")
        path = found[0]
    try:
        frames = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgecglError(f"cannot read BDD100K labels {path}: {exc}") from None
    if not isinstance(frames, list):
        raise EdgecglError(f"{path} is not a BDD100K labels file (expected a JSON list of frames)")
    index: dict[str, Path] = {}
    # images/ named as a base too: rglob does not enter a symlinked folder (the loader follows one)
    for base in (path.parent, path.parent / "images", path.parent.parent / "images"):
        if base.is_dir():
            for p in base.rglob("*"):
                if p.suffix.lower() in IMAGE_SUFFIXES:
                    index.setdefault(p.name, p)
    ds = Dataset("bdd100k", path, [], bdd_rules=rules or BddRules())
    for fr in frames:
        name = str(fr.get("name", ""))
        if not name or "/" in name or "\\" in name or name not in index:
            ds.skipped.append(f"{name or '<no name>'} (image not found)")
            continue
        boxes, classes = [], []
        for lab in fr.get("labels") or []:
            b = lab.get("box2d")
            if b and lab.get("category") in BDD_INSTANCE_CATEGORIES:
                boxes.append((float(b["x1"]), float(b["y1"]), float(b["x2"]), float(b["y2"])))
                classes.append(str(lab["category"]))
        source = ds.bdd_rules.domain_of(fr.get("attributes"))
        ds.items.append(Item(index[name], Path(name).stem, source, boxes, classes, entry=fr))
    if not ds.items:
        raise EdgecglError(
            f"none of the images named in {path} were found", "put them under images/ beside the labels"
        )
    return ds


def open_augment_dataset(spec: str, bdd_rules: BddRules | None = None) -> Dataset:
    """``bdd_rules``: the BDD100K domain table (``--bdd-rules``); folder datasets ignore it."""
    kind, path = parse_spec(spec)
    if kind == "yolo":
        return open_yolo(path)
    return open_folder(path) if kind == "folder" else open_bdd100k(path, bdd_rules)


def yolo_summary(ds: Dataset) -> list[str]:
    """Log lines for an Ultralytics set: its splits, how many images have a label file, and a warning
    when none has (every copy would be a background image, as the input is to Ultralytics)."""
    if ds.yolo is None:
        return []
    ys = ds.yolo
    splits = ", ".join(k if k == f else f"{k} (as {f})" for k, f in ys.splits.items())
    labelled = sum(1 for it in ds.items if it.label_file is not None)
    names = f"from {ys.yaml_file}" if ys.names is not None else "none (no data.yaml names)"
    lines = [f"splits: {splits}; {labelled} of {len(ds.items)} images have a label file; names: {names}"]
    if not labelled:
        first = ds.items[0].image
        lines.append(
            f"warning: no image has a label file (Ultralytics reads {first}'s from {label_path(first)}): "
            "every copy will be a background image"
        )
    return lines


def input_folders(ds: Dataset) -> list[Path]:
    """The folders the dataset reads (an output inside one would be read back as input)."""
    root = ds.root if ds.root.is_dir() else ds.root.parent
    extra = [p for ps in ds.yolo.sources.values() for p in ps if p.is_dir()] if ds.yolo is not None else []
    return [root, *extra]


def instances_from_labels(
    item: Item, hw: tuple[int, int], min_size: int = 8, max_instances: int = 8
) -> list[Detection]:
    """The dataset's own boxes as detections (largest first), in pixels of the full image."""
    h, w = hw
    dets = []
    for b, c in zip(item.boxes, item.classes, strict=True):
        if item.entry is None:  # YOLO: normalised centre/size
            cx, cy, bw, bh = b
            box = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
        else:
            box = b
        x1, y1, x2, y2 = max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3])
        if x2 - x1 >= min_size and y2 - y1 >= min_size:
            dets.append(Detection((x1, y1, x2, y2), c, 1.0, None))
    dets.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return dets[:max_instances]


class LabelBoxes:
    """A detector that returns the current item's labelled boxes (set before each call)."""

    def __init__(self) -> None:
        self.item: Item | None = None

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        return instances_from_labels(self.item, frame.shape[:2]) if self.item is not None else []


@dataclass
class AugmentReport:
    written: dict[str, int] = field(default_factory=dict)
    skipped_same_domain: int = 0
    skipped: list[str] = field(default_factory=list)
    instances: int = 0
    kept: int = 0  # copies an interrupted run with the same settings had written


def is_augment_output(folder: Path) -> bool:
    """Whether ``folder`` is a dataset ``edgecgl augment`` wrote (its marker file, or the run record of
    one it was writing when it stopped): the only folder ``--overwrite`` replaces as a whole."""
    from edgecgl.resume import RECORD, recorded_command

    return (Path(folder) / MARKER).is_file() or recorded_command(Path(folder) / RECORD) == "augment"


def not_augment_output(folder: Path) -> str | None:
    """Why ``folder`` is not an augmented dataset, for --overwrite's refusal (None when it is one)."""
    from edgecgl.outdir import holding

    return None if is_augment_output(folder) else holding(folder, otherwise=f"it has no {MARKER}")


def plan_outputs(ds: Dataset, targets: list[str], out: Path) -> Iterator[tuple[str, Item, Path]]:
    for target in targets:
        for item in ds.items:
            if item.source == target:
                continue
            if ds.kind == "folder":
                yield target, item, out / target / f"{item.name}{item.image.suffix.lower()}"
            elif ds.kind == "yolo":  # the split's folder; a name of its own per target
                yield target, item, out / "images" / f"{item.name}_{target}{item.image.suffix}"
            else:  # a name of its own: the copies' JSON joins the original's without two frames of one name
                yield target, item, out / target / "images" / f"{item.image.stem}_{target}{item.image.suffix}"


def label_out(ds: Dataset, item: Item, image_out: Path) -> Path | None:
    """Where a copy's label file goes (None: the item has none, or the format keeps labels in a JSON)."""
    if item.label_file is None or ds.kind not in ("folder", "yolo"):
        return None
    if ds.kind == "yolo":  # where Ultralytics looks for the copy's labels: OUT/images/... -> OUT/labels/...
        return label_path(image_out)
    return image_out.parent / "labels" / f"{image_out.stem}.txt"


def copy_is_current(ds: Dataset, item: Item, image_out: Path) -> bool:
    """An earlier run's copy stands: whole, made after its image and label file last changed, its label
    file beside it (a label fixed since, or a copy whose label was deleted, is made again)."""
    from edgecgl.resume import up_to_date

    label = label_out(ds, item, image_out)
    return up_to_date(image_out, [item.image, item.label_file], [label] if label is not None else [])


def write_labels(ds: Dataset, item: Item, dst: Path) -> None:
    from edgecgl.atomic import atomic_path

    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        shutil.copyfile(item.label_file, tmp)


def finish_bdd(ds: Dataset, out: Path, entries: dict[str, list[dict]], claim: Callable[[Path], None]) -> None:
    from edgecgl.atomic import write_text_atomic

    for target, frames in entries.items():
        claim(out / target / "labels.json")
        write_text_atomic(out / target / "labels.json", json.dumps(frames, indent=1))


def finish_yolo(ds: Dataset, out: Path, claim: Callable[[Path], None]) -> None:
    """OUT/data.yaml, naming OUT as its path."""
    import yaml

    from edgecgl.atomic import write_text_atomic
    from edgecgl.yolo_set import data_yaml

    ids = {int(c) for it in ds.items for c in it.classes if c.isdigit()} if ds.yolo.names is None else None
    doc = data_yaml(ds.yolo, out.resolve(), ids)
    claim(out / "data.yaml")
    write_text_atomic(out / "data.yaml", yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def augment(
    ds: Dataset,
    targets: list[str],
    out: Path,
    translate: Callable[[str, Item], tuple[np.ndarray, int]],
    encode: Callable[[np.ndarray, str], bytes],
    on_item: Callable[[], None] | None = None,
    done: frozenset[Path] = frozenset(),
    claim: Callable[[Path], None] = lambda _p: None,
) -> AugmentReport:
    """Translate every item to every target (skipping its own domain) and write images + labels into
    ``out``, each copy whole (its label file first, then the image), then the dataset-wide files and the
    marker. ``done``: copies an interrupted run wrote (``edgecgl.resume``), kept and not translated again.
    ``claim(path)`` hears of every file just before it is written (the run's journal)."""
    from edgecgl.atomic import write_bytes_atomic, write_text_atomic

    rep = AugmentReport(skipped=list(ds.skipped))
    entries: dict[str, list[dict]] = {t: [] for t in targets}
    for target in targets:
        rep.skipped_same_domain += sum(1 for it in ds.items if it.source == target)
    for target, item, dst in plan_outputs(ds, targets, out):
        interrupt.check()
        if dst in done:
            rep.kept += 1
        else:
            try:
                image, n = translate(target, item)
            except EdgecglError as exc:  # an unreadable image: count it, say so at the end
                rep.skipped.append(f"{item.image} ({exc.message})")
                continue
            rep.instances += n
            label = label_out(ds, item, dst)
            if label is not None:  # first: a copy whose image is there is whole
                claim(label)
                write_labels(ds, item, label)
            claim(dst)
            write_bytes_atomic(dst, encode(image, dst.suffix))
            if on_item:
                on_item()
        if item.entry is not None:  # read back, the copy is in its target domain; labels and scene unchanged
            attrs = ds.bdd_rules.attributes_for(target, item.entry.get("attributes"))
            entries[target].append({**item.entry, "name": dst.name, "attributes": attrs})
        rep.written[target] = rep.written.get(target, 0) + 1
    if ds.kind == "bdd100k":
        finish_bdd(ds, out, entries, claim)
    if ds.kind == "yolo":
        finish_yolo(ds, out, claim)
    if ds.kind == "folder" and (ds.root / CLASS_FILE).is_file():  # the copies' ids mean what they meant
        claim(out / CLASS_FILE)
        write_bytes_atomic(out / CLASS_FILE, (ds.root / CLASS_FILE).read_bytes())
    marker = {"format": ds.kind, "source": str(ds.root), "targets": targets, "written": rep.written}
    claim(out / MARKER)
    write_text_atomic(out / MARKER, json.dumps(marker, indent=1) + "\n")
    return rep
