"""Declared ranges of numeric inputs, checked once where they enter.

A :class:`Number` says what a field accepts (``Number(int, low=1)``: a count of at least one).
The command line uses it as an :mod:`argparse` type (checked when the command line is parsed,
before any work); the library's options dataclasses list theirs in ``CONSTRAINTS`` and call
:func:`validate`, so that a Python caller gets the same message naming the field.
"""

from __future__ import annotations

import argparse
import inspect
import math
import numbers
from dataclasses import fields, is_dataclass

from underspec.errors import UnderspecError


class Number:
    """A number in a declared range: ``Number(int, low=1)`` is a count of at least one,
    ``Number(float, low=0, high=1)`` a share, ``Number(float, low=0, low_open=True)`` a
    positive number. Floats must be finite (no ``nan``, no ``inf``)."""

    def __init__(self, kind: type = float, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False):
        self.kind, self.low, self.high = kind, low, high
        self.low_open, self.high_open = low_open, high_open
        self.__name__ = "integer" if kind is int else "number"  # argparse names the type with it

    def expected(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{noun} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{noun} {'<' if self.high_open else '<='} {self.high:g}"
        return noun

    def accepts(self, value) -> bool:
        """Whether ``value`` (already a number) is in the range."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy's bool is no Real
            return False
        if isinstance(value, numbers.Integral):
            value = int(value)  # exact, however large
        elif not math.isfinite(value) or (self.kind is int and value != int(value)):
            return False
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        return not (too_low or too_high)

    def check(self, name: str, value):
        """Return ``value`` if accepted, else raise :class:`UnderspecError` naming ``name``."""
        if not self.accepts(value):
            raise UnderspecError(f"{name}: expected {self.expected()}, got {value!r}")
        return value

    def __call__(self, text: str):
        try:
            value = self.kind(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.expected()}, got {text!r}") from None
        if not self.accepts(value):
            raise argparse.ArgumentTypeError(f"expected {self.expected()}, got {text!r}")
        return value


COUNT = Number(int, low=1)
"""A count of at least one (batch size, workers, folds ...)."""
NATURAL = Number(int, low=0)
"""An integer >= 0 (seeds, budgets, ids)."""
SHARE = Number(float, low=0, high=1)
"""A share or a probability, in [0, 1]."""
POSITIVE = Number(float, low=0, low_open=True)
"""A finite number > 0 (epochs, learning rate)."""
NON_NEGATIVE = Number(float, low=0)
"""A finite number >= 0 (seconds, points)."""
PORT = Number(int, low=0, high=65535)
SEED = Number(int, low=0, high=2**32 - 1)
"""A random seed (NumPy and torch both take 32 bits)."""




def validate(options) -> None:
    """Check every field that ``CONSTRAINTS`` names, on an options dataclass or an estimator
    (whose fields are its ``__init__`` parameters); ``None`` is allowed where the default is."""
    if is_dataclass(options):
        defaults = {f.name: f.default for f in fields(options)}
    else:
        parameters = inspect.signature(type(options).__init__).parameters.values()
        defaults = {p.name: p.default for p in parameters}
    for name, number in getattr(options, "CONSTRAINTS", {}).items():
        value = getattr(options, name)
        if value is None and defaults.get(name) is None:
            continue
        number.check(name, value)
