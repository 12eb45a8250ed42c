"""The representation a dataset's items get before any label is used, shared by the pipelines:
learnt once per dataset from all of its images, cached on disk under the content hash of the
images and the recipe, so that the next command on the same data reads it back.

Recipes (``REPRESENTATIONS``): ``patches`` (patch k-means, every patch, triangle encoding,
summed over a 3 x 3 grid of regions: the labeling path's embedding), ``patches-fast`` (every
second patch, soft threshold, summed over the quadrants: four times cheaper), ``none`` (the
items themselves). On CIFAR-4 with 200 known labels and 250 to 1,000 bought, the 3 x 3 grid
(3,600 columns) labeled 1 to 1.5 points more of the training items right after propagation than
the quadrants (1,600 columns) did, random or margin-ranked, and a linear model read the test
items 1.5 to 2 points better (0.8125 against 0.8027 with every true label), for the same
encoding time (``bench/results/selection-proxy.md``). Both cut items made of square photos side by side
into their tiles (:class:`~underspec.models.patch_features.PatchFeatures` ``tiles``).
``auto`` takes ``patches-fast`` for photographs (three channels, 32 pixels or more) and
``none`` otherwise. ``face-descriptor`` is dlib's pretrained face embedding (an optional
extra), its columns standardised over the items it is fitted on; ``imagenet`` is EfficientNet-Lite0's
ImageNet features (another optional extra, for a practitioner's photographs). The measurements behind the
choice are in ``bench/results/representation.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from underspec.data.image_store import release_pages
from underspec.engine import iter_tasks
from underspec.errors import UnderspecError, atomic_path, write_npy_atomic
from underspec.models.tile_order import tile_count

RECIPES: dict[str, dict] = {
    "patches": {"centroids": 400, "stride": 1, "encoding": "triangle", "grid": (3, 3), "tiles": True},
    "patches-fast": {"centroids": 400, "stride": 2, "encoding": "soft", "tiles": True},
}
PRETRAINED = ("face-descriptor", "imagenet")
"""Representations that start from pretrained weights (:mod:`underspec.models.face_descriptor`,
:mod:`underspec.models.imagenet_features`): only where the rules allow them (a task's
``pretrained_weights_allowed``), never picked by ``auto`` here."""
PRETRAINED_RECIPES: dict[str, dict] = {
    # "pixels": the face descriptor's faces are rescaled to [0, 1] (they were clipped before);
    # "columns": its columns are standardised (they were raw before)
    "face-descriptor": {"weights": "face-descriptor", "pixels": "range", "columns": "standardised"},
    # 160 and 192 px, the mirror images, the last three stages beside the head (thirty-fourth
    # session; 160 px, the head: thirty-third; 128 px, one view, the head before)
    "imagenet": {"weights": "efficientnet-lite0", "size": (160, 192), "mirror": True, "precision": "auto",
                 "layers": ("stage5", "stage6", "stage7", "head"), "columns": "standardised"},
}
"""What the cache key of a pretrained representation holds besides the items."""
REPRESENTATIONS = ("auto", "none", *RECIPES, *PRETRAINED)


def is_photograph(X: np.ndarray) -> bool:
    """Colour images of at least 32 pixels a side: what ``auto`` gives a learnt representation."""
    return X.ndim == 4 and X.shape[1] == 3 and min(X.shape[2:]) >= 32


def resolve_representation(name: str, X: np.ndarray) -> str:
    """The recipe ``name`` stands for on items like ``X`` (``auto``: see the module docstring)."""
    if name not in REPRESENTATIONS:
        raise UnderspecError(f"representation: expected one of {', '.join(REPRESENTATIONS)}, got {name!r}")
    if name == "auto":
        return "patches-fast" if is_photograph(X) else "none"
    if name != "none" and X.ndim != 4:
        raise UnderspecError(f"representation {name}: needs images (N, C, H, W); these items have shape {X.shape}")
    return name


FULL_PATCHES_PIXELS = 20_000 * 64 * 64
"""Sets of at most this many pixels per channel (20,000 images of 64 px) get the ``patches``
recipe where a command picks one for photographs of 64 px or more (the audit, ``label select``),
larger ones ``patches-fast`` (4 times cheaper: on 2 cores, 21 against 5.4 s per 1,000 colour
images of 64 px; at 100,000 images, 35 against 9 minutes)."""
LONG_ENCODING_SECONDS = 120.0
"""An encoding expected to take longer than this is announced with its estimate."""


def patch_recipe(X: np.ndarray) -> str:
    """``patches``, or ``patches-fast`` for sets of more than :data:`FULL_PATCHES_PIXELS` pixels per
    channel (only the shape of ``X`` is read)."""
    return "patches" if len(X) * X.shape[2] * X.shape[3] <= FULL_PATCHES_PIXELS else "patches-fast"


def announce_encoding_time(transformer, X: np.ndarray, recipe_name: str, probe: int = 64) -> None:
    """Print, before a long encoding, its estimate here (timed on ``probe`` items) and the cheaper
    recipe where there is one."""
    import sys
    import time

    if len(X) < 20 * probe:
        return
    started = time.perf_counter()
    transformer.encode(X[:probe])
    seconds = (time.perf_counter() - started) * len(X) / probe
    if seconds < LONG_ENCODING_SECONDS:
        return
    cheaper = "; the cheaper recipe, patches-fast, takes about a quarter of it" if recipe_name == "patches" else ""
    print(f"representation {recipe_name}: about {seconds / 60:.0f} min for {len(X)} items here{cheaper}",
          file=sys.stderr, flush=True)


def default_cache() -> Path:
    """``$UNDERSPEC_CACHE/representations`` (default ``~/.cache/underspec/representations``)."""
    return Path(os.environ.get("UNDERSPEC_CACHE", Path.home() / ".cache" / "underspec")) / "representations"


def cache_key(X: np.ndarray, recipe: dict) -> str:
    """Content hash of the items (shape, type, bytes in blocks) and of the recipe."""
    digest = hashlib.sha256(json.dumps([list(X.shape), str(X.dtype), recipe], sort_keys=True).encode())
    for start in range(0, len(X), 4096):
        digest.update(np.ascontiguousarray(X[start:start + 4096]).tobytes())
    return digest.hexdigest()[:20]


SHARD = 2048
"""Items of one shard of an encoding: a task here or on a Ray cluster."""


def encode_shard(shared: tuple, bounds: tuple[int, int]) -> np.ndarray:
    """The raw encoding of the items ``bounds`` (start, stop) by a fitted patch transformer."""
    transformer, X = shared
    return transformer.encode(X[bounds[0]:bounds[1]])


def cache_path(X: np.ndarray, recipe_name: str, seed: int, cache: str | Path | bool | None) -> Path | None:
    """Where the features of ``X`` in the recipe ``recipe_name`` are cached (``None``: no cache);
    the fitted transformer's state is kept beside them (``.state.pt``)."""
    recipe = {**(RECIPES.get(recipe_name) or PRETRAINED_RECIPES[recipe_name]), "seed": seed, "version": 5}
    if "precision" in recipe:  # bfloat16 and float32 features differ a little: each its own cache
        from underspec.models.imagenet_features import resolve_precision

        recipe["precision"] = resolve_precision(recipe["precision"])
    folder = default_cache() if cache is True else Path(cache) if cache else None
    return folder / f"{recipe_name}-{cache_key(X, recipe)}.npy" if folder else None


def fit_representation(X: np.ndarray, name: str, *, cache: str | Path | bool | None = True, seed: int = 0,
                       progress: bool = False, address: str | None = None):
    """The transformer of the representation ``name`` fitted on every item of ``X``, and the
    features of ``X``: what :func:`represent` gives, with the transformer, for a model that
    predicts new items (``underspec train --representation``). Both are cached (see
    :func:`represent`); features cached without their transformer are computed again.

    Returns
    -------
    (transformer with ``transform``, ndarray (N, D) float32); ``(None, X)`` for ``none``.
    """
    from underspec.files import load_npy, load_weights

    recipe_name = resolve_representation(name, X)
    if recipe_name == "none":
        return None, X
    path = cache_path(X, recipe_name, seed, cache)
    state_path = path.with_suffix(".state.pt") if path is not None else None
    if path is not None and path.is_file() and state_path.is_file():
        transformer = transformer_from_state(load_weights(state_path, "a cached representation's transformer"),
                                             str(state_path))
        return transformer, load_npy(path, "a cached representation (delete it to recompute)")
    return _fitted(X, recipe_name, path, seed=seed, progress=progress, address=address)[:2]


def ranks_path(path: Path) -> Path:
    """Where the tile ranks of the cached features at ``path`` are kept (recipes with tiles)."""
    return path.with_suffix(".ranks.npy")


def _fitted(X: np.ndarray, recipe_name: str, path: Path | None, *, seed: int, progress: bool,
            address: str | None):
    """The transformer of ``recipe_name`` fitted on ``X``, the features of ``X`` and their tile
    ranks (``None`` without tiles), all written to the cache at ``path`` (the features) when it
    is not ``None``."""
    transformer, features, ranks = _fit(X, recipe_name, seed=seed, progress=progress, address=address)
    if path is not None:
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        if ranks is not None:  # before the features: a cache with features has its ranks
            write_npy_atomic(ranks_path(path), ranks)
        write_npy_atomic(path, features)
        with atomic_path(path.with_suffix(".state.pt")) as tmp:
            torch.save(transformer_state(transformer), tmp)
    return transformer, features, ranks


def _fit(X: np.ndarray, recipe_name: str, *, seed: int, progress: bool, address: str | None):
    """The transformer of ``recipe_name`` fitted on ``X``, the features of ``X`` and, for a recipe
    with tiles, where each item's slots come from (:meth:`PatchFeatures.tile_ranks`; else
    ``None``); no cache."""
    from underspec.models.face_descriptor import FaceDescriptor
    from underspec.models.imagenet_features import ImageNetFeatures
    from underspec.models.patch_features import PatchFeatures

    label = f"representation ({recipe_name})" if progress else None
    if recipe_name in PRETRAINED:
        recipe = PRETRAINED_RECIPES[recipe_name]
        transformer = (FaceDescriptor(progress=label) if recipe_name == "face-descriptor" else
                       ImageNetFeatures(size=recipe["size"], mirror=recipe["mirror"], precision=recipe["precision"],
                                        layers=recipe["layers"], progress=label))
        return transformer, transformer.fit_transform(X), None
    # the dictionary from a sample, then the encoding shard by shard, here or on Ray
    transformer = PatchFeatures(**RECIPES[recipe_name], seed=seed)
    transformer.fit_dictionary(X)
    if progress:
        announce_encoding_time(transformer, X, recipe_name)
    shards = [(start, min(start + SHARD, len(X))) for start in range(0, len(X), SHARD)]
    features = np.empty((len(X), transformer.n_features_out_), np.float32)  # filled shard by shard
    for index, block in iter_tasks(encode_shard, (transformer, X), shards, address=address, progress=label):
        features[slice(*shards[index])] = block
        release_pages(X)  # the pixels read leave the process's resident memory (page cache only)
    ranks = transformer.fit_order(features).tile_ranks(features) if transformer.tiles_ > 1 else None
    transformer.standardise(transformer.order(features, ranks))
    return transformer, features, ranks


def transformer_state(transformer) -> dict:
    """A fitted representation transformer as plain values and tensors (what ``torch.load``
    reads with ``weights_only``): its class, parameters and fitted attributes."""
    import torch

    def plain(value):
        if isinstance(value, np.ndarray):
            return {"ndarray": torch.from_numpy(np.ascontiguousarray(value))}
        if isinstance(value, np.generic):
            return value.item()
        return list(value) if isinstance(value, tuple) else value

    fitted = {k: plain(v) for k, v in vars(transformer).items() if k.endswith("_") and k != "network_"}
    return {"class": type(transformer).__name__,
            "params": {k: plain(v) for k, v in transformer.get_params().items() if k != "progress"},
            "fitted": fitted}


def transformer_from_state(state: dict, source: str = "the checkpoint"):
    """The transformer :func:`transformer_state` saved, ready to ``transform`` new items."""
    from underspec.models.face_descriptor import FaceDescriptor
    from underspec.models.imagenet_features import ImageNetFeatures
    from underspec.models.patch_features import PatchFeatures

    classes = {"PatchFeatures": PatchFeatures, "FaceDescriptor": FaceDescriptor, "ImageNetFeatures": ImageNetFeatures}
    try:
        cls = classes[state["class"]]
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in state["params"].items()}
        transformer = cls(**params)
        for key, value in state["fitted"].items():
            if isinstance(value, dict) and "ndarray" in value:
                value = value["ndarray"].numpy()
            setattr(transformer, key, tuple(value) if isinstance(value, list) else value)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UnderspecError(f"{source}: its representation cannot be rebuilt ({str(exc)[:100]}); expected the "
                             f"state of one of {', '.join(classes)}") from exc
    return transformer


def represent(X: np.ndarray, name: str = "auto", *, cache: str | Path | bool | None = True, seed: int = 0,
              progress: bool = False, address: str | None = None,
              tile_ranks: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
    """The representation ``name`` of every item of ``X``, fitted on all of them.

    Parameters
    ----------
    X : ndarray (N, ...)
        Every item of the dataset (labeled, unlabeled and target alike: no label is used):
        floats in [0, 1], or uint8 pixels (possibly memory-mapped; converted a block at a time).
    name : {"auto", "none", "patches", "patches-fast", "face-descriptor", "imagenet"}
    cache : path, True or False/None
        Folder of cached representations; ``True``: :func:`default_cache`; ``False`` or ``None``:
        no cache.
    seed : int
    progress : bool
        Show a progress bar (with its ETA) over the encoding.
    address : str, optional
        A Ray cluster: the encoding's shards of :data:`SHARD` items run there as tasks
        (:mod:`underspec.engine`), with the same result.
    tile_ranks : bool
        Return as well where each item's slots come from (items of square tiles side by side, a
        recipe with tiles: :meth:`~underspec.models.patch_features.PatchFeatures.tile_ranks`,
        (N, tiles); else ``None``), cached beside the features.

    Returns
    -------
    ndarray (N, D), float32; ``X`` itself for ``none``; with ``tile_ranks``, (features, ranks).
    """
    from underspec.files import load_npy

    recipe_name = resolve_representation(name, X)
    if recipe_name == "none":
        return (X, None) if tile_ranks else X
    path = cache_path(X, recipe_name, seed, cache)
    tiled = bool(RECIPES.get(recipe_name, {}).get("tiles")) and tile_count(X.shape) > 1
    if path is not None and path.is_file() and not (tile_ranks and tiled and not ranks_path(path).is_file()):
        features = load_npy(path, "a cached representation (delete it to recompute)")  # no transformer needed
        if not tile_ranks:
            return features
        return features, load_npy(ranks_path(path), "a cached representation's tile ranks") if tiled else None
    _, features, ranks = _fitted(X, recipe_name, path, seed=seed, progress=progress, address=address)
    return (features, ranks) if tile_ranks else features
