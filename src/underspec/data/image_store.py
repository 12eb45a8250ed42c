"""Image files decoded once into a uint8 array on disk, memory-mapped by every later command.

:func:`decode_images` reads a list of image files in two passes, both spread over worker
processes: the first reads each file's bytes (their hash keys the cache) and its header (size
and colour mode); the second decodes each image straight into its row of a uint8 ``(N, C, H,
W)`` ``.npy`` file. No decoded image is kept in memory beyond the one being written, so the
peak memory of loading is about the array's own size, and a second command on the same files
(same bytes, same options) maps the cached file instead of decoding again.

The cache lives under ``$UNDERSPEC_CACHE/images`` (default ``~/.cache/underspec/images``),
one ``<key>.npy`` with a ``<key>.json`` beside it (the files read, those skipped, those
resized); both are written under temporary names and renamed into place, so an interrupted
decode leaves no half-written entry. Delete the folder to reclaim the space.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from underspec.errors import UnderspecError

FORMAT = 1
"""Version of the cached layout; a change makes earlier entries unused (never misread)."""
GREY_MODES = ("1", "L", "I", "I;16", "F")
CHUNK = 256
"""Images per task sent to a worker process."""
IN_PROCESS = 2000
"""Fewer images than this are decoded in the calling process (a pool costs more to start)."""


@dataclass
class DecodedImages:
    """What :func:`decode_images` gives: the pixels of the readable files, in the order of the
    paths asked for, and what it found on the way.

    ``pixels`` is uint8 ``(N, C, H, W)`` (memory-mapped from the cache file when there is one);
    ``ok`` marks the paths that were read; ``bad`` lists ``(path, reason)``; ``resized`` the
    paths brought to the common size; ``from_cache`` says whether nothing was decoded."""

    pixels: np.ndarray
    ok: np.ndarray
    bad: list[tuple[str, str]] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    from_cache: bool = False


def default_cache() -> Path:
    """``$UNDERSPEC_CACHE/images`` (default ``~/.cache/underspec/images``)."""
    return Path(os.environ.get("UNDERSPEC_CACHE", Path.home() / ".cache" / "underspec")) / "images"


def release_pages(pixels: np.ndarray) -> None:
    """Drop the pages of a memory-mapped store entry that this process has read from its
    resident memory (``madvise(MADV_DONTNEED)``; they stay in the page cache and a later read
    maps them again): after a pass over 100,000 images of 64 px, 1.2 GB that would otherwise
    count as the process's own while the next step (the audit's folds) allocates its arrays.
    Arrays that are not memory-mapped are left as they are."""
    import mmap

    base = pixels
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)
    mapping = getattr(base, "_mmap", None)
    if mapping is not None and hasattr(mapping, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        mapping.madvise(mmap.MADV_DONTNEED)


def _reason(exc: Exception, rel: str) -> str:
    text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", rel, str(exc))
    return text.split("\n")[0][:120] or type(exc).__name__


def _headers(root: str, paths: list[str]) -> list[tuple]:
    """Per path: ``(digest, (W, H), mode)`` from the file's bytes and header, or ``(None, reason)``."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for rel in paths:
        try:
            data = Path(root, rel).read_bytes()
            with Image.open(io.BytesIO(data)) as img:
                out.append((hashlib.blake2b(data, digest_size=16).hexdigest(), img.size, img.mode))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            out.append((None, _reason(exc, rel)))
    return out


def _decode(root: str, paths: list[str], rows: list[int], target: str, mode: str,
            size: tuple[int, int]) -> list[tuple[int, str]]:
    """Decode ``paths`` into rows ``rows`` of the ``.npy`` file ``target``; the rows that failed."""
    from PIL import Image, UnidentifiedImageError

    pixels = np.load(target, mmap_mode="r+")
    failed = []
    for rel, row in zip(paths, rows, strict=True):
        try:
            with Image.open(Path(root, rel)) as img:
                img = img.convert(mode)
                if img.size != size:
                    img = img.resize(size, Image.Resampling.BICUBIC)  # resize()'s own default
                array = np.asarray(img, np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            failed.append((row, _reason(exc, rel)))
            continue
        pixels[row] = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    pixels.flush()
    del pixels
    return failed


def _chunks(items: list) -> list[list]:
    """``items`` cut into tasks of :data:`CHUNK` (read at call time)."""
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def _run(fn, calls: list[tuple], workers: int, label: str | None) -> list:
    """``fn(*call)`` for every call, in worker processes when there are many (results in order),
    with a progress bar and its ETA when ``label`` is given."""
    from tqdm.auto import tqdm

    total = sum(len(call[1]) for call in calls)
    with tqdm(total=total, desc=label, disable=label is None, leave=False, unit="image") as bar:
        if workers <= 1 or total < IN_PROCESS:
            results = []
            for call in calls:
                results.append(fn(*call))
                bar.update(len(call[1]))
            return results
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(fn, *call) for call in calls]
            results = []
            for call, future in zip(calls, futures, strict=True):
                results.append(future.result())
                bar.update(len(call[1]))
            return results


def target_size(common: tuple[int, int], image_size: int | None) -> tuple[int, int]:
    """``(W, H)`` the images are brought to: the most common size, scaled down (keeping its
    shape) so that its longer side is at most ``image_size``."""
    if image_size is None or max(common) <= image_size:
        return common
    scale = image_size / max(common)
    return max(1, round(common[0] * scale)), max(1, round(common[1] * scale))


def decode_images(root: str | Path, paths: list[str], *, skip_bad: bool = False, resize: bool = True,
                  image_size: int | None = None, cache: str | Path | bool | None = True,
                  workers: int | None = None, progress: bool = False) -> DecodedImages:
    """Decode the image files ``paths`` (relative to ``root``) into a uint8 ``(N, C, H, W)`` array.

    Grey images stay one channel unless some image has colour (then all are RGB). Images of
    another size than the most common one are resized (and listed) unless ``resize`` is False.

    Parameters
    ----------
    root : path
        The folder the paths are relative to.
    paths : list of str
        The files, in the order of the rows wanted.
    skip_bad : bool
        Leave unreadable files out (listed in ``bad``) instead of raising.
    resize : bool
        Resize images of another size than the most common one (else raise).
    image_size : int, optional
        Longest side of the images after loading: larger ones are scaled down (their shape kept).
    cache : path, True or False/None
        Folder of decoded arrays; ``True``: :func:`default_cache`; ``False``/``None``: decode
        into a temporary file, read into memory, then deleted.
    workers : int, optional
        Processes that decode (default: the machine's cores).
    progress : bool
        Show progress bars (with their ETA) over both passes.
    """
    root = Path(root)
    workers = workers or os.cpu_count() or 1
    calls = [(str(root), chunk) for chunk in _chunks(list(paths))]
    headers = [h for part in _run(_headers, calls, workers, "reading" if progress else None) for h in part]
    bad = [(rel, h[1]) for rel, h in zip(paths, headers, strict=True) if h[0] is None]
    good = [(rel, h) for rel, h in zip(paths, headers, strict=True) if h[0] is not None]
    _refuse_bad(root, bad, skip_bad)
    if not good:
        raise UnderspecError(f"{root}: no readable image")
    mode = "L" if all(h[2] in GREY_MODES for _, h in good) else "RGB"
    common = Counter(h[1] for _, h in good).most_common(1)[0][0]
    resized = [rel for rel, h in good if h[1] != common]
    if resized and not resize:
        raise UnderspecError(f"{root}: {len(resized)} image(s) not of the common size "
                             f"{common[0]}x{common[1]}, e.g. {resized[0]}; expected one size, or resizing "
                             "allowed")
    size = target_size(common, image_size)
    recipe = {"format": FORMAT, "mode": mode, "size": size, "files": [[rel, h[0]] for rel, h in good]}
    key = hashlib.blake2b(json.dumps(recipe).encode(), digest_size=20).hexdigest()
    folder = default_cache() if cache is True else Path(cache) if cache else None
    ok = np.array([h[0] is not None for h in headers])
    if folder is not None and (folder / f"{key}.json").is_file():
        meta = json.loads((folder / f"{key}.json").read_text())
        late_bad = [(rel, why) for rel, why in meta["bad"]]
        _refuse_bad(root, late_bad, skip_bad)
        pixels, decoded, from_cache = np.load(folder / f"{key}.npy", mmap_mode="r"), np.array(meta["decoded"]), True
    else:
        shape = (len(good), 1 if mode == "L" else 3, size[1], size[0])
        pixels, decoded, late_bad = _decode_all(root, [rel for rel, _ in good], shape, mode, size, folder, key,
                                                workers=workers, skip_bad=skip_bad, progress=progress)
        from_cache = False
    ok[ok] = decoded
    _refuse_bad(root, bad + late_bad, skip_bad, warn=True)
    return DecodedImages(pixels, ok, bad + late_bad, resized, from_cache)


def _decode_all(root: Path, paths: list[str], shape: tuple, mode: str, size: tuple[int, int],
                folder: Path | None, key: str, *, workers: int, skip_bad: bool,
                progress: bool) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decode ``paths`` into a new cache entry ``key`` of ``folder`` (or into memory when
    ``folder`` is None); the pixels, which paths were decoded, and the files that failed."""
    with tempfile.TemporaryDirectory(dir=_make(folder)) as tmp:
        target = Path(tmp) / "pixels.npy"
        np.lib.format.open_memmap(target, mode="w+", dtype=np.uint8, shape=shape).flush()
        calls = [(str(root), [paths[r] for r in part], part, str(target), mode, size)
                 for part in _chunks(list(range(len(paths))))]
        failed = [f for part in _run(_decode, calls, workers, "decoding" if progress else None) for f in part]
        late_bad = [(paths[row], why) for row, why in failed]
        _refuse_bad(root, late_bad, skip_bad)
        decoded = np.ones(len(paths), bool)
        decoded[[row for row, _ in failed]] = False
        if folder is None:  # kept in memory: the temporary file goes with its folder
            return np.array(np.load(target, mmap_mode="r")[decoded]), decoded, late_bad
        if failed:  # the rows of the files that failed are left out of the entry
            kept = np.array(np.load(target, mmap_mode="r")[decoded])
            np.save(target, kept)
            del kept
        Path(tmp, "meta.json").write_text(json.dumps({"decoded": decoded.tolist(), "bad": late_bad}))
        os.replace(target, folder / f"{key}.npy")
        os.replace(Path(tmp, "meta.json"), folder / f"{key}.json")  # last: marks the entry whole
    return np.load(folder / f"{key}.npy", mmap_mode="r"), decoded, late_bad


def _make(folder: Path | None) -> str | None:
    """``folder`` created (the temporary file is made beside the cache entry, so the final
    rename stays on one file system); ``None`` for the system's temporary folder."""
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def _refuse_bad(root: Path, bad: list[tuple[str, str]], skip_bad: bool, *, warn: bool = False) -> None:
    """Raise on unreadable files unless ``skip_bad``; with ``warn``, say which were left out."""
    if not bad or (skip_bad and not warn):
        return
    listed = "; ".join(f"{p} ({why})" for p, why in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    if not skip_bad:
        raise UnderspecError(f"{root}: {len(bad)} unreadable image(s): {listed}{more}; fix "
                             "or remove them, or leave them out with `skip_bad`")
    warnings.warn(f"{root}: skipped {len(bad)} unreadable image(s): {listed}{more}", stacklevel=3)
