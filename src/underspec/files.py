"""Reading a user's files: one function per kind of file, every failure one line naming the file.

Every input file of underspec enters through here (``.npy``, ``.npz``, JSON, CSV, network
weights), so a missing, empty, truncated, corrupt or wrongly typed file is refused in one place
with a :class:`~underspec.errors.UnderspecError` that says which file and what was expected,
never a traceback from NumPy, pandas or torch. The checks of an array's *content* that many
callers share (numbers only, finite, whole numbers) are here too.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from underspec.errors import UnderspecError

if TYPE_CHECKING:
    import pandas as pd

_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, UnicodeDecodeError)
"""What NumPy, pandas and json raise on a file they cannot read (empty, truncated, text, pickled)."""


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "pickled" in text or "allow_pickle" in text or "Object arrays" in text:
        return "it holds Python objects or is not a NumPy file"
    if isinstance(exc, EOFError) or "No data left" in text:
        return "it is empty or cut short"
    return text[:120]


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is a readable file.

    Raises
    ------
    UnderspecError
        It does not exist, is a folder, or cannot be read; the message names ``what`` was expected.
    """
    p = Path(path)
    if not p.exists():
        raise UnderspecError(f"{p}: no such file (expected {what})")
    if p.is_dir():
        raise UnderspecError(f"{p}: is a folder; expected {what}")
    if not os.access(p, os.R_OK):
        raise UnderspecError(f"{p}: not readable (permission denied); expected {what}")
    return p


def check_numeric(where: str, array: np.ndarray, *, finite: bool = True, integer: bool = False) -> np.ndarray:
    """Refuse an array that is not numbers (or, with ``finite``, holds NaN or infinity; with
    ``integer``, a value that is not a whole number); return it unchanged.

    The message names ``where`` (a file, or a file and an array in it) and the first bad row.
    """
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise UnderspecError(f"{where}: expected numbers, got values of type {array.dtype}")
    if np.issubdtype(array.dtype, np.floating) and array.size:
        rows = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
        if finite or integer:
            bad = ~np.isfinite(rows).all(axis=1)
            if bad.any():
                raise UnderspecError(f"{where}: NaN or infinite value in row {int(bad.argmax())}; "
                                     "expected finite numbers")
        if integer:
            bad = (rows != np.round(rows)).any(axis=1)
            if bad.any():
                row = int(bad.argmax())
                value = float(rows[row][rows[row] != np.round(rows[row])][0])
                raise UnderspecError(f"{where}: {value:g} in row {row}; expected integer class values")
    return array


def load_npy(path: str | os.PathLike, what: str = "a NumPy .npy array", *, finite: bool = True,
             integer: bool = False, mmap: bool = False) -> np.ndarray:
    """A plain numeric ``.npy`` array (no pickled objects), checked with :func:`check_numeric`
    (``mmap``: memory-mapped, read only, for a caller that copies it where it belongs)."""
    p = existing_file(path, what)
    try:
        array = np.load(p, allow_pickle=False, mmap_mode="r" if mmap else None)
    except _UNREADABLE as exc:
        raise UnderspecError(f"{p}: not a readable .npy file ({_reason(exc)}); expected {what}") from exc
    if not isinstance(array, np.ndarray):  # an .npz archive given where one array was expected
        array.close()
        raise UnderspecError(f"{p}: an .npz archive; expected {what}")
    return check_numeric(str(p), array, finite=finite, integer=integer)


def load_npz(path: str | os.PathLike, what: str = "a NumPy .npz archive") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read eagerly (no pickled objects allowed)."""
    p = existing_file(path, what)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files} if hasattr(data, "files") else None
    except _UNREADABLE as exc:
        raise UnderspecError(f"{p}: not a readable .npz archive ({_reason(exc)}); expected {what}") from exc
    if arrays is None:
        raise UnderspecError(f"{p}: a single .npy array; expected {what}")
    return arrays


def read_json(path: str | os.PathLike, what: str = "a JSON document") -> dict:
    """A JSON object (a mapping) read from ``path``."""
    p = existing_file(path, what)
    try:
        document = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise UnderspecError(f"{p}: not valid JSON ({_reason(exc)}); expected {what}") from exc
    if not isinstance(document, dict):
        raise UnderspecError(f"{p}: a JSON {type(document).__name__}; expected {what} (an object)")
    return document


def read_csv(path: str | os.PathLike, what: str, columns: tuple[str, ...] = (),
             dtype: dict | None = None, **options) -> pd.DataFrame:
    """A CSV with at least ``columns``; the message names the file and what it should hold."""
    import pandas as pd  # here: the leaderboard server imports this module and never needs pandas

    p = existing_file(path, f"a CSV of {what}")
    try:
        frame = pd.read_csv(p, dtype=dtype, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise UnderspecError(f"{p}: not a readable CSV of {what} ({_reason(exc)})") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UnderspecError(f"{p}: no column {', '.join(map(repr, missing))} (expected {what}); "
                             f"columns are {', '.join(map(str, frame.columns)) or 'none'}")
    return frame


def load_weights(path: str | os.PathLike, what: str = "network weights saved by underspec train") -> dict:
    """A torch ``state_dict`` file (weights only: loading never runs code from the file)."""
    import torch

    p = existing_file(path, what)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises a dozen types on a corrupt file
        raise UnderspecError(f"{p}: not a readable weights file ({_reason(exc)}); expected {what}") from exc
    if not isinstance(state, dict):
        raise UnderspecError(f"{p}: holds a {type(state).__name__}; expected {what}")
    return state


def plain_json(value):
    """``json.dumps``' ``default`` for NumPy scalars and arrays (as Python numbers and lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")


def fingerprint(X: np.ndarray, block: int = 4096) -> str:
    """A short content hash of an item array: findings and selections carry it so that they are
    never applied to another data set by mistake.

    The hash is that of the items as float32 (uint8 pixels in [0, 1]), converted and hashed a
    block of rows at a time: the same value as hashing the whole float32 copy, which at 100,000
    images of 64 px would be 4.9 GB (plus its bytes)."""
    import hashlib

    dtype = np.dtype(np.float32) if X.dtype == np.uint8 else X.dtype
    digest = hashlib.sha256(str((X.shape, str(dtype))).encode())
    for start in range(0, len(X), block):
        rows = X[start:start + block]
        rows = np.divide(rows, 255.0, dtype=np.float32) if X.dtype == np.uint8 else np.ascontiguousarray(rows)
        digest.update(rows.tobytes())
    return digest.hexdigest()[:16]


def data_stamp(image_set) -> dict:
    """What ties a result file (findings, a selection) to the data it was computed on."""
    items = image_set.network_items  # uint8 pixels of images from files: never their float32 copy
    return {"fingerprint": fingerprint(items), "items": int(len(items)), "source": str(image_set.source)}


def check_same_data(path: str | os.PathLike, stamp: dict | None, image_set) -> None:
    """Refuse to apply ``path`` (findings, a selection) to another data set than its own."""
    if stamp is None:  # written before fingerprints existed: the item ids still have to match
        return
    items = image_set.network_items
    if stamp.get("fingerprint") != fingerprint(items):
        raise UnderspecError(f"{path}: computed on other data ({stamp.get('items')} items of "
                             f"{stamp.get('source')!r}), not on {image_set.source!r} ({len(items)} "
                             "items); expected a result of this very data (compute it again on it)")
