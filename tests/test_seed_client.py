"""Seed 002's client exactly as the course hands it out (issue 23): ``train_classifieur`` /
``pred_classifieur`` (and the screenshot's ``train_classifier`` / ``pred_classifier``) on a
student's folder ``NOM_PRENOM/{train,valid}/{malade,sain}/*.png`` with NIH's Data_Entry
``metadata.csv`` and a ``WEIGHTS`` column, in Python and on the command line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

pytest.importorskip("torch")  # the seed's script trains a network


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """Digits 0 ("sain") and 1 ("malade") as 16-pixel PNGs, 60 train and 20 valid per class."""
    root = tmp_path_factory.mktemp("course") / "NOM_PRENOM"
    d = load_digits()
    rows, count = [], {"train": 0, "valid": 0}
    for digit, name in ((0, "sain"), (1, "malade")):
        images = d.images[d.target == digit][:80]
        for k, image in enumerate(images):
            split = "train" if k < 60 else "valid"
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            file = f"{split[0]}{count[split]:05d}_000.png"
            count[split] += 1
            Image.fromarray((image * 16).clip(0, 255).astype(np.uint8)).resize((16, 16)).save(folder / file)
            rows.append({"Image Index": file, "Finding Labels": "Effusion" if digit else "No Finding",
                         "Follow-up #": 0, "Patient ID": 1000 + k, "Patient Age": 30 + k % 40,
                         "Patient Gender": "MF"[k % 2], "View Position": "PA", "WEIGHTS": 1.0 + (k % 3)})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def test_the_course_python_calls_work_as_written(student, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(student.parent)
    from underspec import pred_classifier, train_classifier
    from underspec.train_classifieur import pred_classifieur, train_classifieur

    assert train_classifier is train_classifieur and pred_classifier is pred_classifieur
    ckpt_path, ckpt_score = train_classifieur(  # the notebook cell, with a short training
        logdir="./expe_log/", datadir="NOM_PRENOM/", weights_col="WEIGHTS", csv="NOM_PRENOM/metadata.csv",
        epochs=3)
    assert ckpt_path.exists() and 0.5 <= ckpt_score <= 1.0
    pred_classifieur(datadir="NOM_PRENOM/", csv_in="NOM_PRENOM/metadata.csv",
                     csv_out="./expe_log/preds.csv", ckpt_path=ckpt_path)
    out = capsys.readouterr().out
    assert "train: accuracy" in out and "valid: accuracy" in out
    preds = pd.read_csv("expe_log/preds.csv")
    assert len(preds) == 160 and set(preds["split"]) == {"train", "valid"}
    assert {"Patient Age", "Patient Gender", "WEIGHTS", "p_malade", "p_sain"} <= set(preds.columns)
    assert (preds["prediction"] == preds["label"]).mean() > 0.9  # 0 against 1 is easy


def test_the_course_command_line_trains_then_predicts_only(student, tmp_path, monkeypatch, capsys):
    from underspec.train_classifieur import main

    monkeypatch.chdir(student.parent)
    assert main(["--logdir", "cli_log/", "--datadir", "NOM_PRENOM/", "--csv", "NOM_PRENOM/metadata.csv",
                 "--weights_col", "WEIGHTS", "--csv_out", "cli_log_preds.csv", "--epochs", "2"]) == 0
    assert (student.parent / "cli_log" / "model.pt").exists() and (student.parent / "cli_log_preds.csv").exists()
    assert main(["--datadir", "NOM_PRENOM/", "--csv", "NOM_PRENOM/metadata.csv", "--csv_out", "only.csv",
                 "--train", "False", "--ckpt", "cli_log/model.pt"]) == 0
    assert len(pd.read_csv(student.parent / "only.csv")) == 160
    capsys.readouterr()
    assert main(["--datadir", "NOM_PRENOM/", "--train", "False"]) == 2
    assert "--ckpt" in capsys.readouterr().err
    assert main(["--datadir", "NOM_PRENOM/", "--csv", "nope.csv", "--train", "False", "--ckpt", "x"]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err
    assert main(["--datadir", "NOM_PRENOM/", "--weights_col", "POIDS", "--csv", "NOM_PRENOM/metadata.csv",
                 "--logdir", "other/"]) == 2
    assert "POIDS" in capsys.readouterr().err and not (student.parent / "other").exists()
