import gzip
import hashlib
import http.server
import struct
import threading

import numpy as np
import pytest

from underspec.data.sources import download, load_cifar10, load_faces, load_mnist, load_source
from underspec.errors import UnderspecError


def _fake_mnist(n=20):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def test_mnist_npz_and_idx_agree(tmp_path):
    x, y = _fake_mnist()
    np.savez(tmp_path / "mnist.npz", x_train=x[:15], y_train=y[:15], x_test=x[15:], y_test=y[15:])
    idx = tmp_path / "idx"
    idx.mkdir()
    for name, arr in [("train-images-idx3-ubyte.gz", x[:15]), ("train-labels-idx1-ubyte.gz", y[:15]),
                      ("t10k-images-idx3-ubyte.gz", x[15:]), ("t10k-labels-idx1-ubyte.gz", y[15:])]:
        header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
        with gzip.open(idx / name, "wb") as f:
            f.write(header + arr.tobytes())
    a, b = load_mnist(tmp_path / "mnist.npz"), load_mnist(idx)
    assert a.x.shape == (20, 1, 28, 28) and np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert a.x.max() <= 1.0 and a.mean == pytest.approx(0.1307)


def test_mnist_missing_file_named(tmp_path):
    with pytest.raises(UnderspecError, match=r"nothere\.npz"):
        load_mnist(tmp_path / "nothere.npz")
    with pytest.raises(UnderspecError, match="idx"):
        load_mnist(tmp_path)


def test_mnist_offline_error_names_file(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERSPEC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UnderspecError, match=r"cache/mnist.npz"):
        load_mnist(url="http://127.0.0.1:9/mnist.npz", sha256="0" * 64)


@pytest.fixture
def local_server(tmp_path):
    (tmp_path / "www").mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "www"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path / "www", f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_checks_sha256(local_server, tmp_path, monkeypatch):
    www, url = local_server
    x, y = _fake_mnist()
    np.savez(www / "mnist.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    digest = hashlib.sha256((www / "mnist.npz").read_bytes()).hexdigest()
    monkeypatch.setenv("UNDERSPEC_CACHE", str(tmp_path / "cache"))
    src = load_mnist(url=f"{url}/mnist.npz", sha256=digest)
    assert len(src.x) == 22 and (tmp_path / "cache" / "mnist.npz").exists()
    with pytest.raises(UnderspecError, match="checksum mismatch"):
        download(f"{url}/mnist.npz", tmp_path / "other.npz", "f" * 64)
    assert not (tmp_path / "other.npz").exists()
    assert not list(tmp_path.glob(".other.npz*"))


def test_cifar_batches_and_faces(tmp_path):
    import pickle

    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}, f)
    src = load_cifar10(tmp_path)
    assert src.x.shape == (24, 3, 32, 32) and src.y.tolist()[:4] == [0, 1, 2, 3]
    np.savez(tmp_path / "f.npz", x=rng.integers(0, 255, (5, 4, 4, 3), dtype=np.uint8), age=np.arange(5),
             names=np.array(list("abcde")))
    faces = load_faces(tmp_path / "f.npz")
    assert faces.x.shape == (5, 3, 4, 4) and list(faces.attrs) == ["age"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnderspecError, match="missing CIFAR-10 batch"):
        load_cifar10(tmp_path / "empty")


def test_digits_and_unknown_source():
    src = load_source("digits")
    assert src.x.shape == (1797, 1, 8, 8)
    with pytest.raises(UnderspecError, match="unknown source"):
        load_source("imagenet")
    with pytest.raises(UnderspecError, match=r"data: source 'cifar10' needs a local file"):
        load_source("cifar10")
