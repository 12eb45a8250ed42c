"""``generate``, ``solve`` and ``demo``: the challenge's tasks and an entrant's solver."""

from __future__ import annotations

import argparse
import json

from underspec import arguments as types
from underspec.commands.options import REPRESENTATIONS, SHORTCUTS, SIDES, device_argument, ints
from underspec.errors import UnderspecError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to ``sub``."""
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
    gen.set_defaults(func=run_generate)

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
    sol.add_argument("--edit-labels", action="store_true",
                     help="first leave out the labeled items most of whose 10 nearest labeled items carry another "
                          "label (wrong or poisoned labels; not on photographs); off by default")
    sol.add_argument("--quiet", action="store_true", help="no progress bars")
    device_argument(sol)
    sol.add_argument("--exercise", type=types.NATURAL, help="exercise id on the leaderboard (HTTP oracle)")
    sol.add_argument("--submit", action="store_true",
                     help="with an HTTP oracle: submit the predictions if the decision is submit")
    sol.add_argument("--config", help="credentials JSON (default ~/.config/underspec/credentials.json)")
    sol.set_defaults(func=run_solve)

    demo = sub.add_parser("demo", help="generate a suite, solve it with a simulated oracle, report")
    demo.add_argument("--out", default="underspec-demo", type=types.output_folder, help="output folder")
    demo.add_argument("--source", default="digits")
    demo.add_argument("--data", help="local file or folder of the source")
    demo.add_argument("--tasks", help="comma-separated subset of tasks")
    demo.add_argument("--sizes", help="NL,NU,NV for every task (quick runs)")
    demo.add_argument("--seed", type=types.SEED, default=0)
    demo.set_defaults(func=run_demo)


def run_generate(args: argparse.Namespace) -> int:
    from underspec.data.generators import generate, generate_suite, resolve_task

    sizes = ints(args.sizes, 3, "--sizes") if args.sizes else None
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
        params["classes"] = ints(args.classes, what="--classes")
    needs = resolve_task(args.task).needs  # vehicle_animal reads --cifar10, humans --faces
    data = args.data or {"cifar10": args.cifar10, "faces": args.faces}.get(needs)
    task, _ = generate(args.task, source=args.source, data=data, seed=args.seed, out=args.out,
                       mix_rate=args.mix_rate, sizes=sizes, oracle_items=args.oracle_items,
                       **params)
    m = task.manifest
    print(f"wrote {args.out}: {m['name']} (id {m['id']}), classes {m['classes']}, "
          f"sizes {m['sizes']['labeled']}/{m['sizes']['unlabeled']}/{m['sizes']['target']}")
    return 0


def run_solve(args: argparse.Namespace) -> int:
    from underspec.pipelines.solve import SolveSettings, solve

    oracle = args.oracle
    if args.oracle.startswith(("http://", "https://")):
        from underspec.client import HttpOracle

        oracle = HttpOracle.connect(args.oracle, args.exercise, args.config)
    elif args.submit:
        raise UnderspecError("--submit: needs the leaderboard as oracle (--oracle http://HOST:PORT)")
    result = solve(args.task_dir, oracle, budget=args.budget, out=args.out, json_path=args.json,
                   settings=SolveSettings(seed=args.seed, representation=args.representation,
                                          edit_labels=args.edit_labels), progress=not args.quiet)
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
    if args.submit and s["decision"] == "submit":
        reply = oracle.client.submit(args.exercise, args.out)
        print(f"submitted to exercise {args.exercise}: accuracy {reply.get('accuracy')}")
    elif args.submit:
        print("not submitted: the decision is to abstain (the default score is likely higher)")
    if args.report:
        from underspec.report.solve_report import write_task_report

        print(f"report: {write_task_report(args.task_dir, result, args.report)}")
    if args.json is None:
        print(json.dumps({k: s[k] for k in ("decision", "estimated_accuracy", "labels_used")}))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from underspec.pipelines.demo import run_demo

    tasks = tuple(args.tasks.split(",")) if args.tasks else None
    sizes = ints(args.sizes, 3, "--sizes") if args.sizes else None
    run_demo(args.out, source=args.source, data=args.data, seed=args.seed, tasks=tasks,
             sizes=sizes, progress=True)
    return 0
