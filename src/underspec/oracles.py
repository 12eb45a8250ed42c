"""Oracles: who answers "what is the label of target row i?". One small interface for all.

- ``answers:PATH``: a ``.npy`` of target labels (simulations, the demo, benchmarks);
- ``command:"CMD"``: runs CMD with the row index appended and reads the label from stdout;
- ``prompt``: asks a person in the terminal (the item saved as a PNG, plus an ASCII preview).

The solver asks only through :class:`BudgetedOracle`, which never exceeds the budget, never asks
the same row twice and checks that every answer is one of the task's classes.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from underspec.errors import UnderspecError
from underspec.files import load_npy


class BudgetSpentError(UnderspecError):
    """Raised by an oracle whose own budget ran out first (a leaderboard where the team has
    already revealed rows); the solver stops buying and goes on with the answers it has."""


class Oracle(Protocol):
    """Anything that reveals the raw class value of a target row."""

    def reveal(self, index: int) -> int:
        """Return the label of target row ``index`` (0-based row of ``X_val``)."""
        ...


class AnswersOracle:
    """Reads labels from a ``.npy`` file of target labels, checked when the oracle is made
    (whole-number labels, one per target row, each one of ``classes``), so that a wrong file is
    refused before any work even if no label is ever bought.
    """

    def __init__(self, path: str | Path, n_items: int | None = None, classes: np.ndarray | None = None):
        self.path = Path(path)
        what = "the target labels, a 1-D array of class values (answers:PATH.npy)"
        labels = load_npy(self.path, what, integer=True)
        if labels.ndim != 1 or (n_items is not None and len(labels) != n_items):
            expected = f"({n_items},), one label per target row" if n_items is not None else "(N,)"
            raise UnderspecError(f"{self.path}: shape {labels.shape}; expected {expected}")
        if classes is not None:
            stray = np.setdiff1d(labels.astype(np.int64), np.asarray(classes, np.int64))
            if len(stray):
                raise UnderspecError(f"{self.path}: label {int(stray[0])} is not a class of the task "
                                     f"({', '.join(str(int(c)) for c in classes)})")
        self._labels = labels.astype(np.int64)

    def reveal(self, index: int) -> int:
        if not 0 <= index < len(self._labels):
            raise UnderspecError(f"{self.path}: no answer for target row {index}")
        return int(self._labels[index])


class CommandOracle:
    """Runs a command with the row index as last argument; its stdout is the label."""

    def __init__(self, command: str, timeout: float = 600.0):
        self.argv = shlex.split(command)
        if not self.argv:
            raise UnderspecError("oracle command: empty command")
        self.timeout = timeout

    def reveal(self, index: int) -> int:
        argv = [*self.argv, str(index)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UnderspecError(f"oracle command {self.argv[0]!r} failed: {exc}") from exc
        if done.returncode != 0:
            raise UnderspecError(
                f"oracle command {' '.join(argv)!r} exited with {done.returncode}: "
                f"{done.stderr.strip()[:200]}"
            )
        text = done.stdout.strip()
        try:
            return int(text)
        except ValueError as exc:
            raise UnderspecError(
                f"oracle command {' '.join(argv)!r} printed {text[:50]!r}; expected an integer label"
            ) from exc


def ascii_preview(item: np.ndarray, width: int = 56) -> str:
    """A few lines of characters that show an image item in a terminal."""
    img = item.mean(0) if item.ndim == 3 else item
    _, w = img.shape
    step = max(1, int(np.ceil(w / width)))
    small = img[:: step * 2, ::step]
    lo, hi = float(small.min()), float(small.max())
    ramp = " .:-=+*#%@"
    scaled = ((small - lo) / (hi - lo + 1e-9) * (len(ramp) - 1)).astype(int)
    return "\n".join("".join(ramp[v] for v in row) for row in scaled)


class PromptOracle:
    """Asks a person: saves the item as a PNG, prints an ASCII preview, reads the label."""

    def __init__(self, X_val: np.ndarray, classes: np.ndarray, folder: str | Path | None = None,
                 stdin=None, stdout=None):
        self.X_val, self.classes = X_val, classes
        self.stdin, self.stdout = stdin or sys.stdin, stdout or sys.stdout
        # The pictures are for the person answering: a temporary folder unless one is named.
        self._tmp = None if folder is not None else tempfile.TemporaryDirectory(prefix="underspec-query-")
        self.folder = Path(folder) if folder is not None else Path(self._tmp.name)

    def close(self) -> None:
        """Remove the temporary pictures (nothing is left in the user's folder)."""
        if self._tmp is not None:
            self._tmp.cleanup()

    def reveal(self, index: int) -> int:
        item = self.X_val[index]
        lines = [f"Target row {index}."]
        if item.ndim == 3:
            from underspec.report.images import save_item_png

            path = save_item_png(item, self.folder / f"target_{index}.png")
            lines += [f"Image: {path}", ascii_preview(item)]
        else:
            lines.append(f"Vector item (first values): {np.array2string(item[:8], precision=2)}")
        choices = ", ".join(str(int(c)) for c in self.classes)
        print("\n".join(lines), file=self.stdout)
        for _ in range(3):
            print(f"Label ({choices})? ", end="", file=self.stdout, flush=True)
            text = self.stdin.readline()
            if not text:
                raise UnderspecError("prompt oracle: no answer (end of input)")
            try:
                return int(text.strip())
            except ValueError:
                print(f"expected one of {choices}", file=self.stdout)
        raise UnderspecError(f"prompt oracle: no valid label for target row {index}")


class BudgetedOracle:
    """Wraps an oracle: enforces the budget, caches answers, validates labels.

    Parameters
    ----------
    oracle : Oracle
    budget : int
        Most distinct rows that may be revealed.
    classes : ndarray
        Raw class values an answer must be one of.
    n_items : int
        Number of target rows.
    """

    def __init__(self, oracle: Oracle, budget: int, classes: np.ndarray, n_items: int):
        if budget < 0:
            raise UnderspecError(f"budget: expected a number >= 0, got {budget}")
        self.oracle, self.budget, self.classes, self.n_items = oracle, budget, classes, n_items
        self.revealed: dict[int, int] = {}

    @property
    def remaining(self) -> int:
        return self.budget - len(self.revealed)

    def reveal(self, index: int) -> int:
        """Raw label of target row ``index``; a row already revealed costs nothing."""
        index = int(index)
        if index in self.revealed:
            return self.revealed[index]
        if not 0 <= index < self.n_items:
            raise UnderspecError(f"query for target row {index}; expected 0..{self.n_items - 1}")
        if self.remaining <= 0:
            raise UnderspecError(f"label budget of {self.budget} spent; cannot reveal row {index}")
        label = self.oracle.reveal(index)
        if label not in set(int(c) for c in self.classes):
            raise UnderspecError(
                f"oracle answered {label} for target row {index}; expected one of "
                f"{', '.join(str(int(c)) for c in self.classes)}"
            )
        self.revealed[index] = int(label)
        return int(label)


def make_oracle(spec: str, *, X_val: np.ndarray, classes: np.ndarray) -> Oracle:
    """Build an oracle from its command-line form (``answers:PATH``, ``command:CMD``, ``prompt``)."""
    kind, _, arg = spec.partition(":")
    if kind == "answers" and arg:
        return AnswersOracle(arg, len(X_val), classes)
    if kind == "command" and arg:
        return CommandOracle(arg)
    if kind == "prompt":
        return PromptOracle(X_val, classes)
    raise UnderspecError(
        f"oracle {spec!r}: expected answers:PATH.npy, command:\"CMD\" or prompt"
    )
