"""Every loss of the CGL method (paper eq. 1-9) in one object with two phases: critic and generator.

A batch holds a *pair* of domains: the first half of ``x`` comes from domain i, the second half from
domain j (``swap`` exchanges the halves). Translations swap the styles within the pair:

    u_j = G(E^c(x_i), E^s(x_j), z_j)          x_i's content in x_j's style ("belongs to domain j")
    x̂_i = G(E^c(u_j), E^s(u_i, z_i), z_i)     back: u_j's content, u_i's (domain i) style    (eq. 6)

The paper's printed formulas for u and x̂ swap superscripts against its own text and Fig. 2; we follow
the text and DRIT's cross-cycle, where x̂ reconstructs x. Same for the instance branch with E_o.

Cross-granularity consistency (eq. 7), for a global image x_k and an instance o_l of any domains:

    ô_k = G(E_o^c(o_l), E_g^s(x_k), z_k)      the object rendered in the global image's style
    x̂_k = G(E_g^c(x_k), E_o^s(ô_k, z_k), z_k) the image rebuilt with the style read back from ô_k
    ô_l = G(E_o^c(ô_k), E_o^s(o_l, z_l), z_l) the object rebuilt from ô_k's content (the paper's text;
                                               its formula's c_o^{o(l)} would make the term trivial)

Code reconstruction (eq. 4-5) re-encodes every generated translation: content must come back as the
source content, style as the style that was injected.

Totals (eq. 8, WGAN-GP form of eq. 9):
    L_D = α (E[D(fake)] - E[D(real)] + λ_gp GP) + β L_cls^r                     per discriminator
    L_G = α (-E[D(fake)]) + β L_cls^f + λ_rec (rec_img + rec_o + cc_g + cc_o + cgc_g + cgc_o)
          + w_c L_rec^c + w_s L_rec^s
Every term is returned unweighted in a dict for logging; the weights live in ``LossConfig``.
With ``LossConfig.diffaug`` every critic input (real, translated, interpolated) is seen as T(x), T a
random differentiable augmentation (train/diffaug.py); pixel-wise terms compare unaugmented images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from edgecgl.train.diffaug import diff_augment, parse_policy
from edgecgl.train.gp import AdaptiveGPWeight, GPConfig
from torch import Tensor, nn

GRANULARITIES = ("global", "instance")


@dataclass
class LossConfig:
    adv: float = 1.0  # α
    cls: float = 1.0  # β
    rec: float = 10.0  # λ_rec, multiplies the six image-space L1 terms below
    rec_image: float = 1.0
    rec_instance: float = 1.0
    cc_global: float = 1.0
    cc_instance: float = 1.0
    cgc_global: float = 1.0
    cgc_instance: float = 1.0
    content: float = 1.0  # weight of L_rec^c (eq. 8: 1)
    style: float = 1.0  # weight of L_rec^s (eq. 8: 1)
    instances: bool = True  # false: global-only model (StarGAN/MUNIT-like), no instance terms
    cgc: bool = True  # false: the paper's "w/o L_cgc" ablation
    # Recipe options (docs/RESULTS.md, "The GAN recipe"); off = the paper's setting.
    style_prior: bool = False  # translate with N(0, I) styles, style target fixed (MUNIT), not swapped codes
    diversity: float = 0.0  # StarGAN v2's diversity term: - w * ‖G(c, s1) - G(c, s2)‖₁ (needs style_prior)
    # DiffAugment of every critic input, e.g. "color,translation,cutout" (train/diffaug.py): few photos
    diffaug: str = ""
    # > 0: keep labelled near objects readable in their translations (``structure_loss`` between object
    # and translation, box-height weighted by train/trainer.py's ``near_weight``), both branches. Off: the paper.
    keep_objects: float = 0.0
    gp: GPConfig = field(default_factory=GPConfig)

    def validate(self) -> None:
        from edgecgl.errors import EdgecglError

        if self.diversity < 0 or (self.diversity > 0 and not self.style_prior):
            raise EdgecglError("loss.diversity must be >= 0 and needs loss.style_prior")
        try:
            parse_policy(self.diffaug)
        except ValueError as e:
            raise EdgecglError(f"loss.diffaug: {e}") from None
        if self.cgc and not self.instances:
            raise EdgecglError("loss.cgc needs loss.instances", "set loss.cgc=false for a global-only model")
        if self.keep_objects > 0 and not self.instances:
            raise EdgecglError("loss.keep_objects needs loss.instances (it reads the instance boxes)")
        for name in ("adv", "cls", "rec", "content", "style", "keep_objects"):
            if getattr(self, name) < 0:
                raise EdgecglError(f"loss.{name} must be >= 0")


@dataclass
class PairBatch:
    """One training step's inputs, already on the device.

    ``x``/``d``: 2B global images and their domain indices, first half domain i, second half domain j.
    ``o``: 2B instance crops, crop r taken from image r (so it shares ``d``).
    ``cgc_x``/``cgc_dx``, ``cgc_o``/``cgc_do``: the random (global image, instance) pairs of eq. 7.
    """

    x: Tensor
    d: Tensor
    o: Tensor | None = None
    cgc_x: Tensor | None = None
    cgc_dx: Tensor | None = None
    cgc_o: Tensor | None = None
    cgc_do: Tensor | None = None
    style_seed: Tensor | None = None  # seeds the N(0, I) styles of ``LossConfig.style_prior``
    aug_seed: Tensor | None = None  # seeds ``LossConfig.diffaug``'s draws
    o_box: Tensor | None = None  # [2B, 4] xyxy of each crop of ``o`` in ``x``'s pixels (keep_objects)
    o_near: Tensor | None = None  # [2B] weight of each crop for ``LossConfig.keep_objects``

    def to(self, device: torch.device) -> PairBatch:
        def mv(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return PairBatch(*(mv(getattr(self, f)) for f in self.__dataclass_fields__))


def swap(t: Tensor) -> Tensor:
    """Exchange the two halves of a pair batch (domain i <-> domain j)."""
    n = t.shape[0] // 2
    return torch.cat([t[n:], t[:n]], dim=0)


def l1(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().mean()


def pair_l1(a: Tensor, b: Tensor) -> Tensor:
    """Eq. 6 sums the two images of the pair: ‖x̂_i - x_i‖ + ‖x̂_j - x_j‖ (each a per-pixel mean)."""
    n = a.shape[0] // 2
    return l1(a[:n], b[:n]) + l1(a[n:], b[n:])


def structure_loss(a: Tensor, b: Tensor, weight: Tensor, window: int = 5, tau: float = 0.02) -> Tensor:
    """Weighted mean over the batch of how much of ``a``'s local structure ``b`` lost (images in [-1, 1]).

    Per ``window`` x ``window`` box of the luminance (in [0, 1]), b keeps cov(a, b) / (σ_b + tau) of
    a's σ_a² / (σ_a + tau); summed over the boxes (so flat input, sky or road, barely counts) the loss is
    1 - kept / full. b = a costs 0, a brightness shift nothing; a contrast cut costs little until the edge
    sinks towards ``tau`` (0.02, about 5 grey levels of standard deviation), a flat white-out 1; blur and
    re-drawn edges cost their lost correlation. SSIM's structure term would call a white-out perfect."""
    if a.shape != b.shape or a.dim() != 4 or weight.shape != (a.shape[0],):
        raise ValueError(
            f"structure_loss: {tuple(a.shape)} vs {tuple(b.shape)}, weight {tuple(weight.shape)}"
        )
    ga, gb = (a.float().mean(1, keepdim=True) + 1) / 2, (b.float().mean(1, keepdim=True) + 1) / 2
    k = min(window, a.shape[-2], a.shape[-1])
    pool = lambda t: F.avg_pool2d(t, k, stride=1)  # noqa: E731
    ma, mb = pool(ga), pool(gb)
    sa = (pool(ga * ga) - ma * ma).clamp_min(0).add(1e-8).sqrt()
    sb = (pool(gb * gb) - mb * mb).clamp_min(0).add(1e-8).sqrt()
    cov = pool(ga * gb) - ma * mb
    kept = (cov / (sb + tau)).sum(dim=(1, 2, 3))
    full = (sa * sa / (sa + tau)).sum(dim=(1, 2, 3))  # what b = a keeps: the loss is 0 there
    per = 1 - kept / full.clamp_min(1e-6)
    return (weight.to(per.dtype) * per).mean()


def critic_value(src: Tensor, domain: Tensor | None = None) -> Tensor:
    """Per-sample WGAN critic score: the mean over the PatchGAN map. A critic with one output channel per
    domain (``ModelConfig.d_domain_src``) is read at ``domain`` [B] (StarGAN v2)."""
    if src.shape[1] > 1:
        if domain is None:
            raise ValueError("a per-domain critic output needs the domain to read")
        src = src[torch.arange(src.shape[0], device=src.device), domain][:, None]
    return src.float().mean(dim=(1, 2, 3))


def gradient_penalty_and_norm(
    dis: nn.Module,
    real: Tensor,
    fake: Tensor,
    rng: torch.Generator | None = None,
    domain: Tensor | None = None,
    aug: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """(unweighted E[(‖∇_x̂ D(x̂)‖₂ - 1)²], mean ‖∇_x̂ D(x̂)‖₂ detached) on random interpolates, in fp32
    even under autocast (the double backward of fp16 activations underflows). The norm tells the
    adaptive λ_gp which side of 1 the critic is on (train/gp.py). With ``aug`` (DiffAugment) the critic
    is D∘T, so the penalty is taken on D(T(x̂)) with respect to x̂."""
    b = real.shape[0]
    alpha = torch.rand(b, 1, 1, 1, device=real.device, generator=rng)
    with torch.autocast(real.device.type, enabled=False):
        x_hat = (alpha * real.detach().float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
        src, _ = dis(x_hat if aug is None else aug(x_hat))
        (grad,) = torch.autograd.grad(critic_value(src, domain).sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).norm(dim=1)
        return ((norm - 1.0) ** 2).mean(), norm.detach().mean()


def gradient_penalty(
    dis: nn.Module, real: Tensor, fake: Tensor, rng: torch.Generator | None = None
) -> Tensor:
    """Unweighted E[(‖∇_x̂ D(x̂)‖₂ - 1)²] on random interpolates (see ``gradient_penalty_and_norm``)."""
    return gradient_penalty_and_norm(dis, real, fake, rng)[0]


class CGLLoss:
    """Owns nothing but the adaptive λ_gp states; reads the networks from ``model`` (a ``CGLModel``)."""

    def __init__(self, model: nn.Module, cfg: LossConfig | None = None) -> None:
        self.model = model
        self.cfg = cfg or LossConfig()
        self.n_domains = int(model.cfg.n_domains)
        self.gp = {g: AdaptiveGPWeight(self.cfg.gp) for g in self.granularities}
        self.policy = parse_policy(self.cfg.diffaug)

    @property
    def granularities(self) -> tuple[str, ...]:
        return GRANULARITIES if self.cfg.instances else ("global",)

    def _onehot(self, d: Tensor, like: Tensor) -> Tensor:
        return F.one_hot(d, self.n_domains).to(like.dtype)

    def _dis(self, granularity: str) -> nn.Module:
        return self.model.dis_global if granularity == "global" else self.model.dis_inst

    def _inputs(self, batch: PairBatch, granularity: str) -> Tensor:
        if granularity == "global":
            return batch.x
        if batch.o is None:
            raise ValueError("instance terms need batch.o (instance crops)")
        return batch.o

    def _aug(self, x: Tensor, batch: PairBatch, granularity: str, use: str) -> Tensor:
        """T(x) of ``LossConfig.diffaug`` (identity when off). Each (granularity, use) gets its own draw,
        seeded by the batch so a step reproduces; ``use`` is real | fake | gp (critic phase) or gen."""
        if not self.policy:
            return x
        gen = None
        if batch.aug_seed is not None:
            salt = 4 * GRANULARITIES.index(granularity) + ("real", "fake", "gp", "gen").index(use)
            gen = torch.Generator(device=x.device)
            gen.manual_seed((int(batch.aug_seed) + 104729 * salt) % 2**63)
        return diff_augment(x, self.policy, gen)

    # ---------------------------------------------------------------- critic phase
    @torch.no_grad()
    def translate_for_critic(self, batch: PairBatch) -> dict[str, Tensor]:
        """The style-swapped translations u (and v for instances), without gradients, for the D step."""
        out = {}
        for g in self.granularities:
            x = self._inputs(batch, g)
            enc_c, enc_s = self.model.encoders(g)
            z = self._onehot(batch.d, x)
            s = self._target_styles(batch, g, enc_s(x, z))[0]
            out[g] = self.model.gen(enc_c(x), s, swap(z))
        return out

    def _target_styles(self, batch: PairBatch, granularity: str, s: Tensor) -> tuple[Tensor, Tensor | None]:
        """The style codes of the translations u: the partner's encoded codes (the paper), or with
        ``style_prior`` two N(0, I) draws (the second for the diversity term), seeded by the batch so
        the critic and the generator phase of one step draw the same codes."""
        if not self.cfg.style_prior:
            return swap(s), None
        salt = GRANULARITIES.index(granularity)
        gen = None
        if batch.style_seed is not None:
            gen = torch.Generator(device=s.device)
            gen.manual_seed((int(batch.style_seed) + 7919 * salt) % 2**63)
        a = torch.randn(s.shape, device=s.device, dtype=s.dtype, generator=gen)
        b = torch.randn(s.shape, device=s.device, dtype=s.dtype, generator=gen)
        return a, b

    def discriminator_loss(
        self, batch: PairBatch, fakes: dict[str, Tensor], rng: torch.Generator | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """L_D of eq. 8 summed over the discriminators; terms unweighted (gp_* is the raw penalty)."""
        c = self.cfg
        terms: dict[str, Tensor] = {}
        total = batch.x.new_zeros((), dtype=torch.float32)
        for g in self.granularities:
            real = self._inputs(batch, g)
            fake = fakes[g].detach()
            dis = self._dis(g)
            src_r, cls_r = dis(self._aug(real, batch, g, "real"))
            src_f, _ = dis(self._aug(fake, batch, g, "fake"))
            adv = critic_value(src_f, swap(batch.d)).mean() - critic_value(src_r, batch.d).mean()
            aug = None if not self.policy else (lambda t, g=g: self._aug(t, batch, g, "gp"))
            if src_r.shape[1] > 1:  # per-domain critic: interpolate between images of one domain
                gp, gnorm = gradient_penalty_and_norm(dis, real, swap(fake), rng, batch.d, aug)
            else:
                gp, gnorm = gradient_penalty_and_norm(dis, real, fake, rng, aug=aug)
            cls = F.cross_entropy(cls_r.float(), batch.d)
            total = total + c.adv * (adv + self.gp[g].value * gp) + c.cls * cls
            terms[f"d_adv_{g}"] = adv
            terms[f"d_gp_{g}"] = gp
            terms[f"d_gradnorm_{g}"] = gnorm
            terms[f"d_cls_{g}"] = cls
        terms["d_total"] = total
        return total, terms

    def update_gp(self, penalties: dict[str, float], grad_norms: dict[str, float] | None = None) -> None:
        """Advance each λ_gp with this step's (rank-averaged) unweighted penalty and mean ‖∇D‖."""
        for g, value in penalties.items():
            self.gp[g].update(float(value), None if grad_norms is None else float(grad_norms[g]))

    # ---------------------------------------------------------------- generator phase
    def _branch(self, batch: PairBatch, g: str) -> tuple[dict[str, Tensor], list[tuple[Tensor, Tensor]]]:
        """Reconstruction, cross-cycle and the adversarial/classification terms of one granularity.

        Returns the terms and the (re-encoded, injected) code pairs for the code reconstruction loss.
        """
        x = self._inputs(batch, g)
        enc_c, enc_s = self.model.encoders(g)
        dis = self._dis(g)
        z = self._onehot(batch.d, x)
        zs = swap(z)
        c, s = enc_c(x), enc_s(x, z)
        s_t, s_t2 = self._target_styles(batch, g, s)
        n = x.shape[0]
        # one generator call for reconstruction (own style) and translation (target style)
        both = self.model.gen(torch.cat([c, c]), torch.cat([s, s_t]), torch.cat([z, zs]))
        x_rec, u = both[:n], both[n:]
        c_u, s_u = enc_c(u), enc_s(u, zs)
        # back to x: with the re-encoded partner style (the paper's cross-cycle), or with x's own code
        # when u's style was sampled (MUNIT's cycle)
        x_cyc = self.model.gen(c_u, s if self.cfg.style_prior else swap(s_u), z)
        src_f, cls_f = dis(self._aug(u, batch, g, "gen"))
        terms = {
            f"g_adv_{g}": -critic_value(src_f, swap(batch.d)).mean(),
            f"g_cls_{g}": F.cross_entropy(cls_f.float(), swap(batch.d)),
            ("rec_image" if g == "global" else "rec_instance"): l1(x_rec, x),
            f"cc_{g}": pair_l1(x_cyc, x),
        }
        if self.cfg.keep_objects > 0:
            terms[f"keep_{g}"] = self._keep(batch, g, x, u)
        if s_t2 is not None and self.cfg.diversity > 0:
            u2 = self.model.gen(c, s_t2, zs)
            terms[f"ds_{g}"] = l1(u, u2)
        # the paper's path takes a fresh swap(s) here: bit-identical to the runs before the recipe options
        return terms, [(c_u, c), (s_u, s_t if self.cfg.style_prior else swap(s))]

    def _keep(self, batch: PairBatch, g: str, x: Tensor, u: Tensor) -> Tensor:
        """``keep_objects``' term: each picked object against its translation; in the global branch
        both are cut from the frames at the object's box (with ``instance_crops``' default 10 % context)."""
        if batch.o_box is None or batch.o_near is None or batch.o is None:
            raise ValueError("loss.keep_objects needs batch.o_box and batch.o_near")
        if g == "global":
            from edgecgl.train.data import instance_crops

            boxes = list(batch.o_box.reshape(-1, 1, 4))
            size = tuple(batch.o.shape[-2:])
            x, _ = instance_crops(x, boxes, size)
            u, _ = instance_crops(u, boxes, size)
        return structure_loss(x, u, batch.o_near)

    def _cgc(self, batch: PairBatch) -> tuple[dict[str, Tensor], list[tuple[Tensor, Tensor]]]:
        if batch.cgc_x is None or batch.cgc_o is None or batch.cgc_dx is None or batch.cgc_do is None:
            raise ValueError("the cross-granularity terms need batch.cgc_x/cgc_o and their domains")
        xk, ol = batch.cgc_x, batch.cgc_o
        zk, zl = self._onehot(batch.cgc_dx, xk), self._onehot(batch.cgc_do, ol)
        gc, gs = self.model.encoders("global")
        oc, os_ = self.model.encoders("instance")
        c_g, s_g = gc(xk), gs(xk, zk)
        c_o, s_o = oc(ol), os_(ol, zl)
        o_k = self.model.gen(c_o, s_g, zk)  # forward: object content + global style
        c_ok, s_ok = oc(o_k), os_(o_k, zk)
        x_hat = self.model.gen(c_g, s_ok, zk)
        o_hat = self.model.gen(c_ok, s_o, zl)
        terms = {"cgc_global": l1(x_hat, xk), "cgc_instance": l1(o_hat, ol)}
        return terms, [(c_ok, c_o), (s_ok, s_g)]

    def generator_loss(self, batch: PairBatch) -> tuple[Tensor, dict[str, Tensor]]:
        """L_G of eq. 8 with every term in the returned dict (unweighted) plus ``g_total``."""
        c = self.cfg
        terms: dict[str, Tensor] = {}
        codes: list[tuple[Tensor, Tensor]] = []
        for g in self.granularities:
            t, p = self._branch(batch, g)
            terms.update(t)
            codes += p
        if c.cgc:
            t, p = self._cgc(batch)
            terms.update(t)
            codes += p
        # mean over the branches that produced codes (global, instance, cgc)
        terms["rec_content"] = torch.stack([l1(a.float(), b.float()) for a, b in codes[0::2]]).mean()
        terms["rec_style"] = torch.stack([l1(a.float(), b.float()) for a, b in codes[1::2]]).mean()
        weights = {
            "rec_image": c.rec * c.rec_image,
            "rec_instance": c.rec * c.rec_instance,
            "cc_global": c.rec * c.cc_global,
            "cc_instance": c.rec * c.cc_instance,
            "cgc_global": c.rec * c.cgc_global,
            "cgc_instance": c.rec * c.cgc_instance,
            "rec_content": c.content,
            "rec_style": c.style,
        }
        total = batch.x.new_zeros((), dtype=torch.float32)
        for name, value in terms.items():
            if name.startswith("g_adv_"):
                w = c.adv
            elif name.startswith("g_cls_"):
                w = c.cls
            elif name.startswith("ds_"):
                w = -c.diversity
            elif name.startswith("keep_"):
                w = c.keep_objects
            else:
                w = weights[name]
            total = total + w * value.float()
        terms["g_total"] = total
        return total, terms
