"""Which GPU this is, precisely enough that a TensorRT engine is never run on a GPU it was not built for.

Name and compute capability are not enough: every Orin module is sm_87, so an AGX Orin engine (more SMs,
more memory, tactics timed there) would pass on an Orin Nano. The identity adds the SM count, the memory
(GiB, rounded) and, on Jetson, the L4T release. It comes from the CUDA driver (``libcuda``, present on every
machine with an NVIDIA driver, Jetson included) so it does not depend on a CUDA build of torch; torch is
the fallback. No source at all is an error, never "unknown": an engine whose sidecar says "unknown" would
be refused by the runtime that built it.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Any

from edgecgl.errors import EdgecglError

IDENTITY_KEYS = ("gpu", "compute_capability", "sm_count", "memory_gib", "l4t")
_ATTR_SM_COUNT, _ATTR_CC_MAJOR, _ATTR_CC_MINOR = 16, 75, 76  # CUdevice_attribute values
L4T_RELEASE_FILE = Path("/etc/nv_tegra_release")


def l4t_release(path: Path = L4T_RELEASE_FILE) -> str:
    """'36.4.0' from '# R36 (release), REVISION: 4.0, ...' (JetPack's Jetson Linux); '' off Jetson."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"{m.group(1)}.{m.group(2)}" if m else ""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise OSError(f"{what} returned CUDA error {rc}")


def identity_from_driver(lib: Any, device: int = 0) -> dict[str, str]:
    """The identity through the CUDA driver API (``lib``: ``ctypes.CDLL('libcuda.so.1')`` or a stand-in)."""
    _check(lib.cuInit(0), "cuInit")
    dev = ctypes.c_int()
    _check(lib.cuDeviceGet(ctypes.byref(dev), device), "cuDeviceGet")
    name = ctypes.create_string_buffer(256)
    _check(lib.cuDeviceGetName(name, 256, dev), "cuDeviceGetName")
    vals = {}
    for key, attr in (("sm", _ATTR_SM_COUNT), ("major", _ATTR_CC_MAJOR), ("minor", _ATTR_CC_MINOR)):
        v = ctypes.c_int()
        _check(lib.cuDeviceGetAttribute(ctypes.byref(v), attr, dev), "cuDeviceGetAttribute")
        vals[key] = v.value
    mem = ctypes.c_size_t()
    _check(lib.cuDeviceTotalMem_v2(ctypes.byref(mem), dev), "cuDeviceTotalMem")
    return {
        "gpu": name.value.decode("utf-8", "replace"),
        "compute_capability": f"{vals['major']}.{vals['minor']}",
        "sm_count": str(vals["sm"]),
        "memory_gib": str(round(mem.value / 2**30)),
        "l4t": l4t_release(),
    }


def identity_from_torch(torch: Any, device: int = 0) -> dict[str, str]:
    p = torch.cuda.get_device_properties(device)
    return {
        "gpu": str(p.name),
        "compute_capability": f"{p.major}.{p.minor}",
        "sm_count": str(p.multi_processor_count),
        "memory_gib": str(round(p.total_memory / 2**30)),
        "l4t": l4t_release(),
    }


def device_identity(device: int = 0) -> dict[str, str]:
    """The identity of CUDA device ``device``: the driver API, else torch; an error when neither works."""
    errors = []
    try:
        return identity_from_driver(ctypes.CDLL("libcuda.so.1"), device)
    except (OSError, AttributeError) as exc:
        errors.append(f"CUDA driver: {exc}")
    try:
        import torch

        if torch.cuda.is_available():
            return identity_from_torch(torch, device)
        errors.append("torch: no CUDA device")
    except ImportError:
        errors.append("torch: not installed")
    raise EdgecglError(
        f"cannot identify the GPU ({'; '.join(errors)})",
        "TensorRT engines are built and run on an NVIDIA GPU with its driver installed",
    )
