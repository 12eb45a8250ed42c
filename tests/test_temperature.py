import numpy as np

from underspec.ambiguity.hypotheses import find_hypotheses
from underspec.ambiguity.temperature import fit_temperature, with_temperature


def _flat(pred: np.ndarray, margin: float, C: int = 2) -> np.ndarray:
    """Probabilities that put ``1/C + margin`` on ``pred`` and share the rest."""
    p = np.full((len(pred), C), (1 - 1 / C - margin) / (C - 1))
    p[np.arange(len(pred)), pred] = 1 / C + margin
    return p


def test_a_head_right_but_unsure_is_sharpened_to_its_held_out_accuracy():
    y = np.arange(36) % 2
    flat = _flat(y, 0.05)  # always right, 0.55 sure
    T = fit_temperature(flat, y)
    assert T < 0.2
    sharp = with_temperature(flat, T)
    assert abs(sharp.max(-1).mean() - 37 / 38) < 0.005
    assert (sharp.argmax(-1) == flat.argmax(-1)).all()


def test_a_head_surer_than_right_is_softened_and_no_items_leave_it_alone():
    y = np.arange(40) % 2
    pred = y.copy()
    pred[:10] = 1 - pred[:10]  # 30 of 40 right, each 0.99 sure
    T = fit_temperature(_flat(pred, 0.49), y)
    assert T > 1.5
    assert abs(with_temperature(_flat(pred, 0.49), T).max(-1).mean() - 31 / 42) < 0.005
    assert fit_temperature(np.zeros((0, 2)), np.zeros(0, int)) == 1.0


def test_the_surest_of_equally_accurate_heads_represents_its_hypothesis():
    # Two heads read the label (one right but nearly flat, one sure), one reads the shortcut:
    # they agree on the held-out labeled items and the shortcut's head disagrees on the target.
    rng = np.random.default_rng(0)
    y_hold, y_target = rng.integers(0, 2, 40), rng.integers(0, 2, 200)
    shortcut = np.where(rng.random(200) < 0.5, y_target, 1 - y_target)
    holdout = np.stack([_flat(y_hold, 0.03), _flat(y_hold, 0.45), _flat(y_hold, 0.45)], 1)
    target = np.stack([_flat(y_target, 0.03), _flat(y_target, 0.45), _flat(shortcut, 0.45)], 1)
    pool = target.copy()
    for sharpest, founder in ((True, 1), (False, 0)):
        hyp = find_hypotheses(target, pool, holdout, y_hold, sharpest_first=sharpest)
        assert hyp.ambiguous and len(hyp.groups) == 2
        label_group = next(g for g in hyp.groups if 0 in g)
        assert label_group[0] == founder
        k = hyp.groups.index(label_group)
        assert np.allclose(hyp.target_proba[k], target[:, founder])
