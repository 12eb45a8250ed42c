"""Benchmark (not a test): the leaderboard server under load, on loopback, SQLite and PostgreSQL.

Ten exercises generated from MNIST (``../shared/data/mnist/mnist.npz``), twenty approved
teams. The server runs as ``underspec serve`` in its own process; the load comes from ``wrk``
(Debian package ``wrk``) in another, a fixed number of connections for a fixed time:

- ``reveal``: POST /reveal/ with a random team, exercise and row among the first 8, so that
  about 5 in 8 answers are reveals (new or repeated, 200) and the rest budget refusals (429);
  the first run fills every budget (1,000 new reveals), the second, with 4 connections, finds
  them spent;
- ``leaderboard``: GET / (the HTML page, every team's score computed), and /leaderboard.json;
- ``mixed``: reveal and leaderboard loads at the same time;
- ``bare``: the same uvicorn + FastAPI with one form route that does nothing, the ceiling of
  the framework on this machine in this run (the baseline the ratios refer to);
- ``crowd``: 256 connections, no login, for ``--crowd-seconds``: the leaderboard page, its
  JSON, the exercise list and pages at random; then the time of one fresh request;
- ``lock-out``: an attacker sends 100 wrong passwords for ``team00`` from the same address
  while the team reveals; then the team logs in for the first time from another address
  (``X-Forwarded-For``, which uvicorn trusts from loopback);
- ``random names``: 8 clients send reveals with random 64-character usernames; a team's
  reveal latency alone and during it; the server's resident memory before and after 10,000
  such requests.

The same runs go against SQLite and, when PostgreSQL's ``initdb`` is installed, a throwaway
PostgreSQL server on loopback (``--backends``).

Before the load, each team submits to five exercises, four times at once for one of them (the
one-submission rule under concurrency). Afterwards the database is checked: no team over any
reveal budget, no duplicate submission, no 5xx answer. Start-up time is the wall time from
spawning ``underspec serve`` to the first answer, on a database that has finished writing what
the set-up loaded (a checkpoint and, on PostgreSQL, a vacuum first: the timing is the server's,
not the database catching up on the bulk load).

    python bench/server.py [--mnist PATH] [--seconds 20] [--crowd-seconds 30] [--connections 16]
                           [--backends sqlite,postgresql] [--out bench/results]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from results_io import SHARED, save

TASKS = ["toy", "cc", "constant_image", "constant_image_random_row", "uniform_color_random_row",
         "uniform_color_low_mix_rate", "sum", "sum_three", "sum_noise_level", "no_shift"]
N_TEAMS, PASSWORD, ROWS = 20, "bench-password-123", 8
PROBE = len(TASKS) + 1  # the exercise of the lock-out and latency probes
TARGETS = {"reveal": {"rps": 1000, "p99_ms": 50, "ratio_to_bare": 0.5}, "leaderboard": {"rps": 500},
           "crowd": {"connections": 256, "max_ms": 2000, "fresh_ms": 100}, "memory_mb": 20, "startup_s": 1.0}
CROWD_PATHS = ["/", "/leaderboard.json", "/exercises.json", "/exercises/", "/exercises/1/"]

WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread); thread:set("id", #threads) end
function init(args)
  mode = args[1]; teams = tonumber(args[2]); exercises = tonumber(args[3]); rows = tonumber(args[4])
  password = args[5]; statuses = {}
  math.randomseed(os.time() + 1000 * id)
end
function request()
  if mode == "reveal" then
    local body = string.format("username=team%02d&password=%s&exercise_id=%d&datum_id=%d",
      math.random(0, teams - 1), password, math.random(1, exercises), math.random(0, rows - 1))
    return wrk.format("POST", "/reveal/", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
  elseif mode == "crowd" then
    local paths = {"/", "/leaderboard.json", "/exercises.json", "/exercises/", "/exercises/1/"}
    return wrk.format("GET", paths[math.random(1, #paths)])
  elseif mode == "bare" then
    local body = string.format("username=team%02d&password=%s&exercise_id=1&datum_id=1",
      math.random(0, teams - 1), password)
    return wrk.format("POST", "/bare/", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
  end
  return wrk.format("GET", mode)
end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do counts[status] = (counts[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(counts) do table.insert(parts, string.format('"%d": %d', status, n)) end
  io.write(string.format('JSON {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, ' ..
    '"max_ms": %.3f, "socket_errors": %d, "statuses": {%s}}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", ")))
end
"""

BARE_APP = textwrap.dedent("""
    import sys
    import uvicorn
    if "--with-sqlalchemy" in sys.argv:  # the start-up floor of the server's own stack
        import sqlalchemy.dialects.sqlite
        import sqlalchemy.orm
    from fastapi import FastAPI, Form
    app = FastAPI()

    @app.post("/bare/")
    def bare(username: str = Form(...), password: str = Form(...), exercise_id: str = Form(...),
             datum_id: str = Form(...)) -> dict:
        return {"exercise_id": exercise_id, "datum_id": datum_id, "label": 0}

    @app.get("/exercises.json")
    def ready() -> list:
        return []

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[-1]), log_level="warning")
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str]) -> tuple[subprocess.Popen, str, float]:
    """Spawn a server command (its port last) and wait for its first answer; returns the
    process, its base URL and the seconds from spawn to that answer."""
    port = free_port()
    began = time.perf_counter()
    proc = subprocess.Popen([*cmd, str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(url + "/exercises.json", timeout=1).status_code == 200:
                return proc, url, time.perf_counter() - began
        except httpx.TransportError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}: {' '.join(cmd)}") from None
            time.sleep(0.005)


def startup_times(cmd: list[str], times: int = 5) -> dict:
    """Seconds from spawning ``cmd`` to its first answer, ``times`` times: median and all."""
    seconds = []
    for _ in range(times):
        proc, _, took = start(cmd)
        seconds.append(took)
        stop(proc)
    return {"median": round(statistics.median(seconds), 3), "all": [round(s, 3) for s in seconds]}


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


def wrk(url: str, mode: str, seconds: int, connections: int, script: Path) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script), url,
           "--", mode, str(N_TEAMS), str(len(TASKS)), str(ROWS), PASSWORD]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("JSON "))
    result = json.loads(line[5:])
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    return result


def prepare(work: Path, mnist: Path, db: str) -> None:
    """Tasks, and a fresh database at ``db`` with the exercises and approved teams."""
    from underspec.data.generators import generate
    from underspec.data.sources import load_source
    from underspec.server import service
    from underspec.server.db import Base, Meta, make_engine, open_database

    source = None
    for name in TASKS:
        if not (work / "tasks" / name / "task.json").exists():
            source = source or load_source("mnist", mnist)
            generate(name, source=source, seed=7, out=work / "tasks" / name)
    if "://" in db:
        engine = make_engine(db)
        Base.metadata.drop_all(engine)
        Meta.__table__.drop(engine, checkfirst=True)
        engine.dispose()
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    with open_database(db)() as session:
        service.init_challenge(session, "server benchmark")
        for i, name in enumerate(TASKS, start=1):
            service.add_exercise(session, work / "tasks" / name, exercise_id=i)
        # the probes' own exercise, which the wrk load never touches (their rows stay free)
        service.add_exercise(session, work / "tasks" / TASKS[0], exercise_id=PROBE)
        for t in range(N_TEAMS):
            service.add_team(session, f"team{t:02d}", PASSWORD, approve=True)
    quiesce(db)


def quiesce(db: str) -> None:
    """Let the database finish the writes of :func:`prepare` before anything is timed: a
    PostgreSQL checkpoint and vacuum (otherwise its background writer and autovacuum run during
    the start-up timings), a SQLite WAL checkpoint."""
    from sqlalchemy import text

    from underspec.server.db import make_engine

    engine = make_engine(db)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("CHECKPOINT"))
            conn.execute(text("VACUUM ANALYZE"))
        else:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()


@contextlib.contextmanager
def throwaway_postgres(work: Path):
    """A PostgreSQL server on a free loopback port in a temporary folder (as ``.ci/services``
    starts one); yields its URL, or None when PostgreSQL is not installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        yield None
        return
    bin_dir = found[-1].parent
    data = Path(tempfile.mkdtemp(prefix="underspec-pg-", dir="/tmp"))
    as_user = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "check": True}
    subprocess.run([*as_user, bin_dir / "initdb", "-D", data / "data", "-U", "underspec", "-A", "trust"], **quiet)
    subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data / "data", "-l", data / "log", "-w", "-o",
                    f"-h 127.0.0.1 -p {port} -k {data} -F", "start"], **quiet)
    try:
        subprocess.run([*as_user, bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "underspec",
                        "bench"], **quiet)
        yield f"postgresql+psycopg://underspec@127.0.0.1:{port}/bench"
    finally:
        subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data / "data", "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(data, ignore_errors=True)


def submit_all(url: str, work: Path) -> dict:
    """Each team submits to 5 exercises; exercise 1 four times at once. Returns status counts."""
    rng = np.random.default_rng(0)
    jobs = []
    for t in range(N_TEAMS):
        for ex in [1, *rng.choice(np.arange(2, len(TASKS) + 1), 4, replace=False).tolist()]:
            labels = np.load(work / "tasks" / TASKS[ex - 1] / "answers" / "y_val.npy")
            noisy = np.where(rng.random(len(labels)) < rng.uniform(0, 0.3), np.roll(labels, 1), labels)
            content = "".join(f"{v}\n" for v in noisy).encode()
            jobs += [(f"team{t:02d}", ex, content)] * (4 if ex == 1 else 1)

    def one(job) -> int:
        team, ex, content = job
        return httpx.post(url + "/submit/", data={"username": team, "password": PASSWORD,
                                                  "exercise_id": str(ex)},
                          files={"file": ("p.csv", content, "text/csv")}, timeout=60).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, jobs))
    return {str(c): codes.count(c) for c in sorted(set(codes))}


def check_database(db: str) -> dict:
    from sqlalchemy import func, select

    from underspec.server.db import Exercise, Reveal, Submission, open_database

    factory = open_database(db)
    with factory() as session:
        budgets = dict(session.execute(select(Exercise.id, Exercise.budget)).all())
        reveals = session.execute(select(Reveal.team_id, Reveal.exercise_id, func.count())
                                  .group_by(Reveal.team_id, Reveal.exercise_id)).all()
        subs = session.execute(select(Submission.team_id, Submission.exercise_id, func.count())
                               .group_by(Submission.team_id, Submission.exercise_id)).all()
    factory.kw["bind"].dispose()
    return {"reveals": sum(n for *_, n in reveals),
            "over_budget": sum(n > budgets[ex] for _, ex, n in reveals),
            "submissions": sum(n for *_, n in subs), "duplicate_submissions": sum(n > 1 for *_, n in subs)}


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reveal_form(team: str, password: str = PASSWORD, datum: int = 0, exercise: int = PROBE) -> dict:
    return {"username": team, "password": password, "exercise_id": str(exercise), "datum_id": str(datum)}


def lockout(url: str) -> dict:
    """100 wrong passwords for team00 from this address while team00 reveals (its password
    checked before), then team01's first login from another address."""
    with httpx.Client(base_url=url, timeout=30) as http:
        http.post("/reveal/", data=reveal_form("team00"))
        attack: list[int] = []
        owner: list[int] = []

        def attacker() -> None:
            for i in range(100):
                attack.append(http.post("/reveal/", data=reveal_form("team00", f"wrong guess {i}")).status_code)

        with ThreadPoolExecutor(2) as pool:
            running = pool.submit(attacker)
            while not running.done() or len(owner) < 100:
                owner.append(http.post("/reveal/", data=reveal_form("team00", datum=len(owner) % 5)).status_code)
        elsewhere = http.post("/reveal/", data=reveal_form("team01", datum=1),
                              headers={"X-Forwarded-For": "10.9.8.7"}).status_code
    return {"attacker": {str(c): attack.count(c) for c in sorted(set(attack))},
            "owner": {str(c): owner.count(c) for c in sorted(set(owner))},
            "owner_success": round(owner.count(200) / len(owner), 4),
            "first_login_from_another_address": elsewhere}


def random_names(url: str, pid: int, requests: int = 10_000, clients: int = 8) -> dict:
    """A team's reveal latency alone and while ``clients`` send random usernames; the server's
    memory before and after ``requests`` such requests."""
    def latencies(http: httpx.Client, n: int = 100) -> list[float]:
        out = []
        for i in range(n):
            began = time.perf_counter()
            assert http.post("/reveal/", data=reveal_form("team02", datum=i % 5)).status_code == 200
            out.append(1000 * (time.perf_counter() - began))
        return out

    def spam(count: int, codes: list[int]) -> None:
        rng = random.Random()
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(count):
                name = "".join(rng.choices(string.ascii_letters, k=64))
                codes.append(http.post("/reveal/", data=reveal_form(name, "x" * 32)).status_code)

    with httpx.Client(base_url=url, timeout=30) as http:
        http.post("/reveal/", data=reveal_form("team02"))
        alone = latencies(http)
        codes: list[int] = []
        spam(1000, codes)  # warm-up: the allocator and the tables reach their working size
        before = rss_mb(pid)
        with ThreadPoolExecutor(clients) as pool:
            spammers = [pool.submit(spam, requests // clients, codes) for _ in range(clients)]
            during = latencies(http)
            for f in spammers:
                f.result()
        after = rss_mb(pid)
    def summary(ms: list[float]) -> dict:
        return {"median": round(statistics.median(ms), 2), "p99": round(float(np.percentile(ms, 99)), 2)}

    return {"reveal_ms_alone": summary(alone), "reveal_ms_during": summary(during),
            "requests": len(codes) - 1000, "answers": {str(c): codes.count(c) for c in sorted(set(codes))},
            "rss_mb_before": round(before, 1), "rss_mb_after": round(after, 1),
            "rss_growth_mb": round(after - before, 1)}


def crowd(url: str, seconds: int, script: Path) -> dict:
    """256 connections on the public pages, then one fresh request's time."""
    run = wrk(url, "crowd", seconds, TARGETS["crowd"]["connections"], script)
    fresh = []
    for _ in range(5):
        began = time.perf_counter()
        httpx.get(url + "/exercises.json", timeout=30)
        fresh.append(1000 * (time.perf_counter() - began))
    run["fresh_ms"] = round(statistics.median(fresh), 1)
    return run


def bench_backend(args: argparse.Namespace, db: str, script: Path) -> dict:
    """Every run against one database."""
    prepare(args.work, args.mnist, db)
    serve = [sys.executable, "-m", "underspec", "serve", "--db", db, "--port"]
    startups = startup_times(serve)
    proc, url, _ = start(serve)
    runs = {}
    try:
        for t in range(N_TEAMS):  # each team's first login pays argon2 once, as in real use
            httpx.post(url + "/reveal/", data=reveal_form(f"team{t:02d}"), timeout=30)
        submissions = submit_all(url, args.work)
        runs["reveal"] = wrk(url, "reveal", args.seconds, args.connections, script)
        runs["reveal, 4 connections"] = wrk(url, "reveal", args.seconds, 4, script)
        runs["leaderboard"] = wrk(url, "/", args.seconds, args.connections, script)
        runs["leaderboard.json"] = wrk(url, "/leaderboard.json", args.seconds, args.connections, script)
        with ThreadPoolExecutor(2) as pool:
            half = max(1, args.connections // 2)
            mixed = [pool.submit(wrk, url, mode, args.seconds, half, script) for mode in ("reveal", "/")]
            runs["mixed reveal"], runs["mixed leaderboard"] = (f.result() for f in mixed)
        runs["crowd, 256 connections"] = crowd(url, args.crowd_seconds, script)
        attack = lockout(url)
        names = random_names(url, proc.pid)
    finally:
        stop(proc)
    checks = check_database(db)
    checks["server_errors"] = sum(n for r in runs.values() for s, n in r["statuses"].items() if s >= "500")
    checks["socket_errors"] = sum(r["socket_errors"] for r in runs.values())
    return {"startup_seconds": startups,
            "submissions_before_load": submissions, "runs": runs, "lockout": attack,
            "random_names": names, "checks": checks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=SHARED / "mnist" / "mnist.npz")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--crowd-seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "server")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    args.work.mkdir(parents=True, exist_ok=True)
    backends = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(WRK_SCRIPT)
        bare_py = Path(tmp) / "bare.py"
        bare_py.write_text(BARE_APP)
        proc, bare_url, _ = start([sys.executable, str(bare_py)])
        bare = wrk(bare_url, "bare", args.seconds, args.connections, script)
        stop(proc)
        bare["startup_seconds"] = startup_times([sys.executable, str(bare_py)])
        bare["startup_with_sqlalchemy_seconds"] = startup_times([sys.executable, str(bare_py), "--with-sqlalchemy"])
        if "sqlite" in args.backends:
            backends["SQLite"] = bench_backend(args, str(args.work / "board.db"), script)
        if "postgresql" in args.backends:
            with throwaway_postgres(args.work) as pg_url:
                if pg_url is None:
                    print("PostgreSQL not installed: its rows are left out")
                else:
                    backends["PostgreSQL"] = bench_backend(args, pg_url, script)
    for backend in backends.values():
        for r in backend["runs"].values():
            r["ratio_to_bare"] = round(r["rps"] / bare["rps"], 3)
    result = {
        "command": "python bench/server.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{os.cpu_count()} cores", "teams": N_TEAMS, "exercises": len(TASKS),
        "seconds_per_run": args.seconds, "crowd_seconds": args.crowd_seconds, "connections": args.connections,
        "bare": bare, "backends": backends, "targets": TARGETS,
    }
    save(args.out, "server", result, markdown(result))
    return 0


def verdicts(backend: dict, bare: dict) -> list[str]:
    """Each target of the issue, met or not, with the figure."""
    t, runs = TARGETS, backend["runs"]
    reveal, page, crowd_run = runs["reveal"], runs["leaderboard"], runs["crowd, 256 connections"]
    out = []

    def say(name: str, ok: bool, figure: str) -> None:
        out.append(f"{name}: {'met' if ok else 'NOT met'} ({figure})")

    say(f"reveal >= {t['reveal']['rps']} req/s", reveal["rps"] >= t["reveal"]["rps"], f"{reveal['rps']}")
    say(f"reveal p99 < {t['reveal']['p99_ms']} ms", reveal["p99_ms"] < t["reveal"]["p99_ms"],
        f"{reveal['p99_ms']:.1f}")
    say(f"reveal >= {t['reveal']['ratio_to_bare']:.0%} of bare",
        reveal["ratio_to_bare"] >= t["reveal"]["ratio_to_bare"], f"{reveal['ratio_to_bare']:.0%}")
    say(f"leaderboard page >= {t['leaderboard']['rps']} req/s", page["rps"] >= t["leaderboard"]["rps"],
        f"{page['rps']}")
    bad = sum(n for s, n in crowd_run["statuses"].items() if s >= "500") + crowd_run["socket_errors"]
    say("256 connections: no 5xx, no request over 2 s", bad == 0 and crowd_run["max_ms"] < t["crowd"]["max_ms"],
        f"{bad} 5xx or socket errors, slowest {crowd_run['max_ms']:.0f} ms")
    say(f"fresh request after it < {t['crowd']['fresh_ms']} ms", crowd_run["fresh_ms"] < t["crowd"]["fresh_ms"],
        f"{crowd_run['fresh_ms']} ms")
    say("lock-out: the owner's requests all succeed", backend["lockout"]["owner_success"] == 1.0,
        f"{backend['lockout']['owner_success']:.0%}, first login from another address "
        f"{backend['lockout']['first_login_from_another_address']}")
    growth = backend["random_names"]["rss_growth_mb"]
    say(f"memory within {t['memory_mb']} MB over 10,000 random names", abs(growth) <= t["memory_mb"], f"{growth:+} MB")
    startup = backend["startup_seconds"]["median"]
    floor = bare["startup_with_sqlalchemy_seconds"]["median"]
    say(f"start-up < {t['startup_s']} s", startup < t["startup_s"],
        f"median {startup} s; importing uvicorn, FastAPI and SQLAlchemy alone: {floor} s")
    return out


def markdown(r: dict) -> str:
    lines = [
        "# Leaderboard server under load (loopback: SQLite and PostgreSQL)", "",
        f"Command: `{r['command']}`. {r['teams']} approved teams, {r['exercises']} exercises "
        f"(MNIST tasks), {r['machine']}; wrk, 1 thread, {r['connections']} connections, "
        f"{r['seconds_per_run']} s per run (the mixed run: half the connections each, at once; the crowd "
        f"run: 256 connections for {r['crowd_seconds']} s). `bare` is uvicorn + FastAPI with one form "
        "route that does nothing: the framework's ceiling here, in the same run. Absolute rates count "
        "only on a quiet machine; the ratios to bare are the comparable figures.", "",
        f"bare: {r['bare']['rps']} req/s, p50 {r['bare']['p50_ms']:.1f} ms, p99 {r['bare']['p99_ms']:.1f} ms; "
        f"its start-up (spawn to first answer) median {r['bare']['startup_seconds']['median']} s of "
        f"{r['bare']['startup_seconds']['all']}; the same with SQLAlchemy's ORM and SQLite dialect "
        f"imported (the floor of the server's own stack) median "
        f"{r['bare']['startup_with_sqlalchemy_seconds']['median']} s of "
        f"{r['bare']['startup_with_sqlalchemy_seconds']['all']}.", "",
        "| backend | run | req/s | p50 ms | p99 ms | max ms | ratio to bare | answers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, b in r["backends"].items():
        for name, run in b["runs"].items():
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(run["statuses"].items()))
            if run["socket_errors"]:
                answers += f", socket errors: {run['socket_errors']}"
            lines.append(f"| {backend} | {name} | {run['rps']} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
                         f"{run['max_ms']:.1f} | {run['ratio_to_bare']} | {answers} |")
    for backend, b in r["backends"].items():
        c, lock, names = b["checks"], b["lockout"], b["random_names"]
        lines += [
            "", f"## {backend}", "",
            *[f"- {v}" for v in verdicts(b, r["bare"])], "",
            f"Start-up (spawn of `underspec serve` to its first answer, after a checkpoint of the freshly "
            f"loaded database), 5 times: {b['startup_seconds']['all']} s.",
            "", f"Lock-out: the attacker's 100 wrong passwords got {lock['attacker']}; the owner's "
            f"{sum(lock['owner'].values())} reveals meanwhile got {lock['owner']}.",
            "", f"Random names: {names['requests']} requests from 8 clients got {names['answers']} (with the 1,000 "
            f"of the warm-up); a team's reveal took median {names['reveal_ms_alone']['median']} ms "
            f"(p99 {names['reveal_ms_alone']['p99']}) alone and {names['reveal_ms_during']['median']} ms "
            f"(p99 {names['reveal_ms_during']['p99']}) during them; server memory {names['rss_mb_before']} MB "
            f"before, {names['rss_mb_after']} MB after.",
            "", f"Submissions before the load (each team 5 exercises, exercise 1 sent 4 times at once): "
            f"{b['submissions_before_load']}.",
            "", f"Checks afterwards: {c['reveals']} reveals, {c['over_budget']} team-exercise pairs over "
            f"budget; {c['submissions']} submissions, {c['duplicate_submissions']} duplicated; "
            f"{c['server_errors']} answers 5xx; {c['socket_errors']} socket errors.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
