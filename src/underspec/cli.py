"""Command-line interface: parse, call the API, print. No logic of its own.

Heavy modules are imported inside the command functions so that ``underspec --help`` is fast.
Every :class:`~underspec.errors.UnderspecError` becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from underspec import arguments as types
from underspec.errors import UnderspecError

AUGMENTS = ("auto", "none", "shift", "shift_flip", "dropout")
"""``--augment`` choices: :data:`underspec.models.augment.AUGMENTS`, spelled out here so that
``underspec --help`` does not import torch."""
SEMI = ("none", "fixmatch")
"""``--semi`` choices: :data:`underspec.pipelines.train.SEMI_SUPERVISED`, spelled out for the same reason."""
ARCHS = ("auto", "cnn", "vgg", "resnet18")
"""``--arch`` choices: :data:`underspec.models.networks.ARCHS`."""
SHORTCUTS = ("beside", "frame", "brightness", "patch", "tint")
"""``generate --shortcut`` choices: :data:`underspec.data.generators.SHORTCUTS`."""
SIDES = ("left", "right", "random")
"""``generate --side`` choices: :data:`underspec.data.generators.SIDES`."""
PRECISIONS = ("auto", "float32", "bfloat16")
"""``--precision`` choices: :data:`underspec.models.fit.PRECISIONS`."""
DEVICES = ("auto", "cpu", "cuda")
"""``--device`` choices: :data:`underspec.models.fit.DEVICES`."""
REPRESENTATIONS = ("auto", "none", "patches", "patches-fast", "face-descriptor")
"""``solve``/``audit --representation`` choices: :data:`underspec.models.representation.REPRESENTATIONS`
(spelled out: that module imports numpy, which the CLI's start-up does not need)."""


def device_argument(cmd: argparse.ArgumentParser) -> None:
    """``--device`` of the commands that train with torch (the whole command runs there)."""
    cmd.add_argument("--device", choices=DEVICES, default="auto",
                     help="where torch trains and predicts: auto (the GPU when torch sees one), cpu, cuda")


def _on_device(args: argparse.Namespace) -> int:
    """Run the command, inside :func:`underspec.models.fit.use_device` when it has ``--device``."""
    if getattr(args, "device", None) is None:
        return args.func(args)
    from underspec.models.fit import use_device

    with use_device(args.device):
        return args.func(args)


def network_arguments(cmd: argparse.ArgumentParser) -> None:
    """``--arch`` and ``--precision`` of the commands that train a network."""
    cmd.add_argument("--arch", choices=ARCHS, default="auto",
                     help="network: auto (small CNN for grey images, VGG-style for colour ones, "
                          "ResNet-18 from 64 pixels), cnn, vgg, resnet18")
    cmd.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="bfloat16: mixed precision, about twice as fast for vgg / resnet18 on CPUs "
                          "with native bfloat16 and on GPUs (auto: used there)")
    device_argument(cmd)


def _ints(text: str, count: int | None = None, what: str = "value") -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise UnderspecError(f"{what}: expected comma-separated integers, got {text!r}") from exc
    if count is not None and len(values) != count:
        raise UnderspecError(f"{what}: expected {count} comma-separated integers, got {text!r}")
    return values


def cmd_generate(args: argparse.Namespace) -> int:
    from underspec.data.generators import generate, generate_suite, resolve_task

    sizes = _ints(args.sizes, 3, "--sizes") if args.sizes else None
    if args.suite:
        if args.task:
            raise UnderspecError("give either TASK or --suite, not both")
        written, skipped = generate_suite(
            args.suite, source=args.source, data=args.data, seed=args.seed, out=args.out,
            cifar10=args.cifar10, faces=args.faces, sizes=sizes, oracle_items=args.oracle_items)
        for path in written:
            print(f"wrote {path}")
        for note in skipped:
            print(f"skipped {note}")
        return 0
    if not args.task:
        raise UnderspecError("give a TASK name (e.g. cc) or --suite hackathon")
    params = {}
    if args.side:
        params["side"] = args.side
    if args.shortcut:
        params["shortcut"] = args.shortcut
    if args.classes:
        params["classes"] = _ints(args.classes, what="--classes")
    needs = resolve_task(args.task).needs  # vehicle_animal reads --cifar10, humans --faces
    data = args.data or {"cifar10": args.cifar10, "faces": args.faces}.get(needs)
    task, _ = generate(args.task, source=args.source, data=data, seed=args.seed, out=args.out,
                       mix_rate=args.mix_rate, sizes=sizes, oracle_items=args.oracle_items,
                       **params)
    m = task.manifest
    print(f"wrote {args.out}: {m['name']} (id {m['id']}), classes {m['classes']}, "
          f"sizes {m['sizes']['labeled']}/{m['sizes']['unlabeled']}/{m['sizes']['target']}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from underspec.pipelines.solve import SolveSettings, solve

    oracle, client = args.oracle, None
    if args.oracle.startswith(("http://", "https://")):
        from underspec.client import HttpOracle, LeaderboardClient

        if args.exercise is None:
            raise UnderspecError("--oracle http://...: give the exercise id with --exercise ID")
        client = LeaderboardClient.from_environment(server=args.oracle, config=args.config)
        oracle = HttpOracle(client, args.exercise)
    elif args.submit:
        raise UnderspecError("--submit: needs the leaderboard as oracle (--oracle http://HOST:PORT)")
    result = solve(args.task_dir, oracle, budget=args.budget, out=args.out,
                   json_path=args.json, settings=SolveSettings(seed=args.seed, representation=args.representation),
                   progress=not args.quiet)
    s = result.summary
    print(s["message"])
    print(f"labels used {s['labels_used']}/{s['budget']}: "
          + ", ".join(f"#{q['index']}={q['answer']}" + (" (check)" if q["purpose"] == "check" else "")
                      for q in s["queries"]))
    print(f"estimated accuracy {s['estimated_accuracy']:.3f} (90% interval "
          f"{s['interval_90'][0]:.3f}-{s['interval_90'][1]:.3f}), default "
          f"{s['default_score']}: {s['decision'].upper()}")
    print(s["reason"])
    print(f"predictions: {args.out}")
    if client is not None and args.submit:
        if s["decision"] == "submit":
            reply = client.submit(args.exercise, args.out)
            print(f"submitted to exercise {args.exercise}: accuracy {reply.get('accuracy')}")
        else:
            print("not submitted: the decision is to abstain (the default score is likely higher)")
    if args.report:
        from underspec.data.challenge import read_task
        from underspec.report.solve_report import task_pictures, write_solve_report

        task = read_task(args.task_dir)
        row = {"task": str(args.task_dir), "labels": s["labels_used"],
               "estimated": s["estimated_accuracy"], "decision": s["decision"]}
        write_solve_report([{"name": str(args.task_dir), "row": row, "summary": s,
                             "pictures": task_pictures(task, result)}],
                           args.report, title=f"underspec solve {args.task_dir}")
        print(f"report: {args.report}")
    if args.json is None:
        print(json.dumps({k: s[k] for k in ("decision", "estimated_accuracy", "labels_used")}))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from underspec.pipelines.demo import run_demo

    tasks = tuple(args.tasks.split(",")) if args.tasks else None
    sizes = _ints(args.sizes, 3, "--sizes") if args.sizes else None
    run_demo(args.out, source=args.source, data=args.data, seed=args.seed, tasks=tasks,
             sizes=sizes, progress=True)
    return 0


def _names(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def cmd_audit(args: argparse.Namespace) -> int:
    from underspec.audit.registry import AuditOptions
    from underspec.data.image_sets import load_image_set
    from underspec.pipelines.audit import run_checks, write_audit

    groups = _names(args.groups)
    image_set = load_image_set(args.data, label=args.label, groups=groups, weights=args.weights,
                               control=args.control, skip_bad=args.skip_bad, resize=not args.no_resize)
    options = AuditOptions(groups=groups, control=args.control, model=args.model, folds=args.folds,
                           epochs=args.epochs, min_group=args.min_group, augment=args.augment,
                           arch=args.arch, precision=args.precision, features=args.features,
                           representation=args.representation, seed=args.seed, progress=True)
    results = run_checks(image_set, options, _names(args.checks) or None)
    report = write_audit(image_set, options, results, args.out)
    for r in results:
        print(f"{r.name:20s} {r.n_issues:6d} flagged")
    print(f"report: {report}\nfindings: {report.parent / 'findings.json'}")
    return 0


def _load(args: argparse.Namespace, groups: list[str] = ()):
    from underspec.data.image_sets import load_image_set

    return load_image_set(args.data, label=getattr(args, "label", None), groups=groups,
                          weights=getattr(args, "weights", None), skip_bad=getattr(args, "skip_bad", False),
                          resize=not getattr(args, "no_resize", False))


def cmd_train(args: argparse.Namespace) -> int:
    from underspec.pipelines.train import TrainOptions, train

    if args.drop_issues and args.relabel_issues:
        raise UnderspecError("--drop-issues and --relabel-issues: give one of them")
    options = TrainOptions(
        arch=args.arch, precision=args.precision, epochs=args.epochs, patience=args.patience,
        batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, init=args.init, class_weights=args.class_weights,
        group_weights=_names(args.group_weights), reweigh=_names(args.reweigh),
        issues=args.drop_issues or args.relabel_issues, issue_action="relabel" if args.relabel_issues else "drop",
        group_dro=_names(args.group_dro), ood_findings=args.ood, augment=args.augment,
        semi_supervised=args.semi, pseudo_threshold=args.pseudo_threshold)
    columns = [*options.group_weights, *options.reweigh, *options.group_dro]
    checkpoint, score = train(_load(args, columns), args.out, options)
    print(f"checkpoint: {checkpoint} (best validation balanced accuracy {score:.4f})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from underspec.errors import write_text_atomic
    from underspec.pipelines.train import predict

    frame = predict(_load(args), args.run)
    write_text_atomic(args.out, frame.to_csv(index=False))
    print(f"{len(frame)} predictions: {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from underspec.pipelines.evaluate import evaluate_file, format_table

    groups = _names(args.groups)
    result = evaluate_file(args.predictions, _load(args, groups), groups, out=args.out, positive=args.positive,
                           min_count=args.min_group, n_boot=args.bootstrap, seed=args.seed)
    print(format_table(result))
    print(f"report: {Path(args.out) / 'evaluation.html'}")
    return 0


def cmd_postprocess(args: argparse.Namespace) -> int:
    from underspec.pipelines.evaluate import postprocess

    groups = _names(args.groups)
    if not groups:
        raise UnderspecError("--groups: give the group column(s) the thresholds depend on")
    document = postprocess(args.run, _load(args, groups), groups, constraint=args.constraint,
                           positive=args.positive, seed=args.seed, tolerance=args.tolerance)
    pooled = (f" (the groups {', '.join(map(str, document['pooled']))} pooled: too few items)"
              if document["pooled"] else "")
    print(f"thresholds for {len(document['rules'])} group(s){pooled} under {document['constraint']}, "
          f"fitted on {document['fitted_on']} validation items: {Path(args.run) / 'thresholds.json'}")
    return 0


def cmd_label_aggregate(args: argparse.Namespace) -> int:
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


def cmd_label_select(args: argparse.Namespace) -> int:
    from underspec.labeling.select import SelectOptions
    from underspec.pipelines.labeling import select_file

    options = SelectOptions(agreement=args.agreement, confidence=args.confidence, clusters=args.clusters,
                            rank=args.rank, seed=args.seed)
    data = {"path": str(Path(args.data).resolve()), "label": args.label, "skip_bad": args.skip_bad,
            "resize": not args.no_resize}
    summary = select_file(_load(args), args.budget, args.out, embedding=args.embedding, options=options,
                          cache=args.cache, data=data)
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

    return TrainOptions(epochs=args.epochs, arch=args.arch, precision=args.precision, augment="auto", seed=args.seed,
                        semi_supervised=args.semi, pseudo_threshold=args.pseudo_threshold) if args.train else None


def cmd_label_export(args: argparse.Namespace) -> int:
    from underspec.pipelines.label_loop import export_file

    image_set = _load(args) if args.data else None
    report = export_file(args.selection, args.out, _export_options(args), image_set=image_set)
    print(f"{report['tasks_to_label']} tasks on {report['pages']} pages (overlap {report['overlap']}, "
          f"{report['honeypots']} honeypots), {report['training']} training and {report['exam']} exam tasks: "
          f"{Path(args.out) / 'pool.csv'}, gold.csv, toloka/*.tsv, tasks.html")
    return 0


def cmd_label_propagate(args: argparse.Namespace) -> int:
    from underspec.pipelines.label_loop import propagate_file

    report = propagate_file(_load(args), args.selection, args.labels, args.out, min_confidence=args.min_confidence,
                            min_propagated=args.min_propagated, propagator=args.propagator,
                            train_options=_final_training(args))
    counts = ", ".join(f"{n} {source}" for source, n in report["by_source"].items())
    print(f"{counts} labels: {Path(args.out) / 'labels.csv'}")
    if "run" in report:
        print(f"final model: {report['run']['checkpoint']} (validation balanced accuracy "
              f"{report['run']['validation_balanced_accuracy']:.4f})")
    return 0


def cmd_label_run(args: argparse.Namespace) -> int:
    from underspec.labeling.select import SelectOptions
    from underspec.pipelines.label_loop import dry_run

    report = dry_run(_load(args), args.out, known=args.known, budget=args.budget, embedding=args.embedding,
                     select_options=SelectOptions(rank=args.rank, seed=args.seed),
                     export_options=_export_options(args),
                     workers=args.workers, method=args.method, propagator=args.propagator,
                     min_propagated=args.min_propagated, train_options=_final_training(args),
                     cache=args.cache, seed=args.seed)
    print(json.dumps(report, indent=1))
    return 0


def cmd_reveal(args: argparse.Namespace) -> int:
    from underspec.client import LeaderboardClient

    client = LeaderboardClient.from_environment(server=args.server, config=args.config)
    print(json.dumps(client.reveal(args.exercise, args.datum)))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from underspec.client import LeaderboardClient

    client = LeaderboardClient.from_environment(server=args.server, config=args.config)
    print(json.dumps(client.submit(args.exercise, args.file)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from underspec.server.app import create_app

    app = create_app(args.db, threads=args.threads)
    print(f"leaderboard on http://{args.host}:{args.port}/ (database {args.db or 'default'})", flush=True)
    # On SIGTERM or Ctrl-C, requests in flight get --shutdown-timeout seconds to finish.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=args.shutdown_timeout)
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    from underspec.server import service
    from underspec.server.db import open_database

    factory = open_database(args.db)
    try:
        with factory() as session:
            action = args.action
            if action == "init":
                service.init_challenge(session, args.name)
                print(f"challenge {args.name!r} ready")
            elif action == "add-exercise":
                ex = service.add_exercise(session, args.task_dir, exercise_id=args.id, name=args.name,
                                          points=args.points, default_score=args.default_score,
                                          budget=args.budget, public_share=args.public_share,
                                          split_seed=args.split_seed)
                print(f"exercise {ex.id} ({ex.name}): {ex.n_items} target rows, classes "
                      f"{ex.classes}, {ex.points:g} points, default {ex.default_score}, "
                      f"budget {ex.budget}")
            elif action == "add-team":
                if not args.password_stdin:
                    raise UnderspecError("add-team: give the password on standard input with "
                                         "--password-stdin (never on the command line)")
                password = sys.stdin.readline().rstrip("\r\n")
                team = service.add_team(session, args.name, password, approve=args.approve)
                print(f"team {team.name!r} added{' and approved' if team.approved else ''}")
            elif action == "reset-password":
                if not args.password_stdin:
                    raise UnderspecError("reset-password: give the new password on standard input with "
                                         "--password-stdin (never on the command line)")
                team = service.reset_password(session, args.name, sys.stdin.readline().rstrip("\r\n"))
                print(f"team {team.name!r}: new password set; its browsers are logged out")
            elif action in ("approve", "disable", "enable"):
                flags = {"approve": {"approved": True}, "disable": {"disabled": True},
                         "enable": {"disabled": False}}[action]
                team = service.set_team(session, args.name, **flags)
                print(f"team {team.name!r}: approved={team.approved} disabled={team.disabled}")
            elif action == "list-teams":
                for team in service.list_teams(session):
                    print(f"{team.name}\tapproved={team.approved}\tdisabled={team.disabled}")
            elif action in ("open", "close"):
                ex = service.set_open(session, args.id, action == "open")
                print(f"exercise {ex.id} is {'open' if ex.is_open else 'closed'}")
            elif action == "new-phase":
                document = service.new_phase(session, args.name)
                print(f"phase {document['phase']!r} archived ({len(document['reveals'])} reveals, "
                      f"{len(document['submissions'])} submissions); now phase {args.name!r}")
            elif action == "export":
                from underspec.server.export import export_results

                export_results(service.results(session, private=args.private),
                               service.exercise_list(session), args.out)
                print(f"wrote {args.out}")
    finally:
        factory.kw["bind"].dispose()  # closes the file (SQLite folds its write-ahead log back in)
    return 0


def semi_arguments(cmd: argparse.ArgumentParser) -> None:
    """``--semi`` and ``--pseudo-threshold``: training on the unlabeled items too."""
    cmd.add_argument("--semi", choices=SEMI, default="none",
                     help="fixmatch: also train on the unlabeled items (FixMatch consistency; an epoch is then "
                          "a pass over the larger of the labeled and the unlabeled items)")
    cmd.add_argument("--pseudo-threshold", type=types.SHARE, default=0.8,
                     help="fixmatch: least confidence of the network's label for an unlabeled item to count")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``underspec`` and its sub-commands."""
    parser = types.Parser(
        prog="underspec",
        description="Classification when the data does not say what was meant.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate an underspecified task or a suite")
    gen.add_argument("task", nargs="?", help="task name or id (toy, cc, sum, 456, ...)")
    gen.add_argument("--suite", help="generate a whole suite (hackathon)")
    gen.add_argument("--source", default="digits", help="digits (default), mnist, cifar10, faces")
    gen.add_argument("--data", help="local file or folder of the source")
    gen.add_argument("--cifar10", help="CIFAR-10 file/folder for vehicle_animal")
    gen.add_argument("--faces", help="face set .npz for humans")
    gen.add_argument("--seed", type=types.SEED, default=42)
    gen.add_argument("--out", required=True, help="task directory (or suite folder)")
    gen.add_argument("--mix-rate", type=types.SHARE, help="share of uncorrelated unlabeled items")
    gen.add_argument("--sizes", help="NL,NU,NV: labeled, unlabeled and target items")
    gen.add_argument("--side", choices=SIDES, help="side of the intended feature (random: per item)")
    gen.add_argument("--shortcut", choices=SHORTCUTS,
                     help="how the shortcut is drawn on cc / constant_image / uniform_color tasks: beside the "
                          "label's image (the task's own), or on it: a frame, the brightness, a patch, a colour tint")
    gen.add_argument("--classes", help="comma-separated raw class values")
    gen.add_argument("--oracle-items", type=types.NATURAL, default=0,
                     help="extra target-distribution items with labels in answers/ (benchmarks)")
    gen.set_defaults(func=cmd_generate)

    sol = sub.add_parser("solve", help="find the ambiguity, buy labels, predict, decide")
    sol.add_argument("task_dir", help="task directory (X_labeled.npy, y_labeled.npy, ...)")
    sol.add_argument("--budget", type=types.NATURAL, default=5, help="most labels to reveal (default 5)")
    sol.add_argument("--oracle", required=True,
                     help='answers:PATH.npy, command:"CMD" (row index appended), or prompt')
    sol.add_argument("--out", required=True, type=types.output_file,
                     help="predictions CSV (no header, one label per line)")
    sol.add_argument("--json", type=types.output_file, help="summary JSON")
    sol.add_argument("--report", type=types.output_file, help="HTML report with the disputed and queried items")
    sol.add_argument("--seed", type=types.SEED, default=0)
    sol.add_argument("--representation", choices=REPRESENTATIONS, default="auto",
                     help="what the heads learn on: auto (default) gives photographs patch k-means features "
                          "learnt on all items without labels (cached), or dlib's pretrained face-descriptor "
                          "where task.json allows pretrained weights and the faces extra is installed; none: "
                          "the items themselves")
    sol.add_argument("--quiet", action="store_true", help="no progress bars")
    device_argument(sol)
    sol.add_argument("--exercise", type=types.NATURAL, help="exercise id on the leaderboard (HTTP oracle)")
    sol.add_argument("--submit", action="store_true",
                     help="with an HTTP oracle: submit the predictions if the decision is submit")
    sol.add_argument("--config", help="credentials JSON (default ~/.config/underspec/credentials.json)")
    sol.set_defaults(func=cmd_solve)

    demo = sub.add_parser("demo", help="generate a suite, solve it with a simulated oracle, report")
    demo.add_argument("--out", default="underspec-demo", type=types.output_folder, help="output folder")
    demo.add_argument("--source", default="digits")
    demo.add_argument("--data", help="local file or folder of the source")
    demo.add_argument("--tasks", help="comma-separated subset of tasks")
    demo.add_argument("--sizes", help="NL,NU,NV for every task (quick runs)")
    demo.add_argument("--seed", type=types.SEED, default=0)
    demo.set_defaults(func=cmd_demo)

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
    aud.add_argument("--model", choices=("network", "logistic"), default="network",
                     help="source of the out-of-sample probabilities")
    aud.add_argument("--features", help=".npy of features, one row per item, for --model logistic")
    aud.add_argument("--representation", choices=REPRESENTATIONS, default="none",
                     help="for --model logistic: a label-free representation of the images, learnt on every "
                          "item and cached (auto: patches-fast for photographs)")
    aud.add_argument("--folds", type=types.Number(int, low=2), default=5)
    aud.add_argument("--epochs", type=types.POSITIVE, default=15)
    aud.add_argument("--min-group", type=types.COUNT, default=10, help="smallest group tested")
    aud.add_argument("--augment", choices=AUGMENTS, default="auto",
                     help="augmentation of the network's training items")
    network_arguments(aud)
    aud.add_argument("--skip-bad", action="store_true", help="leave unreadable images out (listed)")
    aud.add_argument("--no-resize", action="store_true",
                     help="refuse images of another size instead of resizing them")
    aud.add_argument("--seed", type=types.SEED, default=0)
    aud.set_defaults(func=cmd_audit)

    def data_arguments(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("data", help="an .npz, a folder with labels.csv / label_train.txt, or class folders")
        cmd.add_argument("--label", help="label column")
        cmd.add_argument("--skip-bad", action="store_true", help="leave unreadable images out")
        cmd.add_argument("--no-resize", action="store_true", help="refuse images of another size")
        cmd.add_argument("--seed", type=types.SEED, default=0)

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
                     help="augmentation: shift (digits, X-rays), shift_flip (photos), dropout "
                          "(vectors), auto (by item shape)")
    semi_arguments(trn)
    trn.set_defaults(func=cmd_train)

    prd = sub.add_parser("predict", help="predict with a trained run: id, label, one probability per class")
    data_arguments(prd)
    prd.add_argument("--run", required=True, help="run folder of underspec train")
    prd.add_argument("--out", required=True, type=types.output_file, help="predictions CSV")
    prd.set_defaults(func=cmd_predict)

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
    evl.set_defaults(func=cmd_evaluate)

    pst = sub.add_parser("postprocess", help="per-group thresholds under a fairness constraint")
    data_arguments(pst)
    pst.add_argument("--run", required=True, help="run folder of underspec train")
    pst.add_argument("--groups", help="comma-separated group columns")
    pst.add_argument("--constraint", default="equalized_odds",
                     help="equalized_odds, equal_opportunity, demographic_parity, false_positive_rate_parity")
    pst.add_argument("--positive", help="positive class (default: the second)")
    pst.add_argument("--tolerance", type=types.SHARE, default=0.0,
                     help="largest gap allowed between groups (default 0: the exact constraint)")
    pst.set_defaults(func=cmd_postprocess)

    lab = sub.add_parser("label", help="spend a labeling budget: select, export, aggregate, propagate")
    lab_sub = lab.add_subparsers(dest="label_action", required=True)
    sel = lab_sub.add_parser("select", help="label automatically what is sure, pick what to send to a crowd")
    data_arguments(sel)
    sel.add_argument("--budget", type=types.NATURAL, required=True, help="items that may be sent for labeling")
    sel.add_argument("--out", required=True, type=types.output_folder,
                     help="folder: selection.csv, selection.json, report.html")
    def embedding_argument(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--embedding", default="auto",
                         choices=("auto", *REPRESENTATIONS[2:], "supervised", "semi-supervised", "self-supervised",
                                  "pixels"),
                         help="k-means features of image patches (no labels, no network; patches-fast: every "
                              "second patch, four times cheaper), a network trained on the "
                              "labeled items, on them and the unlabeled ones (FixMatch), SimCLR-style on all items, "
                              "or pixel PCA; auto (the default): patches for images, semi-supervised for vectors")

    def rank_argument(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--rank", choices=("linear", "knn"), default="linear",
                         help="which items to send first: where the propagator (logistic regression) is least "
                              "sure (default), or where the k-NN ensemble is least sure, weighted by density")

    def propagator_arguments(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--propagator", choices=("linear", "knn"), default="linear",
                         help="model that labels the rest: logistic regression on the embedding (default) or the "
                              "k-NN ensemble of the selection")
        cmd.add_argument("--min-propagated", type=types.SHARE, default=None,
                         help="probability to give a propagated label; below it the item stays unlabeled "
                              "(default: 0 for linear, 0.9 for knn)")

    def method_argument(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--method", choices=("majority", "gold-majority", "dawid-skene"), default="dawid-skene")

    embedding_argument(sel)
    sel.add_argument("--cache", help="folder to cache embeddings in")
    sel.add_argument("--agreement", type=types.SHARE, default=0.9, help="share of k-NN models that must agree")
    sel.add_argument("--confidence", type=types.SHARE, default=0.8, help="their mean probability of the label")
    sel.add_argument("--clusters", type=types.COUNT, help="k-means clusters (default: one per labeled item)")
    rank_argument(sel)
    sel.set_defaults(func=cmd_label_select)
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
    agg.set_defaults(func=cmd_label_aggregate)

    def pool_arguments(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--overlap", type=types.COUNT, default=3, help="workers per production page")
        cmd.add_argument("--page-size", type=types.Number(int, low=2), default=50,
                         help="tasks per page, the honeypot included")
        cmd.add_argument("--training", type=types.NATURAL, default=20, help="known items in the training pool")
        cmd.add_argument("--exam", type=types.NATURAL, default=20, help="known items in the exam pool")

    def final_arguments(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--train", action=argparse.BooleanOptionalAction, default=True,
                         help="train the final model on the merged labels (default: yes)")
        cmd.add_argument("--epochs", type=types.POSITIVE, default=30, help="most epochs of the final model")
        network_arguments(cmd)
        semi_arguments(cmd)

    exp = lab_sub.add_parser("export", help="task pools for a crowd: training, exam, production with honeypots")
    exp.add_argument("selection", help="folder written by underspec label select")
    exp.add_argument("--out", required=True, type=types.output_folder,
                     help="folder: pool.csv, gold.csv, toloka/*.tsv, tasks.html, images/")
    exp.add_argument("--data", help="the data (default: the one recorded in selection.json)")
    exp.add_argument("--label", help="label column")
    exp.add_argument("--url-prefix", default="", help="put before images/... in the Toloka TSV")
    exp.add_argument("--seed", type=types.SEED, default=0)
    pool_arguments(exp)
    exp.set_defaults(func=cmd_label_export)
    prp = lab_sub.add_parser("propagate", help="merge known, crowd and automatic labels, label the rest, train")
    data_arguments(prp)
    prp.add_argument("--selection", required=True, help="folder written by underspec label select")
    prp.add_argument("--labels", required=True, help="LABELS.csv of underspec label aggregate")
    prp.add_argument("--out", required=True, type=types.output_folder, help="folder: labels.csv, propagate.json, run/")
    prp.add_argument("--min-confidence", type=types.SHARE, default=0.7, help="crowd labels below it are propagated")
    propagator_arguments(prp)
    final_arguments(prp)
    prp.set_defaults(func=cmd_label_propagate)
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
    run.set_defaults(func=cmd_label_run)

    for verb, text in (("reveal", "reveal one target label on the leaderboard"),
                       ("submit", "submit a predictions CSV to the leaderboard")):
        cmd = sub.add_parser(verb, help=text)
        cmd.add_argument("exercise", type=types.NATURAL, help="exercise id")
        if verb == "reveal":
            cmd.add_argument("datum", type=types.NATURAL, help="0-based row of X_val")
        else:
            cmd.add_argument("file", help="CSV: no header, one label per target row")
        cmd.add_argument("--server", help="leaderboard URL (default $UNDERSPEC_SERVER or "
                                          "http://127.0.0.1:8000)")
        cmd.add_argument("--config", help="credentials JSON (else $UNDERSPEC_USERNAME/_PASSWORD)")
        cmd.set_defaults(func=cmd_reveal if verb == "reveal" else cmd_submit)

    srv = sub.add_parser("serve", help="run the challenge leaderboard server")
    srv.add_argument("--db", help="database URL or SQLite file (default underspec-leaderboard.db)")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=types.PORT, default=8000, help="TCP port, 0 to 65535 (0: any free port)")
    srv.add_argument("--threads", type=types.COUNT, default=4,
                     help="worker threads for database work and pages (default 4: more only queue for the GIL)")
    srv.add_argument("--shutdown-timeout", type=types.NON_NEGATIVE, default=10.0,
                     help="seconds requests in flight may take to finish on SIGTERM / Ctrl-C (default 10)")
    srv.set_defaults(func=cmd_serve)

    adm = sub.add_parser("admin", help="organiser commands on the leaderboard database")
    adm.add_argument("--db", help="database URL or SQLite file (default underspec-leaderboard.db)")
    act = adm.add_subparsers(dest="action", required=True)
    init = act.add_parser("init", help="create the challenge (name it)")
    init.add_argument("name")
    ex = act.add_parser("add-exercise", help="load a generated task directory as an exercise")
    ex.add_argument("task_dir")
    ex.add_argument("--id", type=types.NATURAL, help="exercise id (default: the task id)")
    ex.add_argument("--name")
    ex.add_argument("--points", type=types.NON_NEGATIVE)
    ex.add_argument("--default-score", type=types.SHARE)
    ex.add_argument("--budget", type=types.NATURAL, default=5)
    ex.add_argument("--public-share", type=types.Number(float, low=0, high=1, low_open=True, high_open=True),
                    help="share of target rows scored on the live board (rest: final ranking)")
    ex.add_argument("--split-seed", type=types.SEED,
                    help="seed of the public/private split, to reproduce one on purpose (default: secret, "
                         "drawn anew per exercise)")
    team = act.add_parser("add-team", help="add a team, password read from standard input")
    team.add_argument("name")
    team.add_argument("--password-stdin", action="store_true")
    team.add_argument("--approve", action="store_true")
    reset = act.add_parser("reset-password", help="set a team's password, read from standard input")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true")
    for verb, text in (("approve", "approve a team"), ("disable", "disable a team"),
                       ("enable", "enable a disabled team")):
        act.add_parser(verb, help=text).add_argument("name")
    act.add_parser("list-teams", help="teams and their state")
    for verb in ("open", "close"):
        act.add_parser(verb, help=f"{verb} an exercise").add_argument("id", type=types.NATURAL)
    phase = act.add_parser("new-phase", help="archive and wipe reveals and submissions")
    phase.add_argument("name")
    exp = act.add_parser("export", help="results as CSV or JSON (by the file name)")
    exp.add_argument("--out", required=True, type=types.output_file)
    exp.add_argument("--private", action="store_true", help="final ranking (private rows)")
    adm.set_defaults(func=cmd_admin)
    return parser


FIELD_DESTS = {"n_boot": "bootstrap", "min_count": "min_group", "issues": "drop_issues",
               "semi_supervised": "semi", "ood_findings": "ood", "exercise_id": "id"}
"""Library field names whose flag is not simply ``--`` plus the name with dashes."""


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``{dest: "--flag"}`` over a parser and all its sub-commands."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update({k: v for k, v in flag_names(sub).items() if k not in names})
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
    return names


def in_flags(message: str, parser: argparse.ArgumentParser) -> str:
    """A library message that starts with a field name (``mix_rate: ...``, ``budget 500: ...``),
    told in the command line's words (``--mix-rate: ...``). The library speaks of fields; the
    user of the command line typed flags."""
    match = re.match(r"([a-z][a-z_]*)(?=[: ])", message)
    if match:
        flag = flag_names(parser).get(FIELD_DESTS.get(match.group(1), match.group(1)))
        if flag:
            return flag + message[match.end():]
    return message


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``underspec`` command; returns the exit code."""
    parser = build_parser()
    return types.run_command(parser, argv, _on_device, lambda message: in_flags(message, parser))
