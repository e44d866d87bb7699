"""SynthWeather clips: one scene driven forward in time, H.264 mp4 via PyAV (optionally with AAC audio).

Small and fast on purpose: the runtime's video tests use these clips (frame count, audio passthrough,
boxes per frame). ``render_clip`` writes one domain; ``write_clips`` writes the four domains of the
same drive (paired videos) plus ``boxes.json`` (per-frame boxes, identical in every domain). The clip
folder is built under a temporary name and renamed into place when whole, like every folder output
(``edgecgl.atomic.atomic_dir``); its ``boxes.json`` says ``"format": "synthweather-clips"``, which is
what ``--overwrite`` checks before replacing a folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from edgecgl.train.data.synth import make_scene, render_domains

from edgecgl.atomic import atomic_dir, atomic_path, check_output
from edgecgl.domains import DOMAINS
from edgecgl.errors import EdgecglError
from edgecgl.outdir import check_output_dir, holding

SAMPLE_RATE = 48000
CLIPS_FORMAT = "synthweather-clips"  # boxes.json's "format": the mark of a folder write_clips wrote


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    h, w = int(size[0]), int(size[1])
    if h < 16 or w < 16 or h % 2 or w % 2:
        raise EdgecglError(
            f"clip size {h}x{w} is not usable for H.264", "use even sides of at least 16, e.g. 128x256"
        )
    return h, w


def _open_writer(path: Path, size: tuple[int, int], fps: int, audio: bool):
    import av

    container = av.open(str(path), "w", format="mp4")
    vs = container.add_stream("libx264", rate=fps)
    vs.height, vs.width = size
    vs.pix_fmt = "yuv420p"
    vs.options = {"preset": "veryfast", "crf": "20", "threads": "1"}  # one thread: reproducible output
    aus = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo") if audio else None
    return container, vs, aus


def _write_audio(container, aus, seconds: float, freq: float = 440.0, amplitude: float = 0.1) -> int:
    """A quiet sine (stereo fltp, 1024-sample AAC frames). Returns the number of samples written."""
    import av

    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    x = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    for k in range(0, n, 1024):
        chunk = np.ascontiguousarray(np.stack([x[k : k + 1024]] * 2))
        af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        af.sample_rate = SAMPLE_RATE
        af.pts = k
        for pkt in aus.encode(af):
            container.mux(pkt)
    for pkt in aus.encode(None):
        container.mux(pkt)
    return n


def _encode(path: Path, frames: list[np.ndarray], fps: int, audio: bool) -> None:
    import av

    size = frames[0].shape[:2]
    container, vs, aus = _open_writer(path, size, fps, audio)
    try:
        for img in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                container.mux(pkt)
        for pkt in vs.encode(None):
            container.mux(pkt)
        if aus is not None:
            _write_audio(container, aus, len(frames) / fps)
    finally:
        container.close()


def render_frames(
    seed: int, n_frames: int, size: tuple[int, int], fps: int, domains=DOMAINS
) -> tuple[dict[str, list[np.ndarray]], list[list[list[float]]]]:
    """Frames of one drive in several domains, and per-frame boxes ``[x1, y1, x2, y2, cls]``."""
    scene = make_scene(seed)
    out: dict[str, list[np.ndarray]] = {d: [] for d in domains}
    boxes: list[list[list[float]]] = []
    for i in range(n_frames):
        imgs, b, c = render_domains(scene, size, domains, t=i / fps)
        for d in domains:
            out[d].append(imgs[d])
        boxes.append([[*map(float, bb), float(cc)] for bb, cc in zip(b.tolist(), c.tolist(), strict=True)])
    return out, boxes


def render_clip(
    out_path: str | Path,
    n_frames: int = 50,
    size: tuple[int, int] = (128, 256),
    seed: int = 0,
    fps: int = 10,
    domain: str = "sunny",
    audio: bool = False,
    overwrite: bool = False,
) -> list[list[list[float]]]:
    """Write one domain's clip (H.264 yuv420p; + AAC stereo 48 kHz sine when ``audio``). Returns the
    per-frame boxes ``[x1, y1, x2, y2, cls]``."""
    if domain not in DOMAINS:
        raise EdgecglError(f"unknown domain '{domain}'", f"valid domains: {', '.join(DOMAINS)}")
    if n_frames < 1 or fps < 1:
        raise EdgecglError("a clip needs at least one frame and fps >= 1")
    size = _check_size(size)
    out = check_output(Path(out_path), overwrite=overwrite)
    frames, boxes = render_frames(seed, n_frames, size, fps, (domain,))
    with atomic_path(out) as tmp:
        _encode(tmp, frames[domain], fps, audio)
    return boxes


def is_clip_set(folder: Path) -> bool:
    """Whether ``folder`` holds clips ``write_clips`` wrote (its boxes.json says so): the only folder
    that ``--overwrite`` replaces as a whole."""
    try:
        meta = json.loads((Path(folder) / "boxes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == CLIPS_FORMAT


def not_a_clip_set(folder: Path) -> str | None:
    """Why ``folder`` is not a clip set, for --overwrite's refusal (None when it is one)."""
    if is_clip_set(folder):
        return None
    return holding(
        folder,
        lambda p: p.name == "boxes.json" or p.suffix == ".mp4",
        "it has no boxes.json from edgecgl data synth --video",
    )


def write_clips(
    out_dir: str | Path,
    n_frames: int = 50,
    size: tuple[int, int] = (128, 256),
    seed: int = 0,
    fps: int = 10,
    audio: bool = False,
    overwrite: bool = False,
    domains=DOMAINS,
) -> list[Path]:
    """``OUT/<domain>.mp4`` for each domain (the same drive) and ``OUT/boxes.json``, all or nothing:
    ``OUT`` appears only when every clip is written, and ``overwrite`` replaces only an earlier clip set."""
    if n_frames < 1 or fps < 1:
        raise EdgecglError("a clip needs at least one frame and fps >= 1")
    size = _check_size(size)
    out_dir = check_output_dir(Path(out_dir), overwrite, "clip set", not_a_clip_set)
    frames, boxes = render_frames(seed, n_frames, size, fps, domains)
    with atomic_dir(out_dir) as tmp:
        for d in domains:
            _encode(tmp / f"{d}.mp4", frames[d], fps, audio)
        meta = {"format": CLIPS_FORMAT, "seed": seed, "fps": fps, "size": list(size), "frames": n_frames}
        (tmp / "boxes.json").write_text(json.dumps({**meta, "boxes": boxes}) + "\n", encoding="utf-8")
    return [*(out_dir / f"{d}.mp4" for d in domains), out_dir / "boxes.json"]
