"""Networks chosen from the input shape: an MLP for vectors, a small CNN for images.

Every network is a shared trunk followed by ``n_heads`` linear heads and returns logits of
shape (batch, n_heads, n_classes); a plain classifier is the one-head case.
"""

from __future__ import annotations

import torch
from torch import nn

from underspec.errors import UnderspecError

FEATURES = 128


ARCHS = ("auto", "cnn", "vgg", "resnet18", "linear")


def resolve_arch(input_shape: tuple[int, ...], arch: str = "auto") -> str:
    """The network ``arch`` names for items of ``input_shape``; ``auto`` picks from the shape.

    ``auto`` gives the ResNet-18 layout from 64 pixels on, the VGG-style CNN for colour images
    from 32 pixels (photos: on CIFAR-4 with 8,000 noisy training items it reached 0.86 held-out
    accuracy where the small CNN reached 0.75), and the small CNN for anything else (digits,
    X-rays). Vectors get an MLP, or with ``linear`` a linear model (a pretrained embedding, built
    to be compared by distances, read linearly); ``linear`` is refused for images.
    """
    if arch not in ARCHS:
        raise UnderspecError(f"arch: expected one of {', '.join(ARCHS)}, got {arch!r}")
    if arch != "auto":
        return arch
    if len(input_shape) == 3 and min(input_shape[1:]) >= 64:
        return "resnet18"
    if len(input_shape) == 3 and input_shape[0] == 3 and min(input_shape[1:]) >= 32:
        return "vgg"
    return "cnn"


def vgg_trunk(channels: int, width: int = 16) -> nn.Module:
    """Three stages of two 3x3 convolutions (batch norm, ReLU) and a 2x2 max-pool, widths w, 2w,
    4w, then global average pooling: stronger than the small CNN on photos, and about 8 times
    its cost. On one CIFAR-4 fold (8,000 noisy training items, bfloat16) width 16 for 30 epochs
    reached the held-out accuracy of width 24 for 20 epochs (0.858 against 0.857) in 70% of the
    time, and 0.867 for 40 epochs."""
    layers, c = [], channels
    for c_out in (width, 2 * width, 4 * width):
        for _ in range(2):
            layers += [nn.Conv2d(c, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            c = c_out
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, FEATURES), nn.ReLU())


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def resnet18_trunk(channels: int, side: int, width: int = 64) -> nn.Module:
    """ResNet-18 layout (four stages of two basic blocks, widths w, 2w, 4w, 8w, global average
    pooling), with the small-image stem (3x3, no max-pool) below 64 pixels."""
    stem = (nn.Sequential(nn.Conv2d(channels, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                          nn.ReLU(), nn.MaxPool2d(3, 2, 1)) if side >= 64 else
            nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()))
    layers, c = [stem], width
    for stage, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
        layers += [BasicBlock(c, c_out, 1 if stage == 0 else 2), BasicBlock(c_out, c_out, 1)]
        c = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, FEATURES), nn.ReLU())


def make_trunk(input_shape: tuple[int, ...], arch: str = "auto") -> nn.Module:
    """A trunk mapping one item to a ``FEATURES``-d vector, chosen from the item shape.

    Parameters
    ----------
    input_shape : tuple of int
        ``(D,)`` for vectors (MLP) or ``(C, H, W)`` for images (CNN). The CNN keeps a coarse
        spatial layout (no global pooling) so that "which side" stays visible to the heads.
    arch : {"auto", "cnn", "vgg", "resnet18", "linear"}
        For images: the small CNN, a VGG-style CNN, or the ResNet-18-style network; ``auto``
        chooses from the shape (:func:`resolve_arch`). For vectors: ``linear`` gives a linear
        model, anything else the MLP.
    """
    arch = resolve_arch(input_shape, arch)
    if len(input_shape) == 3 and arch == "resnet18":
        return resnet18_trunk(input_shape[0], min(input_shape[1:]))
    if len(input_shape) == 3 and arch == "vgg":
        return vgg_trunk(input_shape[0])
    if len(input_shape) == 3 and arch == "linear":
        raise UnderspecError("arch: linear is for vectors (a representation); expected cnn, vgg or resnet18 "
                             f"for images of shape {input_shape}")
    if len(input_shape) == 1 and arch == "linear":  # two linear maps, no nonlinearity: a linear model
        return nn.Sequential(nn.Linear(input_shape[0], FEATURES))
    if len(input_shape) == 1:
        d = input_shape[0]
        return nn.Sequential(
            nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, FEATURES), nn.ReLU(),
        )
    if len(input_shape) != 3:
        raise UnderspecError(f"expected an item shape (D,) or (C, H, W), got {input_shape}")
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
                 shared: bool = True, arch: str = "cnn"):
        super().__init__()
        self.shared = shared or n_heads == 1
        n_trunks = 1 if self.shared else n_heads
        self.trunks = nn.ModuleList(make_trunk(tuple(input_shape), arch) for _ in range(n_trunks))
        self.heads = nn.Linear(FEATURES, n_heads * n_classes)
        self.n_heads, self.n_classes = n_heads, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shared:
            return self.heads(self.trunks[0](x)).view(len(x), self.n_heads, self.n_classes)
        w = self.heads.weight.view(self.n_heads, self.n_classes, FEATURES)
        b = self.heads.bias.view(self.n_heads, self.n_classes)
        feats = torch.stack([trunk(x) for trunk in self.trunks], 1)  # (B, H, F)
        return torch.einsum("bhf,hcf->bhc", feats, w) + b
