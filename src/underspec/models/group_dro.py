"""Group distributionally robust optimisation (Sagawa et al., 2020) as an objective of the one
fit loop: minimise the loss of the worst group, with group weights updated online."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from underspec.errors import UnderspecError
from underspec.models.fit import Batch


class GroupDRO:
    """Objective ``sum_g q_g * loss_g``; after each step ``q_g *= exp(step_size * loss_g)``
    (then normalised), so the groups with the highest loss get the most weight.

    Parameters
    ----------
    n_groups : int
    step_size : float
        The exponentiated-gradient step of the group weights (0.01 in the paper).
    """

    def __init__(self, n_groups: int, step_size: float = 0.01):
        self.q = torch.full((n_groups,), 1.0 / n_groups)
        self.step_size = step_size

    def __call__(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        if batch.g is None:
            raise UnderspecError("group DRO needs the group of each item (fit(..., groups=...))")
        logits = model(batch.x)[:, 0]
        losses = F.cross_entropy(logits, batch.y, reduction="none") * batch.w
        self.q = self.q.to(losses.device)
        n_groups = len(self.q)
        counts = torch.bincount(batch.g, minlength=n_groups).float()
        sums = torch.zeros(n_groups, device=losses.device).index_add(0, batch.g, losses)
        group_loss = sums / counts.clamp(min=1)
        with torch.no_grad():
            present = counts > 0
            self.q[present] *= torch.exp(self.step_size * group_loss.detach()[present])
            self.q /= self.q.sum()
        return (self.q * group_loss).sum()
