"""``edgecgl train`` behind the CLI: config, (distributed) setup, dataset, run folder, trainer.

Single process: ``edgecgl train ...``. Many GPUs / nodes: ``torchrun --nproc_per_node N -m edgecgl train
...``; torchrun's WORLD_SIZE / RANK / LOCAL_RANK select the process group (nccl on CUDA, gloo on CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from edgecgl.train.config import TrainConfig
from edgecgl.train.nets import CGLModel
from edgecgl.train.trainer import Trainer, TrainResult, describe_model, resolve_device

from edgecgl.config import apply_overrides, dump_yaml, from_dict, load_config, load_yaml
from edgecgl.errors import EdgecglError
from edgecgl.runs import new_run_dir, newest, run_or_newest


def resolve_config(
    config: str | None,
    sets: list[str],
    data: str | None = None,
    iters: int | None = None,
    device: str | None = None,
    resume_dir: Path | None = None,
) -> TrainConfig:
    """Defaults <- YAML (or a resumed run's config.yaml) <- --set <- --data/--iters/--device."""
    if resume_dir is not None:
        raw = load_yaml(resume_dir / "config.yaml")
        if config is not None:  # "the same command plus --resume" is fine; another config was ignored
            named = load_config(TrainConfig, config, []).name
            if named != raw.get("name"):
                raise EdgecglError(
                    f"{resume_dir} was trained with config '{raw.get('name')}', not '{named}' (--config {config})",
                    "resuming reads the run's own config.yaml: drop --config, change keys with --set key=value",
                )
        apply_overrides(raw, sets)
        cfg = from_dict(TrainConfig, raw)
    else:
        if config is None:
            raise EdgecglError("no config given", "pass --config synth-tiny (or a YAML path)")
        cfg = load_config(TrainConfig, config, sets)
    if data:
        cfg.data.spec = data
    if iters is not None:
        if iters < 0:
            raise EdgecglError(f"--iters must be >= 0, got {iters}")
        cfg.iters = iters
    if device:
        cfg.device = device
    if not cfg.data.domains and cfg.data.spec and resume_dir is None:
        from edgecgl.train.data.open import data_domains

        cfg.data.domains = data_domains(cfg.data.spec, cfg.data.bdd_rules)  # from the data unless configured
    n = len(cfg.data.domains) if cfg.data.domains else None
    if n is not None and n != cfg.model.n_domains:
        cfg.model = dataclasses.replace(cfg.model, n_domains=n)
    cfg.validate()
    return cfg


def dry_run_text(cfg: TrainConfig) -> str:
    model = CGLModel(cfg.model)
    lines = [
        "# resolved config",
        dump_yaml(cfg).rstrip(),
        "",
        f"{'module':<18}{'parameters':>14}{'MB (fp32)':>12}",
    ]
    for name, n, mb in describe_model(model):
        lines.append(f"{name:<18}{n:>14,}{mb:>12.2f}")
    gen = sum(n for name, n, _ in describe_model(model) if name in ("content_enc", "style_enc", "gen"))
    lines.append(f"E^c + E^s + M + G: {gen / 1e6:.2f} M parameters")
    return "\n".join(lines)


def _init_distributed(device_name: str) -> tuple[int, int]:
    """(rank, local_rank); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not dist.is_initialized():
        use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return (dist.get_rank() if dist.is_initialized() else 0), local


def _broadcast_path(path: Path | None) -> Path:
    if dist.is_initialized():
        box = [str(path) if path is not None else ""]
        dist.broadcast_object_list(box, src=0)
        return Path(box[0])
    assert path is not None
    return path


def open_training_data(cfg: TrainConfig):  # noqa: ANN201 - the data package's Dataset
    if not cfg.data.spec:
        raise EdgecglError(
            "no dataset given", "pass --data KIND:PATH (e.g. folder:data/synth) or set data.spec"
        )
    from edgecgl.train.data import open_dataset

    return open_dataset(
        cfg.data.spec,
        size=(int(cfg.data.frame_size[0]), int(cfg.data.frame_size[1])),
        split="train",
        seed=cfg.seed,
        flip=cfg.data.flip,
        domains=list(cfg.data.domains) or None,
        categories=list(cfg.data.categories) or None,
        bdd_rules=cfg.data.bdd_rules,
        detail_scale=cfg.data.crop_scale if cfg.loss.instances else 1,
    )


def train(
    config: str | None,
    *,
    data: str | None = None,
    out: Path = Path("runs/train"),
    iters: int | None = None,
    resume: bool = False,
    resume_dir: Path | None = None,
    sets: list[str] | None = None,
    device: str | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> TrainResult:
    """Run (or resume) one training run; returns where it went and the last metrics."""
    run_dir: Path | None = None
    if resume:
        if resume_dir is not None:
            run_dir = run_or_newest(Path(resume_dir), "checkpoints/last.pt", log)
        else:
            run_dir = newest(Path(out), "checkpoints/last.pt")
        if not (run_dir / "checkpoints" / "last.pt").is_file():
            if not (run_dir / "config.yaml").is_file():  # a runs folder whose runs all stopped early:
                with contextlib.suppress(EdgecglError):  # name the newest of them
                    run_dir = newest(run_dir)
            is_run = (run_dir / "config.yaml").is_file()
            raise EdgecglError(
                f"{run_dir} has no checkpoints/last.pt to resume from",
                "it stopped before its first checkpoint: train it again without --resume"
                if is_run
                else "give a run folder (runs/train/NNN-name) or the runs folder holding it",
            )
    cfg = resolve_config(config, list(sets or []), data, iters, device, run_dir)
    owns_group = not dist.is_initialized()
    rank, local = _init_distributed(cfg.device)
    try:
        return _train(cfg, rank, local, run_dir, resume, out, log, progress)
    finally:
        if owns_group and dist.is_initialized():
            # A trainer left in a reference cycle keeps its DDP model, which holds the group: collect it
            # now, while the interpreter is whole. A gloo group freed during interpreter exit can abort.
            gc.collect()
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig,
    rank: int,
    local: int,
    run_dir: Path | None,
    resume: bool,
    out: Path,
    log: Callable[[str], None],
    progress: bool,
) -> TrainResult:
    dev = resolve_device(cfg.device, local)
    dataset = open_training_data(cfg)
    fresh = rank == 0 and run_dir is None
    if fresh:
        run_dir = new_run_dir(Path(out), cfg.name)
    run_dir = _broadcast_path(run_dir)
    say = log if rank == 0 else (lambda s: None)
    try:
        trainer = Trainer(cfg, dataset, run_dir, dev, log=say, progress=progress)
    except BaseException:
        if fresh and not any(run_dir.iterdir()):  # refused before it trained: leave no empty, numbered folder
            run_dir.rmdir()
        raise
    # named once the trainer accepted the data: a refusal names no folder it then removes
    say(
        f"run folder {run_dir} on {dev}"
        + (f" x{dist.get_world_size()} ranks" if dist.is_initialized() else "")
    )
    if resume:
        trainer.resume()
        if trainer.step >= cfg.iters:  # run() would return at once: a full bar and exit 0 said nothing
            raise EdgecglError(
                f"{run_dir} is already at step {trainer.step}, and --iters {cfg.iters} ends there: nothing was trained",
                f"pass --iters above {trainer.step} to train it further",
            )
    result = trainer.run()  # it says how many unreadable images it skipped
    say(f"step {result.step}: {run_dir / 'checkpoints' / 'model.pt'} (inference), last.pt (resume)")
    return result
