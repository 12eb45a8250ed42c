"""Benchmark (not a test): the leaderboard server under load, on loopback with SQLite.

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
  the framework on this machine in this run (the baseline the ratios refer to).

Before the load, each team submits to five exercises, four times at once for one of them (the
one-submission rule under concurrency). Afterwards the database is checked: no team over any
reveal budget, no duplicate submission, no 5xx answer. Start-up time is the wall time from
spawning ``underspec serve`` to the first answer.

    python bench/server.py [--mnist PATH] [--seconds 20] [--connections 16] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from results_io import save

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TASKS = ["toy", "cc", "constant_image", "constant_image_random_row", "uniform_color_random_row",
         "uniform_color_low_mix_rate", "sum", "sum_three", "sum_noise_level", "no_shift"]
N_TEAMS, PASSWORD, ROWS = 20, "bench-password-123", 8
TARGETS = {"reveal": {"rps": 300, "p99_ms": 50}, "leaderboard": {"rps": 200}}

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
    from fastapi import FastAPI, Form
    app = FastAPI()

    @app.post("/bare/")
    def bare(username: str = Form(...), password: str = Form(...), exercise_id: str = Form(...),
             datum_id: str = Form(...)) -> dict:
        return {"exercise_id": exercise_id, "datum_id": datum_id, "label": 0}

    @app.get("/exercises.json")
    def ready() -> list:
        return []

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
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


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


def wrk(url: str, mode: str, seconds: int, connections: int, script: Path) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url,
           "--", mode, str(N_TEAMS), str(len(TASKS)), str(ROWS), PASSWORD]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("JSON "))
    result = json.loads(line[5:])
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    return result


def prepare(work: Path, mnist: Path) -> Path:
    """Tasks, and a database with the exercises and approved teams; returns the db path."""
    from underspec.data.generators import generate
    from underspec.data.sources import load_source
    from underspec.server import service
    from underspec.server.db import open_database

    source = None
    for name in TASKS:
        if not (work / "tasks" / name / "task.json").exists():
            source = source or load_source("mnist", mnist)
            generate(name, source=source, seed=7, out=work / "tasks" / name)
    db = work / "board.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with open_database(str(db))() as session:
        service.init_challenge(session, "server benchmark")
        for i, name in enumerate(TASKS, start=1):
            service.add_exercise(session, work / "tasks" / name, exercise_id=i)
        for t in range(N_TEAMS):
            service.add_team(session, f"team{t:02d}", PASSWORD, approve=True)
    return db


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


def check_database(db: Path) -> dict:
    from sqlalchemy import func, select

    from underspec.server.db import Exercise, Reveal, Submission, open_database

    with open_database(str(db))() as session:
        budgets = dict(session.execute(select(Exercise.id, Exercise.budget)).all())
        reveals = session.execute(select(Reveal.team_id, Reveal.exercise_id, func.count())
                                  .group_by(Reveal.team_id, Reveal.exercise_id)).all()
        subs = session.execute(select(Submission.team_id, Submission.exercise_id, func.count())
                               .group_by(Submission.team_id, Submission.exercise_id)).all()
    return {"reveals": sum(n for *_, n in reveals),
            "over_budget": sum(n > budgets[ex] for _, ex, n in reveals),
            "submissions": sum(n for *_, n in subs), "duplicate_submissions": sum(n > 1 for *_, n in subs)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=SHARED / "mnist" / "mnist.npz")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "server")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    args.work.mkdir(parents=True, exist_ok=True)
    db = prepare(args.work, args.mnist)
    serve = [sys.executable, "-m", "underspec", "serve", "--db", str(db), "--port"]
    startups = []
    for _ in range(3):
        proc, url, seconds = start(serve)
        startups.append(seconds)
        stop(proc)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(WRK_SCRIPT)
        bare_py = Path(tmp) / "bare.py"
        bare_py.write_text(BARE_APP)
        proc, bare_url, _ = start([sys.executable, str(bare_py)])
        runs = {"bare": wrk(bare_url, "bare", args.seconds, args.connections, script)}
        stop(proc)
        proc, url, _ = start(serve)
        try:
            submissions = submit_all(url, args.work)
            for t in range(N_TEAMS):  # each team's first login pays argon2 once, as in real use
                httpx.post(url + "/reveal/", data={"username": f"team{t:02d}", "password": PASSWORD,
                                                   "exercise_id": "1", "datum_id": "0"})
            runs["reveal"] = wrk(url, "reveal", args.seconds, args.connections, script)
            runs["reveal, 4 connections"] = wrk(url, "reveal", args.seconds, 4, script)
            runs["leaderboard"] = wrk(url, "/", args.seconds, args.connections, script)
            runs["leaderboard, 4 connections"] = wrk(url, "/", args.seconds, 4, script)
            runs["leaderboard.json"] = wrk(url, "/leaderboard.json", args.seconds, args.connections, script)
            with ThreadPoolExecutor(2) as pool:
                half = max(1, args.connections // 2)
                mixed = [pool.submit(wrk, url, mode, args.seconds, half, script) for mode in ("reveal", "/")]
                runs["mixed reveal"], runs["mixed leaderboard"] = (f.result() for f in mixed)
        finally:
            stop(proc)
    checks = check_database(db)
    checks["server_errors"] = sum(n for r in runs.values() for s, n in r["statuses"].items() if s >= "500")
    checks["socket_errors"] = sum(r["socket_errors"] for r in runs.values())
    for r in runs.values():
        r["ratio_to_bare"] = round(r["rps"] / runs["bare"]["rps"], 3)
    result = {
        "command": "python bench/server.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{os.cpu_count()} cores", "teams": N_TEAMS, "exercises": len(TASKS),
        "seconds_per_run": args.seconds, "connections": args.connections,
        "startup_seconds": {"median": round(statistics.median(startups), 3),
                            "all": [round(s, 3) for s in startups]},
        "submissions_before_load": submissions, "runs": runs, "checks": checks, "targets": TARGETS,
    }
    save(args.out, "server", result, markdown(result))
    return 0


def markdown(r: dict) -> str:
    lines = [
        "# Leaderboard server under load (loopback, SQLite)", "",
        f"Command: `{r['command']}`. {r['teams']} approved teams, {r['exercises']} exercises "
        f"(MNIST tasks), {r['machine']}; wrk, 1 thread, {r['connections']} connections, "
        f"{r['seconds_per_run']} s per run (the mixed run: half the connections each, at once). "
        "`bare` is uvicorn + FastAPI with one form route that does nothing: the framework's "
        "ceiling here, in the same run.", "",
        "| run | req/s | p50 ms | p99 ms | max ms | ratio to bare | answers |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, run in r["runs"].items():
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(run["statuses"].items()))
        lines.append(f"| {name} | {run['rps']} | {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
                     f"{run['max_ms']:.1f} | {run['ratio_to_bare']} | {answers} |")
    c = r["checks"]
    t = r["targets"]
    verdicts = []
    for name, run in r["runs"].items():
        if name.startswith("reveal"):
            ok = run["rps"] >= t["reveal"]["rps"] and run["p99_ms"] < t["reveal"]["p99_ms"]
        elif name.startswith("leaderboard") and "json" not in name:
            ok = run["rps"] >= t["leaderboard"]["rps"]
        else:
            continue
        verdicts.append(f"{name}: {'met' if ok else 'NOT met'}")
    lines += ["", "Targets: " + "; ".join(verdicts) + "."]
    lines += [
        "", f"Targets on 2 cores: reveal >= {r['targets']['reveal']['rps']} req/s with p99 < "
        f"{r['targets']['reveal']['p99_ms']} ms; leaderboard page >= {r['targets']['leaderboard']['rps']} req/s.",
        "", f"Start-up (spawn of `underspec serve` to its first answer): median "
        f"{r['startup_seconds']['median']} s of {r['startup_seconds']['all']}.",
        "", f"Submissions before the load (each team 5 exercises, exercise 1 sent 4 times at once): "
        f"{r['submissions_before_load']}.",
        "", f"Checks afterwards: {c['reveals']} reveals, {c['over_budget']} team-exercise pairs over "
        f"budget; {c['submissions']} submissions, {c['duplicate_submissions']} duplicated; "
        f"{c['server_errors']} answers 5xx; {c['socket_errors']} socket errors.", "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
