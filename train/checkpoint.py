"""The resume file ``checkpoints/last.pt``: everything needed to continue a run bit for bit.

Plain tensors, numbers, strings, lists and dicts only, so it loads with ``weights_only=True`` (a crafted
file cannot run code). Written atomically: a crash, Ctrl-C or a full disk during the write leaves the
previous ``last.pt`` untouched.
"""

from __future__ import annotations

import errno
import random
import re
import warnings
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


_TORCH_ADVICE = ("weights only load failed", "weights_only", "file an issue", "check the documentation")


def load_failure(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file: its first useful line, without torch's advice
    to re-run it with ``weights_only=False`` or to allow-list globals (either runs what the file holds)."""
    if isinstance(exc, EOFError):
        return "the file ends early (empty or cut off)"
    for line in str(exc).splitlines():
        text = line.strip().removeprefix("WeightsUnpickler error:").strip()
        text = re.sub(r"^\[enforce fail at [^\]]*\]\s*\.?\s*", "", text)
        if text and not any(a in text.lower() for a in _TORCH_ADVICE):
            if text.startswith("Unsupported operand"):  # the unpickler met bytes that are no pickle opcode
                return f"not a file written by torch.save ({text[0].lower()}{text[1:]})"
            return text.split(" Please use ")[0][:200]
    return type(exc).__name__


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise EdgecglError(
            f"resume checkpoint {path} does not exist", "give a run folder with checkpoints/last.pt"
        )
    try:
        with warnings.catch_warnings():  # a raw pickle's protocol note: the file is refused or checked below
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our checkpoint"
        raise EdgecglError(
            f"{path} is not a loadable resume checkpoint: {load_failure(exc)}",
            "give a run folder with checkpoints/last.pt written by edgecgl train",
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EdgecglError(
            f"{path} is not an edgecgl resume checkpoint", "use runs/train/<run>/checkpoints/last.pt"
        )
    if data.get("version") != VERSION:
        raise EdgecglError(f"{path} has resume version {data.get('version')}, this edgecgl reads {VERSION}")
    return data
