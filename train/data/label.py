"""``edgecgl data label``: fill missing YOLO label files of a folder dataset with a detector.

A user with plain footage (``ROOT/<domain>/*.jpg``) gets instance boxes for the instance branch.
COCO (or any model's) class *names* map onto ``FOLDER_CLASSES``: car, truck, bus, person, motorcycle,
bicycle; other classes are ignored. Existing label files are never touched unless ``overwrite``; each
new file is written atomically, so an interrupted run can simply be started again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from edgecgl.train.data.folder import format_yolo, list_images, safe_name
from edgecgl.train.data.transforms import UnreadableImage, read_rgb

from edgecgl.atomic import write_text_atomic
from edgecgl.classes import CLASS_FILE, FOLDER_CLASSES
from edgecgl.domains import DOMAINS, folder_domains
from edgecgl.errors import EdgecglError


@dataclass
class LabelReport:
    labelled: int = 0  # label files written
    kept: int = 0  # existing label files left alone
    unreadable: int = 0
    boxes: int = 0


def class_map(names: dict[int, str] | Sequence[str]) -> dict[int, int]:
    """Model class id -> folder class id, by name (COCO 'motorcycle', 'bicycle' etc.)."""
    items = names.items() if isinstance(names, dict) else enumerate(names)
    out = {int(k): FOLDER_CLASSES.index(v) for k, v in items if v in FOLDER_CLASSES}
    if not out:
        raise EdgecglError(
            "the detector knows none of the classes " + ", ".join(FOLDER_CLASSES),
            "use a COCO-trained YOLO model (e.g. yolov8n.pt)",
        )
    return out


def load_detector(path: Path):
    """An Ultralytics YOLO model from a local file (never a download: labelling runs offline)."""
    p = Path(path)
    if not p.is_file():
        raise EdgecglError(
            f"detector {p} does not exist", "give a local YOLO weights file, e.g. models/yolov8n.pt"
        )
    try:
        from ultralytics import YOLO
    except ImportError:  # pragma: no cover - ultralytics is a dependency
        raise EdgecglError("ultralytics is not installed", "pip install ultralytics") from None
    try:
        return YOLO(str(p))
    except Exception as exc:  # noqa: BLE001 - any load failure is the user's file
        raise EdgecglError(f"cannot load detector {p}: {exc}") from None


def label_folder(
    root: Path,
    detector: Path,
    *,
    domains: Sequence[str] | None = None,
    conf: float = 0.3,
    imgsz: int = 640,
    min_size: float = 4.0,
    overwrite: bool = False,
    batch: int = 8,
    device: str | None = None,
    on_image: Callable[[int], None] | None = None,
) -> LabelReport:
    root = Path(root)
    if not root.is_dir():
        raise EdgecglError(f"dataset folder {root} does not exist")
    from edgecgl.yolo_set import looks_like_yolo

    if looks_like_yolo(root) is not None:
        raise EdgecglError(
            f"{root} is (in) an Ultralytics dataset, and data label writes edgecgl's folder format",
            "it is labelled already; edgecgl augment yolo:PATH translates it",
        )
    if (root / CLASS_FILE).is_file():  # its ids are the user's; ours would be read under their names
        raise EdgecglError(
            f"{root} names its own classes in {CLASS_FILE}, and data label writes the fixed table's ids "
            f"({', '.join(FOLDER_CLASSES)})",
            "label it with your own tool, or label a copy without classes.txt",
        )
    doms = [safe_name(d, "domain name") for d in (domains or folder_domains(root) or DOMAINS)]
    todo: list[tuple[Path, Path]] = []
    report = LabelReport()
    for d in doms:
        for img in list_images(root / d):
            lab = root / d / "labels" / f"{img.stem}.txt"
            if lab.exists() and not overwrite:
                report.kept += 1
                if on_image:
                    on_image(1)
                continue
            todo.append((img, lab))
    if not todo and report.kept == 0:
        raise EdgecglError(f"no images under {root}/<domain>/", f"domains looked for: {', '.join(doms)}")
    if not todo:
        return report
    model = load_detector(detector)
    cmap = class_map(model.names)
    for k in range(0, len(todo), batch):
        chunk = todo[k : k + batch]
        frames, ok = [], []
        for img, lab in chunk:
            try:
                frames.append(np.ascontiguousarray(read_rgb(img)[:, :, ::-1]))  # Ultralytics wants BGR
                ok.append((img, lab))
            except UnreadableImage:
                report.unreadable += 1
        if frames:
            results = model.predict(frames, conf=conf, imgsz=imgsz, verbose=False, device=device)
            for (_img, lab), frame, res in zip(ok, frames, results, strict=True):
                h, w = frame.shape[:2]
                xyxy = (
                    res.boxes.xyxy.cpu().numpy().reshape(-1, 4) if res.boxes is not None else np.zeros((0, 4))
                )
                cls = res.boxes.cls.cpu().numpy().astype(int) if res.boxes is not None else np.zeros(0, int)
                keep = np.array([c in cmap for c in cls], bool)
                xyxy, cls = xyxy[keep], cls[keep]
                xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, w)
                xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, h)
                big = ((xyxy[:, 2] - xyxy[:, 0]) >= min_size) & ((xyxy[:, 3] - xyxy[:, 1]) >= min_size)
                xyxy, cls = xyxy[big], cls[big]
                write_text_atomic(lab, format_yolo([cmap[int(c)] for c in cls], xyxy, w, h))
                report.labelled += 1
                report.boxes += len(cls)
        if on_image:
            on_image(len(chunk))
    return report
