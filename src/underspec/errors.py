"""The one exception type users see, and the atomic-write helper that keeps outputs whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class UnderspecError(ValueError):
    """Bad input or a failed step, with a one-line message naming the file or field.

    The CLI prints the message and exits with code 2; no traceback is shown. A ``ValueError``,
    as scikit-learn's input errors are, so callers of the library catch both alike.
    """


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import, while no other thread can be creating files


def _writable_folder(path: Path, shown: str | os.PathLike) -> None:
    """Refuse ``path`` as a place to create things in: it is under a file, or not writable."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UnderspecError(f"{shown}: {probe} is a file, not a folder; give a path in a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UnderspecError(f"{shown}: cannot write in {probe} (permission denied)")


def check_output_file(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a file can be written there; called before any
    work starts so that a bad output path never costs a minute of training.

    Raises
    ------
    UnderspecError
        ``path`` is a folder, lies under a file, or its folder is not writable.
    """
    final = Path(path).expanduser()
    if final.is_dir():
        raise UnderspecError(f"{path}: is a folder; expected the name of a file to write")
    _writable_folder(final.parent, path)
    return final


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    Parameters
    ----------
    path : str or PathLike
        The final file name.

    Yields
    ------
    Path
        A temporary file in the same directory (same file system, so the rename is atomic).
        It is removed if the body raises, so no half-written file is ever left behind.
    """
    final = check_output_file(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); the rename would keep that. An output gets the
    # mode of the file it replaces, else the user's umask, like any file the user creates.
    os.chmod(tmp_path, final.stat().st_mode & 0o777 if final.exists() else 0o666 & ~_UMASK)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_npy_atomic(path: str | os.PathLike, array) -> None:
    """Save ``array`` as ``.npy`` at ``path`` through a temporary file and a rename."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)  # a handle: np.save would add ".npy" to the temporary name


OUTPUT_MARK = ".underspec-output"  # in every folder atomic_dir writes: underspec may replace it


def check_output_dir(path: str | os.PathLike, owned: str | None = None) -> Path:
    """The resolved output folder ``path``, if underspec may write it as a whole: absent, empty,
    or written by underspec before (it holds :data:`OUTPUT_MARK`, or the file ``owned``).

    Raises
    ------
    UnderspecError
        ``path`` is a file, the current folder or one above it, or a folder with files that
        underspec did not write (they are never deleted: choose another ``--out``).
    """
    final = Path(path).expanduser().resolve()
    _writable_folder(final.parent, path)
    if final.exists() and not final.is_dir():
        raise UnderspecError(f"{path}: is a file, not a folder; expected a new folder name "
                             "(the file is left as it is)")
    if final == Path.cwd().resolve() or final in Path.cwd().resolve().parents:
        raise UnderspecError(f"{path}: is the current folder or holds it; expected a new folder name")
    if final.is_dir():
        entries = sorted(p.name for p in final.iterdir())
        if entries and OUTPUT_MARK not in entries and (owned is None or owned not in entries):
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise UnderspecError(f"{path}: holds files underspec did not write ({shown}); they are not "
                                 "replaced: expected a new or empty folder")
    return final


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, owned: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (an earlier
    folder there is removed only after the new one is in place); on failure it is removed.

    For outputs made of many files (an exported pool with its images, a task): readers see the
    old folder or the new one, never a half-written one. Only a folder that underspec wrote
    (see :func:`check_output_dir`; ``owned`` names a file that also proves it) is ever
    replaced: a folder with a user's files is refused before anything is written.
    """
    import shutil

    final = check_output_dir(path, owned)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp's 0700 would survive the rename
    try:
        yield tmp
        (tmp / OUTPUT_MARK).write_text("written by underspec; it may replace this folder as a whole\n")
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old / final.name)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
