"""Class ids of the folder format: the fixed table, or the dataset's own names in ``ROOT/classes.txt``.

A fleet's YOLO labels carry its own ids (0 car, 1 pedestrian, 2 traffic light, ...). Read through the fixed
table they were counted under other names (pedestrians as trucks, traffic lights as buses) and trained as
instances. ``classes.txt`` (one name per line, line N naming id N: the convention of YOLO labelling tools)
names them; then only vehicle and person classes are instances, and the rest stay labels of the frame.
"""

from __future__ import annotations

from pathlib import Path

from edgecgl.errors import EdgecglError

# The fixed table (what `data synth` and `data label` write): every class in it is an instance.
FOLDER_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "person", "motorcycle", "bicycle")
CLASS_FILE = "classes.txt"
# Class names that are instances (vehicles and people), compared as instance_name() spells them.
INSTANCE_NAMES = frozenset(
    ("car", "truck", "bus", "van", "person", "pedestrian", "people", "rider", "cyclist", "bike", "bicycle",
     "motor", "motorcycle", "motorbike", "motor bike", "vehicle", "trailer", "suv", "pickup", "scooter")
)  # fmt: skip
_PLURALS = {"buses": "bus", "people": "people", "persons": "person"}


def instance_name(name: str) -> str:
    """``Motor_Bikes`` -> ``motor bike``: a class name as INSTANCE_NAMES spells it (plurals too: a
    labelling tool's ``cars``, ``pedestrians``)."""
    n = " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())
    if n in _PLURALS:
        return _PLURALS[n]
    return n[:-1] if n.endswith("s") and n[:-1] in INSTANCE_NAMES else n


def is_instance(name: str) -> bool:
    return instance_name(name) in INSTANCE_NAMES


def folder_class_names(root: Path) -> tuple[tuple[str, ...], bool]:
    """(name of each class id, whether they are the dataset's own from ``ROOT/classes.txt``)."""
    f = Path(root) / CLASS_FILE
    if not f.is_file():
        return FOLDER_CLASSES, False
    try:
        lines = f.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgecglError(f"cannot read {f}: {exc}", "one class name per line, line N naming id N") from None
    while lines and not lines[-1].strip():
        lines.pop()
    names = tuple(ln.strip() for ln in lines)
    if not names or "" in names:
        at = f" (line {names.index('') + 1} is empty)" if names else ""
        raise EdgecglError(f"{f} names no classes{at}", "one class name per line, line N naming id N")
    return names, True


def instance_ids(names: tuple[str, ...], own: bool) -> list[int]:
    """The ids whose boxes are instances: every id of the fixed table; of a dataset's own names, its
    vehicle and person classes, or every one where none is a name of those (``no_instance_names``)."""
    ids = [i for i, n in enumerate(names) if not own or is_instance(n)]
    return ids or list(range(len(names)))


def no_instance_names(names: tuple[str, ...] | list[str]) -> str | None:
    """A warning when a dataset's own class names include no vehicle or person name edgecgl knows: then
    every class is taken as an instance (a traffic light too), as with no names at all."""
    if not names or any(is_instance(n) for n in names):
        return None
    return (
        f"warning: none of the class names {', '.join(names[:6])}{', ...' if len(names) > 6 else ''} is a "
        "vehicle or person edgecgl knows (car, truck, bus, person, pedestrian, ...): every class's boxes are "
        "instances"
    )
