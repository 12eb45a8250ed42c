"""What several command groups share: the choice lists (spelled out here so that ``underspec
--help`` imports neither torch nor numpy; tests check them against the library's), the
arguments of the commands that load data or train a network, and small parsers of values."""

from __future__ import annotations

import argparse

from underspec import arguments as types
from underspec.errors import UnderspecError

AUGMENTS = ("auto", "none", "shift", "shift_flip", "strong", "dropout")
"""``--augment`` choices: :data:`underspec.models.augment.AUGMENTS`, spelled out here so that
``underspec --help`` does not import torch."""
SEMI = ("none", "fixmatch")
"""``--semi`` choices: :data:`underspec.pipelines.train.SEMI_SUPERVISED`, spelled out for the same reason."""
ARCHS = ("auto", "cnn", "vgg", "resnet18", "linear")
"""``--arch`` choices: :data:`underspec.models.networks.ARCHS`."""
SHORTCUTS = ("beside", "frame", "brightness", "patch", "tint")
"""``generate --shortcut`` choices: :data:`underspec.data.generators.SHORTCUTS`."""
SIDES = ("left", "right", "random")
"""``generate --side`` choices: :data:`underspec.data.generators.SIDES`."""
PRECISIONS = ("auto", "float32", "bfloat16")
"""``--precision`` choices: :data:`underspec.models.fit.PRECISIONS`."""
DEVICES = ("auto", "cpu", "cuda")
"""``--device`` choices: :data:`underspec.models.fit.DEVICES`."""
REPRESENTATIONS = ("auto", "none", "patches", "patches-fast", "face-descriptor", "imagenet")
"""``solve``/``audit --representation`` choices: :data:`underspec.models.representation.REPRESENTATIONS`
(spelled out: that module imports numpy, which the CLI's start-up does not need)."""


def device_argument(cmd: argparse.ArgumentParser) -> None:
    """``--device`` of the commands that train with torch (the whole command runs there)."""
    cmd.add_argument("--device", choices=DEVICES, default="auto",
                     help="where torch trains and predicts: auto (the GPU when torch sees one), cpu, cuda")


def network_arguments(cmd: argparse.ArgumentParser) -> None:
    """``--arch`` and ``--precision`` of the commands that train a network."""
    cmd.add_argument("--arch", choices=ARCHS, default="auto",
                     help="network: auto (small CNN for grey images, VGG-style for colour ones, "
                          "ResNet-18 from 64 pixels), cnn, vgg, resnet18")
    cmd.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="bfloat16: mixed precision, about twice as fast for vgg / resnet18 on CPUs "
                          "with native bfloat16 and on GPUs (auto: used there)")
    device_argument(cmd)


def ray_argument(cmd: argparse.ArgumentParser) -> None:
    """``--ray ADDRESS``: run the command's independent pieces as Ray tasks (:mod:`underspec.engine`)."""
    cmd.add_argument("--ray", metavar="ADDRESS",
                     help="run the independent pieces (folds, shards) on the Ray cluster at this address "
                          "(host:port of its head; default $RAY_ADDRESS, else here)")


def semi_arguments(cmd: argparse.ArgumentParser) -> None:
    """``--semi`` and ``--pseudo-threshold``: training on the unlabeled items too."""
    cmd.add_argument("--semi", choices=SEMI, default="none",
                     help="fixmatch: also train on the unlabeled items (FixMatch consistency; an epoch is then "
                          "a pass over the larger of the labeled and the unlabeled items)")
    cmd.add_argument("--pseudo-threshold", type=types.SHARE, default=0.8,
                     help="fixmatch: least confidence of the network's label for an unlabeled item to count")


def data_arguments(cmd: argparse.ArgumentParser) -> None:
    """The data argument of the commands that read a practitioner's image set."""
    cmd.add_argument("data", help="an .npz, a folder with labels.csv / label_train.txt, or class folders")
    cmd.add_argument("--label", help="label column")
    image_file_arguments(cmd)
    cmd.add_argument("--seed", type=types.SEED, default=0)


def image_file_arguments(cmd: argparse.ArgumentParser) -> None:
    """How image files are read: ``--skip-bad``, ``--no-resize``, ``--image-size``."""
    cmd.add_argument("--skip-bad", action="store_true", help="leave unreadable images out (listed)")
    cmd.add_argument("--no-resize", action="store_true",
                     help="refuse images of another size instead of resizing them")
    cmd.add_argument("--image-size", type=types.Number(int, low=8, high=4096),
                     help="scale larger images down to this longest side on load (decoded images are cached)")


def image_file_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`~underspec.data.image_sets.load_image_set` that
    :func:`image_file_arguments` set (with a progress bar while decoding)."""
    return {"skip_bad": getattr(args, "skip_bad", False), "resize": not getattr(args, "no_resize", False),
            "image_size": getattr(args, "image_size", None), "progress": True}


def ints(text: str, count: int | None = None, what: str = "value") -> tuple[int, ...]:
    """``"1,2,3"`` as integers (``count`` of them when given); ``what`` names the flag in errors."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise UnderspecError(f"{what}: expected comma-separated integers, got {text!r}") from exc
    if count is not None and len(values) != count:
        raise UnderspecError(f"{what}: expected {count} comma-separated integers, got {text!r}")
    return values


def names(text: str | None) -> list[str]:
    """``"a, b"`` as ``["a", "b"]`` (none for an empty or missing text)."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def load_data(args: argparse.Namespace, groups: list[str] = ()):
    """The image set the command's data arguments name, with the ``groups`` columns."""
    from underspec.data.image_sets import load_image_set

    return load_image_set(args.data, label=getattr(args, "label", None), groups=groups,
                          weights=getattr(args, "weights", None), **image_file_options(args))
