"""Shared fixtures: small generated tasks on scikit-learn's digits (never ../shared)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest

# torch reads this when a test that needs it first imports it (two threads, as on CI); the
# fixtures themselves never import torch, so the server tests run without it
os.environ.setdefault("OMP_NUM_THREADS", "2")
# cached representations and downloads go to a folder of this run, never the user's cache
os.environ["UNDERSPEC_CACHE"] = tempfile.mkdtemp(prefix="underspec-test-cache-")
atexit.register(shutil.rmtree, os.environ["UNDERSPEC_CACHE"], ignore_errors=True)  # removed after the run

pytest_plugins = ["tests.server_fixtures", "tests.browser_fixtures"]


@pytest.fixture
def tiny_task_dir(tmp_path):
    """A small cc task on digits written in the challenge layout."""
    from underspec.data.generators import generate

    out = tmp_path / "01_cc"
    generate("cc", source="digits", seed=3, out=out, sizes=(80, 240, 80))
    return out


class CountingOracle:
    """Test oracle that answers from known labels and records every call."""

    def __init__(self, labels: np.ndarray):
        self.labels = labels
        self.calls: list[int] = []

    def reveal(self, index: int) -> int:
        self.calls.append(int(index))
        return int(self.labels[index])
