"""The engine runs independent pieces here or as Ray tasks, with the same results: the audit's
folds on a real Ray cluster give the same findings as here.

The Ray tests need a running Ray head: ``.ci/run`` starts one on loopback and sets
``UNDERSPEC_TEST_RAY`` (its address) and ``UNDERSPEC_REQUIRE_RAY=1`` (so that they cannot
silently skip there). Elsewhere they are skipped without an address."""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

from underspec.cli import main
from underspec.engine import ray_address, run_tasks
from underspec.errors import UnderspecError


def square_plus(shared: int, piece: int) -> int:
    return piece * piece + shared


def threads_here(shared, piece) -> dict:
    from underspec.engine import thread_counts

    return thread_counts()


@pytest.fixture(scope="module")
def ray_head() -> str:
    address = os.environ.get("UNDERSPEC_TEST_RAY")
    if not address:
        if os.environ.get("UNDERSPEC_REQUIRE_RAY") == "1":
            pytest.fail("UNDERSPEC_TEST_RAY is not set; expected the address of a Ray head (.ci/services starts one)")
        pytest.skip("no Ray head (UNDERSPEC_TEST_RAY unset)")
    pytest.importorskip("ray")
    return address


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    d = load_digits()
    rng = np.random.default_rng(0)
    y = d.target[:600].copy()
    flipped = rng.choice(600, 40, replace=False)
    y[flipped] = (y[flipped] + 1) % 10
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, x=(d.images[:600] * 16).astype(np.uint8), y=y, site=rng.integers(0, 2, 600))
    return path


def test_run_tasks_here_keeps_the_order_of_the_pieces():
    assert run_tasks(square_plus, 1, [3, 1, 2]) == [10, 2, 5]


def test_the_address_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_address(None) is None
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert ray_address(None) == "10.0.0.1:6379"
    assert ray_address("127.0.0.1:1") == "127.0.0.1:1"


def test_an_address_where_nothing_listens_is_refused_at_once(digits_npz, tmp_path, capsys):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    code = main(["audit", str(digits_npz), "--model", "logistic", "--checks", "label_issues",
                 "--out", str(tmp_path / "a"), "--ray", f"127.0.0.1:{port}"])
    assert code == 2 and time.perf_counter() - started < 30
    assert f"--ray 127.0.0.1:{port}: nothing answers there" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    with pytest.raises(UnderspecError, match="expected HOST:PORT"):
        run_tasks(square_plus, 0, [1], address="no-port-here")


def test_run_tasks_on_ray_keeps_the_order_of_the_pieces(ray_head):
    assert run_tasks(square_plus, 1, list(range(7)), address=ray_head) == [p * p + 1 for p in range(7)]


def test_ray_tasks_run_with_the_callers_thread_counts(ray_head):
    """Torch's and BLAS's thread counts as here, not the one thread a Ray worker starts with:
    otherwise sums come out in another order and a logistic regression's folds differ."""
    from underspec.engine import thread_counts

    assert run_tasks(threads_here, None, [0, 1], address=ray_head) == [thread_counts()] * 2


@pytest.mark.parametrize("model", ["logistic", "network"])
def test_the_audit_on_ray_finds_what_it_finds_here(ray_head, digits_npz, tmp_path, model):
    import json

    options = ["--model", model, "--epochs", "2", "--checks", "label_issues,shortcuts", "--groups", "site"]
    assert main(["audit", str(digits_npz), "--out", str(tmp_path / "here"), *options]) == 0
    assert main(["audit", str(digits_npz), "--out", str(tmp_path / "ray"), "--ray", ray_head, *options]) == 0
    here = json.loads((tmp_path / "here" / "findings.json").read_text())
    there = json.loads((tmp_path / "ray" / "findings.json").read_text())
    assert here["label_issues"]["summary"]["issues"] > 0
    assert here == there


def test_the_representation_on_ray_is_the_one_made_here(ray_head, monkeypatch):
    import underspec.models.representation as module

    pixels = np.random.default_rng(0).integers(0, 256, (50, 3, 16, 16), dtype=np.uint8)
    monkeypatch.setattr(module, "SHARD", 16)  # 4 shards, 4 tasks
    here = module.represent(pixels, "patches-fast", cache=None)
    assert np.array_equal(module.represent(pixels, "patches-fast", cache=None, address=ray_head), here)


def test_predict_on_ray_writes_the_predictions_made_here(ray_head, digits_npz, tmp_path, monkeypatch):
    import underspec.pipelines.train as module

    run = tmp_path / "run"
    assert main(["train", str(digits_npz), "--epochs", "1", "--out", str(run)]) == 0
    monkeypatch.setattr(module, "PREDICT_SHARD", 256)  # 3 shards, 3 tasks
    assert main(["predict", str(digits_npz), "--run", str(run), "--out", str(tmp_path / "here.csv")]) == 0
    assert main(["predict", str(digits_npz), "--run", str(run), "--out", str(tmp_path / "ray.csv"),
                 "--ray", ray_head]) == 0
    here = (tmp_path / "here.csv").read_text()
    assert len(here.splitlines()) == 601
    assert (tmp_path / "ray.csv").read_text() == here


def test_label_select_on_ray_selects_what_it_selects_here(ray_head, tmp_path, monkeypatch):
    import underspec.models.representation as module

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 80, (90, 16, 16, 3)).astype(np.uint8)  # an .npz holds images channel-last
    y = np.arange(90) % 2
    pixels[y == 1, :, :, 0] += 120
    labels = np.where(np.arange(90) < 20, y, -1)
    np.savez(tmp_path / "d.npz", x=pixels, y=labels)
    monkeypatch.setattr(module, "SHARD", 32)  # 3 shards of the representation, 3 tasks
    for name, extra in (("here", []), ("ray", ["--ray", ray_head])):
        assert main(["label", "select", str(tmp_path / "d.npz"), "--budget", "5", "--embedding", "patches",
                     "--out", str(tmp_path / name), *extra]) == 0
    here = (tmp_path / "here" / "selection.csv").read_text()
    assert len(here.splitlines()) == 71
    assert (tmp_path / "ray" / "selection.csv").read_text() == here
