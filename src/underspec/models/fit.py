"""The one fit loop of underspec: every torch model is trained here; the objective is a parameter.

An objective is a callable ``objective(model, batch) -> loss`` where ``batch`` is a
:class:`Batch` holding a labeled mini-batch and, when a pool is given, an unlabeled one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from underspec.errors import UnderspecError


@dataclass
class Batch:
    """One step's data: labeled ``x, y, w`` (weights), optional group codes ``g`` of the
    labeled items, and an optional unlabeled ``pool``."""

    x: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    pool: torch.Tensor | None = None
    g: torch.Tensor | None = None


Objective = Callable[[torch.nn.Module, Batch], torch.Tensor]
PRECISIONS = ("auto", "float32", "bfloat16")
HEAVY_ARCHS = ("vgg", "resnet18")
DEVICES = ("auto", "cpu", "cuda")
_DEVICE: ContextVar[str] = ContextVar("underspec_device", default="auto")


def resolve_device(device: str = "auto") -> str:
    """``cpu`` or ``cuda``; ``auto`` takes the GPU when torch sees one."""
    if device not in DEVICES:
        raise UnderspecError(f"device: expected one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UnderspecError("device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is False); "
                             "expected device cpu or auto")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def current_device() -> str:
    """The device every fit and prediction uses unless told otherwise (see :func:`use_device`)."""
    return resolve_device(_DEVICE.get())


@contextmanager
def use_device(device: str) -> Iterator[str]:
    """Train and predict on ``device`` inside the block (like scikit-learn's ``config_context``):
    the CLI's ``--device`` wraps a whole command in it. Yields the resolved device."""
    resolved = resolve_device(device)
    token = _DEVICE.set(resolved)
    try:
        yield resolved
    finally:
        _DEVICE.reset(token)


def bfloat16_supported() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX); elsewhere bfloat16
    is emulated and slower than float32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(precision: str, arch: str) -> str:
    """``float32`` or ``bfloat16``; ``auto`` takes bfloat16 where it pays: on a GPU that computes
    in bfloat16 (mixed precision), and on a CPU the convolutional networks ``HEAVY_ARCHS``
    (``arch`` resolved, see :func:`underspec.models.networks.resolve_arch`) when it has native
    bfloat16. The small CNN and the MLPs gain nothing from it on a CPU (5.0 against 5.5 ms a
    step) and stay in float32."""
    if precision not in PRECISIONS:
        raise UnderspecError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if current_device() == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if arch in HEAVY_ARCHS and bfloat16_supported() else "float32"


def _compute(precision: str, device: str = "cpu"):
    """The autocast context of ``precision`` on ``device``: bfloat16 matrix products and
    convolutions with float32 weights, losses and optimiser (mixed precision), or plain float32."""
    if precision not in PRECISIONS[1:]:
        raise UnderspecError(f"precision: expected float32 or bfloat16, got {precision!r}")
    return torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bfloat16")


def model_device(model: torch.nn.Module) -> str:
    """The device a model's weights are on (``cpu`` for a model without any)."""
    return next(iter(model.parameters()), torch.empty(0)).device.type


IMAGE_MEMORY_FORMAT = torch.channels_last
"""How image batches and convolution weights lie in memory while training and predicting."""


def _layout(x: torch.Tensor) -> torch.Tensor:
    """Images in channels-last memory order (oneDNN's fast path); anything else unchanged.

    One float32 training step on 2 CPU cores, batch 64 (``bench/results/step-timing-channels-last.md``):
    7.3 ms against 8.8 ms for the small CNN on 28x56 MNIST pairs, 2.7 against 3.2 ms on 8x16
    digits pairs, 24.8 against 35.2 ms for the VGG on 32x32 photographs, 699 against 732 ms for the
    ResNet-18; under bfloat16 a VGG step took 42 ms against 56 ms. The sums run in another order,
    so the numbers differ from the NCHW order's in the last digits."""
    return x.contiguous(memory_format=IMAGE_MEMORY_FORMAT) if x.ndim == 4 else x


def weighted_ce(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """Weighted cross-entropy averaged over every head (plain ERM for one head)."""
    logits = model(batch.x)  # (B, H, C)
    B, H, C = logits.shape
    losses = F.cross_entropy(logits.reshape(B * H, C), batch.y.repeat_interleave(H),
                             reduction="none").view(B, H)
    return (losses.mean(1) * batch.w).sum() / batch.w.sum()


class _Cycler:
    """Endless shuffled mini-batches of row indices."""

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator):
        self.n, self.bs, self.rng = n, batch_size, rng
        self.order, self.pos = rng.permutation(n), 0

    def next(self) -> np.ndarray:
        if self.pos + self.bs > self.n:
            self.order, self.pos = self.rng.permutation(self.n), 0
        idx = self.order[self.pos:self.pos + min(self.bs, self.n)]
        self.pos += self.bs
        return idx


def items_tensor(X: np.ndarray) -> torch.Tensor:
    """Items as a host tensor: uint8 pixels stay uint8 (a quarter of float32's memory; see
    :func:`as_inputs`), anything else becomes float32."""
    X = np.asarray(X)
    return torch.as_tensor(X) if X.dtype == np.uint8 else torch.as_tensor(X, dtype=torch.float32)


def as_inputs(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A batch as the network's float32 inputs: uint8 pixels scaled to [0, 1] (the range of
    float images everywhere in underspec), other values as they are."""
    x = torch.as_tensor(x)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.to(torch.float32)


class _Tensors:
    """The training arrays as tensors in host memory, cut into mini-batches on the device."""

    def __init__(self, X, y, sample_weight, pool, groups):
        self.x = items_tensor(X)
        self.y = torch.as_tensor(y, dtype=torch.long)
        self.w = torch.as_tensor(np.ones(len(y)) if sample_weight is None else sample_weight, dtype=torch.float32)
        self.pool = None if pool is None else items_tensor(pool)
        self.g = None if groups is None else torch.as_tensor(groups, dtype=torch.long)
        self.pool_size = 0 if pool is None else len(self.pool)

    def batch(self, idx: np.ndarray, pool_idx: np.ndarray | None, augment, generator: torch.Generator,
              device: str) -> Batch:
        """The labeled items ``idx`` (augmented on the host), and the pool items ``pool_idx``."""
        idx = torch.from_numpy(idx)  # one conversion for the four lookups below
        x = as_inputs(self.x[idx]) if augment is None else augment(as_inputs(self.x[idx]), generator)
        return Batch(_layout(x.to(device)), self.y[idx].to(device), self.w[idx].to(device),
                     None if pool_idx is None else _layout(as_inputs(self.pool[torch.from_numpy(pool_idx)]).to(device)),
                     None if self.g is None else self.g[idx].to(device))


def _placed(model: torch.nn.Module, device: str | None) -> str:
    """Move ``model`` to ``device`` (default: :func:`current_device`), channels-last (see
    :func:`_layout`), in train mode; the resolved device."""
    device = current_device() if device is None else resolve_device(device)
    model.to(device).to(memory_format=IMAGE_MEMORY_FORMAT)
    model.train()
    return device


def _stop(on_epoch: Callable[[int, torch.nn.Module], bool], epoch: int, model: torch.nn.Module) -> bool:
    """Call ``on_epoch`` with the model in eval mode, back in train mode after."""
    model.eval()
    stop = on_epoch(epoch, model)
    model.train()
    return bool(stop)


def fit(model: torch.nn.Module, objective: Objective, X: np.ndarray, y: np.ndarray, *,
        sample_weight: np.ndarray | None = None, pool: np.ndarray | None = None,
        groups: np.ndarray | None = None, epochs: float = 10, batch_size: int = 64,
        lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0, progress: bool | str = False,
        on_epoch: Callable[[int, torch.nn.Module], bool] | None = None,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        precision: str = "float32", device: str | None = None) -> list[float]:
    """Train ``model`` in place with Adam on ``objective``.

    Parameters
    ----------
    model : torch.nn.Module
    objective : callable
        ``objective(model, batch) -> scalar loss`` (see :func:`weighted_ce`).
    X, y : ndarray
        Labeled items and their class indices (0..C-1).
    sample_weight : ndarray, optional
        Per-item weights of the labeled items.
    pool : ndarray, optional
        Unlabeled items; each step then also draws a pool mini-batch of the same size.
    groups : ndarray of int, optional
        Group code of each labeled item, passed to the objective as ``batch.g`` (group DRO).
    epochs : float
        Passes over the larger of the labeled set and the pool.
    batch_size, lr, weight_decay : hyper-parameters of the optimiser.
    seed : int
        Seeds the mini-batch order and the augmentations.
    progress : bool or str
        Show a progress bar (a string is used as its label).
    on_epoch : callable, optional
        ``on_epoch(epoch, model) -> stop`` after each epoch (the model in eval mode); returning
        True ends training there (early stopping).
    augment : callable, optional
        ``augment(x, generator) -> x`` applied to each labeled mini-batch (see
        :mod:`underspec.models.augment`).
    precision : {"float32", "bfloat16"}
        ``bfloat16``: mixed precision (:func:`resolve_precision`). Images train in channels-last
        memory order either way (:func:`_layout`).
    device : {"auto", "cpu", "cuda"}, optional
        Where to train (default: :func:`current_device`); each mini-batch is moved there
        after its augmentation.

    Returns
    -------
    list of float
        The mean loss of each epoch.
    """
    rng = np.random.default_rng(seed)
    data = _Tensors(X, y, sample_weight, pool, groups)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, math.ceil(max(len(data.x), data.pool_size) / batch_size))
    total = max(1, int(round(epochs * steps_per_epoch)))
    labeled = _Cycler(len(data.x), batch_size, rng)
    unlabeled = None if pool is None else _Cycler(data.pool_size, batch_size, rng)
    # foreach: the multi-tensor update, the same numbers bit for bit, a fifth less time per step
    # on the vector networks (2.7 against 3.4 ms, exploratory); torch picks it only on GPUs.
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=total, pct_start=0.15)
    device = _placed(model, device)
    compute = _compute(precision, device)
    history, running = [], 0.0
    bar = tqdm(range(total), desc=progress if isinstance(progress, str) else "fit", disable=not progress,
               leave=False, unit="step")
    for step in bar:
        batch = data.batch(labeled.next(), None if unlabeled is None else unlabeled.next(), augment, generator,
                           device)
        with compute:
            loss = objective(model, batch)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        running += float(loss.detach())
        if (step + 1) % steps_per_epoch == 0 or step + 1 == total:
            history.append(running / ((step % steps_per_epoch) + 1))
            running = 0.0
            bar.set_postfix(loss=f"{history[-1]:.3f}")
            if on_epoch is not None and _stop(on_epoch, len(history) - 1, model):
                break
    model.eval()
    return history


@torch.no_grad()
def trunk_features(trunk: torch.nn.Module, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The features a trunk gives every item (the penultimate layer), in eval mode: (N, D)."""
    trunk.eval()
    device = model_device(trunk)
    return torch.cat([trunk(_layout(as_inputs(X[i:i + batch_size]).to(device))).float().cpu()
                      for i in range(0, len(X), batch_size)]).numpy()


@torch.no_grad()
def predict_proba(model: torch.nn.Module, X: np.ndarray, batch_size: int = 1024,
                  precision: str = "float32") -> np.ndarray:
    """Softmax probabilities of every head: array (N, n_heads, n_classes)."""
    model.eval()
    device = model_device(model)
    out = []
    with _compute(precision, device):
        for i in range(0, len(X), batch_size):
            x = _layout(as_inputs(X[i:i + batch_size]).to(device))
            out.append(torch.softmax(model(x).float(), -1).cpu())
    return torch.cat(out).numpy()
