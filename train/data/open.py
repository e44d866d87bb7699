"""``open_dataset``: one entry point for every format, by ``KIND:PATH`` or by looking at PATH."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgecgl.train.data.frames import FrameDataset, split_records

from edgecgl.domains import DOMAINS, folder_domains
from edgecgl.errors import EdgecglError

# A loader parses annotations: (path, domains, categories) -> (records, report, val scene names or None).
# Extra keyword options (bdd_rules=...) go to the loaders that understand them.
Loader = Callable[..., Any]

DEFAULT_MIN_BOX = 4  # pixels of the returned image; smaller boxes carry no usable instance


def _folder(path: Path, domains: Sequence[str], categories: Sequence[str] | None, **_: Any):
    from edgecgl.train.data.folder import load_folder

    return load_folder(path, domains, categories)


def _synth(path: Path, domains: Sequence[str], categories: Sequence[str] | None, **_: Any):
    """``synth:DIR``: a SynthWeather folder (the folder format plus its pairs.json)."""
    from edgecgl.train.data.folder import load_folder

    if not (Path(path) / "pairs.json").is_file():
        raise EdgecglError(
            f"{path} is not a SynthWeather folder (no pairs.json)",
            "generate one with 'edgecgl data synth --out DIR', or use folder:PATH",
        )
    return load_folder(path, domains, categories)


def _bdd(path: Path, domains: Sequence[str], categories: Sequence[str] | None, **opts: Any):
    from edgecgl.train.data.bdd100k import load_bdd100k

    return load_bdd100k(path, domains, categories, opts.get("bdd_rules"))


def _init(path: Path, domains: Sequence[str], categories: Sequence[str] | None, **_: Any):
    from edgecgl.train.data.init import load_init

    return load_init(path, domains, categories)


LOADERS: dict[str, Loader] = {"folder": _folder, "synth": _synth, "bdd100k": _bdd, "init": _init}


def detect_kind(path: Path, domains: Sequence[str]) -> str:
    """Recognise a dataset by its contents; a user error names the formats tried."""
    from edgecgl.train.data.folder import looks_like_folder

    if not path.exists():
        raise EdgecglError(f"dataset path {path} does not exist")
    # annotation files first: an INIT or BDD100K root may also have images in per-domain folders
    from edgecgl.train.data.bdd100k import looks_like_bdd100k
    from edgecgl.train.data.init import looks_like_init

    if looks_like_bdd100k(path):
        return "bdd100k"
    if looks_like_init(path):
        return "init"
    if looks_like_folder(path, domains) or folder_domains(path):
        return "folder"
    raise EdgecglError(
        f"cannot tell which dataset format {path} is",
        f"expected ROOT/<domain>/*.jpg ({', '.join(domains)}), a BDD100K labels JSON, or INIT annotations; "
        "or prefix the path with folder:, synth:, bdd100k: or init:",
    )


NO_DOMAINS = (
    "its images have no weather domain: sort them into ROOT/<domain>/ with their labels in "
    "ROOT/<domain>/labels/ (folder:), or translate it with edgecgl augment yolo:PATH"
)


def _not_ultralytics(spec: str, path: Path) -> None:
    """An Ultralytics set read as the folder format took its train/ and val/ for weather domains and lost
    its labels (they live in a sibling labels/ tree); say what it is instead."""
    from edgecgl.yolo_set import looks_like_yolo

    root = (
        path.parent if path.is_file() and path.suffix.lower() in (".yaml", ".yml") else looks_like_yolo(path)
    )
    if root is not None:
        raise EdgecglError(
            f"{spec} is an Ultralytics dataset ({root}: images/ + labels/ or a data.yaml)", NO_DOMAINS
        )


def parse_spec(spec: str, domains: Sequence[str] = DOMAINS) -> tuple[str, Path]:
    """``KIND:PATH`` -> (kind, path); a plain path -> (detected kind, path)."""
    spec = str(spec)
    kind, sep, rest = spec.partition(":")
    if sep and kind == "yolo":
        raise EdgecglError(f"{spec}: an Ultralytics dataset is read by edgecgl augment only", NO_DOMAINS)
    if sep and kind in LOADERS:
        if not rest:
            raise EdgecglError(f"dataset spec '{spec}' has no path", f"e.g. {kind}:data/mydata")
        if kind in ("folder", "synth"):
            _not_ultralytics(spec, Path(rest).expanduser())
        return kind, Path(rest).expanduser()
    if sep and len(kind) > 1 and not Path(spec).exists():
        raise EdgecglError(f"unknown dataset kind '{kind}'", f"use one of: {', '.join(LOADERS)}")
    path = Path(spec).expanduser()
    from edgecgl.train.data.bdd100k import looks_like_bdd100k

    if path.exists() and not looks_like_bdd100k(path):
        _not_ultralytics(spec, path)
    return detect_kind(path, domains), path


def data_domains(spec: str, bdd_rules: Any = None) -> list[str]:
    """The domains a dataset defines: a folder's image sub-folders; for BDD100K the domains of its rule
    table (``bdd_rules``; the paper's four by default); the paper's four for INIT."""
    kind, path = parse_spec(spec)
    if kind in ("folder", "synth"):
        return folder_domains(path) or list(DOMAINS)
    if kind == "bdd100k":
        from edgecgl.domains import bdd_rules as table

        return table(bdd_rules).domains()
    return list(DOMAINS)


def open_dataset(
    spec: str,
    *,
    size: tuple[int, int] | None = (128, 256),
    split: str = "train",
    val_fraction: float = 0.1,
    seed: int = 0,
    flip: bool = False,
    domains: list[str] | None = None,
    categories: list[str] | None = None,
    min_box: int = DEFAULT_MIN_BOX,
    allow_empty_domains: bool = False,
    bdd_rules: Any = None,
    detail_scale: int = 1,
) -> FrameDataset:
    """Open any supported dataset as a ``Dataset[Sample]``.

    ``size=(H, W)``: scale to cover keeping aspect, random crop (train) or centre crop (val/all); None
    keeps native sizes. ``split``: a seeded per-domain hash split by scene name (paired frames stay
    together; a SynthWeather ``pairs.json`` fixes the val scenes). ``domains``: names, in the order that
    defines the domain indices (default: ``data_domains(spec)``); every one must have images unless
    ``allow_empty_domains``. ``categories``: which instance classes to keep (loader's names; None =
    the loader's default). ``min_box``: boxes with a side below this many pixels of the returned image
    are dropped. ``bdd_rules``: ``data.bdd_rules`` (a list of rules, or a ``BddRules``) replacing the paper's
    Table 1 for BDD100K; its domains are the default ``domains``.
    ``detail_scale`` s > 1: each sample also carries its window at s x ``size`` (``Sample.detail``).
    """
    doms = list(domains) if domains is not None else data_domains(spec, bdd_rules)
    if not doms or len(set(doms)) != len(doms):
        raise EdgecglError(f"bad domain list {doms}", "give distinct domain names")
    kind, path = parse_spec(spec, doms)
    records, report, val_names = LOADERS[kind](path, doms, categories, bdd_rules=bdd_rules)
    records = split_records(records, len(doms), split, val_fraction, seed, val_names)
    return FrameDataset(
        records,
        doms,
        size=size,
        split=split,
        flip=flip,
        min_box=min_box,
        source=f"{kind}:{path}",
        report=report,
        allow_empty_domains=allow_empty_domains,
        detail_scale=detail_scale,
    )
