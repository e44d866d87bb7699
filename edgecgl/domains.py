"""The weather domains and their order, shared by every stage (dataset labels, one-hots, bundles).

The four weather names are only the defaults: a folder dataset's domains are its image sub-folders
(``folder_domains``) and a bundle's are in its manifest; every command takes them from there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecgl.errors import EdgecglError

# Paper Table 1 domains. The index of a name is its one-hot position everywhere (training, ONNX, runtime).
DOMAINS: tuple[str, ...] = ("sunny", "night", "cloudy", "rainy")
# Still images every command reads (dataset folders, edgecgl image, --style-ref, calibration sets).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def folder_domains(root: Path) -> list[str]:
    """The sub-folders of ``root`` that hold images, as domain names: the default names first in their
    usual order (so a SynthWeather folder keeps the paper's one-hot order), then the others sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = {
        d.name
        for d in root.iterdir()
        if d.is_dir()
        and not d.name.startswith(".")
        and any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in d.iterdir())
    }
    return [d for d in DOMAINS if d in found] + sorted(found - set(DOMAINS))


def domain_index(name: str, domains: tuple[str, ...] | list[str] = DOMAINS) -> int:
    """Index of a domain name, or a user error listing the valid names."""
    key = name.strip().lower()
    if key not in domains:
        raise EdgecglError(f"unknown domain '{name}'", f"valid domains: {', '.join(domains)}")
    return list(domains).index(key)


def parse_domains(spec: str, domains: tuple[str, ...] | list[str] | None = DOMAINS) -> list[str]:
    """'night,rainy' -> ['night', 'rainy'], each checked against ``domains`` (None: checked later,
    e.g. against a bundle's domains once it is loaded)."""
    names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    if not names:
        raise EdgecglError("no target domain given", f"valid domains: {', '.join(domains or DOMAINS)}")
    for n in names if domains is not None else ():
        domain_index(n, domains)
    return names


def one_hot(index: int, n: int = len(DOMAINS), batch: int = 1) -> np.ndarray:
    """(batch, n) float32 one-hot rows, the domain input of the generator and style encoder."""
    if not 0 <= index < n:
        raise ValueError(f"domain index {index} out of range for {n} domains")
    out = np.zeros((batch, n), dtype=np.float32)
    out[:, index] = 1.0
    return out
