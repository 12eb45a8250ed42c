"""Networks chosen from the input shape: an MLP for vectors, a small CNN for images.

Every network is a shared trunk followed by ``n_heads`` linear heads and returns logits of
shape (batch, n_heads, n_classes); a plain classifier is the one-head case.
"""

from __future__ import annotations

import torch
from torch import nn

FEATURES = 128


def make_trunk(input_shape: tuple[int, ...]) -> nn.Module:
    """A trunk mapping one item to a ``FEATURES``-d vector, chosen from the item shape.

    Parameters
    ----------
    input_shape : tuple of int
        ``(D,)`` for vectors (MLP) or ``(C, H, W)`` for images (CNN). The CNN keeps a coarse
        spatial layout (no global pooling) so that "which side" stays visible to the heads.
    """
    if len(input_shape) == 1:
        d = input_shape[0]
        return nn.Sequential(
            nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, FEATURES), nn.ReLU(),
        )
    if len(input_shape) != 3:
        raise ValueError(f"expected an item shape (D,) or (C, H, W), got {input_shape}")
    c, h, w = input_shape
    first = (nn.Conv2d(c, 32, 5, stride=2, padding=2) if min(h, w) > 16
             else nn.Conv2d(c, 32, 3, padding=1))
    grid = (4, max(4, round(4 * w / h))) if w >= h else (max(4, round(4 * h / w)), 4)
    return nn.Sequential(
        first, nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(grid), nn.Flatten(),
        nn.Linear(32 * grid[0] * grid[1], FEATURES), nn.ReLU(),
    )


class MultiHeadNet(nn.Module):
    """Trunk + ``n_heads`` linear heads; ``forward`` gives (B, n_heads, n_classes).

    With ``shared=False`` every head gets its own trunk (for the small MLPs of vector items).
    """

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, n_heads: int = 1,
                 shared: bool = True):
        super().__init__()
        self.shared = shared or n_heads == 1
        n_trunks = 1 if self.shared else n_heads
        self.trunks = nn.ModuleList(make_trunk(tuple(input_shape)) for _ in range(n_trunks))
        self.heads = nn.Linear(FEATURES, n_heads * n_classes)
        self.n_heads, self.n_classes = n_heads, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shared:
            return self.heads(self.trunks[0](x)).view(len(x), self.n_heads, self.n_classes)
        w = self.heads.weight.view(self.n_heads, self.n_classes, FEATURES)
        b = self.heads.bias.view(self.n_heads, self.n_classes)
        feats = torch.stack([trunk(x) for trunk in self.trunks], 1)  # (B, H, F)
        return torch.einsum("bhf,hcf->bhc", feats, w) + b
