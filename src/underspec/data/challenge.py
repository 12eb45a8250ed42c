"""Reader and writer of the challenge layout (participant files apart from the answers).

```
DIR/X_labeled.npy  DIR/y_labeled.npy  DIR/X_unlabeled.npy  DIR/X_val.npy  DIR/task.json
DIR/answers/y_val.npy  DIR/answers/y_unlabeled.npy  DIR/answers/groups.csv  [oracle_*.npy]
```
``task.json`` records every parameter, the seed, the points, the default score and the SHA-256 of
every file, so a task can be regenerated and checked bit for bit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from underspec.data.layout import FORMAT, PARTICIPANT_FILES
from underspec.data.sources import sha256_of
from underspec.errors import UnderspecError, atomic_dir
from underspec.files import check_numeric, load_npy, read_csv, read_json


@dataclass
class Answers:
    """What the organiser keeps: target labels and per-item group information.

    ``groups`` has one row per item of every split with columns ``split``, ``row``, ``label``
    (the true feature), ``shortcut`` (the value of the shortcut feature), ``correlated`` and
    ``image`` (the source image of the item's label, -1 where none: items built on one image
    are not independent, and a benchmark that trains on some items and scores others keeps
    their images apart).
    ``extra`` holds optional arrays such as ``oracle_X``/``oracle_y`` (target-distribution items
    with true labels, used by benchmarks to train the oracle baseline).
    """

    y_val: np.ndarray
    y_unlabeled: np.ndarray | None = None
    groups: pd.DataFrame | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ChallengeTask:
    """One task of the challenge: what participants get, plus the manifest."""

    X_labeled: np.ndarray
    y_labeled: np.ndarray
    X_unlabeled: np.ndarray
    X_val: np.ndarray
    manifest: dict = field(default_factory=dict)

    @property
    def classes(self) -> np.ndarray:
        """Raw class values, from the manifest or else from ``y_labeled``."""
        if "classes" in self.manifest:
            return np.asarray(self.manifest["classes"], dtype=np.int64)
        return np.unique(self.y_labeled)

    def items(self) -> np.ndarray:
        """Every item, labeled then unlabeled then target, as one array: the buffer the three
        are consecutive views of when :func:`read_task` read them (no copy), else a stacked copy."""
        parts = [self.X_labeled, self.X_unlabeled, self.X_val]
        base = parts[0].base
        if isinstance(base, np.ndarray) and base.flags.c_contiguous and all(p.base is base for p in parts) and \
                len(base) == sum(len(p) for p in parts) and base.dtype == parts[0].dtype:
            start = base.__array_interface__["data"][0]
            offsets = [p.__array_interface__["data"][0] - start for p in parts]
            if offsets == [0, parts[0].nbytes, parts[0].nbytes + parts[1].nbytes]:
                return base
        return np.concatenate(parts)

    @property
    def default_score(self) -> float:
        """Score of the task when nothing is submitted (0.8 unless the manifest says otherwise)."""
        return float(self.manifest.get("default_score", 0.8))


def write_task(task: ChallengeTask, answers: Answers, out: str | os.PathLike) -> Path:
    """Write a task directory atomically (built in a temporary folder, then renamed).

    Returns
    -------
    Path
        The task directory. An existing task directory at ``out`` is replaced; a file or a
        folder of other files there is refused (:func:`~underspec.errors.atomic_dir`).
    """
    with atomic_dir(out, owned="task.json") as tmp:
        arrays = {
            "X_labeled.npy": task.X_labeled, "y_labeled.npy": task.y_labeled,
            "X_unlabeled.npy": task.X_unlabeled, "X_val.npy": task.X_val,
            "answers/y_val.npy": answers.y_val,
        }
        if answers.y_unlabeled is not None:
            arrays["answers/y_unlabeled.npy"] = answers.y_unlabeled
        for key, value in answers.extra.items():
            arrays[f"answers/{key}.npy"] = value
        (tmp / "answers").mkdir()
        for name, array in arrays.items():
            np.save(tmp / name, np.ascontiguousarray(array), allow_pickle=False)
        if answers.groups is not None:
            answers.groups.to_csv(tmp / "answers" / "groups.csv", index=False)
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        manifest = dict(task.manifest)
        manifest["format"] = FORMAT
        manifest["files"] = {name: sha256_of(tmp / name) for name in files}
        (tmp / "task.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return Path(out)


def _load_array(directory: Path, name: str, mmap: bool = False) -> np.ndarray:
    path = directory / name
    if not path.exists():
        raise UnderspecError(f"{path}: file not found (a task directory holds {', '.join(PARTICIPANT_FILES)})")
    array = load_npy(path, f"{name} of a task directory, a numeric array", mmap=mmap)
    if array.ndim == 0:
        raise UnderspecError(f"{path}: expected an array with a row per item, got a scalar")
    return array


def read_task(directory: str | os.PathLike) -> ChallengeTask:
    """Read and validate a task directory (the four participant files, ``task.json`` if any).

    Raises
    ------
    UnderspecError
        On a missing file, mismatched lengths or item shapes, non-integer or NaN labels,
        NaN in the arrays or an empty unlabeled set; the message names the file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UnderspecError(f"{directory}: not a directory (expected a task directory)")
    for name in PARTICIPANT_FILES:  # a missing file first, before the content of the others
        if not (directory / name).exists():
            raise UnderspecError(f"{directory / name}: file not found (a task directory holds "
                                 f"{', '.join(PARTICIPANT_FILES)})")
    X_l, y_l, X_u, X_v = (_load_array(directory, name, mmap=name.startswith("X_")) for name in PARTICIPANT_FILES)
    if y_l.ndim != 1:
        raise UnderspecError(f"{directory / 'y_labeled.npy'}: expected shape (N,), got {y_l.shape}")
    check_numeric(str(directory / "y_labeled.npy"), y_l, integer=True)
    if len(X_l) != len(y_l):
        raise UnderspecError(
            f"{directory / 'X_labeled.npy'}: {len(X_l)} rows but y_labeled.npy has {len(y_l)}; "
            "expected the same number"
        )
    if len(X_l) == 0:
        raise UnderspecError(f"{directory / 'X_labeled.npy'}: empty; expected at least one labeled item")
    if len(X_u) == 0:
        raise UnderspecError(f"{directory / 'X_unlabeled.npy'}: empty; expected at least one unlabeled item")
    if len(X_v) == 0:
        raise UnderspecError(f"{directory / 'X_val.npy'}: empty; expected at least one target item")
    for name, array in (("X_unlabeled.npy", X_u), ("X_val.npy", X_v)):
        if array.shape[1:] != X_l.shape[1:]:
            raise UnderspecError(
                f"{directory / name}: items of shape {array.shape[1:]}, expected {X_l.shape[1:]} "
                "as in X_labeled.npy"
            )
    manifest = {}
    if (directory / "task.json").exists():
        manifest = read_json(directory / "task.json", "the task's manifest")
        _check_classes(directory / "task.json", manifest.get("classes"), y_l)
    if len(np.unique(y_l)) < 2:  # the shortcut is then invisible: nothing tells two hypotheses apart
        raise UnderspecError(f"{directory / 'y_labeled.npy'}: a single class ({int(y_l[0])}); expected "
                             "labeled items of at least two classes")
    X_l, X_u, X_v = stack_items([X_l, X_u, X_v])
    return ChallengeTask(X_l, y_l.astype(np.int64), X_u, X_v, manifest)


def stack_items(arrays: list[np.ndarray], block: int = 4096) -> list[np.ndarray]:
    """The (memory-mapped) item arrays copied as float32 into one buffer, a block of rows at a
    time, and returned as consecutive views of it: a learnt representation of every item then
    reads the buffer (:meth:`ChallengeTask.items`) instead of a stacked copy, 1.2 GB less on
    vehicle_animal, and the files' pages leave the resident memory as they are copied. Tasks
    read from a folder (:func:`read_task`) and generated ones (``generate``) are built so."""
    from underspec.data.image_store import release_pages

    out = np.empty((sum(len(a) for a in arrays), *arrays[0].shape[1:]), np.float32)
    views, start = [], 0
    for array in arrays:
        view = out[start:start + len(array)]
        for row in range(0, len(array), block):
            view[row:row + block] = array[row:row + block]
            release_pages(array)
        views.append(view)
        start += len(array)
    return views


def _check_classes(path: Path, classes, y_labeled: np.ndarray) -> None:
    """``task.json``'s classes: distinct integers that include every labeled value."""
    if classes is None:
        return
    if (not isinstance(classes, list) or len(classes) < 2
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in classes)):
        raise UnderspecError(f"{path}, field 'classes': {str(classes)[:80]}; expected a list of at least two "
                             "integer class values")
    if len(set(classes)) != len(classes):
        raise UnderspecError(f"{path}, field 'classes': {classes}; expected distinct values")
    stray = sorted(set(np.unique(y_labeled).tolist()) - set(classes))
    if stray:
        raise UnderspecError(f"{path}, field 'classes': {classes} lacks {stray[0]}, a value of y_labeled.npy")


def read_answers(directory: str | os.PathLike) -> Answers:
    """Read the organiser's ``answers/`` folder of a task directory."""
    folder = Path(directory) / "answers"
    y_val = _load_array(folder, "y_val.npy")
    y_unl = load_npy(folder / "y_unlabeled.npy") if (folder / "y_unlabeled.npy").exists() else None
    groups = read_csv(folder / "groups.csv", "per-item groups") if (folder / "groups.csv").exists() else None
    extra = {p.stem: load_npy(p) for p in folder.glob("*.npy") if p.stem not in ("y_val", "y_unlabeled")}
    return Answers(y_val, y_unl, groups, extra)


def verify_checksums(directory: str | os.PathLike) -> list[str]:
    """Return the files whose SHA-256 differs from ``task.json`` (empty when all match)."""
    directory = Path(directory)
    manifest = read_json(directory / "task.json", "the task's manifest")
    return [name for name, digest in manifest.get("files", {}).items()
            if not (directory / name).exists() or sha256_of(directory / name) != digest]
