import numpy as np

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
