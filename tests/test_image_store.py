"""The image store: files decoded once (in parallel), cached as uint8 by content, read back
memory-mapped; bad files listed or refused, never a half-written cache entry (issue 27)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from underspec.data import image_store
from underspec.data.image_sets import load_image_set
from underspec.data.image_store import decode_images
from underspec.errors import UnderspecError


def write_images(folder, n: int = 6, size=(12, 8), seed: int = 0) -> list[str]:
    """``n`` random RGB PNGs of ``size`` (W, H) in ``folder``; their relative paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"im{k}.png")
        paths.append(f"im{k}.png")
    return paths


def pil_pixels(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).transpose(2, 0, 1)


def entries(cache) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_pixels_are_the_files_and_a_second_call_maps_the_cache(tmp_path):
    paths = write_images(tmp_path / "img")
    cache = tmp_path / "cache"
    first = decode_images(tmp_path / "img", paths, cache=cache)
    assert first.pixels.dtype == np.uint8 and first.pixels.shape == (6, 3, 8, 12)
    for k, rel in enumerate(paths):
        assert np.array_equal(first.pixels[k], pil_pixels(tmp_path / "img" / rel))
    assert not first.from_cache and first.ok.all() and first.bad == [] and first.resized == []
    second = decode_images(tmp_path / "img", paths, cache=cache)
    assert second.from_cache and isinstance(second.pixels, np.memmap)
    assert np.array_equal(np.asarray(second.pixels), np.asarray(first.pixels))
    assert len([e for e in entries(cache) if e.endswith(".npy")]) == 1


def test_changed_bytes_or_options_decode_again(tmp_path):
    paths = write_images(tmp_path / "img")
    cache = tmp_path / "cache"
    decode_images(tmp_path / "img", paths, cache=cache)
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(tmp_path / "img" / paths[2])
    again = decode_images(tmp_path / "img", paths, cache=cache)
    assert not again.from_cache and int(np.asarray(again.pixels[2]).max()) == 0
    smaller = decode_images(tmp_path / "img", paths, cache=cache, image_size=6)
    assert not smaller.from_cache and smaller.pixels.shape == (6, 3, 4, 6)  # the shape is kept


def test_worker_processes_give_the_same_bytes(tmp_path, monkeypatch):
    paths = write_images(tmp_path / "img", n=9)
    alone = decode_images(tmp_path / "img", paths, cache=False, workers=1)
    monkeypatch.setattr(image_store, "IN_PROCESS", 0)
    monkeypatch.setattr(image_store, "CHUNK", 2)
    pooled = decode_images(tmp_path / "img", paths, cache=tmp_path / "cache", workers=2)
    assert np.array_equal(np.asarray(pooled.pixels), alone.pixels)


def test_grey_and_colour_sizes_and_order(tmp_path):
    folder = tmp_path / "img"
    folder.mkdir()
    Image.fromarray(np.full((8, 12), 200, np.uint8)).save(folder / "grey.png")
    Image.fromarray(np.full((8, 12, 3), 10, np.uint8)).save(folder / "colour.png")
    Image.fromarray(np.full((16, 24, 3), 90, np.uint8)).save(folder / "big.png")
    out = decode_images(folder, ["big.png", "grey.png", "colour.png"], cache=False)
    assert out.pixels.shape == (3, 3, 8, 12)  # colour somewhere: all RGB, the common size
    assert out.resized == ["big.png"]
    assert [int(out.pixels[k].mean()) for k in range(3)] == [90, 200, 10]  # the order asked for
    with pytest.raises(UnderspecError, match="not of the common size 12x8"):
        decode_images(folder, ["big.png", "grey.png", "colour.png"], cache=False, resize=False)


def test_unreadable_files_are_refused_or_left_out_and_nothing_half_written(tmp_path):
    paths = write_images(tmp_path / "img", n=4)
    (tmp_path / "img" / "junk.png").write_bytes(b"not an image")
    whole = (tmp_path / "img" / paths[1]).read_bytes()
    (tmp_path / "img" / "cut.png").write_bytes(whole[: len(whole) // 2])  # its header reads, its data does not
    asked = [*paths, "junk.png", "cut.png"]
    cache = tmp_path / "cache"
    with pytest.raises(UnderspecError, match=r"junk\.png"):
        decode_images(tmp_path / "img", asked, cache=cache)
    with pytest.raises(UnderspecError, match=r"cut\.png"):
        decode_images(tmp_path / "img", [*paths, "cut.png"], cache=cache)
    assert [e for e in entries(cache) if not e.startswith("tmp")] == [] and entries(cache) == []
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        out = decode_images(tmp_path / "img", asked, cache=cache, skip_bad=True)
    assert out.ok.tolist() == [True] * 4 + [False, False]
    assert [p for p, _ in out.bad] == ["junk.png", "cut.png"] and out.pixels.shape[0] == 4
    for k, rel in enumerate(paths):
        assert np.array_equal(out.pixels[k], pil_pixels(tmp_path / "img" / rel))
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        again = decode_images(tmp_path / "img", asked, cache=cache, skip_bad=True)
    assert again.from_cache and again.ok.tolist() == out.ok.tolist()
    with pytest.raises(UnderspecError, match=r"cut\.png"):  # the cached entry remembers the cut file
        decode_images(tmp_path / "img", [*asked[:4], "cut.png"], cache=cache)


def test_no_cache_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERSPEC_CACHE", str(tmp_path / "home-cache"))
    paths = write_images(tmp_path / "img")
    out = decode_images(tmp_path / "img", paths, cache=False)
    assert not isinstance(out.pixels, np.memmap) and not (tmp_path / "home-cache").exists()


def test_loaders_take_image_size(tmp_path):
    paths = write_images(tmp_path / "set", n=4, size=(20, 10))
    rows = "".join(f"{p},{k % 2}\n" for k, p in enumerate(paths))
    (tmp_path / "set" / "labels.csv").write_text("path,label\n" + rows)
    image_set = load_image_set(tmp_path / "set", image_size=10)
    assert image_set.X.shape == (4, 3, 5, 10) and image_set.X.dtype == np.float32
    assert image_set.X.min() >= 0.0 and image_set.X.max() <= 1.0


def test_an_image_set_from_files_keeps_uint8_pixels_and_a_float_view(tmp_path):
    paths = write_images(tmp_path / "set", n=6)
    rows = "".join(f"{p},{k % 2}\n" for k, p in enumerate(paths))
    (tmp_path / "set" / "labels.csv").write_text("path,label\n" + rows)
    image_set = load_image_set(tmp_path / "set")
    assert image_set.pixels.dtype == np.uint8 and image_set.network_items is image_set.pixels
    assert np.array_equal(image_set.X, image_set.pixels.astype(np.float32) / np.float32(255))
    assert image_set.X is image_set.X  # converted once, kept
    part = image_set.rows(np.array([True, False] * 3))
    assert part.pixels.dtype == np.uint8 and np.array_equal(part.pixels, np.asarray(image_set.pixels[::2]))
    assert image_set.with_labels(np.zeros(6, int)).pixels is not None


def test_resized_images_match_pillows_own_resize(tmp_path):
    """Images of another size are resized as the loader always did (``Image.resize``'s default
    filter), so a cached array equals the pixels the earlier loader gave."""
    folder = tmp_path / "img"
    write_images(folder, n=3, size=(12, 8))
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(folder / "big.png")
    out = decode_images(folder, ["im0.png", "im1.png", "im2.png", "big.png"], cache=False)
    with Image.open(folder / "big.png") as img:
        expected = np.asarray(img.convert("RGB").resize((12, 8))).transpose(2, 0, 1)
    assert np.array_equal(out.pixels[3], expected)


def test_an_audit_of_image_files_needs_no_float_copy_of_every_image(tmp_path, monkeypatch):
    """Near-duplicates, outliers and the network's label issues read the uint8 pixels (the
    embedding's components fitted on a sample): the float32 view of all images is never made."""
    from underspec.audit import registry
    from underspec.audit.registry import AuditOptions
    from underspec.pipelines.audit import run_checks

    paths = write_images(tmp_path / "set", n=40, size=(8, 8), seed=3)
    (tmp_path / "set" / paths[7]).write_bytes((tmp_path / "set" / paths[3]).read_bytes())  # a copy
    rows = "".join(f"{p},{k % 2}\n" for k, p in enumerate(paths))
    (tmp_path / "set" / "labels.csv").write_text("path,label\n" + rows)
    image_set = load_image_set(tmp_path / "set")
    monkeypatch.setattr(registry, "PCA_SAMPLE", 30)
    results = {r.name: r for r in run_checks(image_set, AuditOptions(model="network", folds=2, epochs=1),
                                             ["near_duplicates", "outliers", "label_issues"])}
    duplicates = results["near_duplicates"].items
    assert set(duplicates.loc[duplicates["is_issue"], "id"]) == {paths[3], paths[7]}
    assert image_set._float is None  # never converted whole


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident memory from /proc")
def test_released_pages_leave_the_resident_memory_and_read_back_the_same(tmp_path):
    """After the representation's pass over the pixels, their pages leave the process's resident
    memory (1.2 GB at 100,000 images of 64 px) and are read back the same when needed again."""
    from underspec.data.image_store import release_pages

    def resident_mb() -> float:
        return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024

    values = np.arange(3000 * 3 * 64 * 64, dtype=np.uint64).astype(np.uint8)
    np.save(tmp_path / "p.npy", values.reshape(3000, 3, 64, 64))
    pixels = np.load(tmp_path / "p.npy", mmap_mode="r")
    total = int(pixels.sum(dtype=np.int64))
    held = resident_mb()
    release_pages(pixels[5:10])  # a view: its memory map is found through its bases
    assert resident_mb() < held - 25
    assert int(pixels.sum(dtype=np.int64)) == total
    release_pages(np.zeros(3))  # not mapped: nothing to do
