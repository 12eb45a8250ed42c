"""Loaders of labeled image sets: each layout on tiny generated files, and their error paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from underspec.data.image_sets import load_image_set
from underspec.errors import UnderspecError


def _png(path, value: int, size=(8, 8), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(path)


def test_npz_metadata_columns_and_row_ids(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (6, 5, 4)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array(["a", "b"] * 3), sex=np.arange(6) % 2,
             matrix=np.zeros((6, 2)))
    with pytest.warns(UserWarning, match="matrix"):
        s = load_image_set(tmp_path / "d.npz", groups=["sex"])
    assert s.X.shape == (6, 1, 5, 4) and s.X.max() <= 1.0
    assert s.classes == ["a", "b"] and s.table["label"].tolist() == [0, 1] * 3
    assert s.table["id"].tolist() == list(range(6)) and "sex" in s.table and "matrix" not in s.table
    with pytest.raises(UnderspecError, match="no column 'age'"):
        load_image_set(tmp_path / "d.npz", groups=["age"])
    np.savez(tmp_path / "short.npz", x=x, y=np.arange(5) % 2)
    with pytest.raises(UnderspecError, match=r"array 'y': shape \(5,\); expected \(6,\)"):
        load_image_set(tmp_path / "short.npz")


def test_labels_csv_folder_with_weights_and_missing_labels(tmp_path):
    for i in range(4):
        _png(tmp_path / "img" / f"{i}.png", 40 * i)
    pd.DataFrame({"path": [f"img/{i}.png" for i in range(4)], "label": [1, 0, None, 1],
                  "w": [1.0, 2.0, 1.0, 0.5], "site": list("aabb")}).to_csv(tmp_path / "labels.csv", index=False)
    s = load_image_set(tmp_path, weights="w", groups=["site"])
    assert s.table["id"].tolist() == [f"img/{i}.png" for i in range(4)]
    assert s.table["label"].tolist() == [1, 0, -1, 1] and s.classes == [0, 1]
    assert s.table["weight"].tolist() == [1.0, 2.0, 1.0, 0.5]
    assert np.allclose(s.X[:, 0, 0, 0], [0, 40 / 255, 80 / 255, 120 / 255])
    bad = pd.read_csv(tmp_path / "labels.csv").assign(w=[1.0, None, 1.0, 1.0])
    bad.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(UnderspecError, match=r"column 'w', row 1: expected a weight"):
        load_image_set(tmp_path, weights="w")


def test_label_train_txt_in_file_name_order(tmp_path):
    for name, v in (("b.png", 10), ("a.png", 20), ("c.png", 30)):
        _png(tmp_path / name, v)
    (tmp_path / "label_train.txt").write_text("1\n0\n1\n")
    s = load_image_set(tmp_path)
    assert s.table["id"].tolist() == ["a.png", "b.png", "c.png"]
    assert s.table["label"].tolist() == [1, 0, 1]
    (tmp_path / "label_train.txt").write_text("1\n0\n")
    with pytest.raises(UnderspecError, match="2 labels for 3 images"):
        load_image_set(tmp_path)


def test_class_folders_with_splits_metadata_bad_and_odd_sized_images(tmp_path):
    for split in ("train", "valid"):
        for cls in ("cat", "dog"):
            for i in range(2):
                _png(tmp_path / split / cls / f"{split}{cls}{i}.png", 100, mode="RGB")
    _png(tmp_path / "train" / "dog" / "big.png", 100, size=(16, 16), mode="RGB")
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"not a png")
    pd.DataFrame({"file": ["traincat0.png", "validdog1.png"], "age": [3, 7]}).to_csv(
        tmp_path / "metadata.csv", index=False)
    with pytest.raises(UnderspecError, match=r"unreadable image.*broken\.png.*`skip_bad`"):
        load_image_set(tmp_path)
    with pytest.raises(UnderspecError, match=r"not of the common size 8x8, e\.g\. train/dog/big\.png"):
        load_image_set(tmp_path, skip_bad=True, resize=False)
    with pytest.warns(UserWarning) as caught:
        s = load_image_set(tmp_path, skip_bad=True)
    said = [str(w.message) for w in caught]
    assert any("resized 1" in m for m in said)
    assert any("skipped 1 unreadable" in m and "train/cat/broken.png" in m for m in said)
    assert s.bad[0][0] == "train/cat/broken.png" and s.resized == ["train/dog/big.png"]
    assert s.X.shape == (9, 3, 8, 8) and s.classes == ["cat", "dog"]
    assert sorted(s.table["split"].unique()) == ["train", "valid"]
    ages = dict(zip(s.table["id"], s.table["age"], strict=True))
    assert ages["train/cat/traincat0.png"] == 3 and ages["valid/dog/validdog1.png"] == 7
    assert np.isnan(ages["train/cat/traincat1.png"])


def test_one_class_and_missing_inputs_are_refused(tmp_path):
    np.savez(tmp_path / "one.npz", x=np.zeros((4, 3, 3)), y=np.ones(4))
    with pytest.raises(UnderspecError, match="one class only"):
        load_image_set(tmp_path / "one.npz")
    with pytest.raises(UnderspecError, match="no such file"):
        load_image_set(tmp_path / "absent.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnderspecError, match="no images in class folders"):
        load_image_set(tmp_path / "empty")
