"""The CGL training loop: pair-wise domain sampling, critic and generator phases, EMA, logs, checkpoints.

Determinism: everything random in step k (the domain pair, the images, their crops and flips, the
instance boxes, the CGC pair, the gradient-penalty interpolation) is drawn from generators seeded with
(seed, rank, k). Nothing depends on how many steps ran in this process, so a resumed run reproduces an
uninterrupted one exactly on CPU, and DataLoader workers may prefetch freely.

Instances: each image contributes one instance, a random box of its own. An image without boxes
contributes a random crop of itself instead (``data.fallback_crop``), so every step has the same graph
(which DDP and torch.compile need) and box-free datasets still train the instance branch.

Distribution: one ``DistributedDataParallel`` per phase (generator side, critic side), each wrapping a
module whose forward is the whole loss of that phase, so each DDP sees exactly one forward and one
backward per step. Rank r samples its own pairs (seeded by r); the adaptive λ_gp is fed the
rank-averaged penalty so it stays identical on every replica.
"""

from __future__ import annotations

import contextlib
import copy
import json
import multiprocessing as mp
import random
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from edgecgl.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from edgecgl.train.config import TrainConfig
from edgecgl.train.inference import save_inference
from edgecgl.train.losses import CGLLoss, PairBatch
from edgecgl.train.nets import CGLModel, count_parameters, init_weights
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from edgecgl import interrupt
from edgecgl.atomic import atomic_path, write_text_atomic
from edgecgl.config import dump_yaml, to_dict
from edgecgl.errors import EdgecglError
from edgecgl.interrupt import signals_held

LOSS_KEYS_EXCLUDED = ("step", "lr", "it_s", "time")
_UNREADABLE = "skipped unreadable image "  # the dataset's warning (data/frames.py), logged here instead


def _seed_int(*parts: int) -> int:
    return int(np.random.default_rng([int(p) for p in parts]).integers(2**62))


# --------------------------------------------------------------------------- data
class SkippedImages:
    """Unreadable images the dataset skipped: a count and the first one, shared with forked DataLoader
    workers (which load the images), so the main process can say it in one log line at the end."""

    def __init__(self) -> None:
        try:
            ctx = mp.get_context("fork")
            self._shared: Any = (ctx.Value("q", 0), ctx.Array("c", 1024))
        except (ValueError, OSError):  # pragma: no cover - no fork on this platform
            self._shared = None
        self._local = [0, ""]

    def __getstate__(self) -> dict[str, Any]:  # spawned workers count on their own copy
        return {"_shared": None, "_local": [self.count, self.first]}

    def add(self, what: str) -> None:
        if self._shared is None:
            self._local = [int(self._local[0]) + 1, self._local[1] or what]
            return
        count, first = self._shared
        with count.get_lock():
            count.value += 1
            if not first.value:
                first.value = what.encode()[: len(first) - 1]

    @property
    def count(self) -> int:
        return int(self._local[0] if self._shared is None else self._shared[0].value)

    @property
    def first(self) -> str:
        if self._shared is None:
            return str(self._local[1])
        return self._shared[1].value.decode(errors="replace")


class StepSource(Dataset):
    """Item ``key`` = every input of one critic/generator batch, a pure function of (seed, rank, key).

    Reads ``dataset[i].image / .domain / .boxes`` only, so any ``Dataset`` of ``Sample``-like items with
    ``domains`` and ``domain_indices()`` works (the tests use an in-memory fake).
    """

    def __init__(self, dataset: Any, cfg: TrainConfig, rank: int = 0) -> None:
        self.dataset = dataset
        self.cfg = cfg
        self.rank = rank
        self.n_domains = len(dataset.domains)
        by_domain: list[list[int]] = [[] for _ in range(self.n_domains)]
        for i, d in enumerate(dataset.domain_indices()):
            by_domain[int(d)].append(i)
        self.by_domain = by_domain
        self.present = [d for d, idx in enumerate(by_domain) if idx]
        self.skipped = SkippedImages()
        if len(self.present) < 2:
            raise EdgecglError(
                f"training needs images of at least two domains; found {len(self.present)}",
                f"domains: {', '.join(dataset.domains)}",
            )

    def __len__(self) -> int:
        return 2**31 - 1

    def _load(
        self, indices: list[int], rng: np.random.Generator
    ) -> tuple[Tensor, Tensor, list[Tensor], Tensor]:
        """(frames, domains, boxes, crop source): the source is the frames themselves, or their windows
        at ``crop_scale`` x the size (``Sample.detail``) with the boxes scaled along."""
        random.seed(int(rng.integers(2**62)))  # the dataset's own random crop / flip
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always", message=_UNREADABLE, category=UserWarning)
            samples = [self.dataset[i] for i in indices]
        for w in caught:  # a skipped image goes to the run's log line; other warnings show as they would
            text = str(w.message)
            if text.startswith(_UNREADABLE):
                self.skipped.add(text[len(_UNREADABLE) :])
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        x = torch.stack([s.image for s in samples]).float()
        d = torch.tensor([int(s.domain) for s in samples], dtype=torch.long)
        boxes = [torch.as_tensor(s.boxes, dtype=torch.float32).reshape(-1, 4) for s in samples]
        details = [getattr(s, "detail", None) for s in samples]
        if all(t is None for t in details):
            return x, d, boxes, x
        if any(t is None for t in details):
            raise ValueError("some samples carry a detail image and some do not")
        src = torch.stack(details).float()  # type: ignore[arg-type]
        scale = src.shape[-1] / x.shape[-1]
        if src.shape[-2] != round(x.shape[-2] * scale):
            raise ValueError(f"detail {tuple(src.shape)} is not a scaled copy of the frames {tuple(x.shape)}")
        return x, d, [b * scale for b in boxes], src

    def pick_boxes(
        self, boxes: list[Tensor], height: int, width: int, rng: np.random.Generator
    ) -> list[Tensor]:
        """One box per image: a random labelled one, or a random crop where the image has none."""
        return self._pick(boxes, height, width, rng)[0]

    def _pick(
        self, boxes: list[Tensor], height: int, width: int, rng: np.random.Generator
    ) -> tuple[list[Tensor], list[bool]]:
        """``pick_boxes`` and, per image, whether its box is a labelled object (not a random crop)."""
        lo, hi = self.cfg.data.fallback_crop
        ih, iw = self.cfg.data.instance_size
        min_box, ctx = self.cfg.data.min_box, self.cfg.data.context
        out, labelled = [], []
        for b in boxes:
            if len(b) and min_box > 0:  # skip boxes the crop would blow up from a few pixels
                side_w = (b[:, 2] - b[:, 0]) * (1 + 2 * ctx)
                side_h = (b[:, 3] - b[:, 1]) * (1 + 2 * ctx)
                b = b[(side_w >= min_box * iw) & (side_h >= min_box * ih)]
            labelled.append(bool(len(b)))
            if len(b):
                out.append(b[int(rng.integers(len(b)))].reshape(1, 4))
                continue
            bh = float(rng.uniform(lo, hi)) * height
            bw = min(bh * iw / ih, float(width))
            x0 = float(rng.uniform(0, width - bw))
            y0 = float(rng.uniform(0, height - bh))
            out.append(torch.tensor([[x0, y0, x0 + bw, y0 + bh]], dtype=torch.float32))
        return out, labelled

    def crops(self, x: Tensor, boxes: list[Tensor], rng: np.random.Generator) -> Tensor:
        """One instance crop per image of ``x`` (the crop source; ``boxes`` in its pixels)."""
        return self._crops(x, boxes, rng)[0]

    def _crops(
        self, x: Tensor, boxes: list[Tensor], rng: np.random.Generator
    ) -> tuple[Tensor, list[Tensor], list[bool]]:
        from edgecgl.train.data import instance_crops

        picked, labelled = self._pick(boxes, x.shape[2], x.shape[3], rng)
        d = self.cfg.data
        crops, _ = instance_crops(
            x, picked, tuple(d.instance_size), d.context, aspect=d.crop_aspect, antialias=d.crop_antialias
        )
        return crops, picked, labelled

    def __getitem__(self, key: int) -> dict[str, Tensor]:
        cfg, b = self.cfg, self.cfg.batch
        rng = np.random.default_rng([cfg.seed, self.rank, int(key)])
        di, dj = rng.choice(self.present, size=2, replace=False)
        idx = [int(i) for i in rng.choice(self.by_domain[di], size=b)]
        idx += [int(i) for i in rng.choice(self.by_domain[dj], size=b)]
        x, d, boxes, src = self._load(idx, rng)
        out: dict[str, Tensor] = {"x": x, "d": d}
        if cfg.loss.instances:
            out["o"], picked, labelled = self._crops(src, boxes, rng)
            if cfg.loss.keep_objects > 0:
                scale = x.shape[-1] / src.shape[-1]  # back to the frame's pixels
                out["o_box"] = torch.cat(picked) * scale
                out["o_near"] = near_weight(out["o_box"], x.shape[-2], labelled)
        if cfg.loss.instances and cfg.loss.cgc:
            k_dom = rng.choice(self.present, size=b)
            l_dom = rng.choice(self.present, size=b)
            k_idx = [int(rng.choice(self.by_domain[k])) for k in k_dom]
            l_idx = [int(rng.choice(self.by_domain[k])) for k in l_dom]
            xk, dk, _, _ = self._load(k_idx, rng)
            _, dl, bl, src_l = self._load(l_idx, rng)
            out.update(cgc_x=xk, cgc_dx=dk, cgc_o=self.crops(src_l, bl, rng), cgc_do=dl)
        out["gp_seed"] = torch.tensor(int(rng.integers(2**62)), dtype=torch.long)
        if cfg.loss.style_prior:
            out["style_seed"] = torch.tensor(int(rng.integers(2**62)), dtype=torch.long)
        if cfg.loss.diffaug:
            out["aug_seed"] = torch.tensor(int(rng.integers(2**62)), dtype=torch.long)
        return out


def near_weight(boxes: Tensor, height: int, labelled: list[bool]) -> Tensor:
    """How much each picked box counts for ``loss.keep_objects``: 0 for a random crop and for far
    objects (box height < 5 % of the frame), 1 for near ones (>= 15 %), linear between. Real fog hides
    the far road and leaves near cars readable; the bands are the runtime's (``edgecgl.retain.BANDS``)."""
    from edgecgl.retain import BANDS

    near_lo = next(lo for name, lo, _ in BANDS if name == "near")
    far_hi = next(hi for name, _, hi in BANDS if name == "far")
    frac = (boxes[:, 3] - boxes[:, 1]) / float(height)
    w = ((frac - far_hi) / (near_lo - far_hi)).clamp(0.0, 1.0)
    return w * torch.tensor(labelled, dtype=w.dtype)


def to_batch(item: dict[str, Tensor], device: torch.device) -> PairBatch:
    fields = {k: v for k, v in item.items() if k in PairBatch.__dataclass_fields__}
    return PairBatch(**fields).to(device)


# --------------------------------------------------------------------------- phases
class GeneratorPhase(nn.Module):
    """Forward = L_G; holds only the generator-side modules, so DDP syncs exactly those."""

    def __init__(self, modules: nn.ModuleDict, loss: CGLLoss) -> None:
        super().__init__()
        self.mods = modules
        self._loss = [loss]  # a list: not a submodule

    def forward(self, batch: PairBatch) -> tuple[Tensor, dict[str, Tensor]]:
        return self._loss[0].generator_loss(batch)


class CriticPhase(nn.Module):
    """Forward = L_D on given (detached) fakes; holds only the discriminators."""

    def __init__(self, modules: nn.ModuleDict, loss: CGLLoss) -> None:
        super().__init__()
        self.mods = modules
        self._loss = [loss]
        self.rng: torch.Generator | None = None

    def forward(self, batch: PairBatch, fakes: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        return self._loss[0].discriminator_loss(batch, fakes, self.rng)


def trained_modules(model: CGLModel, instances: bool) -> tuple[nn.ModuleDict, nn.ModuleDict]:
    """(generator side, critic side) that the optimizers train; the global-only model skips E_o and D_o."""
    g = model.generator_modules()
    if not instances:
        g = nn.ModuleDict({k: v for k, v in g.items() if not k.endswith("_inst")})
    d = nn.ModuleDict({"dis_global": model.dis_global})
    if instances:
        d["dis_inst"] = model.dis_inst
    return g, d


def describe_model(model: CGLModel) -> list[tuple[str, int, float]]:
    """(module, parameters, MB fp32) rows and a total, for --dry-run and the logs."""
    rows = []
    for name, mod in list(model.generator_modules().items()) + list(model.discriminator_modules().items()):
        n = count_parameters(mod)
        rows.append((name, n, n * 4 / 1e6))
    total = count_parameters(model)
    rows.append(("total", total, total * 4 / 1e6))
    return rows


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise EdgecglError(f"device '{name}' asked for but CUDA is not available", "use --device cpu")
        if name == "cuda":
            return torch.device("cuda", local_rank)
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise EdgecglError(f"unknown device '{name}'", "use cpu, cuda, cuda:N or auto")
    return torch.device(name)


def _short_reason(what: str) -> str:
    """'P: [Errno 2] No such file or directory: 'P'' -> 'P: [Errno 2] No such file or directory'."""
    path, _, reason = what.partition(": ")
    return what.removesuffix(f": '{path}'") if reason else what


# --------------------------------------------------------------------------- trainer
@dataclass
class TrainResult:
    run_dir: Path
    step: int
    last_metrics: dict[str, float]
    seconds: float


class Trainer:
    """Build everything from a config and a dataset; ``run(iters)`` trains, logs and checkpoints."""

    def __init__(
        self,
        cfg: TrainConfig,
        dataset: Any,
        run_dir: Path,
        device: torch.device | str = "cpu",
        log: Callable[[str], None] | None = None,
        progress: bool = False,
    ) -> None:
        self.cfg = cfg
        self.dataset = dataset
        self.run_dir = Path(run_dir)
        self.device = torch.device(device)
        self.log = log or (lambda s: None)
        self.show_progress = progress
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.is_main = self.rank == 0
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        if list(dataset.domains) and cfg.model.n_domains != len(dataset.domains):
            raise EdgecglError(
                f"model.n_domains is {cfg.model.n_domains} but the dataset has {len(dataset.domains)} domains",
                "set model.n_domains to the dataset's domain count",
            )
        self.domains = list(dataset.domains)
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.model = CGLModel(cfg.model)
        if cfg.init == "paper":
            init_weights(self.model)
        self.model.to(self.device)
        self.loss = CGLLoss(self.model, cfg.loss)
        self.g_mods, self.d_mods = trained_modules(self.model, cfg.loss.instances)
        g_phase: nn.Module = GeneratorPhase(self.g_mods, self.loss)
        self.d_phase = CriticPhase(self.d_mods, self.loss)
        d_run: nn.Module = self.d_phase
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            g_phase = DDP(g_phase, device_ids=ids)
            d_run = DDP(self.d_phase, device_ids=ids)
        self.g_run: Callable[..., Any] = torch.compile(g_phase) if cfg.compile else g_phase
        self.d_run = d_run
        o = cfg.optim
        self.opt_g = torch.optim.Adam(
            self.g_mods.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay
        )
        self.opt_d = torch.optim.Adam(
            self.d_mods.parameters(), lr=o.lr_d or o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay
        )
        self.sched_g = torch.optim.lr_scheduler.StepLR(self.opt_g, o.lr_step, o.lr_gamma)
        self.sched_d = torch.optim.lr_scheduler.StepLR(self.opt_d, o.lr_step, o.lr_gamma)
        fp16 = cfg.amp == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        self.ema: nn.ModuleDict | None = None
        if cfg.ema.enabled:
            self.ema = copy.deepcopy(self.model.generator_modules()).eval().requires_grad_(False)
        self.step = 0
        self.saved_step: int | None = None  # the step last.pt holds, once this process wrote or read it
        self.source = StepSource(dataset, cfg, self.rank)
        self.gp_rng = torch.Generator(device=self.device)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self._tb: Any = None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "config": to_dict(self.cfg),
            "world_size": self.world,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "gp": {g: w.state_dict() for g, w in self.loss.gp.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        if state.get("scaler_g"):
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        for g, s in state["gp"].items():
            if g in self.loss.gp:
                self.loss.gp[g].load_state_dict(s)
        self.step = int(state["step"])

    def resume(self, path: Path | None = None) -> None:
        """Load ``checkpoints/last.pt`` (or ``path``); per-rank RNG states come back where world size matches."""
        ckpt = path or self.ckpt_dir / "last.pt"
        data = load_checkpoint(ckpt, map_location=self.device)
        try:
            self.load_state_dict(data)
        except (KeyError, ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise EdgecglError(
                f"{ckpt} does not fit this run's model/optimizer config ({first})",
                "resume with the run's own config.yaml, or start a new run",
            ) from None
        rngs = data.get("rng", [])
        if len(rngs) == self.world:
            set_rng_state(rngs[self.rank])
        self.saved_step = self.step
        self._truncate_metrics(self.step)
        self.log(f"resumed from step {self.step}")

    def _truncate_metrics(self, step: int) -> None:
        """Drop lines logged after the checkpoint (they will be logged again, identically)."""
        if not self.is_main or not self.metrics_path.exists():
            return
        keep = []
        for ln in self.metrics_path.read_text().splitlines():
            try:
                if ln.strip() and json.loads(ln)["step"] <= step:
                    keep.append(ln)
            except (ValueError, KeyError, TypeError):  # a line torn by kill -9 or a full disk
                continue
        write_text_atomic(self.metrics_path, "".join(ln + "\n" for ln in keep))

    def save(self, inference: bool = True) -> None:
        """last.pt (all ranks' RNG gathered to rank 0), then model.pt with style statistics."""
        states = [rng_state()]
        if self.distributed:
            states = [None] * self.world  # type: ignore[list-item]
            dist.all_gather_object(states, rng_state())
        if self.is_main:
            save_checkpoint(self.ckpt_dir / "last.pt", {**self.state_dict(), "rng": states})
            self.saved_step = self.step
            if inference:
                path = self.save_inference()
                if self.cfg.log.snapshots:
                    with atomic_path(path.with_name(f"model-{self.step:06d}.pt")) as tmp:
                        shutil.copyfile(path, tmp)
        if self.distributed:
            dist.barrier()

    def _stop_agreed(self, asked: list[int]) -> int:
        """The signal any rank was asked to stop by, 0 for none (Ctrl-C reaches every rank, SIGTERM maybe
        one, a swallowed Ctrl-C only edgecgl.interrupt): one tiny all-reduce per step, the same on all."""
        mine = asked[0] if asked else interrupt.received() or 0
        flag = torch.tensor([float(mine)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # SIGTERM (15) over SIGINT (2): the stronger ask
        return int(flag.item())

    def save_interrupted(self, start: int, whole: bool) -> None:
        """On Ctrl-C or SIGTERM: last.pt at the last whole step, so --resume loses nothing. Rank 0 writes
        alone (no collective: the other ranks may be stopping too) and skips model.pt, whose style
        statistics take seconds that a service manager may not give."""
        last = self.ckpt_dir / "last.pt"
        kept = f"{last} keeps step {self.saved_step}" if self.saved_step is not None else "no last.pt"
        if not whole:  # only a KeyboardInterrupt from outside the signals (signals_held) lands here
            self.log(
                f"interrupted inside step {self.step + 1}: its update is half-applied, not saved; {kept}"
            )
            return
        if self.step in (start, self.saved_step):
            if self.step > 0:
                self.log(f"interrupted at step {self.step}: {kept} (--resume continues from it)")
            return
        if self.is_main:
            with signals_held():  # a second Ctrl-C waits for the save (a torn one is never renamed anyway)
                rngs = [] if self.distributed else [rng_state()]  # others' states would need a collective
                save_checkpoint(last, {**self.state_dict(), "rng": rngs})
                self.saved_step = self.step
                self.log(f"interrupted: saved step {self.step} to {last} (--resume continues from it)")

    def save_inference(self) -> Path:
        from edgecgl.train.style_stats import style_statistics

        mods = self.ema if self.ema is not None else self.model.generator_modules()
        stats = style_statistics(
            mods, self.source, self.cfg.log.style_stats_images, self.device, instances=self.cfg.loss.instances
        )
        path = self.ckpt_dir / "model.pt"
        save_inference(
            path,
            self.model,
            self.domains,
            tuple(self.cfg.data.frame_size),
            tuple(self.cfg.data.instance_size),
            stats,
            self.cfg.sha256(),
            self.step,
            generator_modules=mods,
        )
        return path

    # ------------------------------------------------------------------ one step
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _allreduce_mean(self, values: Tensor) -> Tensor:
        if self.distributed:
            values = values.clone()
            dist.all_reduce(values)
            values /= self.world
        return values

    def train_step(self, items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """n_critic critic updates (one item each), then one generator update on the last item."""
        terms: dict[str, Tensor] = {}
        self.d_mods.requires_grad_(True)
        for item in items:
            batch = to_batch(item, self.device)
            self.gp_rng.manual_seed(int(item["gp_seed"]))
            self.d_phase.rng = self.gp_rng
            with self._autocast():
                fakes = self.loss.translate_for_critic(batch)
                d_total, d_terms = self.d_run(batch, fakes)
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(d_total).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            gps = [g for g in self.loss.granularities]
            stats = [d_terms[f"d_{k}_{g}"].detach().float() for k in ("gp", "gradnorm") for g in gps]
            vals = self._allreduce_mean(torch.stack(stats)).tolist()
            n = len(gps)
            self.loss.update_gp(dict(zip(gps, vals[:n], strict=True)), dict(zip(gps, vals[n:], strict=True)))
            terms.update(d_terms)
        self.d_mods.requires_grad_(False)
        with self._autocast():
            g_total, g_terms = self.g_run(batch)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(g_total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        self.d_mods.requires_grad_(True)
        self.sched_g.step()
        self.sched_d.step()
        self._update_ema()
        terms.update(g_terms)
        self.step += 1
        return {k: v.detach().float() for k, v in terms.items()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        decay = min(self.cfg.ema.decay, (1 + self.step) / (10 + self.step))
        src = self.model.generator_modules()
        for e, p in zip(self.ema.parameters(), src.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - decay)

    def _check_finite(self, terms: dict[str, Tensor]) -> None:
        vals = torch.stack(list(terms.values()))
        bad = (~torch.isfinite(vals)).any().float().reshape(1)
        if self.distributed:
            dist.all_reduce(bad)
        if float(bad) > 0:
            names = [k for k, v in terms.items() if not torch.isfinite(v)]
            kept = self.ckpt_dir / "last.pt"
            if kept.exists():
                hint = f"the last good checkpoint {kept} is kept; lower optim.lr, try amp=none, or resume with --resume"
            else:  # nothing to resume: say so rather than send the user to a refusal
                hint = "no checkpoint was written yet; lower optim.lr or try amp=none, and train again"
            raise EdgecglError(
                f"non-finite loss at step {self.step}: {', '.join(names) or 'on another rank'}", hint
            )

    # ------------------------------------------------------------------ logging
    def _log_metrics(self, terms: dict[str, Tensor], rate: float) -> dict[str, float]:
        names = sorted(terms)
        vals = self._allreduce_mean(torch.stack([terms[k] for k in names]).to(self.device)).tolist()
        rec: dict[str, float] = {"step": self.step}
        rec.update(dict(zip(names, vals, strict=True)))
        for g, w in self.loss.gp.items():
            rec[f"lambda_gp_{g}"] = w.value
        rec["lr"] = self.opt_g.param_groups[0]["lr"]
        rec["it_s"] = rate
        rec["time"] = time.time()
        if self.is_main:
            with open(self.metrics_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
            if self._tb is not None:
                for k, v in rec.items():
                    if k not in ("step", "time"):
                        self._tb.add_scalar(k, v, self.step)
        return rec

    def _open_tensorboard(self) -> None:
        if not (self.is_main and self.cfg.log.tensorboard):
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.log("tensorboard is not installed: metrics go to metrics.jsonl only")
            return
        self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def write_samples(self) -> Path:
        from edgecgl.train.samples import sample_grid

        mods = self.ema if self.ema is not None else self.model.generator_modules()
        path = self.run_dir / "samples" / f"{self.step:06d}.png"
        sample_grid(mods, self.source, self.device, path, instances=self.cfg.loss.instances)
        return path

    # ------------------------------------------------------------------ loop
    def _items(self, start: int, stop: int) -> Iterator[dict[str, Tensor]]:
        n = self.cfg.optim.n_critic
        keys = range(start * n, stop * n)
        workers = self.cfg.data.num_workers
        loader = DataLoader(
            self.source,
            batch_size=None,
            sampler=keys,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if workers else None,
        )
        return iter(loader)

    def run(self, iters: int | None = None) -> TrainResult:
        """Train until step ``iters`` (default cfg.iters), then write last.pt and model.pt."""
        cfg = self.cfg
        stop = cfg.iters if iters is None else iters
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.is_main:
            write_text_atomic(self.run_dir / "config.yaml", dump_yaml(cfg))
        self._open_tensorboard()
        start, t0 = self.step, time.time()
        last: dict[str, float] = {}
        bar = None
        if self.show_progress and self.is_main:
            from edgecgl.cli.common import progress

            bar = progress()
            bar.start()
            task = bar.add_task(cfg.name, total=stop, completed=start, rate="")
        whole = True  # False while a step is half-applied: an interrupt there saves nothing
        # A distributed run holds Ctrl-C and SIGTERM over its whole loop and its ranks agree at each step's
        # end whether any of them was asked to stop: a rank that left alone would leave its peers waiting in
        # a collective (gloo: "Connection closed by peer"). torchrun kills a rank that still hangs 30 s after
        # Ctrl-C. A single process stops at the next step boundary, or at once outside a step.
        try:
            with signals_held() if self.distributed else contextlib.nullcontext([]) as asked:
                items = self._items(start, stop)
                tick, tick_step = time.time(), self.step
                while self.step < stop:
                    if not self.distributed:
                        interrupt.check()  # a Ctrl-C that a library swallowed (edgecgl.interrupt)
                    batch_items = [next(items) for _ in range(cfg.optim.n_critic)]
                    with signals_held():  # a Ctrl-C or SIGTERM lands after the step and its metrics line
                        whole = False
                        terms = self.train_step(batch_items)
                        self._check_finite(terms)
                        now = time.time()
                        rate = (self.step - tick_step) / max(now - tick, 1e-9)
                        if self.step % cfg.log.every == 0 or self.step == stop:
                            last = self._log_metrics(terms, rate)
                            tick, tick_step = now, self.step
                        whole = True
                    if bar is not None:
                        bar.update(task, completed=self.step, rate=f"{rate:.2f} it/s")
                    if cfg.log.sample_every and self.step % cfg.log.sample_every == 0 and self.is_main:
                        self.write_samples()
                    if self.step % cfg.log.checkpoint_every == 0 and self.step != stop:
                        self.save()
                    if self.distributed and (signum := self._stop_agreed(asked)):
                        interrupt.stop(signum)
                if self.step > start or not (self.ckpt_dir / "last.pt").exists():
                    self.save()
                    if cfg.log.sample_every and self.is_main and self.step % cfg.log.sample_every:
                        self.write_samples()
        except KeyboardInterrupt:
            self.save_interrupted(start, whole)
            raise
        finally:
            if bar is not None:
                bar.stop()
            if self._tb is not None:
                self._tb.close()
            if self.source.skipped.count and self.is_main:
                self.log(
                    f"warning: skipped {self.source.skipped.count} unreadable image(s) while training, e.g."
                    f" {_short_reason(self.source.skipped.first)} (each replaced by another of its domain)"
                )
        return TrainResult(self.run_dir, self.step, last, time.time() - t0)


def check_replicas_identical(model: nn.Module) -> bool:
    """True when every rank holds bit-identical parameters (for tests and a sanity log line)."""
    if not (dist.is_available() and dist.is_initialized()):
        return True
    flat = torch.cat([p.detach().float().reshape(-1) for p in model.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, 0)
    same = torch.tensor([float(torch.equal(flat, ref))], device=flat.device)
    dist.all_reduce(same, op=dist.ReduceOp.MIN)
    return bool(same.item() == 1.0)


__all__ = [
    "CriticPhase",
    "GeneratorPhase",
    "StepSource",
    "TrainResult",
    "Trainer",
    "check_replicas_identical",
    "describe_model",
    "resolve_device",
    "to_batch",
    "trained_modules",
]
