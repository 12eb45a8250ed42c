"""Command-line interface: parse, call the API, print. No logic of its own.

Heavy modules are imported inside the command functions so that ``underspec --help`` is fast.
Every :class:`~underspec.errors.UnderspecError` becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from underspec.errors import UnderspecError


def _ints(text: str, count: int | None = None, what: str = "value") -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise UnderspecError(f"{what}: expected comma-separated integers, got {text!r}") from exc
    if count is not None and len(values) != count:
        raise UnderspecError(f"{what}: expected {count} comma-separated integers, got {text!r}")
    return values


def cmd_generate(args: argparse.Namespace) -> int:
    from underspec.data.generators import generate, generate_suite

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
    if args.classes:
        params["classes"] = _ints(args.classes, what="--classes")
    data = args.data or {"cifar10": args.cifar10, "faces": args.faces}.get(args.source)
    task, _ = generate(args.task, source=args.source, data=data, seed=args.seed, out=args.out,
                       mix_rate=args.mix_rate, sizes=sizes, oracle_items=args.oracle_items,
                       **params)
    m = task.manifest
    print(f"wrote {args.out}: {m['name']} (id {m['id']}), classes {m['classes']}, "
          f"sizes {m['sizes']['labeled']}/{m['sizes']['unlabeled']}/{m['sizes']['target']}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from underspec.pipelines.solve import SolveSettings, solve

    result = solve(args.task_dir, args.oracle, budget=args.budget, out=args.out,
                   json_path=args.json, settings=SolveSettings(seed=args.seed),
                   progress=not args.quiet)
    s = result.summary
    print(s["message"])
    print(f"labels used {s['labels_used']}/{s['budget']}: "
          + ", ".join(f"#{q['index']}={q['answer']}" for q in s["queries"]))
    print(f"estimated accuracy {s['estimated_accuracy']:.3f} (90% interval "
          f"{s['interval_90'][0]:.3f}-{s['interval_90'][1]:.3f}), default "
          f"{s['default_score']}: {s['decision'].upper()}")
    print(f"predictions: {args.out}")
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
             sizes=sizes)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``underspec`` and its sub-commands."""
    parser = argparse.ArgumentParser(
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
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", required=True, help="task directory (or suite folder)")
    gen.add_argument("--mix-rate", type=float, help="share of uncorrelated unlabeled items")
    gen.add_argument("--sizes", help="NL,NU,NV: labeled, unlabeled and target items")
    gen.add_argument("--side", choices=("left", "random"), help="side of the intended feature")
    gen.add_argument("--classes", help="comma-separated raw class values")
    gen.add_argument("--oracle-items", type=int, default=0,
                     help="extra target-distribution items with labels in answers/ (benchmarks)")
    gen.set_defaults(func=cmd_generate)

    sol = sub.add_parser("solve", help="find the ambiguity, buy labels, predict, decide")
    sol.add_argument("task_dir", help="task directory (X_labeled.npy, y_labeled.npy, ...)")
    sol.add_argument("--budget", type=int, default=5, help="most labels to reveal (default 5)")
    sol.add_argument("--oracle", required=True,
                     help='answers:PATH.npy, command:"CMD" (row index appended), or prompt')
    sol.add_argument("--out", required=True, help="predictions CSV (no header, one label per line)")
    sol.add_argument("--json", help="summary JSON")
    sol.add_argument("--report", help="HTML report with the disputed and queried items")
    sol.add_argument("--seed", type=int, default=0)
    sol.add_argument("--quiet", action="store_true", help="no progress bars")
    sol.set_defaults(func=cmd_solve)

    demo = sub.add_parser("demo", help="generate a suite, solve it with a simulated oracle, report")
    demo.add_argument("--out", default="underspec-demo", help="output folder")
    demo.add_argument("--source", default="digits")
    demo.add_argument("--data", help="local file or folder of the source")
    demo.add_argument("--tasks", help="comma-separated subset of tasks")
    demo.add_argument("--sizes", help="NL,NU,NV for every task (quick runs)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``underspec`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UnderspecError as exc:
        print(f"underspec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("underspec: interrupted", file=sys.stderr)
        return 130
