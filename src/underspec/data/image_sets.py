"""Labeled image sets of practitioners, loaded into the item table.

Three layouts, one loader each, all giving an :class:`~underspec.data.items.ItemTable` whose
``label`` column holds class indices into ``classes`` (``-1`` = no label):

- a folder with ``labels.csv`` (``path`` relative to the folder, a label column, any metadata
  columns) or with a two-column-free ``label_train.txt`` (one label per image, in file-name
  order);
- a class-per-folder tree (``<class>/*``), optionally split (``train/<class>/*``,
  ``valid/<class>/*``), with an optional ``metadata.csv`` joined on the file name;
- an ``.npz`` with ``x`` (N, H, W[, C]) and ``y``; every other 1-D array of length N becomes a
  metadata column.

Item ids are the relative paths for folders and the row index for ``.npz`` files.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from underspec.data.image_store import decode_images
from underspec.data.items import MISSING, ItemTable
from underspec.errors import UnderspecError
from underspec.files import check_numeric, read_csv
from underspec.files import load_npz as read_npz

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
FILE_COLUMNS = ("path", "file", "filename", "name", "image", "Image Index")
"""Columns that can name an image file in a metadata CSV (``Image Index``: NIH's Data_Entry)."""


@dataclass
class ImageSet:
    """An item table plus what loading it found: the class names, the files skipped as
    unreadable (with the reason), and the files resized to the common size.

    Images read from files keep their uint8 pixels (``pixels``, memory-mapped from the image
    store); ``X`` is their float32 view in [0, 1], made at its first use and kept. Networks
    train and predict on ``network_items`` (the pixels when there are some: each batch is
    scaled on its own, so the float32 copy of every image is never made for them)."""

    items: ItemTable
    classes: list
    bad: list[tuple[str, str]] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    source: str = ""
    left_out: dict = field(default_factory=dict)
    """Arrays of an ``.npz`` that were not one value per item (name -> shape), not columns."""
    _float: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def table(self) -> pd.DataFrame:
        return self.items.table

    def rows(self, mask: np.ndarray) -> ImageSet:
        """The items where ``mask`` is True (same classes and source; nothing else carried)."""
        return ImageSet(ItemTable(self.items.X[mask], self.table[mask].reset_index(drop=True)), self.classes,
                        source=self.source)

    def with_labels(self, codes: np.ndarray) -> ImageSet:
        """The same items with the label column replaced by ``codes`` (class indices, -1 = none)."""
        table = self.table.copy()
        table["label"] = np.asarray(codes, dtype=np.int64)
        return ImageSet(ItemTable(self.items.X, table), self.classes, source=self.source)

    @property
    def X(self) -> np.ndarray:  # noqa: N802 (the features are X everywhere)
        """The items as float32 (images in [0, 1])."""
        if self.pixels is None:
            return self.items.X
        if self._float is None:
            self._float = as_float(self.items.X)
        return self._float

    @property
    def pixels(self) -> np.ndarray | None:
        """The uint8 pixels (N, C, H, W) of images read from files, else None."""
        return self.items.X if self.items.X.dtype == np.uint8 else None

    def float_rows(self, rows: np.ndarray) -> np.ndarray:
        """The float32 items of ``rows`` (indices), without converting every image."""
        return self.X[rows] if self.pixels is None or self._float is not None else as_float(self.pixels[rows])

    @property
    def network_items(self) -> np.ndarray:
        """What a network trains and predicts on: the uint8 pixels when there are some (its
        batches are scaled to [0, 1] one at a time), else ``X``."""
        return self.X if self.pixels is None else self.pixels


def read_images(root: Path, paths: list[str], *, skip_bad: bool = False, resize: bool = True,
                image_size: int | None = None, progress: bool = False) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Read image files into a uint8 array (N, C, H, W) through the image store
    (:func:`~underspec.data.image_store.decode_images`: decoded once in parallel, cached,
    memory-mapped).

    Grey images stay one channel unless some image has colour (then all are RGB). Images of
    another size than the most common one are resized (and listed) unless ``resize`` is False;
    ``image_size`` scales every image down to that longest side.

    Returns
    -------
    pixels, ok, bad, resized
        ``ok`` marks the paths that were read; ``bad`` lists ``(path, reason)``; ``resized``
        the paths that were resized. Without ``skip_bad`` an unreadable file raises.
    """
    decoded = decode_images(root, paths, skip_bad=skip_bad, resize=resize, image_size=image_size,
                            progress=progress)
    if decoded.resized:
        size = "x".join(map(str, decoded.pixels.shape[:1:-1]))
        warnings.warn(f"{root}: resized {len(decoded.resized)} image(s) to {size}, e.g. "
                      f"{decoded.resized[0]}", stacklevel=2)
    return decoded.pixels, decoded.ok, decoded.bad, decoded.resized


def as_float(pixels: np.ndarray, block: int = 4096) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1], converted a block of rows at a time (a memory-mapped
    array is never read whole into a second temporary copy); floats are returned as they are."""
    if pixels.dtype != np.uint8:
        return pixels
    X = np.empty(pixels.shape, np.float32)
    for start in range(0, len(pixels), block):
        np.divide(pixels[start:start + block], 255.0, out=X[start:start + block], dtype=np.float32)
    return X


def _encode(values: pd.Series, where: str) -> tuple[np.ndarray, list]:
    """Class indices (``-1`` for empty cells and for the value -1) and the sorted class values."""
    present = values.dropna()
    present = present[present.astype(str).str.strip() != ""]
    if present.empty:
        raise UnderspecError(f"{where}: no label at all")
    numeric = pd.to_numeric(present, errors="coerce")
    if numeric.notna().all() and (numeric == numeric.round()).all():
        present = numeric.astype(np.int64)
        present = present[present != MISSING]  # -1 means "no label", as everywhere in underspec
        if present.empty:
            raise UnderspecError(f"{where}: no label at all")
        if (present < 0).any():
            row = int(values.index.get_loc(present.index[int(np.argmax(present.to_numpy() < 0))]))
            raise UnderspecError(f"{where}, row {row}: label {int(present[present < 0].iloc[0])}; expected a class "
                                 "value >= 0, or -1 (or an empty cell) for no label")
    classes = sorted(present.unique().tolist())
    if len(classes) < 2:
        raise UnderspecError(f"{where}: one class only ({classes[0]!r}); expected at least two")
    index = {c: i for i, c in enumerate(classes)}
    codes = np.full(len(values), MISSING, np.int64)
    codes[values.index.get_indexer(present.index)] = [index[v] for v in present]
    return codes, classes


def _check_columns(table: pd.DataFrame, where: str, columns: list[str], left_out: dict | None = None) -> None:
    """Every named column exists; ``left_out`` (name -> shape) names arrays of an ``.npz`` that
    were not one value per item, so that the message says why such a column is missing."""
    for column in columns:
        if left_out and column in left_out:
            raise UnderspecError(f"{where}, array {column!r}: shape {left_out[column]}; expected ({len(table)},), "
                                 "one value per image of 'x'")
        if column not in table.columns:
            raise UnderspecError(f"{where}: no column {column!r}; columns are "
                                 f"{', '.join(map(str, table.columns))}")


def _finish(X: np.ndarray, table: pd.DataFrame, label: str, where: str, *, weights: str | None,
            bad=(), resized=(), source: str = "", left_out: dict | None = None) -> ImageSet:
    if label in table.columns:
        codes, classes = _encode(table[label], f"{where}, column {label!r}")
        table = table.drop(columns=[label]).assign(label=codes)
    else:  # items to predict: no labels
        classes, table = [], table.assign(label=MISSING)
    if "split" not in table.columns:
        table["split"] = "train"
    if weights is not None:
        w = pd.to_numeric(table[weights], errors="coerce")
        if w.isna().any() or (w < 0).any():
            row = int(np.flatnonzero(w.isna().to_numpy() | (w < 0).to_numpy())[0])
            raise UnderspecError(f"{where}, column {weights!r}, row {row}: expected a weight "
                                 f">= 0, got {table[weights].iloc[row]!r}")
        table["weight"] = w.astype(float)
    front = ["id", "split", "label"]
    table = table[front + [c for c in table.columns if c not in front]].reset_index(drop=True)
    check_numeric(where, X)  # NaN or infinite pixels would train a NaN model without a word (uint8: none)
    return ImageSet(ItemTable(X, table), classes, list(bad), list(resized), source, dict(left_out or {}))


def _check_paths(csv: Path, root: Path, paths: pd.Series) -> None:
    """A ``labels.csv``'s paths: inside the folder (no ``../`` or absolute path reads another
    file of the machine), each listed once."""
    inside = root.resolve()
    for row, text in enumerate(paths.astype(str)):
        target = (root / text).resolve()
        if Path(text).is_absolute() or (target != inside and inside not in target.parents):
            raise UnderspecError(f"{csv}, row {row + 2}, column 'path': {text!r} is outside {root}; expected a "
                                 "path relative to the folder, inside it")
    twice = paths.astype(str)[paths.astype(str).duplicated()]
    if len(twice):
        raise UnderspecError(f"{csv}, column 'path': {twice.iloc[0]!r} is listed twice; expected one row per image")


def load_npz(path: str | Path, *, label: str = "y", weights: str | None = None) -> ImageSet:
    """An ``.npz`` with ``x`` (N, H, W[, C]) and a label array; other 1-D arrays of length N
    become metadata columns; ids are row indices."""
    path = Path(path)
    arrays = read_npz(path, "an .npz with x (N, H, W[, C]) and one label per image")
    if "x" not in arrays:
        raise UnderspecError(f"{path}: no array 'x'; arrays are {', '.join(arrays)}")
    x = arrays.pop("x")
    if x.ndim not in (3, 4):
        raise UnderspecError(f"{path}, array 'x': expected shape (N, H, W) or (N, H, W, C), got {x.shape}")
    n = len(x)
    for name in (label, weights):
        if name in arrays and (arrays[name].ndim != 1 or len(arrays[name]) != n):
            raise UnderspecError(f"{path}, array {name!r}: shape {arrays[name].shape}; expected ({n},), "
                                 "one value per image of 'x'")
    columns = {k: v for k, v in arrays.items() if v.ndim == 1 and len(v) == n}
    left_out = {k: v.shape for k, v in arrays.items() if k not in columns}
    for k, shape in left_out.items():
        warnings.warn(f"{path}: array {k!r} of shape {shape} is not one value per item; "
                      "left out", stacklevel=2)
    table = pd.DataFrame({"id": np.arange(n), **columns})
    _check_columns(table, str(path), [label] + ([weights] if weights else []), left_out)
    check_numeric(f"{path}, array 'x'", x)
    X = x.astype(np.float32)
    if X.max() > 1.5:
        X /= 255.0
    X = X[:, None] if x.ndim == 3 else X.transpose(0, 3, 1, 2)
    return _finish(X, table, label, str(path), weights=weights, source=str(path), left_out=left_out)


def load_labeled_folder(root: str | Path, *, csv: str = "labels.csv", label: str = "label",
                        weights: str | None = None, skip_bad: bool = False, resize: bool = True,
                        labels_required: bool = True, image_size: int | None = None,
                        progress: bool = False) -> ImageSet:
    """A folder with ``labels.csv`` (a ``path`` column and ``label``; another CSV name with
    ``csv``) or ``label_train.txt``. With ``labels_required=False`` the label column may be
    absent (items to predict)."""
    root = Path(root)
    csv = root / csv
    if csv.is_file():
        table = read_csv(csv, "images: path,label,... (paths relative to the folder)")
        _check_columns(table, str(csv), ["path"] + ([label] if labels_required else [])
                       + ([weights] if weights else []))
        _check_paths(csv, root, table["path"])
        missing = [p for p in table["path"].astype(str) if not (root / p).is_file()]
        if missing:
            raise UnderspecError(f"{csv}, column 'path': {len(missing)} file(s) not found under "
                                 f"{root}, e.g. {missing[0]}")
        table = table.assign(id=table["path"].astype(str))
    else:
        txt = root / "label_train.txt"
        if not txt.is_file():
            raise UnderspecError(f"{root}: expected {csv.name} (path,label,...) or label_train.txt")
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES)
        lines = [x.strip() for x in txt.read_text().splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        if len(lines) != len(files):
            raise UnderspecError(f"{txt}: {len(lines)} labels for {len(files)} images; expected "
                                 "one label per image, in file-name order")
        table = pd.DataFrame({"id": files, "path": files, label: lines})
        weights = None
    X, ok, bad, resized = read_images(root, table["path"].astype(str).tolist(), skip_bad=skip_bad,
                                      resize=resize, image_size=image_size, progress=progress)
    return _finish(X, table[ok], label, str(root), weights=weights, bad=bad, resized=resized,
                   source=str(root))


def load_class_folders(root: str | Path, *, weights: str | None = None, skip_bad: bool = False,
                       resize: bool = True, metadata: str | Path | None = None, image_size: int | None = None,
                       progress: bool = False) -> ImageSet:
    """A class-per-folder tree, optionally under ``train/`` and ``valid/`` (or ``test/``), with
    a metadata CSV joined on the file name: ``metadata`` (a path as given), else
    ``root/metadata.csv`` if there is one. Its file-name column is one of
    :data:`FILE_COLUMNS` (NIH's ``Image Index`` included)."""
    root = Path(root)
    if not root.is_dir():
        raise UnderspecError(f"{root}: no such folder (expected {root}/train/<class>/*.png or {root}/<class>/*.png)")
    splits = [s for s in ("train", "valid", "val", "test") if (root / s).is_dir()]
    rows = []
    for split in splits or [""]:
        base = root / split if split else root
        for class_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for f in sorted(class_dir.iterdir()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    rel = f.relative_to(root).as_posix()
                    rows.append({"id": rel, "path": rel, "label": class_dir.name,
                                 "split": split or "train", "file": f.name})
    if not rows:
        raise UnderspecError(f"{root}: no images in class folders (expected {root}/<class>/*.png "
                             f"or {root}/train/<class>/*.png)")
    table = pd.DataFrame(rows)
    meta_path = Path(metadata) if metadata is not None else root / "metadata.csv"
    if metadata is not None and not meta_path.is_file():
        raise UnderspecError(f"{meta_path}: no such file (expected a metadata CSV with one row per image)")
    if meta_path.is_file():
        meta = read_csv(meta_path, "metadata: one row per image, a file-name column")
        key = next((c for c in FILE_COLUMNS if c in meta.columns), None)
        if key is None:
            raise UnderspecError(f"{meta_path}: expected a file-name column, one of {', '.join(FILE_COLUMNS)}")
        meta = meta.assign(file=meta[key].astype(str).map(lambda p: Path(p).name))
        meta = meta.drop(columns=[c for c in (key, "label", "split", "id") if c in meta.columns and c != "file"])
        if meta["file"].duplicated().any():
            raise UnderspecError(f"{meta_path}: file name {meta['file'][meta['file'].duplicated()].iloc[0]!r} "
                                 "appears twice")
        table = table.merge(meta, on="file", how="left")
    if weights:
        _check_columns(table, str(meta_path), [weights])
    X, ok, bad, resized = read_images(root, table["path"].tolist(), skip_bad=skip_bad, resize=resize,
                                      image_size=image_size, progress=progress)
    return _finish(X, table[ok].drop(columns=["file"]), "label", str(root), weights=weights,
                   bad=bad, resized=resized, source=str(root))


def load_image_set(path: str | Path, *, label: str | None = None, groups: list[str] = (),
                   weights: str | None = None, control: str | None = None,
                   skip_bad: bool = False, resize: bool = True, image_size: int | None = None,
                   progress: bool = False) -> ImageSet:
    """Load any of the three layouts (chosen from what ``path`` is) and check that the named
    group, weight and control columns exist.

    Parameters
    ----------
    path : str or Path
        An ``.npz`` file, a folder with ``labels.csv`` / ``label_train.txt``, or a class tree.
    label : str, optional
        The label column (default ``y`` for ``.npz``, ``label`` for ``labels.csv``).
    groups, weights, control : column names
        Sensitive group columns, a per-item weight column, a control column (Simpson's paradox).
    skip_bad, resize : bool
        Leave unreadable images out (listed) instead of failing; resize images of another size.
    image_size : int, optional
        Longest side of image files after loading (larger ones are scaled down, their shape
        kept); ``.npz`` arrays are taken as they are.
    progress : bool
        Progress bars (with their ETA) while image files are read and decoded.
    """
    path = Path(path)
    if path.suffix == ".npz":
        image_set = load_npz(path, label=label or "y", weights=weights)
    elif not path.is_dir():
        raise UnderspecError(f"{path}: no such file or folder (expected an .npz or a folder)")
    elif (path / "labels.csv").is_file() or (path / "label_train.txt").is_file():
        image_set = load_labeled_folder(path, label=label or "label", weights=weights, skip_bad=skip_bad,
                                        resize=resize, image_size=image_size, progress=progress)
    else:
        image_set = load_class_folders(path, weights=weights, skip_bad=skip_bad, resize=resize,
                                       image_size=image_size, progress=progress)
    _check_columns(image_set.table, str(path), [*groups, *([control] if control else [])], image_set.left_out)
    return image_set
