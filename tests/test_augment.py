"""Augmentations: what each one changes, what it keeps, and which items get which."""

import numpy as np
import pytest
import torch

from underspec.commands.options import AUGMENTS as CLI_AUGMENTS
from underspec.models.augment import (
    AUGMENTS,
    feature_dropout,
    make_augment,
    random_flip,
    random_shift,
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
