"""The network chosen from the item shape, mixed bfloat16 precision, and the test-time
augmentation of the plain classifier."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from underspec.errors import UnderspecError
from underspec.models.augment import prediction_views
from underspec.models.classifier import NetworkClassifier
from underspec.models.fit import bfloat16_supported, resolve_precision
from underspec.models.networks import resolve_arch


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.images[:, None].astype(np.float32) / 16.0, d.target


@pytest.mark.parametrize(("shape", "expected"), [((3, 32, 32), "vgg"), ((3, 32, 64), "vgg"), ((1, 28, 28), "cnn"),
                                                 ((3, 16, 16), "cnn"), ((3, 64, 64), "resnet18"),
                                                 ((1, 224, 224), "resnet18"), ((20,), "cnn")])
def test_auto_picks_the_network_from_the_shape(shape, expected):
    assert resolve_arch(shape, "auto") == expected
    assert resolve_arch(shape, "cnn") == "cnn"


def test_unknown_network_and_precision_are_refused():
    # the library's one error type (a ValueError, as scikit-learn's), so the CLI shows one line
    assert issubclass(UnderspecError, ValueError)
    with pytest.raises(UnderspecError, match="arch: expected one of"):
        resolve_arch((3, 32, 32), "vit")
    with pytest.raises(UnderspecError, match="precision: expected one of"):
        resolve_precision("float16", "cnn")


def test_auto_precision_uses_bfloat16_only_for_the_large_networks():
    assert resolve_precision("auto", "cnn") == "float32"
    assert resolve_precision("auto", "vgg") == ("bfloat16" if bfloat16_supported() else "float32")
    assert resolve_precision("bfloat16", "cnn") == "bfloat16"


def test_bfloat16_training_learns_as_well_as_float32(digits):
    x, y = digits
    train, test = np.arange(0, 1400), np.arange(1400, len(y))
    accuracy = {}
    for precision in ("float32", "bfloat16"):
        model = NetworkClassifier(epochs=6, seed=0, precision=precision).fit(x[train], y[train])
        proba = model.predict_proba(x[test])
        assert proba.dtype == np.float32 and np.allclose(proba.sum(1), 1, atol=1e-5)
        accuracy[precision] = float((proba.argmax(1) == y[test]).mean())
    assert accuracy["float32"] > 0.85
    assert accuracy["bfloat16"] > accuracy["float32"] - 0.05


def test_the_views_at_test_time_follow_the_training_augmentation():
    image = np.zeros((1, 3, 5, 5), np.float32)
    image[0, :, 2, 3] = 1.0
    shifted = [view(image) for view in prediction_views("shift", image)]
    assert len(shifted) == 5 and np.array_equal(shifted[0], image)
    spots = {tuple(np.argwhere(v[0, 0])[0]) for v in shifted}
    assert spots == {(2, 3), (3, 3), (1, 3), (2, 4), (2, 2)}  # the pixel, moved one step each way
    assert all(v.sum() == image.sum() for v in shifted)
    mirrored = [view(image) for view in prediction_views("shift_flip", image)]
    assert len(mirrored) == 10 and {tuple(np.argwhere(v[0, 0])[0]) for v in mirrored[5:]} == {
        (2, 1), (3, 1), (1, 1), (2, 2), (2, 0)}
    assert len(prediction_views("none", image)) == 1 and len(prediction_views("auto", np.zeros((2, 4)))) == 1


def test_a_network_trained_on_mirrors_predicts_the_same_for_an_image_and_its_mirror(digits):
    x, y = digits
    colour = np.repeat(x[:300], 3, axis=1)  # three channels: auto augmentation shifts and mirrors them
    mirrored = colour[..., ::-1].copy()
    flips = NetworkClassifier(epochs=2, seed=0, augment="auto").fit(colour, y[:300])
    assert len(prediction_views(flips.augment, colour)) == 10
    np.testing.assert_allclose(flips.predict_proba(colour), flips.predict_proba(mirrored), atol=1e-6)
    shifts = NetworkClassifier(epochs=2, seed=0, augment="shift").fit(colour, y[:300])
    assert len(prediction_views(shifts.augment, colour)) == 5
    assert np.abs(shifts.predict_proba(colour) - shifts.predict_proba(mirrored)).max() > 1e-3


def test_device_auto_cpu_cuda_and_the_context(monkeypatch, tmp_path, capsys):
    import torch

    from underspec.cli import main
    from underspec.models.fit import current_device, resolve_device, use_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" == current_device()
    with pytest.raises(UnderspecError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(UnderspecError, match="device: expected one of auto, cpu, cuda"):
        resolve_device("tpu")
    with use_device("cpu") as device:
        assert device == current_device() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"  # chosen, not used: this test never touches a GPU
    with use_device("cpu"):
        assert current_device() == "cpu"
    assert current_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # a command asked to run on a missing GPU stops before any work, with one line and exit code 2
    assert main(["train", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "run"), "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_model_trained_in_a_device_context_predicts_on_its_device():
    from underspec.models.fit import model_device, use_device

    X, y = load_digits(return_X_y=True)
    with use_device("cpu"):
        model = NetworkClassifier(epochs=1).fit(X[:200, None].reshape(200, 1, 8, 8) / 16, y[:200])
    assert model_device(model.model_) == "cpu"
    assert model.predict_proba(X[:5].reshape(5, 1, 8, 8) / 16).shape == (5, 10)


def test_the_cli_choice_lists_match_the_library():
    """The CLI spells its choices out (no numpy or torch at start-up); they must not drift."""
    from underspec.commands import options
    from underspec.models import fit, representation

    assert options.DEVICES == fit.DEVICES and options.PRECISIONS == fit.PRECISIONS
    assert options.REPRESENTATIONS == representation.REPRESENTATIONS


def test_linear_arch_is_a_linear_model_of_vectors_and_refused_for_images():
    import torch

    from underspec.ambiguity.diverse import DiverseHeads
    from underspec.models.networks import MultiHeadNet

    torch.manual_seed(0)
    net = MultiHeadNet((12,), 3, 2, shared=False, arch="linear")
    x, y = torch.randn(5, 12), torch.randn(5, 12)
    with torch.no_grad():  # affine: f(x + y) = f(x) + f(y) - f(0)
        torch.testing.assert_close(net(x + y), net(x) + net(y) - net(torch.zeros(5, 12)), atol=1e-5, rtol=1e-5)
        mlp = MultiHeadNet((12,), 3, 2, shared=False)
        assert not torch.allclose(mlp(x + y), mlp(x) + mlp(y) - mlp(torch.zeros(5, 12)), atol=1e-3)
    with pytest.raises(UnderspecError, match="linear is for vectors"):
        MultiHeadNet((1, 8, 8), 2, arch="linear")
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(60, 6)).astype(np.float32), np.arange(60) % 2
    heads = DiverseHeads(n_heads=2, epochs=1, arch="linear").fit(X, labels, X)
    assert all(isinstance(m, torch.nn.Linear) for m in heads.models_[0].trunks[0])


def test_fit_steps_with_the_multi_tensor_adam_and_the_same_numbers_as_the_loop(monkeypatch):
    """fit's Adam updates every weight in one multi-tensor call (``foreach``, a fifth less time
    per step on the vector networks) and lands on exactly the weights of torch's CPU default,
    the per-tensor loop: results measured before the change stay valid."""
    import torch

    from underspec.models.fit import fit, weighted_ce
    from underspec.models.networks import MultiHeadNet

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 20)).astype(np.float32), rng.integers(0, 3, 120)
    adam, used = torch.optim.Adam, []

    def weights(foreach: bool | None) -> torch.Tensor:
        def spy(params, **kw):
            used.append(kw.get("foreach"))
            return adam(params, **{**kw, "foreach": kw.get("foreach") if foreach is None else foreach})

        monkeypatch.setattr(torch.optim, "Adam", spy)
        torch.manual_seed(0)
        model = MultiHeadNet((20,), 3, 2, shared=False)
        fit(model, weighted_ce, X, y, epochs=3, batch_size=32, seed=1)
        return torch.cat([p.detach().ravel() for p in model.parameters()])

    default, loop = weights(None), weights(False)
    assert used[0] is True
    assert torch.equal(default, loop)


def test_fit_trains_images_in_channels_last_order_to_the_weights_of_the_nchw_order(monkeypatch):
    """Images train and predict in channels-last memory order (oneDNN's fast path: a sixth less
    time per step of the small CNN on 2 cores); the numbers differ from the NCHW order's only in
    the last digits, so results measured before the change keep their meaning."""
    import torch

    from underspec.models import fit as fit_module
    from underspec.models.networks import MultiHeadNet

    rng = np.random.default_rng(0)
    X, y = rng.random((96, 1, 8, 16)).astype(np.float32), rng.integers(0, 3, 96)

    def trained(memory_format: torch.memory_format) -> tuple[MultiHeadNet, np.ndarray]:
        monkeypatch.setattr(fit_module, "IMAGE_MEMORY_FORMAT", memory_format)
        torch.manual_seed(0)
        model = MultiHeadNet((1, 8, 16), 3, 2)
        fit_module.fit(model, fit_module.weighted_ce, X, y, epochs=3, batch_size=32, seed=1)
        return model, fit_module.predict_proba(model, X)

    fast, fast_proba = trained(torch.channels_last)
    conv = fast.trunks[0][2].weight  # 32 -> 32 channels (one input channel lies the same either way)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    nchw, nchw_proba = trained(torch.contiguous_format)
    assert nchw.trunks[0][2].weight.is_contiguous()
    np.testing.assert_allclose(fast_proba, nchw_proba, atol=1e-4)
    assert np.abs(fast_proba - 1 / 3).max() > 0.05  # the networks moved away from their start
