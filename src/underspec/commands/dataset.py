"""``audit``, ``train``, ``predict``, ``evaluate`` and ``postprocess``: a practitioner's labeled image set."""

from __future__ import annotations

import argparse
from pathlib import Path

from underspec import arguments as types
from underspec.commands.options import (
    AUGMENTS,
    REPRESENTATIONS,
    data_arguments,
    image_file_arguments,
    image_file_options,
    load_data,
    names,
    network_arguments,
    ray_argument,
    semi_arguments,
)
from underspec.errors import UnderspecError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to ``sub``."""
    audit_parser(sub)
    train_parser(sub)
    predict_parser(sub)
    evaluate_parser(sub)
    postprocess_parser(sub)


def audit_parser(sub: argparse._SubParsersAction) -> None:
    """``audit``."""
    aud = sub.add_parser("audit", help="audit a labeled image set: balance, group bias, label "
                                       "issues, duplicates, outliers, shortcuts, relevance")
    aud.add_argument("data", help="an .npz (x, y, metadata arrays), a folder with labels.csv or "
                                  "label_train.txt, or a class-per-folder tree")
    aud.add_argument("--out", required=True, type=types.output_folder,
                     help="output folder (report.html, findings.json)")
    aud.add_argument("--label", help="label column (default y for .npz, label for labels.csv)")
    aud.add_argument("--groups", help="comma-separated sensitive group columns")
    aud.add_argument("--weights", help="per-item weight column")
    aud.add_argument("--control", help="control column for the Simpson's paradox check")
    aud.add_argument("--checks", help="comma-separated subset of the checks")
    aud.add_argument("--model", choices=("auto", "network", "logistic"), default="auto",
                     help="source of the out-of-sample probabilities: the network, or a logistic regression (on "
                          "the pixels, --features or --representation); auto: the network under 64 pixels, "
                          "from 64 pixels a logistic head on patches (patches-fast past 20,000 images)")
    aud.add_argument("--features", help=".npy of features, one row per item, for --model logistic")
    aud.add_argument("--representation", choices=REPRESENTATIONS, default="none",
                     help="for the logistic model: a representation of the images, cached (patches: learnt on "
                          "every item without labels; auto: patches-fast for photographs; imagenet: "
                          "EfficientNet-Lite0's pretrained features, the imagenet extra)")
    aud.add_argument("--folds", type=types.Number(int, low=2), default=5)
    aud.add_argument("--rounds", type=types.Number(int, low=1), default=None,
                     help="rounds of the label-issue check, each fitted again on the items the last one did "
                          "not flag (default: 3 for the logistic model, 1 for the network)")
    aud.add_argument("--epochs", type=types.POSITIVE, default=None,
                     help="training passes of each network (default: 35 for the small CNN of grey images, "
                          "15 for the larger networks)")
    aud.add_argument("--min-group", type=types.COUNT, default=10, help="smallest group tested")
    aud.add_argument("--augment", choices=AUGMENTS, default="auto",
                     help="augmentation of the network's training items")
    network_arguments(aud)
    image_file_arguments(aud)
    ray_argument(aud)
    aud.add_argument("--seed", type=types.SEED, default=0)
    aud.set_defaults(func=run_audit)


def train_parser(sub: argparse._SubParsersAction) -> None:
    """``train``."""
    trn = sub.add_parser("train", help="train a network on a labeled image set, with mitigations")
    data_arguments(trn)
    trn.add_argument("--out", required=True, type=types.output_folder, help="run folder (model.pt, run.json)")
    trn.add_argument("--weights", help="weight column (multiplied into the sample weights)")
    network_arguments(trn)
    trn.add_argument("--epochs", type=types.POSITIVE, default=30)
    trn.add_argument("--patience", type=types.COUNT, default=5, help="epochs without progress before stopping")
    trn.add_argument("--batch-size", type=types.COUNT, default=64)
    trn.add_argument("--lr", type=types.POSITIVE, default=2e-3)
    trn.add_argument("--init", help="local weights file to start from")
    trn.add_argument("--class-weights", action="store_true", help="every class weighs the same")
    trn.add_argument("--group-weights", help="columns: every group weighs the same")
    trn.add_argument("--reweigh", help="columns: Kamiran-Calders reweighing over label x groups")
    trn.add_argument("--drop-issues", metavar="FINDINGS", help="drop the label issues of an audit")
    trn.add_argument("--relabel-issues", metavar="FINDINGS", help="relabel them with the audit's prediction")
    trn.add_argument("--group-dro", help="columns: train with group DRO over these groups")
    trn.add_argument("--ood", metavar="FINDINGS", help="train the audit's outliers as an extra class")
    trn.add_argument("--augment", choices=AUGMENTS, default="none",
                     help="augmentation: shift (digits, X-rays), shift_flip (photos), strong (photos: also colour "
                          "jitter and a cutout), dropout (vectors), auto (by item shape)")
    trn.add_argument("--representation", choices=REPRESENTATIONS, default="none",
                     help="none: the network on the pixels; otherwise an MLP on that representation of every item "
                          "(patches: learnt from the items without labels; face-descriptor: dlib's pretrained face "
                          "embedding, the faces extra; imagenet: EfficientNet-Lite0's pretrained photo features, the "
                          "imagenet extra), "
                          "saved with the model for predict (auto: patches-fast for photographs)")
    semi_arguments(trn)
    trn.set_defaults(func=run_train)


def predict_parser(sub: argparse._SubParsersAction) -> None:
    """``predict``."""
    prd = sub.add_parser("predict", help="predict with a trained run: id, label, one probability per class")
    prd.add_argument("--run", required=True, help="run folder of underspec train")
    prd.add_argument("--out", required=True, type=types.output_file, help="predictions CSV")
    data_arguments(prd)
    ray_argument(prd)
    prd.set_defaults(func=run_predict)


def evaluate_parser(sub: argparse._SubParsersAction) -> None:
    """``evaluate``."""
    evl = sub.add_parser("evaluate", help="accuracy, HTER, per-group and intersectional fairness")
    evl.add_argument("predictions", help="predictions CSV (id,label,...)")
    data_arguments(evl)
    evl.add_argument("--groups", help="comma-separated group columns")
    evl.add_argument("--positive", help="positive class for TPR/FPR (default: the last class)")
    evl.add_argument("--min-group", type=types.COUNT, default=10)
    evl.add_argument("--bootstrap", type=types.NATURAL, default=200,
                     help="bootstrap resamples for the intervals (0: no intervals)")
    evl.add_argument("--out", required=True, type=types.output_folder,
                     help="folder for evaluation.json and evaluation.html")
    evl.set_defaults(func=run_evaluate)


def postprocess_parser(sub: argparse._SubParsersAction) -> None:
    """``postprocess``."""
    pst = sub.add_parser("postprocess", help="per-group thresholds under a fairness constraint")
    data_arguments(pst)
    pst.add_argument("--run", required=True, help="run folder of underspec train")
    pst.add_argument("--groups", help="comma-separated group columns")
    pst.add_argument("--constraint", default="equalized_odds",
                     help="equalized_odds, equal_opportunity, demographic_parity, false_positive_rate_parity")
    pst.add_argument("--positive", help="positive class (default: the second)")
    pst.add_argument("--tolerance", type=types.SHARE, default=0.0,
                     help="largest gap allowed between groups (default 0: the exact constraint)")
    pst.set_defaults(func=run_postprocess)


def run_audit(args: argparse.Namespace) -> int:
    from underspec.audit.registry import AuditOptions
    from underspec.data.image_sets import load_image_set
    from underspec.engine import ray_address
    from underspec.pipelines.audit import run_checks, write_audit

    groups = names(args.groups)
    image_set = load_image_set(args.data, label=args.label, groups=groups, weights=args.weights,
                               control=args.control, **image_file_options(args))
    options = AuditOptions(groups=groups, control=args.control, model=args.model, folds=args.folds,
                           epochs=args.epochs, min_group=args.min_group, augment=args.augment,
                           arch=args.arch, precision=args.precision, features=args.features,
                           representation=args.representation, seed=args.seed, progress=True,
                           ray=ray_address(args.ray), rounds=args.rounds)
    results = run_checks(image_set, options, names(args.checks) or None)
    report = write_audit(image_set, options, results, args.out)
    for r in results:
        print(f"{r.name:20s} {r.n_issues:6d} flagged")
    print(f"report: {report}\nfindings: {report.parent / 'findings.json'}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from underspec.pipelines.train import TrainOptions, train

    if args.drop_issues and args.relabel_issues:
        raise UnderspecError("--drop-issues and --relabel-issues: give one of them")
    options = TrainOptions(
        arch=args.arch, precision=args.precision, epochs=args.epochs, patience=args.patience,
        batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, init=args.init, class_weights=args.class_weights,
        group_weights=names(args.group_weights), reweigh=names(args.reweigh),
        issues=args.drop_issues or args.relabel_issues, issue_action="relabel" if args.relabel_issues else "drop",
        group_dro=names(args.group_dro), ood_findings=args.ood, augment=args.augment,
        representation=args.representation, semi_supervised=args.semi, pseudo_threshold=args.pseudo_threshold)
    columns = [*options.group_weights, *options.reweigh, *options.group_dro]
    checkpoint, score = train(load_data(args, columns), args.out, options)
    print(f"checkpoint: {checkpoint} (best validation balanced accuracy {score:.4f})")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from underspec.engine import ray_address
    from underspec.errors import write_text_atomic
    from underspec.pipelines.train import predict

    frame = predict(load_data(args), args.run, address=ray_address(args.ray), progress=True)
    write_text_atomic(args.out, frame.to_csv(index=False))
    print(f"{len(frame)} predictions: {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from underspec.pipelines.evaluate import evaluate_file, format_table

    groups = names(args.groups)
    result = evaluate_file(args.predictions, load_data(args, groups), groups, out=args.out, positive=args.positive,
                           min_count=args.min_group, n_boot=args.bootstrap, seed=args.seed)
    print(format_table(result))
    print(f"report: {Path(args.out) / 'evaluation.html'}")
    return 0


def run_postprocess(args: argparse.Namespace) -> int:
    from underspec.pipelines.evaluate import postprocess

    groups = names(args.groups)
    if not groups:
        raise UnderspecError("--groups: give the group column(s) the thresholds depend on")
    document = postprocess(args.run, load_data(args, groups), groups, constraint=args.constraint,
                           positive=args.positive, seed=args.seed, tolerance=args.tolerance)
    pooled = (f" (the groups {', '.join(map(str, document['pooled']))} pooled: too few items)"
              if document["pooled"] else "")
    print(f"thresholds for {len(document['rules'])} group(s){pooled} under {document['constraint']}, "
          f"fitted on {document['fitted_on']} validation items: {Path(args.run) / 'thresholds.json'}")
    return 0
