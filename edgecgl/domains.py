"""The weather domains and their order, shared by every stage (dataset labels, one-hots, bundles).

The four weather names are only the defaults: a folder dataset's domains are its image sub-folders
(``folder_domains``) and a bundle's are in its manifest; every command takes them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecgl.errors import EdgecglError

# Paper Table 1 domains. The index of a name is its one-hot position everywhere (training, ONNX, runtime).
DOMAINS: tuple[str, ...] = ("sunny", "night", "cloudy", "rainy")
# Still images every command reads (dataset folders, edgecgl image, --style-ref, calibration sets).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# what dashcams and phones record into (edgecgl video FOLDER, calibration from a card)
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".avi", ".m4v", ".ts", ".mts", ".m2ts", ".webm")


def videos_under(folder: Path) -> list[Path]:
    """Every video under ``folder``, searched recursively as recorders file clips by date; hidden files
    and folders skipped (macOS ``._x.mp4`` resource forks on SD cards are no videos)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in VIDEO_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    )


def folder_domains(root: Path) -> list[str]:
    """The sub-folders of ``root`` that hold images, as domain names: the default names first in their
    usual order (so a SynthWeather folder keeps the paper's one-hot order), then the others sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = {
        d.name
        for d in root.iterdir()
        if d.is_dir()
        and not d.name.startswith(".")
        and any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in d.iterdir())
    }
    return [d for d in DOMAINS if d in found] + sorted(found - set(DOMAINS))


def domain_index(name: str, domains: tuple[str, ...] | list[str] = DOMAINS) -> int:
    """Index of a domain name, or a user error listing the valid names."""
    key = name.strip().lower()
    if key not in domains:
        raise EdgecglError(f"unknown domain '{name}'", f"valid domains: {', '.join(domains)}")
    return list(domains).index(key)


def parse_domains(spec: str, domains: tuple[str, ...] | list[str] | None = DOMAINS) -> list[str]:
    """'night,rainy' -> ['night', 'rainy'], each checked against ``domains`` (None: checked later,
    e.g. against a bundle's domains once it is loaded)."""
    names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    if not names:
        raise EdgecglError("no target domain given", f"valid domains: {', '.join(domains or DOMAINS)}")
    for n in names if domains is not None else ():
        domain_index(n, domains)
    return names


def one_hot(index: int, n: int = len(DOMAINS), batch: int = 1) -> np.ndarray:
    """(batch, n) float32 one-hot rows, the domain input of the generator and style encoder."""
    if not 0 <= index < n:
        raise ValueError(f"domain index {index} out of range for {n} domains")
    out = np.zeros((batch, n), dtype=np.float32)
    out[:, index] = 1.0
    return out


# BDD100K keeps a frame's weather and time of day in its ``attributes``: they are its domain label. One
# table, read by the ``bdd100k:`` loader and written back by ``edgecgl augment`` (no training code here).
@dataclass
class BddRule:
    """Frames whose ``weather`` and ``timeofday`` are both listed belong to ``domain``."""

    domain: str = ""
    weather: list[str] = field(default_factory=list)
    timeofday: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:  # BDD100K's values are lower case; compare them as frames are read
        self.domain = str(self.domain).strip().lower()
        self.weather = [str(v).strip().lower() for v in self.weather]
        self.timeofday = [str(v).strip().lower() for v in self.timeofday]


BDD_RULES_HINT = "each rule is {domain: NAME, weather: [...], timeofday: [...]}; the first matching rule wins"


def table1() -> list[BddRule]:
    """The paper's Table 1: night = clear + night; sunny, cloudy, rainy = their weather + daytime."""
    return [
        BddRule("night", ["clear"], ["night"]),
        BddRule("sunny", ["clear"], ["daytime"]),
        BddRule("cloudy", ["overcast", "partly cloudy"], ["daytime"]),
        BddRule("rainy", ["rainy"], ["daytime"]),
    ]


@dataclass
class BddRules:
    """Attribute -> domain table (``data.bdd_rules``, ``--bdd-rules``); the first matching rule wins."""

    rules: list[BddRule] = field(default_factory=table1)

    def domain_of(self, attributes: object) -> str | None:
        """The domain of a frame's ``attributes``; None when no rule matches (the frame has no domain)."""
        if not isinstance(attributes, dict):
            return None
        weather = str(attributes.get("weather", "")).strip().lower()
        tod = str(attributes.get("timeofday", "")).strip().lower()
        return next((r.domain for r in self.rules if weather in r.weather and tod in r.timeofday), None)

    def domains(self) -> list[str]:
        """The table's domains in one-hot order: the default names first, then the others sorted (as
        ``folder_domains``), so the paper's table gives ``DOMAINS``."""
        names = {r.domain for r in self.rules}
        return [d for d in DOMAINS if d in names] + sorted(names - set(DOMAINS))

    def attributes_for(self, domain: str, attributes: object) -> dict:
        """``attributes`` relabelled as ``domain`` (the inverse of ``domain_of``), so that a translated
        copy reads back under its new domain; only weather and timeofday change (scene etc. stay). A value
        the domain's rule lists is kept (partly cloudy stays partly cloudy), else the rule's first is
        written. A domain outside the table is written as ``weather: <domain>``, ``timeofday: daytime``:
        the translator redraws the whole frame, night lights included, as its domain's photos."""
        out = dict(attributes) if isinstance(attributes, dict) else {}
        weather = str(out.get("weather", "")).strip().lower()
        tod = str(out.get("timeofday", "")).strip().lower()
        for r in (r for r in self.rules if r.domain == domain):
            for w in ([weather] if weather in r.weather else []) + r.weather:
                for t in ([tod] if tod in r.timeofday else []) + r.timeofday:
                    if self.domain_of({"weather": w, "timeofday": t}) == domain:  # not taken by a rule above
                        out["weather"], out["timeofday"] = w, t
                        return out
        out["weather"], out["timeofday"] = domain, "daytime"
        return out


def bdd_rules(value: object, key: str = "data.bdd_rules") -> BddRules:
    """A checked table from a config value: None or [] (the paper's table), a list of rules (mappings or
    ``BddRule``), ``{"rules": [...]}`` or a ``BddRules``. A bad table is one user error naming the rule."""
    from edgecgl.config import from_dict

    if isinstance(value, BddRules):
        value = value.rules
    if isinstance(value, dict) and set(value) == {"rules"}:
        value = value["rules"]
    if value is None or (isinstance(value, list) and not value):
        return BddRules()
    if not isinstance(value, list):
        raise EdgecglError(f"{key} must be a list of rules, got {value!r}", BDD_RULES_HINT)
    rules = []
    for i, r in enumerate(value):
        if isinstance(r, dict):
            r = from_dict(BddRule, r, prefix=f"{key}[{i}].")
        if not isinstance(r, BddRule):
            raise EdgecglError(f"{key}[{i}] must be a mapping, got {r!r}", BDD_RULES_HINT)
        if not r.domain or r.domain in (".", "..") or any(c in r.domain for c in "/\\,"):
            raise EdgecglError(f"{key}[{i}] has a bad domain name '{r.domain}'", BDD_RULES_HINT)
        if not r.weather or not r.timeofday:
            raise EdgecglError(f"{key}[{i}] ({r.domain}) needs weather and timeofday values", BDD_RULES_HINT)
        rules.append(r)
    return BddRules(rules)


def load_bdd_rules(path: Path | None) -> BddRules | None:
    """``--bdd-rules FILE``: a YAML list of rules, or a config holding ``data.bdd_rules`` (a training
    config or a run's config.yaml: one file for train, data stats, calib, eval and augment)."""
    if path is None:
        return None
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise EdgecglError(
            f"cannot read --bdd-rules {p}: {str(exc).splitlines()[0]}", "give a YAML file with the rule list"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("data"), dict) and "bdd_rules" in data["data"]:
        data = data["data"]["bdd_rules"]
    elif isinstance(data, dict):
        raise EdgecglError(f"--bdd-rules {p} holds no rule list (nor data.bdd_rules)", BDD_RULES_HINT)
    return bdd_rules(data, key=str(p))
