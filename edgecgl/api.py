"""Translation from Python: a node on the vehicle (ROS, a camera SDK's frame loop) or a notebook gets the
pipeline the CLI builds, frame by frame, without files or the CLI.

    from edgecgl.api import open_pipeline
    pipe = open_pipeline("bundles/fleet", to="night", detector="yolov8n.pt")
    night = pipe(frame).image      # RGB uint8 HxWx3 in, the same size out
    pipe.reset()                   # before frames of another drive
    pipe.warmup((720, 1280))       # optional: pay the first frame's set-up (1-2 s) before the camera starts

``edgecgl.video.translate_video(src, dst, pipe)`` runs a file through it the way ``edgecgl video`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgecgl.pipeline import Pipeline


def open_pipeline(
    bundle: str | Path,
    to: str,
    *,
    instances: bool = True,
    detector: str | Path | None = None,
    backend: str = "auto",
    size: str | tuple[int, int] | None = None,
    style_seed: int | None = None,
    style_spread: float = 1.0,
    style_ref: str | Path | None = None,
    upsample: str = "guided",
    detect_every: int | None = None,
    conf: float = 0.35,
    track: bool = True,
    log: Callable[[str], None] | None = None,
) -> Pipeline:
    """A ready pipeline for one target domain; call it on a video's frames in order.

    ``instances=False`` translates the frame only; else ``detector`` is an Ultralytics model file (None:
    Ultralytics' default model, which it downloads where online). ``size`` (``"HxW"`` or a tuple) overrides the
    working size; ``detect_every`` as ``edgecgl video --detect-every`` (the tracker predicts the boxes
    between; None: the CLI's default for video, every frame for stills); ``track=False`` for unrelated
    stills, which must not share track IDs. ``log`` gets the
    lines the CLI prints (backend, style, working size). Users' mistakes raise ``EdgecglError``, whose
    message names the CLI flag of the argument (``--style-seed`` for ``style_seed``).
    """
    from edgecgl.cli.runtime_opts import (
        DEFAULT_DETECT_EVERY,
        RuntimeArgs,
        build_pipeline,
        check_spread_used,
        check_style_choice,
    )
    from edgecgl.errors import EdgecglError

    if not isinstance(to, str) or not to.strip():
        raise EdgecglError(f"to must be a domain name such as 'night', got {to!r}")
    ref = Path(style_ref) if style_ref is not None else None
    check_style_choice(False, ref)
    check_spread_used(style_spread, style_seed, False, ref)  # messages name the CLI's flags
    if isinstance(size, tuple):
        size = f"{size[0]}x{size[1]}"
    args = RuntimeArgs(
        bundle=Path(bundle),
        to=to,
        style_seed=style_seed,
        style_ref=ref,
        no_instances=not instances,
        detector=Path(detector) if detector is not None else None,
        conf=conf,
        backend=backend,
        size=size,
        upsample=upsample,
        detect_every=detect_every if detect_every is not None else (DEFAULT_DETECT_EVERY if track else 1),
        style_spread=style_spread,
    )
    pipeline, _ = build_pipeline(args, log_fn=log or (lambda _m: None), track=track)
    return pipeline
