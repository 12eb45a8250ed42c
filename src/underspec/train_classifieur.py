"""Seed 002's ``train_classifieur.py``, as the course hands it out: the same two functions under
both spellings the course uses, with the same arguments, and the same command line.

The data is a student's folder ``NOM_PRENOM/{train,valid}/{malade,sain}/*.png`` with a
``metadata.csv`` in NIH's Data_Entry format (``Image Index``, ``Finding Labels``, ``Patient
Age``, ``Patient Gender``, ``View Position``, ... and the student's ``WEIGHTS`` column). The
labels come from the class folders; the metadata is joined on the image file name.

In Python (``from underspec import train_classifieur, pred_classifieur`` works as well)::

    from underspec.train_classifieur import train_classifieur, pred_classifieur
    ckpt_path, ckpt_score = train_classifieur(logdir="./expe_log/", datadir="NOM_PRENOM/",
                                              weights_col="WEIGHTS", csv="NOM_PRENOM/metadata.csv")
    pred_classifieur(datadir="NOM_PRENOM/", csv_in="NOM_PRENOM/metadata.csv",
                     csv_out="./expe_log/preds.csv", ckpt_path=ckpt_path)

On the command line (``python -m underspec.train_classifieur`` or the ``train_classifieur``
command)::

    train_classifieur --logdir expe_log/ --datadir NOM_PRENOM/ --csv NOM_PRENOM/metadata.csv \\
        --weights_col WEIGHTS --csv_out expe_log/preds.csv
    train_classifieur ... --train False --ckpt expe_log/model.pt      # predictions only
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from underspec.data.image_sets import ImageSet, load_class_folders
from underspec.errors import UnderspecError, check_output_file, write_text_atomic


def _data(datadir: str | Path, csv: str | Path | None, weights_col: str | None = None) -> ImageSet:
    """The student's folder; ``csv`` is a path as given (the course passes
    ``NOM_PRENOM/metadata.csv``), else ``datadir/metadata.csv`` when there is one."""
    return load_class_folders(datadir, metadata=csv, weights=weights_col)


def train_classifieur(logdir: str | Path, datadir: str | Path, csv: str | Path | None = None,
                      weights_col: str | None = None, **options) -> tuple[Path, float]:
    """Train on ``datadir/train`` (validation: ``datadir/valid``), each image weighted by
    ``weights_col`` of the metadata if given; write the run into ``logdir`` and return
    ``(ckpt_path, ckpt_score)``: the checkpoint and its best validation balanced accuracy.
    ``options`` are :class:`~underspec.pipelines.train.TrainOptions` fields (``epochs``,
    ``arch`` ...)."""
    from underspec.pipelines.train import TrainOptions, train

    return train(_data(datadir, csv, weights_col), logdir, TrainOptions(**{"progress": True, **options}))


def pred_classifieur(datadir: str | Path, csv_in: str | Path | None, csv_out: str | Path,
                     ckpt_path: str | Path) -> pd.DataFrame:
    """Predict every image of ``datadir`` with the checkpoint and write ``csv_out`` (``id``,
    ``split``, the true ``label`` from the folders, the ``prediction``, one probability per
    class, and the metadata columns); print the accuracy on each split, as the course's script
    does. Returns the table."""
    from underspec.pipelines.train import predict

    check_output_file(csv_out)
    image_set = _data(datadir, csv_in)
    frame = predict(image_set, ckpt_path)
    table = image_set.table
    names = [str(c) for c in image_set.classes]
    truth = [names[k] if k >= 0 else "" for k in table["label"]]
    out = frame.rename(columns={"label": "prediction"})
    out.insert(1, "split", table["split"].to_numpy())
    out.insert(2, "label", truth)
    meta = table.drop(columns=[c for c in ("id", "split", "label", "path") if c in table.columns])
    out = pd.concat([out, meta.reset_index(drop=True)], axis=1)
    for split, part in out.groupby("split", sort=False):
        print(f"{split}: accuracy {(part['prediction'].astype(str) == part['label']).mean():.4f} "
              f"on {len(part)} images")
    write_text_atomic(csv_out, out.to_csv(index=False))
    return out


# The spellings of the course's screenshot.
train_classifier = train_classifieur
pred_classifier = pred_classifieur


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "oui"):
        return True
    if value in ("false", "0", "no", "non"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The course script's flags (underscores, ``--train False``)."""
    from underspec.arguments import POSITIVE, Parser, output_file

    parser = Parser(prog="train_classifieur", description="Seed 002's classifier script: train, then predict.")
    parser.add_argument("--logdir", default="expe_log/", help="run folder (model.pt, run.json)")
    parser.add_argument("--datadir", required=True, help="NOM_PRENOM/ with train/ and valid/ class folders")
    parser.add_argument("--csv", help="metadata CSV (NIH Data_Entry format), a path as given")
    parser.add_argument("--weights_col", help="column of the metadata weighting each training image")
    parser.add_argument("--csv_out", type=output_file, help="predictions CSV (default LOGDIR/preds.csv)")
    parser.add_argument("--train", type=_boolean, default=True, help="False: predictions only (with --ckpt)")
    parser.add_argument("--ckpt", help="checkpoint to predict with (default: the one just trained)")
    parser.add_argument("--epochs", type=POSITIVE, default=30)
    return parser


def _run(args: argparse.Namespace) -> int:
    ckpt = args.ckpt
    if args.train:
        ckpt, score = train_classifieur(args.logdir, args.datadir, args.csv, args.weights_col, epochs=args.epochs)
        print(f"checkpoint: {ckpt} (best validation balanced accuracy {score:.4f})")
    elif not ckpt:
        raise UnderspecError("--train False: give the checkpoint to predict with, --ckpt PATH")
    pred_classifieur(args.datadir, args.csv, args.csv_out or Path(args.logdir) / "preds.csv", ckpt)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``train_classifieur`` on the command line; exit code 2 with one line on bad input."""
    from underspec.arguments import run_command

    return run_command(build_parser(), argv, _run)


if __name__ == "__main__":
    raise SystemExit(main())
