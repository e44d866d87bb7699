"""The domain classifier behind IS and domain accuracy (the paper's "Inception-V3 fine-tuned on the four
domain labels").

``edgecgl eval classifier-train`` fine-tunes torchvision's inception_v3 or a ResNet from a backbone
checkpoint the user gives (an ImageNet state dict: this machine cannot download one). Without one it
trains from scratch at a small size and records that in the checkpoint, so every IS computed with it
says "scratch": an IS from a scratch classifier on a small set is a sanity check, not the paper's number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgecgl.atomic import atomic_path
from edgecgl.errors import EdgecglError

FORMAT = "edgecgl-domain-classifier"
VERSION = 1
ARCHS = ("resnet18", "resnet34", "resnet50", "inception_v3")
_IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def build_net(arch: str, n_classes: int) -> nn.Module:
    import torchvision

    if arch not in ARCHS:
        raise EdgecglError(f"unknown classifier architecture '{arch}'", f"choose one of {', '.join(ARCHS)}")
    if arch == "inception_v3":
        return torchvision.models.inception_v3(
            weights=None, aux_logits=False, init_weights=True, num_classes=n_classes
        )
    return getattr(torchvision.models, arch)(weights=None, num_classes=n_classes)


def load_backbone(net: nn.Module, path: Path) -> int:
    """Copy an ImageNet state dict into ``net`` except its classifier head; returns tensors copied."""
    if not Path(path).is_file():
        raise EdgecglError(f"backbone checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a state dict"
        raise EdgecglError(f"{path} is not a loadable state dict: {str(exc).splitlines()[0][:160]}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = net.state_dict()
    keep = {
        k: v
        for k, v in state.items()
        if k in own and not k.startswith(("fc.", "AuxLogits.")) and own[k].shape == v.shape
    }
    if len(keep) < len([k for k in own if not k.startswith("fc.")]) // 2:
        raise EdgecglError(
            f"{path} does not look like a torchvision {type(net).__name__} checkpoint "
            f"(only {len(keep)} matching tensors)",
            "give the ImageNet state dict of the same architecture (--arch)",
        )
    net.load_state_dict(keep, strict=False)
    return len(keep)


@dataclass
class DomainClassifier:
    net: nn.Module
    arch: str
    domains: list[str]
    size: tuple[int, int]
    pretrained: str  # backbone file name, or "scratch"
    val_accuracy: float | None = None
    device: str = "cpu"

    def _prep(self, images: torch.Tensor) -> torch.Tensor:
        x = ((images.float().to(self.device) + 1.0) / 2.0).clamp(0, 1)
        if tuple(x.shape[2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        return (x - _IMAGENET_MEAN.to(x.device)) / _IMAGENET_STD.to(x.device)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self._prep(images))

    @torch.inference_mode()
    def probs(self, images: torch.Tensor, batch_size: int = 32) -> np.ndarray:
        self.net.eval()
        out = [F.softmax(self.logits(chunk), dim=1).double().cpu() for chunk in images.split(batch_size)]
        return torch.cat(out).numpy()

    def save(self, path: Path) -> None:
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "arch": self.arch,
            "domains": list(self.domains),
            "size": list(self.size),
            "pretrained": self.pretrained,
            "val_accuracy": self.val_accuracy,
            "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
        }
        with atomic_path(Path(path)) as tmp:
            torch.save(payload, tmp)


def load_classifier(path: Path, device: str = "cpu") -> DomainClassifier:
    p = Path(path)
    if not p.is_file():
        raise EdgecglError(f"classifier {p} does not exist", "train one with edgecgl eval classifier-train")
    try:
        data: dict[str, Any] = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise EdgecglError(f"{p} is not a loadable classifier: {str(exc).splitlines()[0][:160]}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EdgecglError(
            f"{p} is not an edgecgl domain classifier", "train one with edgecgl eval classifier-train"
        )
    net = build_net(data["arch"], len(data["domains"]))
    net.load_state_dict(data["state_dict"])
    net.eval().to(device)
    return DomainClassifier(
        net,
        data["arch"],
        list(data["domains"]),
        (int(data["size"][0]), int(data["size"][1])),
        str(data["pretrained"]),
        data.get("val_accuracy"),
        device,
    )


def inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))) over one set (no splits: our sets are small)."""
    p = np.asarray(probs, np.float64)
    py = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p + eps) - np.log(py + eps))).sum(axis=1)
    return float(math.exp(kl.mean()))


def domain_accuracy(probs: np.ndarray, target: int) -> float:
    """Percentage of images the classifier assigns to ``target``."""
    return float(100.0 * np.mean(np.argmax(probs, axis=1) == target))


def train_classifier(
    train_batches: Callable[[int], list[tuple[torch.Tensor, torch.Tensor]]],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    domains: list[str],
    arch: str = "resnet18",
    backbone: Path | None = None,
    size: tuple[int, int] = (64, 128),
    epochs: int = 5,
    lr: float | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> DomainClassifier:
    """Fine-tune (backbone given) or train from scratch. ``train_batches(epoch)`` yields (images, labels)."""
    torch.manual_seed(seed)
    if arch == "inception_v3" and min(size) < 75:
        raise EdgecglError("inception_v3 needs inputs of at least 75 px", "use --size 299 or a resnet")
    net = build_net(arch, len(domains))
    pretrained = "scratch"
    if backbone is not None:
        n = load_backbone(net, backbone)
        pretrained = Path(backbone).name
        log(f"classifier: {arch} fine-tuned from {backbone} ({n} tensors)")
    else:
        log(f"classifier: {arch} trained FROM SCRATCH at {size[0]}x{size[1]} (no backbone weights given)")
    clf = DomainClassifier(net, arch, list(domains), size, pretrained)
    opt = torch.optim.Adam(net.parameters(), lr=lr if lr is not None else (1e-4 if backbone else 1e-3))
    for epoch in range(epochs):
        net.train()
        total, correct, loss_sum = 0, 0, 0.0
        for images, labels in train_batches(epoch):
            if torch.rand(()) < 0.5:
                images = images.flip(3)
            logits = clf.logits(images)
            loss = F.cross_entropy(logits, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += labels.numel()
            correct += int((logits.argmax(1) == labels).sum())
            loss_sum += loss.item() * labels.numel()
        msg = f"epoch {epoch + 1}/{epochs}: loss {loss_sum / max(total, 1):.4f}, train acc {100 * correct / max(total, 1):.1f}%"
        if val is not None:
            clf.val_accuracy = float(100.0 * np.mean(clf.probs(val[0]).argmax(1) == val[1].numpy()))
            msg += f", val acc {clf.val_accuracy:.1f}%"
        log(msg)
    net.eval()
    return clf
