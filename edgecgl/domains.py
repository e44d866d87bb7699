"""The weather domains and their order, shared by every stage (dataset labels, one-hots, bundles)."""

from __future__ import annotations

import numpy as np

from edgecgl.errors import EdgecglError

# Paper Table 1 domains. The index of a name is its one-hot position everywhere (training, ONNX, runtime).
DOMAINS: tuple[str, ...] = ("sunny", "night", "cloudy", "rainy")


def domain_index(name: str, domains: tuple[str, ...] | list[str] = DOMAINS) -> int:
    """Index of a domain name, or a user error listing the valid names."""
    key = name.strip().lower()
    if key not in domains:
        raise EdgecglError(f"unknown domain '{name}'", f"valid domains: {', '.join(domains)}")
    return list(domains).index(key)


def parse_domains(spec: str, domains: tuple[str, ...] | list[str] = DOMAINS) -> list[str]:
    """'night,rainy' -> ['night', 'rainy'], each checked."""
    names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    if not names:
        raise EdgecglError("no target domain given", f"valid domains: {', '.join(domains)}")
    for n in names:
        domain_index(n, domains)
    return names


def one_hot(index: int, n: int = len(DOMAINS), batch: int = 1) -> np.ndarray:
    """(batch, n) float32 one-hot rows, the domain input of the generator and style encoder."""
    if not 0 <= index < n:
        raise ValueError(f"domain index {index} out of range for {n} domains")
    out = np.zeros((batch, n), dtype=np.float32)
    out[:, index] = 1.0
    return out
