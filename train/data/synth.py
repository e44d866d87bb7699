"""SynthWeather: procedural dashcam scenes rendered in four weathers from the same geometry.

One scene (road, lanes, roadside, buildings or trees, cars, pedestrians) is drawn once into material
buffers (albedo, depth, material id, instance id, sun exposure, light sources); each domain is then a
different *lighting* of those buffers, so the four frames of a scene are pixel-aligned pairs:

- sunny: direct sun with hard cast shadows (cars, people, buildings, trees, poles), blue sky;
- cloudy: flat ambient light, no cast shadows, grey sky with clouds, some haze, less colour;
- rainy: dim and grey, a wet road that mirrors cars and buildings, rear lights on and reflected as
  streaks, rain streaks, fog;
- night: a dark scene lit by the ego headlights and street lamps, while instances *light up*: cars'
  tail lights and oncoming headlights glow (with bloom and road reflections), cabins are lit, building
  windows are lit at random.

The instances change differently from the background on purpose (the cross-granularity effect).
Boxes come from the instance-id buffer (visible pixels only, so occluded parts are excluded) and are
identical in every domain. Everything is numpy + OpenCV, deterministic per seed (no timestamps,
PNG output), about 10-20 ms per scene and domain at 128x256 on one CPU core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from edgecgl.domains import DOMAINS

# Class ids of the folder format (FOLDER_CLASSES in folder.py).
CAR, TRUCK, BUS, PERSON = 0, 1, 2, 3

# Material ids of the geometry buffers.
SKY, GROUND, ROAD, MARK, WALK, BUILDING, WINDOW, TREE, POLE, BODY, GLASS, DARK, PERSON_M, HILL = range(14)
_GROUND_LIKE = (GROUND, ROAD, MARK, WALK)
SS = 2  # supersampling factor: drawn at 2x, downsampled with INTER_AREA (anti-aliasing)


# ----------------------------------------------------------------------------------------------- scene


@dataclass
class Car:
    x: float  # lane centre (m, + right of the camera)
    z: float  # distance of the face we see (m)
    v: float  # speed over ground (m/s)
    kind: int  # CAR, TRUCK, BUS
    color: tuple[float, float, float]
    oncoming: bool = False
    width: float = 1.8
    height: float = 1.45
    length: float = 4.5
    cabin_lit: bool = False


@dataclass
class Person:
    x: float
    z: float
    height: float
    shirt: tuple[float, float, float]
    pants: tuple[float, float, float]
    skin: tuple[float, float, float]
    phase: float


@dataclass
class Building:
    side: int  # -1 left, +1 right
    x: float  # facade distance from the camera axis (m, positive)
    z0: float
    z1: float
    height: float
    color: tuple[float, float, float]
    floor: float
    bay: float
    lit_seed: int


@dataclass
class Tree:
    x: float
    z: float
    height: float
    crown: tuple[float, float, float]


@dataclass
class Scene:
    """Everything random about one scene; rendering is a pure function of (scene, domain, size, t)."""

    seed: int
    horizon: float  # fraction of H
    cx: float  # vanishing point, fraction of W
    focal: float  # fraction of W
    cam_h: float
    lane_w: float
    n_lanes: int
    ego_lane: int
    n_oncoming: int
    ego_v: float
    urban: bool
    road_color: tuple[float, float, float]
    ground_color: tuple[float, float, float]
    walk_color: tuple[float, float, float]
    sun_dx: float  # cast-shadow offset per metre of height, across (+ = towards +x)
    sun_dz: float  # and along the road (+ = away from the camera)
    hills: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lamp_side: int = 1
    lamp_step: float = 22.0
    cars: list[Car] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)
    trees: list[Tree] = field(default_factory=list)

    @property
    def road_left(self) -> float:
        return (-self.ego_lane - 0.5) * self.lane_w

    @property
    def road_right(self) -> float:
        return (self.n_lanes - self.ego_lane - 0.5) * self.lane_w


_CAR_COLORS = [
    (0.85, 0.85, 0.85), (0.08, 0.08, 0.09), (0.55, 0.56, 0.58), (0.62, 0.08, 0.07), (0.1, 0.18, 0.45),
    (0.9, 0.9, 0.88), (0.25, 0.27, 0.3), (0.15, 0.3, 0.2), (0.75, 0.6, 0.15), (0.4, 0.42, 0.45),
]  # fmt: skip
_BUILDING_COLORS = [
    (0.62, 0.52, 0.42), (0.55, 0.38, 0.3), (0.7, 0.68, 0.62), (0.45, 0.46, 0.5), (0.78, 0.72, 0.58),
    (0.5, 0.4, 0.36), (0.6, 0.62, 0.66),
]  # fmt: skip


def _pick(rng: np.random.Generator, seq: list) -> tuple[float, float, float]:
    c = np.asarray(seq[int(rng.integers(len(seq)))]) * rng.uniform(0.85, 1.1, 3)
    return tuple(float(v) for v in np.clip(c, 0, 1))


def make_scene(seed: int | np.random.Generator) -> Scene:
    """Draw one random scene (deterministic for an integer seed)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed))
    seed_val = int(seed) if not isinstance(seed, np.random.Generator) else int(rng.integers(2**31))
    n_lanes = int(rng.integers(2, 5))
    n_oncoming = int(rng.integers(0, n_lanes // 2 + 1)) if n_lanes > 1 else 0
    ego_lane = int(rng.integers(n_oncoming, n_lanes))
    urban = bool(rng.random() < 0.6)
    sun_side = 1.0 if rng.random() < 0.5 else -1.0
    s = Scene(
        seed=seed_val,
        horizon=float(rng.uniform(0.40, 0.5)),
        cx=float(rng.uniform(0.44, 0.56)),
        focal=float(rng.uniform(0.75, 1.0)),
        cam_h=float(rng.uniform(1.25, 1.6)),
        lane_w=float(rng.uniform(3.2, 3.8)),
        n_lanes=n_lanes,
        ego_lane=ego_lane,
        n_oncoming=n_oncoming,
        ego_v=float(rng.uniform(8, 16)),
        urban=urban,
        road_color=tuple(float(v) for v in np.full(3, rng.uniform(0.28, 0.4)) * rng.uniform(0.97, 1.03, 3)),
        ground_color=_pick(rng, [(0.3, 0.42, 0.18), (0.42, 0.38, 0.26), (0.33, 0.38, 0.2)]),
        walk_color=_pick(rng, [(0.6, 0.58, 0.55), (0.55, 0.52, 0.5)]),
        sun_dx=float(sun_side * rng.uniform(0.8, 1.8)),
        sun_dz=float(rng.uniform(-0.6, 0.9)),
        hills=rng.uniform(0, 1, 12),
        lamp_side=int(rng.choice([-1, 1])),
        lamp_step=float(rng.uniform(18, 30)),
    )
    walk = 2.5
    # roadside: buildings (urban) or trees (rural), both sides, from near to far
    for side in (-1, 1):
        edge = (-s.road_left if side < 0 else s.road_right) + walk
        z = float(rng.uniform(2, 10))
        while z < 140:
            if urban and rng.random() < 0.85:
                length = float(rng.uniform(8, 26))
                s.buildings.append(
                    Building(
                        side=side,
                        x=edge + float(rng.uniform(0.5, 3)),
                        z0=z,
                        z1=z + length,
                        height=float(rng.uniform(5, 22)),
                        color=_pick(rng, _BUILDING_COLORS),
                        floor=float(rng.uniform(2.8, 3.6)),
                        bay=float(rng.uniform(2.2, 3.5)),
                        lit_seed=int(rng.integers(2**31)),
                    )
                )
                z += length + float(rng.uniform(0, 6))
            else:
                s.trees.append(
                    Tree(
                        x=side * (edge + float(rng.uniform(0.5, 5))),
                        z=z,
                        height=float(rng.uniform(4, 9)),
                        crown=_pick(rng, [(0.18, 0.32, 0.12), (0.22, 0.36, 0.14), (0.28, 0.33, 0.12)]),
                    )
                )
                z += float(rng.uniform(4, 14))
    # cars in lanes, kept apart along each lane
    for lane in range(n_lanes):
        oncoming = lane < n_oncoming
        z = float(rng.uniform(4, 14)) if lane != ego_lane else float(rng.uniform(8, 20))
        while z < 70 and len(s.cars) < 9:
            if rng.random() < 0.75:
                r = rng.random()
                kind = CAR if r < 0.8 else (TRUCK if r < 0.93 else BUS)
                dims = {CAR: (1.8, 1.45, 4.5), TRUCK: (2.4, 3.2, 9.0), BUS: (2.5, 3.1, 11.0)}[kind]
                jitter = rng.uniform(0.92, 1.08, 3)
                col = (
                    _pick(rng, _CAR_COLORS)
                    if kind == CAR
                    else _pick(
                        rng, [(0.85, 0.85, 0.82), (0.7, 0.2, 0.15), (0.2, 0.35, 0.6), (0.9, 0.75, 0.2)]
                    )
                )
                s.cars.append(
                    Car(
                        x=(lane - ego_lane) * s.lane_w + float(rng.uniform(-0.3, 0.3)),
                        z=z,
                        v=float(rng.uniform(6, 18)),
                        kind=kind,
                        color=col,
                        oncoming=oncoming,
                        width=dims[0] * float(jitter[0]),
                        height=dims[1] * float(jitter[1]),
                        length=dims[2] * float(jitter[2]),
                        cabin_lit=bool(rng.random() < 0.6),
                    )
                )
                z += dims[2] + float(rng.uniform(4, 18))
            else:
                z += float(rng.uniform(6, 15))
    # pedestrians on the sidewalks
    for _ in range(int(rng.integers(0, 5 if urban else 2))):
        side = -1 if rng.random() < 0.5 else 1
        edge = -s.road_left if side < 0 else s.road_right
        s.people.append(
            Person(
                x=side * (edge + float(rng.uniform(0.4, walk - 0.3))),
                z=float(rng.uniform(5, 35)),
                height=float(rng.uniform(1.55, 1.9)),
                shirt=_pick(
                    rng,
                    [
                        (0.7, 0.15, 0.1),
                        (0.15, 0.25, 0.6),
                        (0.85, 0.85, 0.8),
                        (0.2, 0.2, 0.2),
                        (0.8, 0.6, 0.1),
                        (0.3, 0.5, 0.3),
                    ],
                ),
                pants=_pick(rng, [(0.1, 0.12, 0.2), (0.2, 0.2, 0.22), (0.45, 0.4, 0.3)]),
                skin=_pick(rng, [(0.85, 0.66, 0.52), (0.6, 0.42, 0.3), (0.4, 0.27, 0.2)]),
                phase=float(rng.uniform(0, 2 * math.pi)),
            )
        )
    return s


def scene_at(s: Scene, t: float) -> Scene:
    """The scene ``t`` seconds later: the ego drives forward, cars move, what passes us re-enters far
    ahead (so a clip never runs empty)."""
    if t == 0:
        return s
    span = 140.0

    def wrap(z: float, near: float = 2.0) -> float:
        return near + (z - near) % span

    cars = []
    for c in s.cars:
        rel = -(c.v + s.ego_v) if c.oncoming else (c.v - s.ego_v)
        cars.append(replace(c, z=wrap(c.z + rel * t, 3.0)))
    people = [replace(p, z=wrap(p.z - s.ego_v * t + 1.2 * t), phase=p.phase + 6.0 * t) for p in s.people]
    trees = [replace(tr, z=wrap(tr.z - s.ego_v * t)) for tr in s.trees]
    bl = []
    for b in s.buildings:
        z0 = wrap(b.z0 - s.ego_v * t, -30.0)
        bl.append(replace(b, z0=z0, z1=z0 + (b.z1 - b.z0)))
    return replace(s, cars=cars, people=people, trees=trees, buildings=bl, seed=s.seed)


# ------------------------------------------------------------------------------------------ geometry


class Canvas:
    """Geometry buffers at supersampled resolution; ``mirror`` draws reflections (height -> -height)."""

    def __init__(self, s: Scene, h: int, w: int, mirror: bool = False) -> None:
        self.h, self.w = h, w
        self.cx = s.cx * w
        self.hy = s.horizon * h
        self.f = s.focal * w
        self.cam_h = s.cam_h
        self.mirror = mirror
        self.albedo = np.zeros((h, w, 3), np.float32)
        self.depth = np.full((h, w), 1e4, np.float32)
        self.mat = np.zeros((h, w), np.float32)
        self.inst = np.zeros((h, w), np.float32)
        self.sun = np.zeros((h, w), np.float32)  # fraction of direct sunlight a surface faces
        self.lit = np.zeros((h, w), np.float32)  # 1 where a window/cabin lights up at night
        self.shadow = np.zeros((h, w), np.float32)
        self.lights: list[tuple[np.ndarray, str, float]] = []  # polygon, kind, depth

    def p(self, x: float, y: float, z: float) -> tuple[float, float]:
        z = max(z, 0.3)
        y = -y if self.mirror else y
        return self.cx + self.f * x / z, self.hy + self.f * (self.cam_h - y) / z

    def pts(self, xyz: list[tuple[float, float, float]]) -> np.ndarray:
        return np.array([self.p(*q) for q in xyz], np.float64)

    def fill(
        self,
        pts: np.ndarray,
        color: tuple[float, float, float],
        z: float,
        mat: int,
        inst: int = 0,
        sun: float = 1.0,
        lit: float = 0.0,
    ) -> None:
        poly = [np.round(np.asarray(pts) * 16).astype(np.int32)]
        cv2.fillPoly(self.albedo, poly, color, cv2.LINE_8, 4)
        cv2.fillPoly(self.depth, poly, (float(z),), cv2.LINE_8, 4)
        cv2.fillPoly(self.mat, poly, (float(mat),), cv2.LINE_8, 4)
        cv2.fillPoly(self.inst, poly, (float(inst),), cv2.LINE_8, 4)
        cv2.fillPoly(self.sun, poly, (float(sun),), cv2.LINE_8, 4)
        cv2.fillPoly(self.lit, poly, (float(lit),), cv2.LINE_8, 4)

    def quad(
        self,
        xyz: list[tuple[float, float, float]],
        color,
        mat: int,
        inst: int = 0,
        sun: float = 1.0,
        lit: float = 0.0,
    ) -> None:
        z = float(np.mean([q[2] for q in xyz]))
        self.fill(self.pts(xyz), color, z, mat, inst, sun, lit)

    def cast(self, ground_xz: list[tuple[float, float]]) -> None:
        """A hard shadow polygon on the ground (convex hull of the given ground points)."""
        pts = self.pts([(x, 0.0, z) for x, z in ground_xz]).astype(np.float32)
        hull = cv2.convexHull(pts)[:, 0, :]
        cv2.fillPoly(self.shadow, [np.round(hull * 16).astype(np.int32)], (1.0,), cv2.LINE_8, 4)

    def light(self, xyz: list[tuple[float, float, float]], kind: str) -> None:
        self.lights.append((self.pts(xyz), kind, float(np.mean([q[2] for q in xyz]))))


def _shade(c: tuple[float, float, float], k: float) -> tuple[float, float, float]:
    return (c[0] * k, c[1] * k, c[2] * k)


def _draw_ground(cv: Canvas, s: Scene, t: float) -> None:
    h, w = cv.h, cv.w
    hy = int(math.ceil(cv.hy))
    cv.albedo[hy:] = s.ground_color
    cv.mat[hy:] = GROUND
    cv.sun[hy:] = 1.0
    ys = np.arange(hy, h, dtype=np.float32) + 0.5
    cv.depth[hy:] = (cv.f * cv.cam_h / np.maximum(ys - cv.hy, 1e-3))[:, None]
    cv.mat[:hy] = SKY
    far = 400.0
    walk = 2.5
    for x0, x1, col, mat in (
        (s.road_left - walk, s.road_left, s.walk_color, WALK),
        (s.road_right, s.road_right + walk, s.walk_color, WALK),
        (s.road_left, s.road_right, s.road_color, ROAD),
    ):
        if mat == WALK and not s.urban:
            col, mat = _shade(s.ground_color, 1.15), GROUND
        poly = cv.pts([(x0, 0, 0.5), (x1, 0, 0.5), (x1, 0, far), (x0, 0, far)])
        poly[:, 1] = np.minimum(poly[:, 1], 4 * h)
        cv2.fillPoly(cv.albedo, [np.round(poly * 16).astype(np.int32)], col, cv2.LINE_8, 4)
        cv2.fillPoly(cv.mat, [np.round(poly * 16).astype(np.int32)], (float(mat),), cv2.LINE_8, 4)
    # lane markings: solid edges, double yellow between directions, dashes between lanes (move with t)
    white, yellow = (0.92, 0.92, 0.9), (0.9, 0.72, 0.15)
    lw = 0.12
    dash, period = 3.0, 9.0
    offset = (s.ego_v * t) % period
    for k in range(s.n_lanes + 1):
        xb = s.road_left + k * s.lane_w
        if k in (0, s.n_lanes):
            segs, col = [(0.5, far)], white
        elif k == s.n_oncoming:
            for dx in (-0.12, 0.12):
                _mark(cv, xb + dx, lw * 0.8, [(0.5, far)], yellow)
            continue
        else:
            z0 = -offset
            segs = []
            while z0 < 120:
                if z0 + dash > 0.5:
                    segs.append((max(z0, 0.5), z0 + dash))
                z0 += period
            col = white
        _mark(cv, xb, lw, segs, col)
    # distant hills / tree line along the horizon
    xs = np.linspace(-0.1 * w, 1.1 * w, len(s.hills) * 4)
    hh = np.interp(np.linspace(0, 1, len(xs)), np.linspace(0, 1, len(s.hills)), s.hills)
    top = cv.hy - (0.015 + 0.05 * hh) * h
    poly = np.concatenate([np.stack([xs, top], 1), [[1.1 * w, cv.hy + 1], [-0.1 * w, cv.hy + 1]]])
    hill_col = (0.3, 0.38, 0.28) if not s.urban else (0.45, 0.47, 0.52)
    cv.fill(poly, hill_col, 350.0, HILL, sun=0.5)


def _mark(cv: Canvas, xb: float, lw: float, segs: list[tuple[float, float]], col) -> None:
    for z0, z1 in segs:
        poly = cv.pts(
            [(xb - lw / 2, 0, z0), (xb + lw / 2, 0, z0), (xb + lw / 2, 0, z1), (xb - lw / 2, 0, z1)]
        )
        poly[:, 1] = np.minimum(poly[:, 1], 4 * cv.h)
        pi = [np.round(poly * 16).astype(np.int32)]
        cv2.fillPoly(cv.albedo, pi, col, cv2.LINE_8, 4)
        cv2.fillPoly(cv.mat, pi, (float(MARK),), cv2.LINE_8, 4)


def _draw_building(cv: Canvas, s: Scene, b: Building) -> None:
    sx = b.side * b.x
    if b.z1 < 0.5:
        return
    z0 = max(b.z0, 0.5)
    faces_sun = (s.sun_dx > 0) == (
        b.side < 0
    )  # the facade looks towards the road: lit if the sun is behind it
    sun_side = 0.85 if faces_sun else 0.0
    cv.quad(
        [(sx, 0, z0), (sx, 0, b.z1), (sx, b.height, b.z1), (sx, b.height, z0)],
        b.color,
        BUILDING,
        sun=sun_side,
    )
    if b.z0 > 0.5:  # front face towards us
        d = 12.0
        cv.quad(
            [
                (sx, 0, b.z0),
                (sx + b.side * d, 0, b.z0),
                (sx + b.side * d, b.height, b.z0),
                (sx, b.height, b.z0),
            ],
            _shade(b.color, 0.85),
            BUILDING,
            sun=0.3 if s.sun_dz > 0 else 0.7,
        )
    if not cv.mirror:  # its shadow across the sidewalk and road
        if (s.sun_dx > 0) == (b.side < 0):
            pass  # the sun is behind the facade: the shadow falls on the road side
        off = b.height * s.sun_dx
        if (off < 0) == (b.side > 0):  # shadow points towards the road
            cv.cast(
                [
                    (sx, z0),
                    (sx, b.z1),
                    (sx + off, b.z1 + b.height * s.sun_dz),
                    (sx + off, z0 + b.height * s.sun_dz),
                ]
            )
    rng = np.random.default_rng(b.lit_seed)
    nf = int(b.height / b.floor)
    nb = int((b.z1 - b.z0) / b.bay)
    glass = (0.16, 0.2, 0.26)
    lit = rng.random((nf, max(nb, 1))) < 0.4
    for i in range(nf):
        y0 = i * b.floor + (1.0 if i == 0 else 0.8)
        y1 = y0 + b.floor * 0.45
        for j in range(nb):
            za = b.z0 + j * b.bay + b.bay * 0.25
            zb = za + b.bay * 0.5
            if zb < 0.6:
                continue
            za = max(za, 0.5)
            cv.quad(
                [(sx, y0, za), (sx, y0, zb), (sx, y1, zb), (sx, y1, za)],
                glass,
                WINDOW,
                sun=sun_side * 0.5,
                lit=float(lit[i, j]),
            )


def _draw_tree(cv: Canvas, s: Scene, tr: Tree) -> None:
    if tr.z < 0.8:
        return
    trunk = (0.3, 0.22, 0.15)
    cv.quad(
        [
            (tr.x - 0.15, 0, tr.z),
            (tr.x + 0.15, 0, tr.z),
            (tr.x + 0.12, tr.height * 0.5, tr.z),
            (tr.x - 0.12, tr.height * 0.5, tr.z),
        ],
        trunk,
        TREE,
        sun=0.6,
    )
    r = tr.height * 0.3
    cx, cy = cv.p(tr.x, tr.height * 0.65, tr.z)
    rp = cv.f * r / tr.z
    ang = np.linspace(0, 2 * np.pi, 18, endpoint=False)
    wob = 1 + 0.12 * np.sin(ang * 3 + tr.x)
    poly = np.stack([cx + rp * wob * np.cos(ang), cy + rp * 1.15 * wob * np.sin(ang)], 1)
    cv.fill(poly, tr.crown, tr.z, TREE, sun=0.8)
    cv.fill(
        poly[:9] * 0.6 + np.array([cx, cy]) * 0.4 - [0, rp * 0.2],
        _shade(tr.crown, 1.25),
        tr.z - 0.01,
        TREE,
        sun=0.9,
    )
    if not cv.mirror:
        off, offz = tr.height * 0.65 * s.sun_dx, tr.height * 0.65 * s.sun_dz
        pts = [(tr.x + off + r * math.cos(a), tr.z + offz + r * math.sin(a)) for a in ang] + [(tr.x, tr.z)]
        cv.cast(pts)


def _draw_lamp(cv: Canvas, s: Scene, x: float, z: float) -> None:
    hgt = 6.5
    pole = (0.35, 0.36, 0.38)
    cv.quad([(x - 0.08, 0, z), (x + 0.08, 0, z), (x + 0.08, hgt, z), (x - 0.08, hgt, z)], pole, POLE, sun=0.6)
    arm = -np.sign(x) * 1.6
    cv.quad(
        [(x, hgt - 0.1, z), (x + arm, hgt - 0.1, z), (x + arm, hgt + 0.05, z), (x, hgt + 0.05, z)],
        pole,
        POLE,
        sun=0.6,
    )
    if not cv.mirror:
        cv.light(
            [
                (x + arm - 0.35, hgt - 0.25, z),
                (x + arm + 0.35, hgt - 0.25, z),
                (x + arm + 0.35, hgt - 0.05, z),
                (x + arm - 0.35, hgt - 0.05, z),
            ],
            "lamp",
        )
        cv.cast(
            [
                (x - 0.1, z),
                (x + 0.1, z),
                (x + 0.1 + hgt * s.sun_dx, z + hgt * s.sun_dz),
                (x - 0.1 + hgt * s.sun_dx, z + hgt * s.sun_dz),
            ]
        )


def _draw_car(cv: Canvas, s: Scene, c: Car, inst: int) -> None:
    if c.z < 1.0:
        return
    x0, x1 = c.x - c.width / 2, c.x + c.width / 2
    z, zl = c.z, c.z + c.length
    hb = c.height * (0.62 if c.kind == CAR else 0.95)  # top of the body / box
    col = c.color
    dark = (0.05, 0.05, 0.055)
    glass = (0.1, 0.12, 0.15)
    if not cv.mirror:  # cast shadow: footprint swept along the sun direction
        dx, dz = c.height * s.sun_dx * 0.8, c.height * s.sun_dz * 0.8
        cv.cast(
            [
                (x0, z),
                (x1, z),
                (x1, zl),
                (x0, zl),
                (x0 + dx, z + dz),
                (x1 + dx, z + dz),
                (x1 + dx, zl + dz),
                (x0 + dx, zl + dz),
            ]
        )
    # visible side
    side_x = x0 if x0 > 0 else (x1 if x1 < 0 else None)
    if side_x is not None:
        sun_side = 0.8 if (s.sun_dx > 0) == (side_x < 0) else 0.05
        cv.quad(
            [(side_x, 0.3, z), (side_x, 0.3, zl), (side_x, hb, zl), (side_x, hb, z)],
            _shade(col, 0.85),
            BODY,
            inst,
            sun=sun_side,
        )
        if c.kind == CAR:
            zc0, zc1 = z + 0.22 * c.length, z + 0.78 * c.length
            cv.quad(
                [
                    (side_x, hb, zc0 - 0.3),
                    (side_x, hb, zc1 + 0.2),
                    (side_x, c.height, zc1 - 0.3),
                    (side_x, c.height, zc0 + 0.4),
                ],
                _shade(col, 0.8),
                BODY,
                inst,
                sun=sun_side,
            )
            cv.quad(
                [
                    (side_x, hb + 0.05, zc0 - 0.1),
                    (side_x, hb + 0.05, zc1),
                    (side_x, c.height - 0.08, zc1 - 0.35),
                    (side_x, c.height - 0.08, zc0 + 0.35),
                ],
                glass,
                GLASS,
                inst,
                sun=0.3,
                lit=float(c.cabin_lit),
            )
        elif c.kind == BUS:
            for k in range(int(c.length / 1.6) - 1):
                za = z + 0.6 + k * 1.6
                cv.quad(
                    [(side_x, 1.5, za), (side_x, 1.5, za + 1.3), (side_x, 2.5, za + 1.3), (side_x, 2.5, za)],
                    glass,
                    GLASS,
                    inst,
                    sun=0.3,
                    lit=1.0,
                )
        for zw in (z + 0.18 * c.length, z + 0.82 * c.length):
            cv.quad(
                [
                    (side_x, 0.0, zw - 0.35),
                    (side_x, 0.0, zw + 0.35),
                    (side_x, 0.62, zw + 0.35),
                    (side_x, 0.62, zw - 0.35),
                ],
                dark,
                DARK,
                inst,
                sun=0.0,
            )
    # the face towards us: rear (same direction) or front (oncoming)
    cv.quad(
        [(x0 + 0.1, 0, z), (x0 + 0.4, 0, z), (x0 + 0.4, 0.4, z), (x0 + 0.1, 0.4, z)],
        dark,
        DARK,
        inst,
        sun=0.0,
    )
    cv.quad(
        [(x1 - 0.4, 0, z), (x1 - 0.1, 0, z), (x1 - 0.1, 0.4, z), (x1 - 0.4, 0.4, z)],
        dark,
        DARK,
        inst,
        sun=0.0,
    )
    face_sun = 0.55 if s.sun_dz > 0 else 0.2
    cv.quad([(x0, 0.28, z), (x1, 0.28, z), (x1, hb, z), (x0, hb, z)], col, BODY, inst, sun=face_sun)
    cv.quad(
        [(x0, 0.28, z), (x1, 0.28, z), (x1, 0.45, z), (x0, 0.45, z)],
        _shade(col, 0.45),
        BODY,
        inst,
        sun=face_sun * 0.5,
    )
    if c.kind == CAR:
        zc = z + (0.25 * c.length)
        cv.quad(
            [
                (x0 + 0.08, hb, z + 0.05),
                (x1 - 0.08, hb, z + 0.05),
                (x1 - 0.28, c.height, zc),
                (x0 + 0.28, c.height, zc),
            ],
            col,
            BODY,
            inst,
            sun=face_sun,
        )
        cv.quad(
            [
                (x0 + 0.2, hb + 0.05, z + 0.1),
                (x1 - 0.2, hb + 0.05, z + 0.1),
                (x1 - 0.34, c.height - 0.07, zc),
                (x0 + 0.34, c.height - 0.07, zc),
            ],
            glass,
            GLASS,
            inst,
            sun=0.35,
            lit=float(c.cabin_lit),
        )
    elif c.oncoming or c.kind == BUS:
        cv.quad(
            [
                (x0 + 0.15, hb * 0.62, z),
                (x1 - 0.15, hb * 0.62, z),
                (x1 - 0.15, hb * 0.93, z),
                (x0 + 0.15, hb * 0.93, z),
            ],
            glass,
            GLASS,
            inst,
            sun=0.35,
            lit=1.0,
        )
    ly0, ly1 = (0.55, 0.72) if c.kind == CAR else (0.5, 0.75)
    if c.oncoming:
        cv.quad(
            [(x0 + 0.55, 0.5, z), (x1 - 0.55, 0.5, z), (x1 - 0.55, 0.6, z), (x0 + 0.55, 0.6, z)],
            dark,
            DARK,
            inst,
            sun=0.1,
        )
        lamp_col, kind = (0.85, 0.85, 0.8), "head"
    else:
        cv.quad(
            [(c.x - 0.25, 0.36, z), (c.x + 0.25, 0.36, z), (c.x + 0.25, 0.48, z), (c.x - 0.25, 0.48, z)],
            (0.85, 0.85, 0.8),
            BODY,
            inst,
            sun=face_sun,
        )
        lamp_col, kind = (0.45, 0.04, 0.03), "tail"
    for a, b in ((x0 + 0.05, x0 + 0.38), (x1 - 0.38, x1 - 0.05)):
        q = [(a, ly0, z - 0.01), (b, ly0, z - 0.01), (b, ly1, z - 0.01), (a, ly1, z - 0.01)]
        cv.quad(q, lamp_col, BODY, inst, sun=face_sun)
        if not cv.mirror:
            cv.light(q, kind)


def _draw_person(cv: Canvas, s: Scene, p: Person, inst: int) -> None:
    if p.z < 1.0:
        return
    h = p.height
    leg = 0.47 * h
    sw = math.sin(p.phase) * 0.18
    if not cv.mirror:
        dx, dz = h * s.sun_dx * 0.9, h * s.sun_dz * 0.9
        cv.cast(
            [(p.x - 0.22, p.z), (p.x + 0.22, p.z), (p.x + 0.12 + dx, p.z + dz), (p.x - 0.12 + dx, p.z + dz)]
        )
    for sgn in (-1, 1):  # legs
        fx = p.x + sgn * 0.09 + sgn * sw
        cv.quad(
            [
                (p.x + sgn * 0.11 - 0.07, leg, p.z),
                (p.x + sgn * 0.11 + 0.07, leg, p.z),
                (fx + 0.07, 0, p.z),
                (fx - 0.07, 0, p.z),
            ],
            p.pants,
            PERSON_M,
            inst,
            sun=0.5,
        )
    cv.quad(
        [
            (p.x - 0.21, leg - 0.05, p.z),
            (p.x + 0.21, leg - 0.05, p.z),
            (p.x + 0.23, 0.82 * h, p.z),
            (p.x - 0.23, 0.82 * h, p.z),
        ],
        p.shirt,
        PERSON_M,
        inst,
        sun=0.6,
    )
    for sgn in (-1, 1):  # arms
        hx = p.x + sgn * (0.27 + abs(sw) * 0.3)
        cv.quad(
            [
                (p.x + sgn * 0.2, 0.8 * h, p.z),
                (p.x + sgn * 0.28, 0.8 * h, p.z),
                (hx + 0.04, 0.45 * h, p.z),
                (hx - 0.04, 0.45 * h, p.z),
            ],
            _shade(p.shirt, 0.85),
            PERSON_M,
            inst,
            sun=0.5,
        )
    cx, cy = cv.p(p.x, 0.9 * h, p.z)
    r = cv.f * 0.11 / p.z
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    cv.fill(
        np.stack([cx + r * np.cos(ang), cy + r * 1.15 * np.sin(ang)], 1), p.skin, p.z, PERSON_M, inst, sun=0.6
    )
    cv.fill(
        np.stack([cx + r * 1.05 * np.cos(ang[6:]), cy - r * 0.2 + r * 1.0 * np.sin(ang[6:])], 1),
        (0.12, 0.08, 0.05),
        p.z,
        PERSON_M,
        inst,
        sun=0.4,
    )


def _draw_objects(cv: Canvas, s: Scene) -> list[tuple[int, int]]:
    """Painter's algorithm far -> near. Returns [(instance id, class)] for the instances drawn."""
    items: list[tuple[float, int, object]] = []
    for b in s.buildings:
        items.append((max(b.z1, 1.0) + 1000.0, 0, b))  # facades behind everything on the road
    for tr in s.trees:
        items.append((tr.z, 1, tr))
    lamp_x = (s.road_right + 0.4) if s.lamp_side > 0 else (s.road_left - 0.4)
    z = 8.0 + (s.seed % 7)
    while z < 120:
        items.append((z, 2, (lamp_x, z)))
        z += s.lamp_step
    for i, c in enumerate(s.cars):
        items.append((c.z, 3, (i, c)))
    for i, p in enumerate(s.people):
        items.append((p.z, 4, (i, p)))
    items.sort(key=lambda it: -it[0])
    classes: list[tuple[int, int]] = []
    for _, kind, obj in items:
        if kind == 0:
            _draw_building(cv, s, obj)  # type: ignore[arg-type]
        elif kind == 1:
            _draw_tree(cv, s, obj)  # type: ignore[arg-type]
        elif kind == 2:
            _draw_lamp(cv, s, *obj)  # type: ignore[misc]
        elif kind == 3:
            i, c = obj  # type: ignore[misc]
            _draw_car(cv, s, c, 1 + i)
            classes.append((1 + i, c.kind))
        else:
            i, p = obj  # type: ignore[misc]
            _draw_person(cv, s, p, 101 + i)
            classes.append((101 + i, PERSON))
    return classes


@dataclass
class Geometry:
    canvas: Canvas
    mirror: Canvas | None
    classes: list[tuple[int, int]]


def build_geometry(s: Scene, h: int, w: int, t: float = 0.0, with_mirror: bool = True) -> Geometry:
    """Draw the scene once at ``SS`` x resolution; every domain is lit from these buffers."""
    cv = Canvas(s, h * SS, w * SS)
    _draw_ground(cv, s, t)
    classes = _draw_objects(cv, s)
    mirror = None
    if with_mirror:
        mirror = Canvas(s, h * SS, w * SS, mirror=True)
        mirror.depth[:] = 1e4
        _draw_objects(mirror, s)
    return Geometry(cv, mirror, classes)


def boxes_from_instances(g: Geometry, h: int, w: int, min_pixels: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Tight boxes of the *visible* pixels of each instance, in output pixels; hidden ones dropped."""
    inst = g.canvas.inst
    boxes, cls = [], []
    min_ss = min_pixels * SS * SS
    for iid, k in g.classes:
        ys, xs = np.nonzero(inst == iid)
        if len(ys) < min_ss:
            continue
        x1, x2 = xs.min() / SS, (xs.max() + 1) / SS
        y1, y2 = ys.min() / SS, (ys.max() + 1) / SS
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        boxes.append((x1, y1, x2, y2))
        cls.append(k)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(cls, np.int64)


# ---------------------------------------------------------------------------------------------- light


def _sky(h: int, w: int, hy: float, top, bottom) -> np.ndarray:
    y = np.clip(np.arange(h, dtype=np.float32) / max(hy, 1.0), 0, 1)[:, None, None]
    grad = np.asarray(top, np.float32) * (1 - y) + np.asarray(bottom, np.float32) * y
    return np.broadcast_to(grad, (h, w, 3)).astype(np.float32)


def _clouds(rng: np.random.Generator, h: int, w: int, scale: int = 8) -> np.ndarray:
    small = rng.random((max(2, h // scale), max(2, w // scale))).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, w / 60 / scale))
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip((big - big.mean()) * 4 + 0.5, 0, 1)


def _desat(img: np.ndarray, k: float) -> np.ndarray:
    g = img.mean(axis=2, keepdims=True)
    return img * (1 - k) + g * k


def _emission(cv: Canvas, kinds: dict[str, tuple[tuple[float, float, float], float]]) -> np.ndarray:
    """Light sources of the given kinds drawn with their colour x intensity (HDR, before bloom)."""
    em = np.zeros((cv.h, cv.w, 3), np.float32)
    for poly, kind, z in sorted(cv.lights, key=lambda it: -it[2]):
        if kind not in kinds:
            continue
        col, k = kinds[kind]
        # visible only where the light is in front of what was drawn there (occlusion test)
        c = poly.mean(0)
        r = max(1.0, float(np.abs(poly[:, 0] - c[0]).max()))
        x0 = int(max(0, min(poly[:, 0].min(), c[0] - r) - 1))
        y0 = int(max(0, min(poly[:, 1].min(), c[1] - r) - 1))
        x1 = int(min(cv.w, max(poly[:, 0].max(), c[0] + r) + 2))
        y1 = int(min(cv.h, max(poly[:, 1].max(), c[1] + r) + 2))
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        off = np.array([x0, y0])
        cv2.fillPoly(mask, [np.round((poly - off) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        if kind == "lamp":
            cc = c - off
            cv2.circle(mask, (int(cc[0] * 16), int(cc[1] * 16)), int(r * 16), 1, -1, cv2.LINE_8, 4)
        vis = (mask > 0) & (cv.depth[y0:y1, x0:x1] >= z - 0.5)
        em[y0:y1, x0:x1][vis] += np.asarray(col, np.float32) * k
    return em


def _bloom(em: np.ndarray, w: int) -> np.ndarray:
    a = cv2.GaussianBlur(em, (0, 0), max(1.0, w / 200))
    h = em.shape[0]
    small = cv2.resize(em, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    b = cv2.GaussianBlur(small, (0, 0), max(0.5, w / 180))
    b = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    return em + 0.9 * a + 0.6 * b


def _light_reflections(cv: Canvas, em_kinds: dict, strength: float, length: float) -> np.ndarray:
    """Vertical streaks below each light on the road (wet asphalt smears reflections downwards)."""
    out = np.zeros((cv.h, cv.w, 3), np.float32)
    for poly, kind, z in cv.lights:
        if kind not in em_kinds or (kind == "lamp" and length < 2):
            continue  # a dry road barely mirrors the street lamps
        col, k = em_kinds[kind]
        cx = float(poly[:, 0].mean())
        ly = float(poly[:, 1].mean())
        gy = cv.p(0, 0, z)[1]
        hw = max(1.0, float(poly[:, 0].max() - poly[:, 0].min()) * 0.5)
        y0 = gy + (gy - ly) * 0.2
        y1 = min(cv.h - 1.0, gy + (gy - ly) * length)
        if y1 <= y0:
            continue
        cv2.ellipse(
            out,
            (int(cx * 16), int((y0 + y1) / 2 * 16)),
            (int(hw * 16), int((y1 - y0) / 2 * 16)),
            0,
            0,
            360,
            tuple(float(v * k * strength) for v in col),
            -1,
            cv2.LINE_8,
            4,
        )
    road = np.isin(cv.mat, (ROAD, MARK, WALK))[..., None]
    return cv2.GaussianBlur(out, (0, 0), max(1.0, cv.w / 150)) * road


def _fog(img: np.ndarray, depth: np.ndarray, sky: np.ndarray, color, visibility: float) -> np.ndarray:
    tr = np.exp(-depth / visibility)[..., None]
    tr = np.where(sky[..., None], 1.0, tr)
    return img * tr + np.asarray(color, np.float32) * (1 - tr)


def _headlights(cv: Canvas, gain: float, reach: float) -> np.ndarray:
    """Irradiance of the ego car's low beams: a cone on the road ahead, falling off with distance."""
    w = cv.w
    xs = (np.arange(w, dtype=np.float32) + 0.5 - cv.cx)[None, :]
    z = np.minimum(cv.depth, 500.0)
    lateral = xs * z / cv.f  # metres from the camera axis at that depth
    cone = np.exp(-((lateral / (0.9 + 0.18 * z)) ** 2))
    fall = 1.0 / (1.0 + (z / reach) ** 2)
    return (gain * cone * fall).astype(np.float32)


def _lamp_pools(cv: Canvas, gain: float) -> np.ndarray:
    """Pools of light under street lamps on the ground (and anything standing in them)."""
    out = np.zeros((cv.h, cv.w), np.float32)
    for poly, kind, z in cv.lights:
        if kind != "lamp":
            continue
        x = (float(poly[:, 0].mean()) - cv.cx) * z / cv.f
        for dz in np.linspace(-6, 6, 7):
            zz = max(z + dz, 0.6)
            c = cv.p(x, 0, zz)
            rx = cv.f * 7.0 / zz
            ry = cv.f * 1.2 * cv.cam_h / zz * 0.9
            cv2.ellipse(
                out,
                (int(c[0] * 16), int(c[1] * 16)),
                (int(rx * 16), int(max(ry, 1) * 16)),
                0,
                0,
                360,
                (gain / 7,),
                -1,
                cv2.LINE_8,
                4,
            )
    return cv2.GaussianBlur(out, (0, 0), max(1.0, cv.w / 80))


def light_domain(g: Geometry, s: Scene, domain: str, rng: np.random.Generator) -> np.ndarray:
    """Light the geometry for one domain -> float32 HDR image at supersampled resolution."""
    cv = g.canvas
    h, w = cv.h, cv.w
    alb = cv.albedo
    sky = cv.mat == SKY
    ground = np.isin(cv.mat, _GROUND_LIKE)
    lit = cv.lit[..., None]
    if domain == "sunny":
        amb = np.array([0.42, 0.46, 0.55], np.float32)
        sun = np.array([1.05, 0.98, 0.86], np.float32)
        direct = cv.sun * np.where(ground, 1.0 - cv.shadow, 1.0)
        img = alb * (amb + sun * direct[..., None])
        img = _desat(img, -0.15)
        sk = _sky(h, w, cv.hy, (0.2, 0.42, 0.85), (0.7, 0.82, 0.95))
        cl = _clouds(rng, h, w, 10)
        sk = (
            sk * (1 - 0.6 * (cl > 0.75)[..., None] * (cl[..., None] - 0.75) * 4)
            + 0.9 * np.clip(cl - 0.75, 0, 1)[..., None] * 3
        )
        img = np.where(sky[..., None], sk, img)
        img = _fog(img, cv.depth, sky, (0.72, 0.8, 0.9), 450.0)
    elif domain == "cloudy":
        img = alb * np.array([0.8, 0.82, 0.86], np.float32) * (0.92 + 0.08 * cv.sun[..., None])
        img = _desat(img, 0.3)
        cl = _clouds(rng, h, w, 6)
        sk = _sky(h, w, cv.hy, (0.62, 0.65, 0.7), (0.82, 0.83, 0.85))
        sk = sk * (0.85 + 0.25 * cl[..., None])
        img = np.where(sky[..., None], sk, img)
        img = _fog(img, cv.depth, sky, (0.78, 0.79, 0.81), 160.0)
    elif domain == "rainy":
        base = alb * np.array([0.5, 0.53, 0.57], np.float32)
        base = _desat(base, 0.45)
        road = np.isin(cv.mat, (ROAD, MARK, WALK))
        skyc = np.array([0.55, 0.57, 0.6], np.float32)
        if g.mirror is not None:
            mir = g.mirror
            refl_obj = mir.mat > 0
            refl_img = _desat(mir.albedo * np.array([0.5, 0.53, 0.57], np.float32), 0.45)
            refl = np.where(refl_obj[..., None], refl_img, skyc * 0.9)
            refl = cv2.GaussianBlur(refl, (0, 0), sigmaX=max(0.5, w / 500), sigmaY=max(1.0, w / 120))
            near = np.clip((cv.depth - 5) / 60.0, 0, 1)[..., None]  # Fresnel: more mirror far away
            wet = base * 0.55 + refl * (0.3 + 0.35 * near)
            img = np.where(road[..., None], wet, base)
        else:
            img = base
        kinds = {"tail": ((1.0, 0.12, 0.06), 1.3), "head": ((1.0, 0.95, 0.85), 1.4)}
        em = _emission(cv, kinds)
        img = img + _bloom(em, w) * 0.7 + _light_reflections(cv, kinds, 0.55, 2.5)
        sk = _sky(h, w, cv.hy, (0.38, 0.4, 0.43), (0.56, 0.57, 0.6)) * (
            0.9 + 0.15 * _clouds(rng, h, w, 5)[..., None]
        )
        img = np.where(sky[..., None], sk, img)
        img = _fog(img, cv.depth, sky, (0.52, 0.54, 0.57), 70.0)
        img = _rain(img, rng, h, w)
    elif domain == "night":
        amb = np.array([0.02, 0.025, 0.045], np.float32)
        irr = _headlights(cv, 0.9, 12.0) + _lamp_pools(cv, 0.45)
        irr_col = irr[..., None] * np.array([1.0, 0.9, 0.72], np.float32)
        img = alb * (amb + irr_col)
        glow = lit * np.where(
            (cv.mat == WINDOW)[..., None],
            np.array([1.0, 0.78, 0.42], np.float32) * 0.9,
            np.array([0.9, 0.7, 0.45], np.float32) * 0.35,
        )
        img = img + glow
        kinds = {
            "tail": ((1.0, 0.08, 0.04), 2.5),
            "head": ((1.0, 0.97, 0.9), 4.0),
            "lamp": ((1.0, 0.85, 0.55), 3.0),
        }
        em = _emission(cv, kinds)
        img = img + _bloom(em, w) + _light_reflections(cv, kinds, 0.25, 1.2)
        sk = _sky(h, w, cv.hy, (0.005, 0.008, 0.025), (0.05, 0.045, 0.06))
        img = np.where(sky[..., None], sk, img)
        img = _fog(img, cv.depth, sky, (0.03, 0.03, 0.045), 250.0)
        img = img + rng.normal(0, 0.012, img.shape).astype(np.float32)
    else:
        raise ValueError(f"unknown domain '{domain}' (choose from {', '.join(DOMAINS)})")
    return img


def _rain(img: np.ndarray, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    layer = np.zeros((h, w), np.float32)
    n = int(h * w / 220)
    x = rng.uniform(-0.1 * w, 1.1 * w, n)
    y = rng.uniform(0, h, n)
    ln = rng.uniform(0.03, 0.09, n) * h
    slant = rng.uniform(0.12, 0.22)
    pts = np.stack([x, y, x + ln * slant, y + ln], 1)
    for x0, y0, x1, y1 in np.round(pts * 16).astype(np.int64):
        cv2.line(layer, (int(x0), int(y0)), (int(x1), int(y1)), (1.0,), 1, cv2.LINE_8, 4)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.7)
    return img * (1 - 0.25 * layer[..., None]) + 0.8 * 0.25 * layer[..., None]


def tonemap(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """HDR supersampled float -> HxWx3 uint8 RGB (soft shoulder, sRGB-ish gamma, area downsample)."""
    x = np.clip(img, 0, None)
    x = x / (1 + 0.25 * np.maximum(x - 0.8, 0))  # compress highlights above 0.8 softly
    x = np.clip(x, 0, 1) ** (1 / 1.15)
    x = cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------------------------- public


def _scene_rng(s: Scene, domain: str, t: float) -> np.random.Generator:
    return np.random.default_rng(
        [s.seed % (2**32), DOMAINS.index(domain) if domain in DOMAINS else 99, int(round(t * 1000))]
    )


def render_domains(
    seed_or_scene: int | Scene, size: tuple[int, int] = (128, 256), domains=DOMAINS, t: float = 0.0
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Render one scene in several domains from one geometry pass.

    Returns ({domain: HxWx3 uint8 RGB}, boxes [N, 4] xyxy pixels, classes [N] folder-format ids).
    """
    s = make_scene(seed_or_scene) if not isinstance(seed_or_scene, Scene) else seed_or_scene
    s = scene_at(s, t)
    h, w = int(size[0]), int(size[1])
    g = build_geometry(s, h, w, t, with_mirror="rainy" in domains)
    boxes, cls = boxes_from_instances(g, h, w)
    out = {d: tonemap(light_domain(g, s, d, _scene_rng(s, d, t)), h, w) for d in domains}
    return out, boxes, cls


def render_scene(
    seed_or_params: int | Scene, domain: str, size: tuple[int, int] = (128, 256), t: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """One scene in one domain -> (HxWx3 uint8 RGB, boxes [N, 4] float32 xyxy pixels)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain '{domain}' (choose from {', '.join(DOMAINS)})")
    imgs, boxes, _ = render_domains(seed_or_params, size, (domain,), t)
    return imgs[domain], boxes
