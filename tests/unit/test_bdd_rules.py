"""The BDD100K attributes <-> domain table (edgecgl.domains.BddRules): one table for the loader and
``edgecgl augment``, settable as ``data.bdd_rules``, and symlinked images followed by ``bdd100k:``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgecgl.train.config import TrainConfig
from edgecgl.train.data import open_dataset
from edgecgl.train.data.open import data_domains
from PIL import Image

from edgecgl.augment import augment, open_augment_dataset
from edgecgl.config import load_config
from edgecgl.domains import DOMAINS, BddRules, bdd_rules, load_bdd_rules
from edgecgl.errors import EdgecglError

FOG = [
    {"domain": "sunny", "weather": ["clear"], "timeofday": ["daytime"]},
    {"domain": "foggy", "weather": ["foggy"], "timeofday": ["daytime", "dawn/dusk"]},
]
# weather x timeofday, as BDD100K writes them (plus the odd spellings the loader tolerates)
SOURCES = [
    {"weather": w, "timeofday": t, "scene": "highway"}
    for w in ("clear", "overcast", "partly cloudy", "rainy", "snowy", "foggy", "undefined", " Rainy")
    for t in ("daytime", "night", "dawn/dusk", "undefined", "NIGHT ")
]


def bdd_set(root: Path, attrs: list[dict]) -> Path:
    """A BDD100K labels JSON with one 16x24 image per frame, a car box on each."""
    (root / "images").mkdir(parents=True)
    frames = []
    for i, a in enumerate(attrs):
        Image.new("RGB", (24, 16), (40 * i % 256, 90, 90)).save(root / "images" / f"f{i}.jpg")
        box = {"category": "car", "id": i, "box2d": {"x1": 2, "y1": 3, "x2": 12, "y2": 11}}
        frames.append({"name": f"f{i}.jpg", "attributes": a, "labels": [box]})
    (root / "labels.json").write_text(json.dumps(frames))
    return root / "labels.json"


@pytest.mark.parametrize("table", [None, FOG], ids=["table1", "fog"])
def test_augment_reads_the_domains_the_loader_reads(tmp_path: Path, table: list | None) -> None:
    """One rule for both (augment had its own: night for any weather, no lower-casing)."""
    labels = bdd_set(tmp_path / "bdd", SOURCES)
    rules = bdd_rules(table)
    loaded = open_dataset(f"bdd100k:{labels}", size=None, split="all", bdd_rules=table, min_box=0)
    by_loader = {Path(r.path).name: loaded.domains[r.domain] for r in loaded.records}
    by_augment = {it.image.name: it.source for it in open_augment_dataset(f"bdd100k:{labels}", rules).items}
    assert by_augment == {n: by_loader.get(n) for n in by_augment}
    assert by_augment["f16.jpg"] is None  # rainy night: no Table 1 domain (augment said night)
    assert by_augment["f35.jpg"] == ("rainy" if table is None else None)  # " Rainy" daytime
    assert by_augment["f4.jpg"] == ("night" if table is None else None)  # clear "NIGHT "
    assert loaded.domains == (list(DOMAINS) if table is None else ["sunny", "foggy"])


@pytest.mark.parametrize(
    "table", [None, FOG, [*FOG, {"domain": "night", "weather": ["clear", "rainy"], "timeofday": ["night"]}]]
)
def test_relabelled_attributes_read_back_as_the_target(table: list | None) -> None:
    """The inverse of domain_of: every source, every domain of the table (and one outside it)."""
    rules = bdd_rules(table)
    for target in [*rules.domains(), "snowy"]:
        for src in SOURCES:
            out = rules.attributes_for(target, src)
            assert out["scene"] == "highway" and set(out) == {"weather", "timeofday", "scene"}
            if target in rules.domains():
                assert rules.domain_of(out) == target, (target, src, out)
            else:  # outside the table: the weather is the domain's name, daytime
                assert (out["weather"], out["timeofday"]) == ("snowy", "daytime")


def test_relabelling_keeps_what_the_rule_allows_and_avoids_shadowed_pairs() -> None:
    rules = BddRules()
    src = {"weather": "partly cloudy", "timeofday": "night", "scene": "city street"}
    assert rules.attributes_for("cloudy", src) == {**src, "timeofday": "daytime"}
    assert rules.attributes_for("night", {"weather": "rainy", "timeofday": "night"}) == {
        "weather": "clear",
        "timeofday": "night",
    }
    assert rules.attributes_for("night", None) == {"weather": "clear", "timeofday": "night"}
    # the first matching rule wins: 'dark' cannot be written as clear night, taken by 'night' above it
    shadow = bdd_rules([{"domain": "night", "weather": ["clear"], "timeofday": ["night"]},
                        {"domain": "dark", "weather": ["clear", "rainy"], "timeofday": ["night"]}])  # fmt: skip
    assert shadow.attributes_for("dark", {"weather": "clear", "timeofday": "daytime"})["weather"] == "rainy"


def test_augment_writes_each_copy_under_its_target(tmp_path: Path) -> None:
    """The writer, without a bundle: labels and other attributes unchanged, weather/timeofday the target's;
    a domain outside the table (foggy under Table 1) is weather foggy, daytime even from a night frame."""
    attrs = [
        {"weather": "clear", "timeofday": "daytime", "scene": "highway"},
        {"weather": "clear", "timeofday": "night", "scene": "residential"},
        {"weather": "foggy", "timeofday": "dawn/dusk"},
        {"weather": "rainy", "timeofday": "dawn/dusk"},
    ]
    labels = bdd_set(tmp_path / "bdd", attrs)
    source = json.loads(labels.read_text())
    for table, want in (
        (None, {"night": ["f0.jpg", "f2.jpg", "f3.jpg"], "foggy": ["f0.jpg", "f1.jpg", "f2.jpg", "f3.jpg"]}),
        (FOG, {"night": ["f0.jpg", "f1.jpg", "f2.jpg", "f3.jpg"], "foggy": ["f0.jpg", "f1.jpg", "f3.jpg"]}),
    ):
        ds = open_augment_dataset(f"bdd100k:{labels}", bdd_rules(table))
        out = tmp_path / f"out-{table is None}"
        augment(
            ds, ["night", "foggy"], out, lambda t, it: (np.zeros((16, 24, 3), np.uint8), 0), lambda i, s: b""
        )
        for target, names in want.items():
            written = json.loads((out / target / "labels.json").read_text())
            assert [f["name"] for f in written] == [n.replace(".jpg", f"_{target}.jpg") for n in names]
            for f in written:
                src = source[int(f["name"][1])]
                assert f["labels"] == src["labels"] and set(f) == set(src)
                assert {k: v for k, v in f["attributes"].items() if k not in ("weather", "timeofday")} == {
                    k: v for k, v in src["attributes"].items() if k not in ("weather", "timeofday")
                }
                if target in ds.bdd_rules.domains():  # read back under the target
                    assert ds.bdd_rules.domain_of(f["attributes"]) == target
                else:
                    assert (f["attributes"]["weather"], f["attributes"]["timeofday"]) == (target, "daytime")
        if table is not None:  # FOG's foggy lists dawn/dusk: f3 keeps it; f1 (night) becomes daytime
            fog = json.loads((out / "foggy" / "labels.json").read_text())
            assert [f["attributes"]["timeofday"] for f in fog] == ["daytime", "daytime", "dawn/dusk"]


def test_bdd_rules_is_a_config_key_and_bad_tables_are_one_error() -> None:
    cfg = load_config(
        TrainConfig, None, ["data.bdd_rules=[{domain: Foggy, weather: foggy, timeofday: [daytime]}]"]
    )
    assert cfg.data.bdd_rules == [{"domain": "foggy", "weather": ["foggy"], "timeofday": ["daytime"]}]
    assert load_config(TrainConfig, None, []).data.bdd_rules == []  # empty: the paper's Table 1
    for value, message in (
        ("foggy", r"data.bdd_rules\[0\] must be a mapping, got 'foggy' \(each rule is \{domain"),
        ("{foggy: [{weather: [foggy]}]}", "'data.bdd_rules' must be a list"),
        ("[{domain: foggy, weather: [foggy]}]", r"data.bdd_rules\[0\] \(foggy\) needs weather and timeofday"),
        ("[{domain: a/b, weather: [x], timeofday: [y]}]", "bad domain name 'a/b'"),
        (
            "[{domain: foggy, wether: [foggy], timeofday: [daytime]}]",
            r"unknown config key 'data.bdd_rules\[0\].wether'",
        ),
        ("[foggy]", r"data.bdd_rules\[0\] must be a mapping"),
    ):
        with pytest.raises(EdgecglError, match=message):
            load_config(TrainConfig, None, [f"data.bdd_rules={value}"])


def test_bdd_rules_file_and_the_domains_it_defines(tmp_path: Path) -> None:
    labels = bdd_set(tmp_path / "bdd", [{"weather": "foggy", "timeofday": "daytime"}])
    assert data_domains(f"bdd100k:{labels}") == list(DOMAINS)
    listed = tmp_path / "rules.yaml"
    listed.write_text(json.dumps(FOG))
    config = tmp_path / "config.yaml"
    config.write_text("name: x\ndata:\n  bdd_rules:\n" + "".join(f"    - {json.dumps(r)}\n" for r in FOG))
    for path in (listed, config):
        rules = load_bdd_rules(path)
        assert rules is not None and data_domains(f"bdd100k:{labels}", rules) == ["sunny", "foggy"]
    config.write_text("- {domain: foggy}\n")
    with pytest.raises(EdgecglError, match=r"config.yaml\[0\] \(foggy\) needs weather"):
        load_bdd_rules(config)
    config.write_text("name: x\ndata:\n  flip: false\n")  # a config without the key
    with pytest.raises(EdgecglError, match="holds no rule list"):
        load_bdd_rules(config)
    with pytest.raises(EdgecglError, match="cannot read --bdd-rules"):
        load_bdd_rules(tmp_path / "nope.yaml")


def test_symlinked_images_are_followed(tmp_path: Path) -> None:
    """A subset built by linking image files (no '..' in any name) loads like the files themselves."""
    full = bdd_set(tmp_path / "full", [{"weather": "clear", "timeofday": "night"}] * 2)
    sub = tmp_path / "subset"
    (sub / "images").mkdir(parents=True)
    for p in sorted((full.parent / "images").iterdir()):
        (sub / "images" / p.name).symlink_to(p)
    (sub / "labels.json").write_text(full.read_text())
    ds = open_dataset(f"bdd100k:{sub / 'labels.json'}", size=None, split="all", allow_empty_domains=True)
    assert ds.counts()["night"] == 2 and ds[0].image.shape == (3, 16, 24)
    assert len(open_augment_dataset(f"bdd100k:{sub / 'labels.json'}").items) == 2  # augment: the same set
    linked = tmp_path / "linked"  # a symlinked images/ folder: both read it too
    linked.mkdir()
    (linked / "images").symlink_to(full.parent / "images")
    (linked / "labels.json").write_text(full.read_text())
    assert (
        len(open_dataset(f"bdd100k:{linked / 'labels.json'}", size=None, split="all", domains=["night"])) == 2
    )
    assert len(open_augment_dataset(f"bdd100k:{linked / 'labels.json'}").items) == 2
    (sub / "labels.json").write_text(json.dumps([{"name": "../full/images/f0.jpg", "attributes": {}}]))
    with pytest.raises(EdgecglError, match="leaves the dataset root"):  # '..' is still refused
        open_dataset(f"bdd100k:{sub / 'labels.json'}", size=None, split="all")
