"""Generators of underspecified tasks (the hackathon suite and its variations).

Each item has a *core* class (the intended feature, which is the label) and a *shortcut* value.
In the labeled set they are equal (perfectly correlated); the unlabeled set mixes correlated
items with a share ``mix_rate`` of uncorrelated ones (core and shortcut drawn independently);
the target set is uncorrelated. Labeled, unlabeled and target items are built from disjoint
source images: each class's images are dealt to the splits before any item is drawn.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from underspec.constraints import COUNT, NATURAL, SEED, SHARE
from underspec.data.challenge import Answers, ChallengeTask, stack_items, write_task
from underspec.data.sources import LOCAL_ONLY, Source, load_source
from underspec.errors import UnderspecError, atomic_dir, check_output_dir

NOISE_SIGMA = 0.02
SPLITS = ("labeled", "unlabeled", "target", "oracle")


@dataclass(frozen=True)
class TaskSpec:
    """Definition of one task of the suite (defaults reproduce the original on MNIST)."""

    id: int
    name: str
    kind: str
    classes: tuple[int, ...]
    points: float = 1.0
    default_score: float = 0.8
    mix_rate: float = 0.5
    side: str = "left"
    sizes: tuple[int, int, int] = (1200, 3600, 1200)
    needs: str = "digits"
    shortcut_classes: tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)


TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec(0, "toy", "toy", (0, 1), mix_rate=1.0, sizes=(500, 500, 500), needs="none"),
    TaskSpec(1, "cc", "cc", (0, 1)),
    TaskSpec(2, "constant_image", "constant_image", (0, 2)),
    TaskSpec(3, "constant_image_random_row", "constant_image", (0, 3), points=2, side="random"),
    TaskSpec(4, "uniform_color_random_row", "uniform_color", (0, 4), side="random"),
    TaskSpec(5, "uniform_color_low_mix_rate", "uniform_color", (0, 5), points=2, mix_rate=0.03),
    TaskSpec(6, "sum", "sum", (0, 6)),
    TaskSpec(7, "sum_three", "sum", (0, 7), points=0, extra={"terms": 3}),
    TaskSpec(8, "sum_noise_level", "noise_level", (0, 8), points=2),
    TaskSpec(12, "no_shift", "cc", (1, 2), points=3, mix_rate=0.0, extra={"target": "correlated"}),
    TaskSpec(13, "trojan", "trojan", (1, 3), points=3, extra={"rate": 0.03, "patch": 3, "value": 2.0}),
    TaskSpec(23, "embed", "embed", (2, 3), points=3),
    TaskSpec(456, "embed_three", "embed", (4, 5, 6), points=4, sizes=(1800, 5400, 1800)),
    TaskSpec(888, "vehicle_animal", "vehicle_animal", (2, 3), points=8, default_score=0.5,
             side="random", sizes=(10000, 20000, 20000), needs="cifar10", shortcut_classes=(0, 1)),
    TaskSpec(999, "humans", "humans", (0, 1), points=10, default_score=0.5, sizes=(0, 0, 0),
             needs="faces", extra={"label_attr": "gender", "shortcut_attr": "age"}),
    # Outside the suite: the field's standard case (MNIST-CIFAR "dominoes" of D-BAT, Pagliardini
    # et al. 2023, and DivDis): a digit (0 or 1, the shortcut) above a car or a truck (the label).
    TaskSpec(777, "dominoes", "dominoes", (1, 9), points=0, default_score=0.5, side="right",
             sizes=(4000, 8000, 4000), needs="cifar10", shortcut_classes=(0, 1)),
)}
OUTSIDE_SUITE = ("dominoes",)
SUITES = {"hackathon": tuple(name for name in TASKS if name not in OUTSIDE_SUITE)}
DIGITS_SCALE = 0.2
"""Sizes are scaled by this with the 8x8 digits source (about 180 images per class)."""


def resolve_task(name: str) -> TaskSpec:
    """Find a task by name (``cc``) or id (``1``, ``01``, ``456``)."""
    if name in TASKS:
        return TASKS[name]
    if name.isdigit():
        for spec in TASKS.values():
            if spec.id == int(name):
                return spec
    raise UnderspecError(f"unknown task {name!r}; expected one of {', '.join(TASKS)} or an id")


def task_dirname(spec: TaskSpec) -> str:
    """Directory name of a task in a suite, ``<id>_<name>`` as in the original repository."""
    return f"{spec.id:02d}_{spec.name}"


@dataclass
class _Pools:
    """Source-image indices per split and per class, drawn without repeats until exhausted."""

    by_split: dict[str, dict[int, np.ndarray]]
    rng: np.random.Generator
    _cursor: dict = field(default_factory=dict)

    def draw(self, split: str, cls: int, n: int) -> np.ndarray:
        pool = self.by_split[split][cls]
        if len(pool) == 0:
            raise UnderspecError(f"sizes: the source has too few images of class {cls} to give the {split} split "
                                 "its share at these sizes; expected smaller sizes (NL,NU,NV), or a larger source")
        key = (split, cls)
        order, pos = self._cursor.get(key, (self.rng.permutation(pool), 0))
        out = []
        while len(out) < n:
            if pos == len(order):
                order, pos = self.rng.permutation(pool), 0
            take = min(n - len(out), len(order) - pos)
            out.extend(order[pos:pos + take])
            pos += take
        self._cursor[key] = (order, pos)
        return np.asarray(out, dtype=np.int64)


def _deal(y: np.ndarray, classes, weights: dict[str, float], rng, reserve: int = 0):
    """Split each class's image indices into disjoint per-split pools, after ``reserve`` images."""
    by_split = {s: {} for s in weights}
    reserved = {}
    total = sum(weights.values())
    for cls in classes:
        idx = rng.permutation(np.flatnonzero(y == cls))
        if len(idx) < reserve + len(weights):
            raise UnderspecError(f"source has only {len(idx)} images of class {cls}; too few")
        reserved[cls], idx = idx[:reserve], idx[reserve:]
        bounds = np.cumsum([0] + [math.floor(len(idx) * w / total) for w in weights.values()])
        bounds[-1] = len(idx)
        for (split, _), lo, hi in zip(weights.items(), bounds[:-1], bounds[1:], strict=True):
            by_split[split][cls] = idx[lo:hi]
    return by_split, reserved


def _pair_classes(n: int, n_classes: int, mix_rate: float, correlated: bool, rng):
    """Core and shortcut class indices for ``n`` items; returns (core, shortcut, is_mixed)."""
    core = rng.permutation(np.resize(np.arange(n_classes), n))
    if correlated:
        n_mixed = int(round(mix_rate * n))
        mixed = np.zeros(n, bool)
        mixed[rng.permutation(n)[:n_mixed]] = True
    else:
        mixed = np.ones(n, bool)
    shortcut = core.copy()
    shortcut[mixed] = rng.integers(0, n_classes, int(mixed.sum()))
    return core, shortcut, mixed


SIDES = ("left", "right", "random")
"""Where the label's image goes on the side-by-side tasks (``random``: per item)."""


def _place(core: np.ndarray, other: np.ndarray, side: str, rng) -> np.ndarray:
    """Put ``core`` and ``other`` side by side along the width, core on ``side`` (see SIDES)."""
    left = rng.random(len(core)) < 0.5 if side == "random" else np.full(len(core), side == "left")
    w = core.shape[-1]
    out = np.empty((*core.shape[:-1], w + other.shape[-1]), np.result_type(core, other))
    for rows, a, b in ((left, core, other), (~left, other, core)):
        out[rows, ..., :w] = a[rows]
        out[rows, ..., w:] = b[rows]
    return out


SHORTCUTS = ("beside", "frame", "brightness", "patch", "tint")
"""How the shortcut feature is drawn on the digit-pair tasks (``generate(..., shortcut=...)``):
``beside`` (the task's own construction: a second image beside the label's), or drawn onto the
label's image itself: a ``frame`` whose grey level codes the shortcut class, the image's
``brightness``, a bright ``patch`` whose position along the top edge codes it, or a colour
``tint`` (the images become RGB)."""
OVERLAID_KINDS = ("cc", "constant_image", "uniform_color")


def _overlay(x: np.ndarray, shortcut: np.ndarray, n_classes: int, how: str) -> np.ndarray:
    """Draw shortcut class ``shortcut`` (per item) onto the normalised images ``x`` (N, C, H, W)."""
    h, w = x.shape[-2:]
    level = np.linspace(-1.0, 1.0, n_classes, dtype=np.float32) if n_classes > 1 else np.zeros(1, np.float32)
    x = x.copy()
    if how == "frame":
        width = max(1, h // 14)
        border = np.ones((h, w), bool)
        border[width:h - width, width:w - width] = False
        value = 1.5 + 1.5 * level[shortcut]  # 0 to 3: a frame is visible whatever the class
        x[:, :, border] = value[:, None, None]
    elif how == "brightness":
        x += 0.8 * level[shortcut][:, None, None, None]
    elif how == "patch":
        size = max(2, h // 7)
        cols = np.linspace(0, w - size, n_classes).astype(int) if n_classes > 1 else np.zeros(1, int)
        for k in range(n_classes):
            rows = shortcut == k
            x[rows, :, :size, cols[k]:cols[k] + size] = 3.0
    elif how == "tint":
        if x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        hue = np.linspace(0, 2 * np.pi, n_classes, endpoint=False)
        rgb = np.stack([np.cos(hue + shift) for shift in (0, -2 * np.pi / 3, 2 * np.pi / 3)], 1).astype(np.float32)
        x += 0.6 * rgb[shortcut][:, :, None, None]
    else:
        raise UnderspecError(f"shortcut: {how!r}; expected one of {', '.join(SHORTCUTS)}")
    return x


def _to_photo_size(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Grey images (N, 1, h, w) as colour images of ``size``: each pixel repeated (nearest
    neighbour) and centred on a background of the images' own minimum."""
    h, w = x.shape[-2:]
    k = max(1, min(size[0] // h, size[1] // w))
    big = np.repeat(np.repeat(x, k, axis=-2), k, axis=-1)
    out = np.full((len(x), 3, *size), x.min(), np.float32)
    top, left = (size[0] - big.shape[-2]) // 2, (size[1] - big.shape[-1]) // 2
    out[:, :, top:top + big.shape[-2], left:left + big.shape[-1]] = big
    return out


def _add_noise(x: np.ndarray, rng: np.random.Generator, sigma: float, block: int = 1024) -> np.ndarray:
    """Add N(0, sigma) float32 noise to ``x`` in place, drawn block of rows by block of rows
    (the same numbers as one draw, without a float64 copy of the whole array)."""
    for i in range(0, len(x), block):
        x[i:i + block] += rng.normal(0, sigma, size=x[i:i + block].shape).astype(np.float32)
    return x


class _Builder:
    """Renders the items of one task from a source (one method per construction kind)."""

    def __init__(self, spec: TaskSpec, source: Source | None, rng: np.random.Generator):
        self.spec, self.source, self.rng = spec, source, rng
        self.classes = np.asarray(spec.classes)
        self.C = len(self.classes)
        self.core_images: dict[str, np.ndarray] = {}
        """Per split: each item's source image of its label (index into the source; -1 none)."""

    # --- digit-pair constructions ------------------------------------------------------------
    def images(self, split: str, class_idx: np.ndarray, core: bool = False) -> np.ndarray:
        """Source images for the given class indices (drawn from the split's pool); with
        ``core``, their source indices are kept as the split's :attr:`core_images`."""
        index = np.empty(len(class_idx), np.int64)
        for k in range(self.C):
            rows = np.flatnonzero(class_idx == k)
            index[rows] = self.pools.draw(split, int(self.classes[k]), len(rows))
        if core:
            self.core_images[split] = index
        return self.source.x[index].astype(np.float32, copy=False)

    def render(self, split: str, core: np.ndarray, shortcut: np.ndarray) -> np.ndarray:
        kind, src = self.spec.kind, self.source
        x_core = self.images(split, core, core=True)
        overlay = self.spec.extra.get("shortcut", "beside")
        if overlay != "beside":
            x = _overlay(src.normalise(x_core), shortcut, self.C, overlay)
        elif kind in ("cc", "embed", "vehicle_animal"):
            x_core = src.normalise(x_core)  # drops the raw copy before the next is drawn
            other = src.normalise(self.images_shortcut(split, shortcut) if kind == "vehicle_animal"
                                  else self.images(split, shortcut))
            x = _place(x_core, other, self.spec.side, self.rng)
            del x_core, other
        elif kind == "dominoes":  # the label's photo below (side "right") or above its digit
            digits = self.images_shortcut(split, shortcut, self.digits, self.digit_pools)
            digits = _to_photo_size(self.digits.normalise(digits), x_core.shape[-2:])
            x = _place(src.normalise(x_core).swapaxes(-1, -2), digits.swapaxes(-1, -2), self.spec.side,
                       self.rng).swapaxes(-1, -2)
        elif kind == "constant_image":
            x = _place(src.normalise(x_core), self.constants[shortcut], self.spec.side, self.rng)
        elif kind == "uniform_color":
            values = np.linspace(-0.5, 1.5, self.C, dtype=np.float32)[shortcut]
            fill = np.broadcast_to(values[:, None, None, None], x_core.shape)
            x = _place(src.normalise(x_core), fill, self.spec.side, self.rng)
        elif kind == "sum":
            total = x_core.copy()
            for _ in range(self.spec.extra.get("terms", 2) - 1):
                total += self.images(split, shortcut)
            x = src.normalise(total)
        elif kind == "noise_level":
            sigma = 0.1 * (1 + self.classes[shortcut]).astype(np.float32)
            x = src.normalise(x_core)
            x = x + self.rng.normal(size=x.shape).astype(np.float32) * sigma[:, None, None, None]
        else:
            raise AssertionError(kind)
        x = _add_noise(x.astype(np.float32, copy=False), self.rng, NOISE_SIGMA)
        if kind == "embed":
            x = self.embed(x)
        return x.astype(np.float32, copy=False)

    def images_shortcut(self, split: str, shortcut: np.ndarray, source: Source | None = None,
                        pools: _Pools | None = None) -> np.ndarray:
        """Images of the shortcut classes (``shortcut``: index into ``spec.shortcut_classes``),
        from ``source`` and its ``pools`` (default: the task's own)."""
        source, pools = source or self.source, pools or self.pools
        out = np.empty((len(shortcut), *source.x.shape[1:]), np.float32)
        for k, cls in enumerate(self.spec.shortcut_classes):
            rows = np.flatnonzero(shortcut == k)
            out[rows] = source.x[pools.draw(split, int(cls), len(rows))]
        return out

    def embed(self, x: np.ndarray) -> np.ndarray:
        """A fixed random nonlinear embedding per half, mixed by a random rotation (198-d)."""
        half = x.shape[-1] // 2
        parts = [x[..., :half].reshape(len(x), -1), x[..., half:].reshape(len(x), -1)]
        feats = [np.tanh(p @ w) for p, w in zip(parts, self.embed_weights, strict=True)]
        return (np.concatenate(feats, axis=1) @ self.rotation).astype(np.float32)

    def prepare(self, weights: dict[str, float]) -> None:
        src, kind = self.source, self.spec.kind
        pool_classes = list(self.spec.classes) + list(self.spec.shortcut_classes)
        if kind == "dominoes":  # the digits come from the embedded set, the photos from src
            pool_classes = list(self.spec.classes)
            self.digits = load_source("digits")
            self.digit_pools = _Pools(_deal(self.digits.y, self.spec.shortcut_classes, weights, self.rng)[0],
                                      self.rng)
        reserve = 1 if kind == "constant_image" else 0
        by_split, reserved = _deal(src.y, pool_classes, weights, self.rng, reserve)
        self.pools = _Pools(by_split, self.rng)
        if kind == "constant_image":
            frozen = [src.normalise(src.x[reserved[int(c)][0]]) for c in self.classes]
            self.constants = np.stack([
                f + self.rng.normal(0, NOISE_SIGMA, f.shape).astype(np.float32) for f in frozen
            ])
        if kind == "embed":
            d = int(np.prod(src.x.shape[1:]))
            self.embed_weights = [self.rng.normal(0, 1 / math.sqrt(d), (d, 99)).astype(np.float32)
                                  for _ in range(2)]
            q, _ = np.linalg.qr(self.rng.normal(size=(198, 198)))
            self.rotation = q.astype(np.float32)

    # --- the split plan shared by all constructions ---------------------------------------
    def build(self, sizes: dict[str, int], mix_rate: float):
        kind = self.spec.kind
        if kind == "toy":
            return {s: self.toy(n, s) for s, n in sizes.items()}
        if kind == "humans":
            return self.humans(sizes, mix_rate)
        self.prepare({s: max(n, 1) for s, n in sizes.items()})
        out = {}
        target_correlated = self.spec.extra.get("target") == "correlated"
        for split, n in sizes.items():
            if split == "labeled":
                core, short, mixed = _pair_classes(n, self.C, 0.0, True, self.rng)
            elif split == "unlabeled":
                core, short, mixed = _pair_classes(n, self.C, mix_rate, True, self.rng)
            else:
                core, short, mixed = _pair_classes(n, self.C, 0.0, target_correlated, self.rng)
            if kind == "trojan":
                x, y, short = self.trojan(split, core)
            else:
                x, y = self.render(split, core, short), self.classes[core]
            out[split] = (x, y, short, mixed)
        return out

    def trojan(self, split: str, core: np.ndarray):
        x = _add_noise(self.source.normalise(self.images(split, core, core=True)), self.rng, NOISE_SIGMA)
        y = self.classes[core].copy()
        patched = np.zeros(len(core), np.int64)
        if split == "labeled":
            rate, size, value = (self.spec.extra[k] for k in ("rate", "patch", "value"))
            rows = self.rng.permutation(len(core))[: int(round(rate * len(core)))]
            H, W = x.shape[-2:]
            for r in rows:
                i, j = self.rng.integers(0, H - size + 1), self.rng.integers(0, W - size + 1)
                x[r, :, i:i + size, j:j + size] += value
            y[rows] = self.classes[0]
            patched[rows] = 1
        return x.astype(np.float32), y, patched

    def toy(self, n: int, split: str):
        x1 = self.rng.uniform(-1, 1, n)
        y_idx = (x1 < 0).astype(np.int64)
        if split == "labeled":
            x2 = np.abs(self.rng.uniform(-1, 1, n)) * np.where(y_idx == 1, 1.0, -1.0)
        else:
            x2 = self.rng.uniform(-1, 1, n)
        short = (x2 >= 0).astype(np.int64)
        x = np.stack([x1, x2], axis=1).astype(np.float32)
        return x, self.classes[y_idx], short, short != y_idx

    def humans(self, sizes: dict[str, int], mix_rate: float):
        src, extra = self.source, self.spec.extra
        a = _binarise(src.attrs, extra["label_attr"])
        b = _binarise(src.attrs, extra["shortcut_attr"])
        cells = {(i, j): self.rng.permutation(np.flatnonzero((a == i) & (b == j)))
                 for i in (0, 1) for j in (0, 1)}
        plan = {}
        for split, n in sizes.items():
            corr = split in ("labeled", "unlabeled")
            rate = mix_rate if split == "unlabeled" else 0.0
            plan[split] = _pair_classes(n, 2, rate, corr, self.rng)
        need = {c: sum(int(((p[0] == c[0]) & (p[1] == c[1])).sum()) for p in plan.values())
                for c in cells}
        short = [c for c in cells if need[c] > len(cells[c])]
        if short:
            c = short[0]
            raise UnderspecError(
                f"faces: {need[c]} items needed with {extra['label_attr']}={c[0]}, "
                f"{extra['shortcut_attr']}={c[1]} but only {len(cells[c])} images; expected smaller sizes"
            )
        cursor = {c: 0 for c in cells}
        out = {}
        for split, (core, shortcut, mixed) in plan.items():
            rows = np.empty(len(core), np.int64)
            for c in cells:
                sel = np.flatnonzero((core == c[0]) & (shortcut == c[1]))
                rows[sel] = cells[c][cursor[c]:cursor[c] + len(sel)]
                cursor[c] += len(sel)
            x = _add_noise(src.normalise(src.x[rows]), self.rng, NOISE_SIGMA)
            out[split], self.core_images[split] = (x, self.classes[core], shortcut, mixed), rows
        return out


def _binarise(attrs: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in attrs:
        raise UnderspecError(f"faces: no attribute {name!r}; found {', '.join(attrs)}")
    values = attrs[name]
    uniq = np.unique(values)
    if len(uniq) == 2:
        return (values == uniq[1]).astype(np.int64)
    return (values >= np.median(values)).astype(np.int64)


def default_sizes(spec: TaskSpec, source: Source | None) -> tuple[int, int, int]:
    """The original sizes for MNIST and CIFAR-10; scaled down for digits; fitted for faces."""
    if spec.kind == "humans":
        a = _binarise(source.attrs, spec.extra["label_attr"])
        b = _binarise(source.attrs, spec.extra["shortcut_attr"])
        # Items drawn from each (label, shortcut) cell per target item, with sizes 1 : 2 : 2:
        # labeled uses the two correlated cells, unlabeled mostly, target all four equally.
        m = spec.mix_rate
        rate = {True: 0.25 + (1 - m) / 2 + m / 4 + 0.25, False: m / 4 + 0.25}
        n_v = min(int(((a == i) & (b == j)).sum()) / rate[i == j] for i in (0, 1) for j in (0, 1))
        n_v = int(0.9 * n_v)
        return (n_v // 2, n_v, n_v)
    if source is not None and source.name == "digits":
        return tuple(int(round(n * DIGITS_SCALE)) for n in spec.sizes)
    return spec.sizes


def _checked_spec(spec: TaskSpec, params: dict) -> TaskSpec:
    """``spec`` with the overrides ``params`` (``side``, ``classes``, ``shortcut``, ``*_attr``
    ...), each checked."""
    extra_keys = {k: params.pop(k) for k in list(params)
                  if k in spec.extra or k.endswith("_attr") or k == "shortcut"}
    how = extra_keys.get("shortcut", "beside")
    if how not in SHORTCUTS:
        raise UnderspecError(f"shortcut: {how!r}; expected one of {', '.join(SHORTCUTS)}")
    if how != "beside" and spec.kind not in OVERLAID_KINDS:
        raise UnderspecError(f"shortcut {how}: task {spec.name} ({spec.kind}) draws its own shortcut; expected a "
                             f"task of kind {', '.join(OVERLAID_KINDS)}")
    side = params.get("side", spec.side)
    if side not in SIDES:
        raise UnderspecError(f"side: {side!r}; expected one of {', '.join(SIDES)}")
    if "classes" in params:
        params["classes"] = tuple(int(c) for c in params["classes"])
        if len(set(params["classes"])) != len(params["classes"]) or len(params["classes"]) < 2:
            raise UnderspecError(f"classes: {','.join(map(str, params['classes']))}; expected at least two "
                                 "distinct class values")
    return replace(spec, extra={**spec.extra, **extra_keys}, **params)


def _manifest(spec: TaskSpec, src, seed: int, sizes: tuple[int, int, int], oracle_items: int) -> dict:
    """The ``task.json`` of a generated task: what was generated, and the challenge's rules."""
    return {
        "id": spec.id, "name": spec.name, "task": spec.name, "kind": spec.kind,
        "source": src.name if src is not None else "none", "seed": seed,
        "classes": [int(c) for c in spec.classes], "mix_rate": spec.mix_rate, "side": spec.side,
        "sizes": {"labeled": sizes[0], "unlabeled": sizes[1], "target": sizes[2]},
        "points": spec.points, "default_score": spec.default_score,
        "params": {k: v for k, v in asdict(spec).items() if k not in ("id", "name")},
        "noise_sigma": NOISE_SIGMA, "oracle_items": oracle_items,
        # the challenge's rule: a pretrained network is allowed on the faces task only
        "pretrained_weights_allowed": spec.kind == "humans",
    }


def generate(task: str, *, source: str | Source = "digits", data: str | None = None,
             seed: int = 42, out: str | Path | None = None, mix_rate: float | None = None,
             sizes: tuple[int, int, int] | None = None, oracle_items: int = 0,
             **params) -> tuple[ChallengeTask, Answers]:
    """Generate one task, and write it to ``out`` when given.

    Parameters
    ----------
    task : str
        Task name or id (see :data:`TASKS`).
    source : str or Source
        ``digits`` (default, offline), ``mnist``, ``cifar10`` or ``faces``, or a loaded source.
    data : str, optional
        Local file or folder of the source.
    seed : int
        Random seed; the same seed gives the same bytes.
    mix_rate : float, optional
        Share of uncorrelated items in the unlabeled set (default: the task's).
    sizes : (int, int, int), optional
        Numbers of labeled, unlabeled and target items.
    oracle_items : int
        Extra target-distribution items with true labels kept in ``answers/`` (for benchmarks).
    **params
        Overrides of the task definition (``side``, ``classes``, ``label_attr``...).

    Returns
    -------
    (ChallengeTask, Answers)
    """
    spec = _checked_spec(resolve_task(task), params)
    SEED.check("seed", seed)
    NATURAL.check("oracle_items", oracle_items)
    if mix_rate is not None:
        spec = replace(spec, mix_rate=SHARE.check("mix_rate", mix_rate))
    src = None
    if spec.needs != "none":
        if spec.needs in LOCAL_ONLY and data is None and not isinstance(source, Source):
            raise UnderspecError(f"task {spec.name} needs the {spec.needs} source, which is never downloaded: give "
                                 f"its local file (command line: --{spec.needs} PATH; library: data=PATH)")
        src = source if isinstance(source, Source) else load_source(
            _source_for(spec, source), data)
        if spec.needs == "faces" and src.name != "faces":
            raise UnderspecError(f"source: task {spec.name} needs a face set; expected source faces and its .npz "
                                 "as data")
    sizes = tuple(sizes) if sizes is not None else default_sizes(spec, src)
    if len(sizes) != 3 or not all(COUNT.accepts(n) for n in sizes):
        raise UnderspecError(f"sizes: expected three counts >= 1 (NL,NU,NV), got {sizes}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, spec.id]))
    split_sizes = dict(zip(SPLITS, (*sizes, oracle_items), strict=True))
    if not oracle_items:
        split_sizes.pop("oracle")
    builder = _Builder(spec, src, rng)
    built = builder.build(split_sizes, spec.mix_rate)
    (X_l, y_l, _, _), (X_u, y_u, _, _), (X_v, y_v, _, _) = (
        built[s] for s in ("labeled", "unlabeled", "target"))
    manifest = _manifest(spec, src, seed, sizes, oracle_items)
    groups = pd.concat([
        pd.DataFrame({"split": split, "row": np.arange(len(b[1])), "label": b[1],
                      "shortcut": b[2], "correlated": ~b[3],
                      "image": builder.core_images.get(split, np.full(len(b[1]), -1))})
        for split, b in built.items() if split != "oracle"
    ], ignore_index=True)
    extra = {}
    if oracle_items:
        extra = {"oracle_X": built["oracle"][0], "oracle_y": built["oracle"][1].astype(np.int64)}
    built.clear()  # the separate arrays go once stacked into one buffer (encoded without a copy)
    X_l, X_u, X_v = stack_items([X_l, X_u, X_v])
    task_obj = ChallengeTask(X_l, y_l.astype(np.int64), X_u, X_v, manifest)
    answers = Answers(y_v.astype(np.int64), y_u.astype(np.int64), groups, extra)
    if out is not None:
        write_task(task_obj, answers, out)
    return task_obj, answers


def _source_for(spec: TaskSpec, source: str) -> str:
    if spec.needs == "cifar10":
        return "cifar10"
    if spec.needs == "faces":
        return "faces"
    return source


def generate_suite(suite: str = "hackathon", *, source: str = "digits", data: str | None = None,
                   seed: int = 42, out: str | Path = "tasks", cifar10: str | None = None,
                   faces: str | None = None, tasks: tuple[str, ...] | None = None,
                   sizes: tuple[int, int, int] | None = None,
                   oracle_items: int = 0) -> tuple[list[Path], list[str]]:
    """Generate a suite of tasks into ``out/<id>_<name>/``.

    Tasks whose source is not available (vehicle_animal without ``cifar10``, humans without
    ``faces``) are skipped and returned in the second list with the reason. ``sizes``, when
    given, applies to every task (for quick runs); otherwise each task uses its defaults.

    The suite folder appears whole or not at all: the tasks are written into a temporary
    sibling, renamed into place at the end (a failure or Ctrl-C on the last task leaves nothing).
    """
    if suite not in SUITES:
        raise UnderspecError(f"unknown suite {suite!r}; expected one of {', '.join(SUITES)}")
    specs = [resolve_task(name) for name in tasks or SUITES[suite]]  # every name, before any work
    check_output_dir(out)
    src = load_source(source, data)
    written, skipped = [], []
    with atomic_dir(out) as tmp:
        for spec in tqdm(specs, desc="generating tasks", unit="task", leave=False):
            if spec.needs == "cifar10" and cifar10 is None:
                skipped.append(f"{task_dirname(spec)}: needs CIFAR-10 (cifar10: its file or folder)")
                continue
            if spec.needs == "faces" and faces is None:
                skipped.append(f"{task_dirname(spec)}: needs a face set (faces: its .npz)")
                continue
            task_src = {"cifar10": cifar10, "faces": faces}.get(spec.needs)
            path = tmp / task_dirname(spec)
            if task_src is None:
                generate(spec.name, source=src, seed=seed, out=path, sizes=sizes,
                         oracle_items=oracle_items)
            else:
                generate(spec.name, source=spec.needs, data=task_src, seed=seed, out=path,
                         sizes=sizes, oracle_items=oracle_items)
            written.append(Path(out) / task_dirname(spec))
    return written, skipped
