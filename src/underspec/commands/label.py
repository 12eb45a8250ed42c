"""``label select``, ``aggregate``, ``export``, ``propagate`` and ``run``: spending a labeling budget."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from underspec import arguments as types
from underspec.commands.options import (
    AUGMENTS,
    REPRESENTATIONS,
    data_arguments,
    image_file_options,
    load_data,
    network_arguments,
    ray_argument,
    semi_arguments,
)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to ``sub``."""
    lab = sub.add_parser("label", help="spend a labeling budget: select, export, aggregate, propagate")
    lab_sub = lab.add_subparsers(dest="label_action", required=True)
    select_parser(lab_sub)
    aggregate_parser(lab_sub)
    export_parser(lab_sub)
    propagate_parser(lab_sub)
    run_parser(lab_sub)


def embedding_argument(cmd: argparse.ArgumentParser) -> None:
    """``--embedding``: what the selection measures distances in."""
    cmd.add_argument("--embedding", default="auto",
                     choices=("auto", *REPRESENTATIONS[2:], "supervised", "semi-supervised", "self-supervised",
                              "pixels"),
                     help="k-means features of image patches (no labels, no network; patches-fast: every "
                          "second patch, four times cheaper), a network trained on the "
                          "labeled items, on them and the unlabeled ones (FixMatch), SimCLR-style on all items, "
                          "or pixel PCA; imagenet: EfficientNet-Lite0's pretrained features (the imagenet extra), "
                          "face-descriptor: dlib's face embedding (the faces extra); auto (the default): patches for "
                          "images, semi-supervised for vectors")


def rank_argument(cmd: argparse.ArgumentParser) -> None:
    """``--rank``: which items to send first."""
    cmd.add_argument("--rank", choices=("linear", "knn"), default="linear",
                     help="which items to send first: where the propagator (logistic regression) is least "
                          "sure (default), or where the k-NN ensemble is least sure, weighted by density")


def propagator_arguments(cmd: argparse.ArgumentParser) -> None:
    """``--propagator`` and ``--min-propagated``: what labels the rest."""
    cmd.add_argument("--propagator", choices=("linear", "knn"), default="linear",
                     help="model that labels the rest: logistic regression on the embedding (default) or the "
                          "k-NN ensemble of the selection")
    cmd.add_argument("--min-propagated", type=types.SHARE, default=None,
                     help="probability to give a propagated label; below it the item stays unlabeled "
                          "(default: 0 for linear, 0.9 for knn)")


def method_argument(cmd: argparse.ArgumentParser) -> None:
    """``--method``: how the crowd's answers are aggregated."""
    cmd.add_argument("--method", choices=("majority", "gold-majority", "dawid-skene"), default="dawid-skene")


def pool_arguments(cmd: argparse.ArgumentParser) -> None:
    """The task pools' sizes: overlap, page size, training and exam items."""
    cmd.add_argument("--overlap", type=types.COUNT, default=3, help="workers per production page")
    cmd.add_argument("--page-size", type=types.Number(int, low=2), default=50,
                     help="tasks per page, the honeypot included")
    cmd.add_argument("--training", type=types.NATURAL, default=20, help="known items in the training pool")
    cmd.add_argument("--exam", type=types.NATURAL, default=20, help="known items in the exam pool")


def final_arguments(cmd: argparse.ArgumentParser) -> None:
    """The final model trained on the merged labels."""
    cmd.add_argument("--train", action=argparse.BooleanOptionalAction, default=True,
                     help="train the final model on the merged labels (default: yes)")
    cmd.add_argument("--epochs", type=types.POSITIVE, default=30, help="most epochs of the final model")
    cmd.add_argument("--augment", choices=AUGMENTS, default="auto",
                     help="augmentation of the final model: auto (by item shape: shifts and mirrors for photos), "
                          "strong (photos: also colour jitter and a cutout)")
    network_arguments(cmd)
    semi_arguments(cmd)


def select_parser(lab_sub: argparse._SubParsersAction) -> None:
    """``label select``."""
    sel = lab_sub.add_parser("select", help="label automatically what is sure, pick what to send to a crowd")
    data_arguments(sel)
    sel.add_argument("--budget", type=types.NATURAL, required=True, help="items that may be sent for labeling")
    sel.add_argument("--out", required=True, type=types.output_folder,
                     help="folder: selection.csv, selection.json, report.html")
    embedding_argument(sel)
    sel.add_argument("--cache", help="folder to cache embeddings in")
    sel.add_argument("--agreement", type=types.SHARE, default=0.9, help="share of k-NN models that must agree")
    sel.add_argument("--confidence", type=types.SHARE, default=0.8, help="their mean probability of the label")
    sel.add_argument("--clusters", type=types.COUNT,
                     help="k-means clusters (default: one per labeled item, at most 1,000)")
    rank_argument(sel)
    ray_argument(sel)
    sel.set_defaults(func=run_label_select)


def aggregate_parser(lab_sub: argparse._SubParsersAction) -> None:
    """``label aggregate``."""
    agg = lab_sub.add_parser("aggregate", help="quality control and aggregation of crowd answers")
    agg.add_argument("answers", help="CSV in long format: task,worker,label[,seconds]")
    agg.add_argument("--gold", help="CSV task,label of the known answers (honeypots, clamped)")
    agg.add_argument("--pool", help="folder of underspec label export: answers must be for its tasks; "
                                    "its classes and gold.csv are the defaults")
    agg.add_argument("--out", required=True, type=types.output_file, help="LABELS.csv: task,label,confidence")
    method_argument(agg)
    agg.add_argument("--classes", help="comma-separated classes (default: every label seen)")
    agg.add_argument("--min-accuracy", type=types.SHARE,
                     help="honeypot accuracy to keep a worker (0: no honeypot screen; default 0.6 for the majority "
                          "votes, 0 for dawid-skene, which weighs each worker by their estimated confusion)")
    agg.add_argument("--min-seconds", type=types.NON_NEGATIVE,
                     help="exclude workers whose median answer is faster (default: no speed screen)")
    agg.add_argument("--same-answer-screen", action=argparse.BooleanOptionalAction, default=None,
                     help="exclude a worker who gives one label to 95%% of 10+ tasks where the other workers give it "
                          "at least 40 points less often (default: on for the majority votes, off for dawid-skene)")
    agg.set_defaults(func=run_label_aggregate)


def export_parser(lab_sub: argparse._SubParsersAction) -> None:
    """``label export``."""
    exp = lab_sub.add_parser("export", help="task pools for a crowd: training, exam, production with honeypots")
    exp.add_argument("selection", help="folder written by underspec label select")
    exp.add_argument("--out", required=True, type=types.output_folder,
                     help="folder: pool.csv, gold.csv, toloka/*.tsv, tasks.html, images/")
    exp.add_argument("--data", help="the data (default: the one recorded in selection.json)")
    exp.add_argument("--label", help="label column")
    exp.add_argument("--url-prefix", default="", help="put before images/... in the Toloka TSV")
    exp.add_argument("--seed", type=types.SEED, default=0)
    pool_arguments(exp)
    exp.set_defaults(func=run_label_export)


def propagate_parser(lab_sub: argparse._SubParsersAction) -> None:
    """``label propagate``."""
    prp = lab_sub.add_parser("propagate", help="merge known, crowd and automatic labels, label the rest, train")
    data_arguments(prp)
    prp.add_argument("--selection", required=True, help="folder written by underspec label select")
    prp.add_argument("--labels", required=True, help="LABELS.csv of underspec label aggregate")
    prp.add_argument("--out", required=True, type=types.output_folder, help="folder: labels.csv, propagate.json, run/")
    prp.add_argument("--min-confidence", type=types.SHARE, default=0.7, help="crowd labels below it are propagated")
    propagator_arguments(prp)
    final_arguments(prp)
    prp.set_defaults(func=run_label_propagate)


def run_parser(lab_sub: argparse._SubParsersAction) -> None:
    """``label run``."""
    run = lab_sub.add_parser("run", help="dry run of the whole loop on a fully labeled set, simulated crowd")
    data_arguments(run)
    run.add_argument("--known", type=types.COUNT, required=True, help="labels kept known; the rest are hidden")
    run.add_argument("--budget", type=types.NATURAL, required=True, help="items sent to the simulated crowd")
    run.add_argument("--out", required=True, type=types.output_folder,
                     help="folder: select/, pool/, crowd/, final/, run.json")
    embedding_argument(run)
    rank_argument(run)
    run.add_argument("--cache", help="folder to cache embeddings in")
    run.add_argument("--workers", type=types.COUNT, default=30, help="simulated workers (0.95 accurate down to random)")
    method_argument(run)
    pool_arguments(run)
    propagator_arguments(run)
    final_arguments(run)
    run.set_defaults(func=run_label_run)


def run_label_aggregate(args: argparse.Namespace) -> int:
    from underspec.pipelines.labeling import aggregate_file

    report = aggregate_file(args.answers, args.out, gold_path=args.gold, method=args.method, classes=args.classes,
                            min_accuracy=args.min_accuracy, min_seconds=args.min_seconds, pool=args.pool,
                            same_answer_screen=args.same_answer_screen)
    print(f"{report['tasks']} task labels ({report['method']}): {args.out}")
    for row in report["excluded"]:
        print(f"excluded {row['worker']}: {row['reason']}")
    if report["tasks_without_kept_answers"]:
        print(f"{len(report['tasks_without_kept_answers'])} task(s) had answers from excluded workers only: "
              "labeled from those answers (listed in the .workers.json)")
    unscreened = report["screening"]["not_screened_on_gold"]
    if (args.gold or args.pool) and unscreened and report["screening"]["min_accuracy"] > 0:
        print(f"{len(unscreened)} worker(s) answered fewer than {report['screening']['min_gold']} honeypots: "
              f"not screened on accuracy ({', '.join(unscreened[:5])}{', ...' if len(unscreened) > 5 else ''})")
    return 0


def run_label_select(args: argparse.Namespace) -> int:
    from underspec.engine import ray_address
    from underspec.labeling.select import SelectOptions
    from underspec.pipelines.labeling import select_file

    options = SelectOptions(agreement=args.agreement, confidence=args.confidence, clusters=args.clusters,
                            rank=args.rank, seed=args.seed)
    data = {"path": str(Path(args.data).resolve()), "label": args.label,
            **{k: v for k, v in image_file_options(args).items() if k != "progress"}}
    summary = select_file(load_data(args), args.budget, args.out, embedding=args.embedding, options=options,
                          cache=args.cache, data=data, address=ray_address(args.ray))
    estimate = summary["auto_accuracy_estimate"]
    accuracy = "n/a" if estimate["accuracy"] is None else f"{estimate['accuracy']:.3f}"
    print(f"{summary['auto']} automatic labels (estimated accuracy {accuracy} on {estimate['auto_labeled']} "
          f"held-out known labels), {summary['send']} to send, {summary['problematic_over_budget']} problematic "
          f"over the budget: {Path(args.out) / 'selection.csv'}, report.html")
    return 0


def _export_options(args: argparse.Namespace):
    from underspec.labeling.export import ExportOptions

    return ExportOptions(overlap=args.overlap, page_size=args.page_size, training=args.training, exam=args.exam,
                         url_prefix=getattr(args, "url_prefix", ""), seed=args.seed)


def _final_training(args: argparse.Namespace):
    from underspec.pipelines.train import TrainOptions

    return TrainOptions(epochs=args.epochs, arch=args.arch, precision=args.precision, augment=args.augment,
                        seed=args.seed, semi_supervised=args.semi,
                        pseudo_threshold=args.pseudo_threshold) if args.train else None


def run_label_export(args: argparse.Namespace) -> int:
    from underspec.pipelines.label_loop import export_file

    image_set = load_data(args) if args.data else None
    report = export_file(args.selection, args.out, _export_options(args), image_set=image_set)
    print(f"{report['tasks_to_label']} tasks on {report['pages']} pages (overlap {report['overlap']}, "
          f"{report['honeypots']} honeypots), {report['training']} training and {report['exam']} exam tasks: "
          f"{Path(args.out) / 'pool.csv'}, gold.csv, toloka/*.tsv, tasks.html")
    return 0


def run_label_propagate(args: argparse.Namespace) -> int:
    from underspec.pipelines.label_loop import propagate_file

    report = propagate_file(load_data(args), args.selection, args.labels, args.out, min_confidence=args.min_confidence,
                            min_propagated=args.min_propagated, propagator=args.propagator,
                            train_options=_final_training(args))
    counts = ", ".join(f"{n} {source}" for source, n in report["by_source"].items())
    print(f"{counts} labels: {Path(args.out) / 'labels.csv'}")
    if "run" in report:
        print(f"final model: {report['run']['checkpoint']} (validation balanced accuracy "
              f"{report['run']['validation_balanced_accuracy']:.4f})")
    return 0


def run_label_run(args: argparse.Namespace) -> int:
    from underspec.labeling.select import SelectOptions
    from underspec.pipelines.label_loop import dry_run

    report = dry_run(load_data(args), args.out, known=args.known, budget=args.budget, embedding=args.embedding,
                     select_options=SelectOptions(rank=args.rank, seed=args.seed),
                     export_options=_export_options(args),
                     workers=args.workers, method=args.method, propagator=args.propagator,
                     min_propagated=args.min_propagated, train_options=_final_training(args),
                     cache=args.cache, seed=args.seed)
    print(json.dumps(report, indent=1))
    return 0
