"""``reveal``, ``submit``, ``serve`` and ``admin``: the leaderboard, from a team's and an organiser's side."""

from __future__ import annotations

import argparse
import json
import sys

from underspec import arguments as types
from underspec.errors import UnderspecError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to ``sub``."""
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
        cmd.set_defaults(func=run_reveal if verb == "reveal" else run_submit)

    srv = sub.add_parser("serve", help="run the challenge leaderboard server")
    srv.add_argument("--db", help="database URL or SQLite file (default underspec-leaderboard.db)")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=types.PORT, default=8000, help="TCP port, 0 to 65535 (0: any free port)")
    srv.add_argument("--threads", type=types.COUNT, default=4,
                     help="worker threads for database work and pages (default 4: more only queue for the GIL)")
    srv.add_argument("--shutdown-timeout", type=types.NON_NEGATIVE, default=10.0,
                     help="seconds requests in flight may take to finish on SIGTERM / Ctrl-C (default 10)")
    srv.set_defaults(func=run_serve)

    admin_parsers(sub)


def admin_parsers(sub: argparse._SubParsersAction) -> None:
    """``admin ACTION``: one sub-command per organiser action, each with its own function."""
    adm = sub.add_parser("admin", help="organiser commands on the leaderboard database")
    adm.add_argument("--db", help="database URL or SQLite file (default underspec-leaderboard.db)")
    act = adm.add_subparsers(dest="action", required=True)
    init = act.add_parser("init", help="create the challenge (name it)")
    init.add_argument("name")
    init.set_defaults(func=in_session(admin_init))
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
    ex.set_defaults(func=in_session(admin_add_exercise))
    team = act.add_parser("add-team", help="add a team, password read from standard input")
    team.add_argument("name")
    team.add_argument("--password-stdin", action="store_true")
    team.add_argument("--approve", action="store_true")
    team.set_defaults(func=in_session(admin_add_team))
    reset = act.add_parser("reset-password", help="set a team's password, read from standard input")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true")
    reset.set_defaults(func=in_session(admin_reset_password))
    for verb, text in (("approve", "approve a team"), ("disable", "disable a team"),
                       ("enable", "enable a disabled team")):
        state = act.add_parser(verb, help=text)
        state.add_argument("name")
        state.set_defaults(func=in_session(admin_team_state))
    act.add_parser("list-teams", help="teams and their state").set_defaults(func=in_session(admin_list_teams))
    for verb in ("open", "close"):
        opening = act.add_parser(verb, help=f"{verb} an exercise")
        opening.add_argument("id", type=types.NATURAL)
        opening.set_defaults(func=in_session(admin_open))
    phase = act.add_parser("new-phase", help="archive and wipe reveals and submissions")
    phase.add_argument("name")
    phase.set_defaults(func=in_session(admin_new_phase))
    exp = act.add_parser("export", help="results as CSV or JSON (by the file name)")
    exp.add_argument("--out", required=True, type=types.output_file)
    exp.add_argument("--private", action="store_true", help="final ranking (private rows)")
    exp.set_defaults(func=in_session(admin_export))


def run_reveal(args: argparse.Namespace) -> int:
    from underspec.client import LeaderboardClient

    client = LeaderboardClient.from_environment(server=args.server, config=args.config)
    print(json.dumps(client.reveal(args.exercise, args.datum)))
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from underspec.client import LeaderboardClient

    client = LeaderboardClient.from_environment(server=args.server, config=args.config)
    print(json.dumps(client.submit(args.exercise, args.file)))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from underspec.server.app import create_app

    app = create_app(args.db, threads=args.threads)
    print(f"leaderboard on http://{args.host}:{args.port}/ (database {args.db or 'default'})", flush=True)
    # On SIGTERM or Ctrl-C, requests in flight get --shutdown-timeout seconds to finish.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", ws="none",
                timeout_graceful_shutdown=args.shutdown_timeout)
    return 0


def in_session(action):
    """``run(args)`` of an admin action: ``action(session, args)`` in a session of ``--db``,
    the database closed afterwards (SQLite folds its write-ahead log back into the file)."""
    def run(args: argparse.Namespace) -> int:
        from underspec.server.db import open_database

        factory = open_database(args.db)
        try:
            with factory() as session:
                action(session, args)
        finally:
            factory.kw["bind"].dispose()
        return 0

    run.__doc__ = action.__doc__
    return run


def _password(args: argparse.Namespace) -> str:
    """The password on the first line of standard input (never on the command line)."""
    if not args.password_stdin:
        raise UnderspecError(f"{args.action}: give the password on standard input with --password-stdin "
                             "(never on the command line)")
    return sys.stdin.readline().rstrip("\r\n")


def admin_init(session, args: argparse.Namespace) -> None:
    from underspec.server import service

    service.init_challenge(session, args.name)
    print(f"challenge {args.name!r} ready")


def admin_add_exercise(session, args: argparse.Namespace) -> None:
    from underspec.server import service

    ex = service.add_exercise(session, args.task_dir, exercise_id=args.id, name=args.name, points=args.points,
                              default_score=args.default_score, budget=args.budget, public_share=args.public_share,
                              split_seed=args.split_seed)
    print(f"exercise {ex.id} ({ex.name}): {ex.n_items} target rows, classes {ex.classes}, {ex.points:g} points, "
          f"default {ex.default_score}, budget {ex.budget}")


def admin_add_team(session, args: argparse.Namespace) -> None:
    from underspec.server import service

    team = service.add_team(session, args.name, _password(args), approve=args.approve)
    print(f"team {team.name!r} added{' and approved' if team.approved else ''}")


def admin_reset_password(session, args: argparse.Namespace) -> None:
    from underspec.server import service

    team = service.reset_password(session, args.name, _password(args))
    print(f"team {team.name!r}: new password set; its browsers are logged out")


def admin_team_state(session, args: argparse.Namespace) -> None:
    from underspec.server import service

    flags = {"approve": {"approved": True}, "disable": {"disabled": True}, "enable": {"disabled": False}}[args.action]
    team = service.set_team(session, args.name, **flags)
    print(f"team {team.name!r}: approved={team.approved} disabled={team.disabled}")


def admin_list_teams(session, args: argparse.Namespace) -> None:
    from underspec.server import service

    for team in service.list_teams(session):
        print(f"{team.name}\tapproved={team.approved}\tdisabled={team.disabled}")


def admin_open(session, args: argparse.Namespace) -> None:
    from underspec.server import service

    ex = service.set_open(session, args.id, args.action == "open")
    print(f"exercise {ex.id} is {'open' if ex.is_open else 'closed'}")


def admin_new_phase(session, args: argparse.Namespace) -> None:
    from underspec.server import service

    document = service.new_phase(session, args.name)
    print(f"phase {document['phase']!r} archived ({len(document['reveals'])} reveals, "
          f"{len(document['submissions'])} submissions); now phase {args.name!r}")


def admin_export(session, args: argparse.Namespace) -> None:
    from underspec.server import service
    from underspec.server.export import export_results

    export_results(service.results(session, private=args.private), service.exercise_list(session), args.out)
    print(f"wrote {args.out}")
