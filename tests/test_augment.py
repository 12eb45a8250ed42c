"""Augmentations: what each one changes, what it keeps, and which items get which."""

import numpy as np
import pytest
import torch

from underspec.commands.options import AUGMENTS as CLI_AUGMENTS
from underspec.models.augment import (
    AUGMENTS,
    colour_jitter,
    cutout,
    feature_dropout,
    make_augment,
    prediction_views,
    random_flip,
    random_shift,
    strong_augment,
)


def test_feature_dropout_zeroes_a_share_and_keeps_the_mean():
    x = torch.ones(400, 50)
    out = feature_dropout(x, torch.Generator().manual_seed(0), p=0.4)
    zeroed = float((out == 0).float().mean())
    assert 0.37 < zeroed < 0.43
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.6))
    assert abs(float(out.mean()) - 1.0) < 0.03


def test_shift_keeps_the_pixels_it_moves():
    x = torch.arange(2 * 1 * 28 * 28, dtype=torch.float32).view(2, 1, 28, 28) + 1
    out = random_shift(x, torch.Generator().manual_seed(3), max_shift=2)
    assert out.shape == x.shape
    for i in range(2):
        moved = set(out[i].flatten().tolist()) - {0.0}
        assert moved <= set(x[i].flatten().tolist())
        assert len(moved) >= 24 * 24  # at most 2 rows and 2 columns fall off


def test_flip_mirrors_about_half():
    x = torch.randn(200, 1, 4, 4)
    out = random_flip(x, torch.Generator().manual_seed(1))
    flipped = [bool(torch.equal(out[i], x[i].flip(-1))) for i in range(200)]
    assert 70 < sum(flipped) < 130
    same = [bool(torch.equal(out[i], x[i])) for i in range(200)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))


def test_auto_picks_by_item_shape():
    assert make_augment("auto", np.zeros((3, 10))) is feature_dropout
    assert make_augment("auto", np.zeros((3, 1, 8, 8))) is random_shift
    colour = make_augment("auto", np.zeros((3, 3, 8, 8)))
    assert colour is not None and colour is not random_shift
    assert make_augment("dropout", np.zeros((3, 1, 8, 8))) is None
    assert make_augment("shift", np.zeros((3, 10))) is None
    assert make_augment("none", np.zeros((3, 10))) is None
    with pytest.raises(ValueError, match="augment"):
        make_augment("rotate", np.zeros((3, 10)))


def test_cli_offers_every_augmentation_network_and_precision():
    from underspec.commands.options import ARCHS as CLI_ARCHS
    from underspec.commands.options import PRECISIONS as CLI_PRECISIONS
    from underspec.models.fit import PRECISIONS
    from underspec.models.networks import ARCHS

    assert tuple(CLI_AUGMENTS) == tuple(AUGMENTS)
    assert (CLI_ARCHS, CLI_PRECISIONS) == (ARCHS, PRECISIONS)


def test_the_strong_augmentation_cuts_out_a_square_and_jitters_colours_reproducibly():
    x = torch.rand(64, 3, 16, 16) + 0.5  # no zero pixel: the cutout's zeros are the only ones
    holes = cutout(x, torch.Generator().manual_seed(0), side=7)
    zeroed = (holes == 0).all(1).sum((1, 2))
    assert zeroed.min() >= 16 and zeroed.max() == 49  # 7 x 7, or 4 x 4 and up at a corner
    assert torch.equal(holes[holes != 0], x[holes != 0])
    grey = colour_jitter(x, torch.Generator().manual_seed(0), channel=0.4, grey=1.0, contrast=0, brightness=0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    same = colour_jitter(x, torch.Generator().manual_seed(0), channel=0, grey=0, contrast=0, brightness=0)
    assert torch.allclose(same, x)
    images = np.zeros((4, 3, 16, 16), np.float32)
    assert make_augment("strong", images) is strong_augment and make_augment("strong", np.zeros((4, 5))) is None
    first, second = (strong_augment(x, torch.Generator().manual_seed(1)) for _ in range(2))
    assert torch.equal(first, second) and first.shape == x.shape and not torch.equal(first, x)
    assert len(prediction_views("strong", images)) == 10
