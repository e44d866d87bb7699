"""The resume file ``checkpoints/last.pt``: everything needed to continue a run bit for bit.

Plain tensors, numbers, strings, lists and dicts only, so it loads with ``weights_only=True`` (a crafted
file cannot run code). Written atomically: a crash, Ctrl-C or a full disk during the write leaves the
previous ``last.pt`` untouched.
"""

from __future__ import annotations

import errno
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgecgl.atomic import atomic_path
from edgecgl.errors import EdgecglError

FORMAT = "edgecgl-resume"
VERSION = 1


def rng_state() -> dict[str, Any]:
    """This process's torch / CUDA / numpy / python RNG states as weights_only-safe values."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _disk_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
        s in text for s in ("no space left", "disk quota", "file write failed", "failed writing")
    )


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Atomic ``torch.save``; a failed write is a user error that names the kept checkpoint."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
    except (OSError, RuntimeError) as exc:
        kept = f"the previous {path.name} is kept" if path.exists() else "no earlier checkpoint exists"
        why = "the disk is full" if _disk_error(exc) else str(exc).splitlines()[0][:200]
        raise EdgecglError(
            f"could not write checkpoint {path}: {why}", f"{kept}; free space and run again with --resume"
        ) from None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise EdgecglError(
            f"resume checkpoint {path} does not exist", "give a run folder with checkpoints/last.pt"
        )
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our checkpoint"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EdgecglError(f"{path} is not a loadable resume checkpoint: {first[:200]}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EdgecglError(
            f"{path} is not an edgecgl resume checkpoint", "use runs/train/<run>/checkpoints/last.pt"
        )
    if data.get("version") != VERSION:
        raise EdgecglError(f"{path} has resume version {data.get('version')}, this edgecgl reads {VERSION}")
    return data
