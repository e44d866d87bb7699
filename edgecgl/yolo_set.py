"""Ultralytics (YOLO) detection datasets: the images a data.yaml names, where their labels are, and the
data.yaml of a translated copy.

Read the way Ultralytics reads them (``check_det_dataset`` and ``img2label_paths`` in
ultralytics/data/utils.py, ``get_img_files`` in ultralytics/data/base.py), without importing it:

- a data.yaml: ``path`` is the root (missing: the YAML's folder; relative: to the current folder, else
  Ultralytics' ``datasets_dir``); ``train``, ``val`` and ``test`` each a folder (searched recursively), a
  list of folders or a .txt list of image paths (``./`` lines relative to the list), relative to ``path``;
  ``names`` a list or an {id: name} mapping
- a dataset root (ROOT/images/ + ROOT/labels/): its data.yaml (or its only *.yaml), else each sub-folder
  of ROOT/images/ is a split of its own name
- an image's label file: the image path with its last ``/images/`` replaced by ``/labels/`` and its suffix
  by ``.txt`` (no such file: a background image)
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from edgecgl.errors import EdgecglError

# Ultralytics' IMG_FORMATS: what its dataset scan counts as an image
ULTRALYTICS_IMAGES = frozenset(
    ("avif", "bmp", "dng", "heic", "heif", "jp2", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp")
)
SPLITS = ("train", "val", "test")
ENTRY_HINT = "each of train/val/test is a folder, a list of folders or a .txt list of image paths"
GIVE = "give yolo:DATA.yaml or yolo:ROOT (ROOT/images/<split>/, ROOT/labels/<split>/)"


@dataclass
class YoloImage:
    image: Path
    label: Path | None  # the label file Ultralytics reads for it, None when there is none (a background)
    split: str  # the output folder under images/ (a data.yaml key, or the input's sub-folder of images/)
    rel: PurePosixPath  # where it goes below that folder, suffix included


@dataclass
class YoloSet:
    root: Path
    yaml_file: Path | None
    splits: dict[str, str]  # data.yaml key -> output folder under images/ (a repeated split: the first's)
    sources: dict[str, list[Path]]  # data.yaml key -> the input folders or .txt lists it names
    images: list[YoloImage]
    names: list | dict | None = None  # as the input's data.yaml gives them
    names_by_id: dict[int, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # the input data.yaml's other keys (kpt_shape, ...), kept


def label_path(image: str | Path) -> Path:
    """Ultralytics' rule (``img2label_paths``): the last ``/images/`` becomes ``/labels/``, the suffix
    ``.txt``."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(os.fspath(image).rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def looks_like_yolo(path: Path) -> Path | None:
    """The Ultralytics dataset root ``path`` is or lies in (for ``yolo:ROOT``), None if it is none: a
    folder with images/ and labels/, or a data.yaml and no folder of images in it (a folder-format root,
    one folder per domain, may keep a data.yaml beside them), or a folder under such an images/."""
    from edgecgl.domains import folder_domains

    path = Path(path)
    if path.is_dir() and (is_root(path) or ((path / "data.yaml").is_file() and not folder_domains(path))):
        return path
    return next((p.parent for p in (path, *path.parents) if p.name == "images" and is_root(p.parent)), None)


def is_root(path: Path) -> bool:
    """images/ beside a labels/ of .txt files (BDD100K's root has images/ beside a labels/ of JSON)."""
    labels = path / "labels"
    return (path / "images").is_dir() and labels.is_dir() and next(labels.rglob("*.txt"), None) is not None


def open_yolo_set(path: Path) -> YoloSet:
    """A data.yaml, or a dataset root (its data.yaml if it has one): every image of every split."""
    path = Path(path)
    if path.is_dir():
        yaml_file = _root_yaml(path)
        if yaml_file is None:
            return _from_root(path)
        path = yaml_file
    if not path.is_file():
        raise EdgecglError(f"dataset {path} does not exist", GIVE)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise EdgecglError(f"{path} is not an Ultralytics data.yaml", GIVE)
    return _from_yaml(path)


def _root_yaml(root: Path) -> Path | None:
    """ROOT/data.yaml, else ROOT's only *.yaml/*.yml; several: the user says which."""
    if (root / "data.yaml").is_file():
        return root / "data.yaml"
    found = sorted(p for p in root.iterdir() if p.suffix.lower() in (".yaml", ".yml") and p.is_file())
    if len(found) > 1:
        raise EdgecglError(
            f"{root} holds several YAML files ({', '.join(p.name for p in found)})",
            f"give the dataset's one: yolo:{root / found[0].name}",
        )
    return found[0] if found else None


def _from_root(root: Path) -> YoloSet:
    """No data.yaml: each sub-folder of ROOT/images/ is a split (images directly in it: one, ``train``)."""
    images = root / "images"
    if not images.is_dir():
        inside = looks_like_yolo(root)
        raise EdgecglError(
            f"{root} is not an Ultralytics dataset root (no images/ folder, no data.yaml)",
            f"give yolo:{inside}, the dataset it is in" if inside is not None else GIVE,
        )
    subs = sorted(
        d for d in images.iterdir() if d.is_dir() and not d.name.startswith(".") and _image_files(d)
    )
    loose = [p for p in images.iterdir() if _is_image(p)]
    if subs and loose:
        raise EdgecglError(
            f"{images} holds both images and split folders ({', '.join(d.name for d in subs)})",
            "write a data.yaml naming the splits and give yolo:DATA.yaml",
        )
    sources = {d.name: [d.resolve()] for d in subs} if subs else {"train": [images.resolve()]}
    return _collect(root.resolve(), None, sources)


def _from_yaml(file: Path) -> YoloSet:
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgecglError(f"cannot read {file}: {first}", "give an Ultralytics data.yaml") from None
    if not isinstance(data, dict):
        raise EdgecglError(
            f"{file} is not an Ultralytics data.yaml (expected a mapping with path, train, val, names)"
        )
    names = _names(file, data.get("names"))
    root = _yaml_root(file, data.get("path"))
    hint = ENTRY_HINT
    if isinstance(data.get("path"), str) and not Path(data["path"]).is_absolute():
        hint = f"path: {data['path']} is {root}, read from the current folder as Ultralytics reads it"
    sources: dict[str, list[Path]] = {}
    for key in SPLITS:
        value = data.get(key)
        if not value:  # missing or empty, as Ultralytics skips it
            continue
        entries = value if isinstance(value, list) else [value]
        if not all(isinstance(e, str) and e for e in entries):
            raise EdgecglError(
                f"{file}: {key} must be a folder, a list of folders or a .txt list, got {value!r}", ENTRY_HINT
            )
        sources[key] = [_entry(root, e, f"{file}: {key}", hint) for e in entries]
    if not sources:
        raise EdgecglError(f"{file} names no images (no train, val or test)", ENTRY_HINT)
    ys = _collect(root, file, sources)
    ys.names, ys.names_by_id = names
    ys.extra = {k: v for k, v in data.items() if k not in ("path", *SPLITS, "names", "nc", "download")}
    return ys


def _yaml_root(file: Path, path: object) -> Path:
    """``path`` as Ultralytics resolves it: absolute; relative to the current folder; else under its
    ``datasets_dir`` setting; missing, the YAML's folder."""
    if path is None or path == "":
        return file.parent.resolve()
    if not isinstance(path, str):
        raise EdgecglError(f"{file}: path must be a folder, got {path!r}")
    p = Path(path)
    if p.is_dir():
        return p.resolve()
    if not p.is_absolute():
        where = _ultralytics_datasets_dir()
        if where is not None and (where / p).is_dir():
            return (where / p).resolve()
    raise EdgecglError(
        f"{file}: path {path} does not exist",
        "Ultralytics reads a relative path from the current folder (then its datasets_dir): give an absolute one",
    )


def _ultralytics_datasets_dir() -> Path | None:
    try:
        from edgecgl.detect import import_ultralytics

        import_ultralytics()
        from ultralytics.utils import DATASETS_DIR
    except Exception:  # noqa: BLE001 - not installed (the vehicle-side install) or broken: no such folder
        return None
    return Path(DATASETS_DIR)


def _entry(root: Path, entry: str, where: str, hint: str = ENTRY_HINT) -> Path:
    """One train/val/test entry, resolved as Ultralytics does (a missing ``../x`` is tried as ``x``)."""
    if "://" in entry:
        raise EdgecglError(f"{where}: {entry} is a URL", "download the dataset first; " + ENTRY_HINT)
    p = (root / entry).resolve()
    if not p.exists() and entry.startswith("../"):
        p = (root / entry[3:]).resolve()
    if not p.exists():
        raise EdgecglError(f"{where}: {p} does not exist", hint)
    if p.is_file() and p.suffix.lower() != ".txt":
        raise EdgecglError(f"{where}: {p} is neither a folder nor a .txt list of images", ENTRY_HINT)
    return p


def _names(file: Path, names: object) -> tuple[list | dict | None, dict[int, str]]:
    if names is None:
        return None, {}
    if isinstance(names, list):
        return names, {i: str(n) for i, n in enumerate(names)}
    if isinstance(names, dict):
        try:
            return names, {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            pass
    raise EdgecglError(f"{file}: names must be a list or a mapping of class ids to names, got {names!r}")


def _collect(root: Path, yaml_file: Path | None, sources: dict[str, list[Path]]) -> YoloSet:
    """Every image of every split, each once: a split naming the folders of an earlier one (``val:``
    the same as ``train:``) is that split's output folder too."""
    splits: dict[str, str] = {}
    images: list[YoloImage] = []
    for key, entries in sources.items():
        same = next((k for k, e in sources.items() if e == entries and k in splits), None)
        if same is not None:
            splits[key] = splits[same]
            continue
        splits[key] = key
        taken: dict[PurePosixPath, Path] = {}
        found = _split_images(entries)
        if not found:
            raise EdgecglError(
                f"{yaml_file or root}: {key} ({', '.join(map(str, entries))}) holds no images",
                f"Ultralytics reads {', '.join(sorted(ULTRALYTICS_IMAGES))}",
            )
        for image, rel in found:
            if rel in taken:
                if taken[rel] == image:  # listed twice
                    continue
                raise EdgecglError(
                    f"{taken[rel]} and {image} would both be written as images/{key}/{rel}",
                    "give the split one folder, or folders with different names",
                )
            taken[rel] = image
            label = label_path(image)
            images.append(YoloImage(image, label if label.is_file() else None, key, rel))
    return YoloSet(root, yaml_file, splits, sources, images)


def _split_images(entries: list[Path]) -> list[tuple[Path, PurePosixPath]]:
    """(image, place below the split's output folder): below a folder as in it (below a list of
    folders, under each folder's name); from a .txt list, as below its last images/ folder."""
    out = []
    folder_names: dict[str, int] = {}
    for entry in entries:
        if entry.is_dir():
            prefix = PurePosixPath()
            if len(entries) > 1:
                n = folder_names[entry.name] = folder_names.get(entry.name, 0) + 1
                prefix = PurePosixPath(entry.name if n == 1 else f"{entry.name}-{n}")
            for f in _image_files(entry):
                out.append((Path(f), prefix / PurePosixPath(Path(f).relative_to(entry).as_posix())))
        else:
            for f in _listed_images(entry):
                below = os.fspath(f).rsplit(f"{os.sep}images{os.sep}", 1)
                out.append((f, PurePosixPath(Path(below[1] if len(below) == 2 else f.name).as_posix())))
    return sorted(out, key=lambda t: os.fspath(t[0]))


def _image_files(folder: Path) -> list[str]:
    """Ultralytics' search: every ``*.*`` under the folder, recursively (hidden names skipped)."""
    return sorted(
        f
        for f in glob.glob(str(Path(glob.escape(str(folder))) / "**" / "*.*"), recursive=True)
        if f.rpartition(".")[-1].lower() in ULTRALYTICS_IMAGES and os.path.isfile(f)
    )


def _listed_images(txt: Path) -> list[Path]:
    """A .txt list: one image path a line; ``./`` relative to the list, others as written (Ultralytics)."""
    try:
        lines = txt.read_text(encoding="utf-8-sig").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgecglError(f"cannot read the image list {txt}: {exc}") from None
    paths = [
        Path(str(txt.parent) + os.sep + x[2:]) if x.startswith("./") else Path(x)
        for x in map(str.strip, lines)
    ]
    found = [p for p in paths if p.name.rpartition(".")[-1].lower() in ULTRALYTICS_IMAGES]
    missing = [p for p in found if not p.is_file()]
    if missing:
        raise EdgecglError(f"{txt} lists {len(missing)} image(s) that do not exist, e.g. {missing[0]}")
    return found


def _is_image(p: Path) -> bool:
    return p.suffix[1:].lower() in ULTRALYTICS_IMAGES and p.is_file()


def data_yaml(ys: YoloSet, out: Path, ids: set[int] | None = None) -> dict:
    """The copy's data.yaml: ``path`` the output folder, each split its images/<split>, the input's names
    (none given: each class id ``ids`` holds, named by its number, which Ultralytics needs) and its other
    keys."""
    doc: dict = {"path": str(out)}
    for key, folder in ys.splits.items():
        doc[key] = f"images/{folder}"
    if ys.names is not None:
        doc["names"] = ys.names
    elif ids:
        doc["names"] = {i: str(i) for i in range(max(ids) + 1)}
    return {**doc, **ys.extra}


def train_hint(ys: YoloSet, out: Path) -> str:
    """How to train on the originals and the copies: Ultralytics takes a list of folders for train."""
    key = "train" if "train" in ys.splits else next(iter(ys.splits))
    folders = [str(p) for p in ys.sources[key]] + [str(out / "images" / ys.splits[key])]
    return f"to train on the originals and the copies, give your data.yaml {key}: [{', '.join(folders)}]"
