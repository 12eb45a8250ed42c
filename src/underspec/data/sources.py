"""Sources of images for the generators: digits (embedded), MNIST, CIFAR-10 and face sets.

Every source loads into one shape, :class:`Source`: images ``x`` as float32 (N, C, H, W) in
[0, 1], integer classes ``y`` (or ``None`` for attribute-only face sets) and 1-D attribute arrays.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from underspec.errors import UnderspecError, atomic_path
from underspec.files import check_numeric, load_npz

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_IDX = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
SOURCES = ("digits", "mnist", "cifar10", "faces")
LOCAL_ONLY = ("cifar10", "faces")
"""Sources read only from a local file or folder: never downloaded."""


@dataclass
class Source:
    """Images of one source, ready for the generators.

    Attributes
    ----------
    name : str
        Source name (``digits``, ``mnist``, ``cifar10``, ``faces``).
    x : ndarray of float32, shape (N, C, H, W)
        Pixels scaled to [0, 1].
    y : ndarray of int64, shape (N,), or None
        Class of each image (None for attribute-only sets).
    attrs : dict of str to ndarray
        1-D attribute columns of length N (face sets).
    mean, std : float
        Normalisation constants used by the generators: ``(x - mean) / std``.
    """

    name: str
    x: np.ndarray
    y: np.ndarray | None
    attrs: dict[str, np.ndarray] = field(default_factory=dict)
    mean: float = 0.0
    std: float = 1.0

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """Return ``(x - mean) / std`` as float32."""
        return ((x - self.mean) / self.std).astype(np.float32)


def cache_dir() -> Path:
    """Where downloads are kept: ``$UNDERSPEC_CACHE`` or ``~/.cache/underspec``."""
    return Path(os.environ.get("UNDERSPEC_CACHE", Path.home() / ".cache" / "underspec"))


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, sha256: str, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right checksum is already there.

    The file is written to a temporary name and renamed only once its SHA-256 matches.

    Raises
    ------
    UnderspecError
        When the download fails (e.g. offline) or the checksum does not match.
    """
    if dest.exists() and sha256_of(dest) == sha256:
        return dest
    try:
        with atomic_path(dest) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
            got = sha256_of(tmp)
            if got != sha256:
                raise UnderspecError(
                    f"{url}: checksum mismatch (sha256 {got}, expected {sha256}); file discarded"
                )
    except OSError as exc:
        raise UnderspecError(
            f"could not download {url} ({exc}); supply the file yourself as {dest}"
        ) from exc
    return dest


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise UnderspecError(f"{path}: not a readable gzip file ({exc}); expected an MNIST idx .gz file") from exc
    if len(data) < 8:
        raise UnderspecError(f"{path}: {len(data)} bytes; expected an MNIST idx file")
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise UnderspecError(f"{path}: not an idx file of unsigned bytes (magic {magic:#x})")
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise UnderspecError(f"{path}: truncated idx file (expected shape {shape})")
    return array.reshape(shape)


def _npz_keys(path: Path, data: dict[str, np.ndarray], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise UnderspecError(
            f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(data) or 'none'}"
        )


def load_mnist(path: str | os.PathLike | None = None, *, url: str = MNIST_URL,
               sha256: str = MNIST_SHA256, allow_download: bool = True) -> Source:
    """MNIST train + test (70,000 images) from a local file, a folder, or a checked download.

    Parameters
    ----------
    path : str or PathLike, optional
        ``mnist.npz`` (``x_train, y_train, x_test, y_test``), or a folder holding it or the four
        idx ``.gz`` files. When None, the cache directory is used and the file is downloaded.
    url, sha256 : str
        Where to download from and the expected checksum.
    allow_download : bool
        If False, a missing file is an error naming the file to supply.
    """
    if path is None:
        target = cache_dir() / "mnist.npz"
        if not target.exists():
            if not allow_download:
                raise UnderspecError(f"data: MNIST not found at {target}; expected a local MNIST file or folder")
            download(url, target, sha256)
        path = target
    path = Path(path)
    if path.is_dir():
        if (path / "mnist.npz").exists():
            path = path / "mnist.npz"
        elif all((path / name).exists() for name in MNIST_IDX):
            parts = [_read_idx(path / name) for name in MNIST_IDX]
            x = np.concatenate([parts[0], parts[2]])
            y = np.concatenate([parts[1], parts[3]])
            return _mnist_source(x, y)
        else:
            raise UnderspecError(
                f"{path}: expected mnist.npz or the four idx files {', '.join(MNIST_IDX)}"
            )
    if not path.exists():
        raise UnderspecError(f"{path}: file not found (expected mnist.npz)")
    data = load_npz(path, "mnist.npz (x_train, y_train, x_test, y_test)")
    _npz_keys(path, data, ("x_train", "y_train", "x_test", "y_test"))
    x = np.concatenate([data["x_train"], data["x_test"]])
    y = np.concatenate([data["y_train"], data["y_test"]])
    return _mnist_source(x, y)


def _mnist_source(x: np.ndarray, y: np.ndarray) -> Source:
    if x.ndim != 3 or len(x) != len(y):
        raise UnderspecError(f"MNIST: expected images (N, 28, 28) and N labels, got {x.shape}")
    check_numeric("MNIST images", x)
    check_numeric("MNIST labels", y, integer=True)
    images = (x.astype(np.float32) / 255.0)[:, None]
    # The constants of the original hackathon notebook.
    return Source("mnist", images, y.astype(np.int64), mean=0.1307, std=0.3081)


def load_digits_source() -> Source:
    """scikit-learn's embedded digits: 1,797 images of 8x8, ten classes (the offline default)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[:, None]
    return Source("digits", images, bunch.target.astype(np.int64),
                  mean=float(images.mean()), std=float(images.std()))


def load_cifar10(path: str | os.PathLike) -> Source:
    """CIFAR-10 from the official python batches folder or a local ``.npz``.

    Accepted ``.npz`` layouts: ``x`` (N, 32, 32, 3) uint8 with ``y``; or the JPEG-bytes layout
    ``jpeg_bytes``, ``offsets``, ``y`` (as in the shared data folder), decoded with Pillow.
    """
    path = Path(path)
    if path.is_dir():
        batch_dir = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        missing = [n for n in names if not (batch_dir / n).exists()]
        if missing:
            raise UnderspecError(f"{batch_dir}: missing CIFAR-10 batch file(s) {', '.join(missing)}")
        xs, ys = [], []
        for name in names:
            # The official format is a pickle (it can run code: only use the files from the
            # CIFAR-10 site); anything wrong in it is reported, not raised as a traceback.
            try:
                with open(batch_dir / name, "rb") as handle:
                    batch = pickle.load(handle, encoding="bytes")
                xs.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(batch[b"labels"], np.int64))
            except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
                raise UnderspecError(f"{batch_dir / name}: not a CIFAR-10 python batch ({str(exc)[:80]})") from exc
        x_chw = np.concatenate(xs)
        y = np.concatenate(ys)
    else:
        if not path.exists():
            raise UnderspecError(f"{path}: file not found (expected CIFAR-10 .npz or batches folder)")
        data = load_npz(path, "CIFAR-10 as an .npz (x and y, or jpeg_bytes, offsets and y)")
        if "jpeg_bytes" in data:
            _npz_keys(path, data, ("jpeg_bytes", "offsets", "y"))
            x_hwc = _decode_jpegs(data["jpeg_bytes"], data["offsets"])
        else:
            _npz_keys(path, data, ("x", "y"))
            x_hwc = data["x"]
        y = check_numeric(f"{path}, array 'y'", data["y"], integer=True).astype(np.int64)
        if x_hwc.ndim != 4 or x_hwc.shape[-1] != 3:
            raise UnderspecError(f"{path}: expected x of shape (N, 32, 32, 3), got {x_hwc.shape}")
        x_chw = np.transpose(x_hwc, (0, 3, 1, 2))
    images = x_chw.astype(np.float32) / 255.0
    return Source("cifar10", images, y, mean=float(images.mean()), std=float(images.std()))


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.stack([
        np.asarray(Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB"))
        for i in range(len(offsets) - 1)
    ])


def load_faces(path: str | os.PathLike) -> Source:
    """A face set with attribute columns: ``.npz`` with ``x`` (N, H, W[, C]) and 1-D arrays.

    Every other 1-D numeric array of length N becomes an attribute (e.g. ``age``, ``gender``).
    """
    path = Path(path)
    if not path.exists():
        raise UnderspecError(f"{path}: file not found (expected an .npz with x and attributes)")
    data = load_npz(path, "a face set .npz with x and 1-D attribute arrays")
    _npz_keys(path, data, ("x",))
    x = check_numeric(f"{path}, array 'x'", data["x"])
    attrs = {
        k: v for k, v in data.items()
        if k != "x" and v.ndim == 1 and len(v) == len(x) and np.issubdtype(v.dtype, np.number)
    }
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        x = np.transpose(x, (0, 3, 1, 2))
    else:
        raise UnderspecError(f"{path}: expected x of shape (N, H, W) or (N, H, W, C), got {x.shape}")
    if not attrs:
        raise UnderspecError(f"{path}: no 1-D numeric attribute arrays of length {len(x)} found")
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    images = x.astype(np.float32) / scale
    return Source("faces", images, None, attrs, mean=float(images.mean()), std=float(images.std()))


def load_source(name: str, path: str | os.PathLike | None = None) -> Source:
    """Load a source by name.

    Parameters
    ----------
    name : {'digits', 'mnist', 'cifar10', 'faces'}
    path : str or PathLike, optional
        Local file or folder (required for ``cifar10`` and ``faces``).
    """
    if name == "digits":
        return load_digits_source()
    if name == "mnist":
        return load_mnist(path)
    if name in LOCAL_ONLY and path is None:
        raise UnderspecError(f"data: source {name!r} needs a local file or folder")
    if name == "cifar10":
        return load_cifar10(path)
    if name == "faces":
        return load_faces(path)
    raise UnderspecError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")
