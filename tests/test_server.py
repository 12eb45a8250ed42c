"""The leaderboard server: reveal and submit rules, errors, concurrency, persistence, admin CLI.

The database is a SQLite file by default; with ``UNDERSPEC_TEST_DB`` set to a PostgreSQL URL
(``.ci/run`` starts one) every test runs there too, on a fresh schema.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.server_fixtures import PASSWORD
from underspec.cli import main
from underspec.server import service
from underspec.server.app import create_app
from underspec.server.db import make_engine, open_database


def form(exercise=1, datum=0, user="alpha", password=PASSWORD):
    return {"username": user, "password": password, "exercise_id": str(exercise),
            "datum_id": str(datum)}


def test_reveal_answers_like_the_original_and_spends_the_budget_once(client, tiny_task_dir):
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    first = client.post("/reveal/", data=form(datum=4))
    assert first.status_code == 200
    assert first.json() == {"exercise_id": 1, "datum_id": 4, "label": int(labels[4]),
                            "previously revealed": []}
    second = client.post("/reveal/", files={k: (None, v) for k, v in form(datum=7).items()})
    assert second.json()["previously revealed"] == [4]  # multipart works too
    again = client.post("/reveal/", data=form(datum=4))
    assert again.status_code == 200 and again.json()["label"] == int(labels[4])
    for datum in (10, 11, 12):
        assert client.post("/reveal/", data=form(datum=datum)).status_code == 200
    spent = client.post("/reveal/", data=form(datum=13))
    assert spent.status_code == 429 and "budget" in spent.json()["detail"]
    # an already revealed row is still free after the budget is spent
    assert client.post("/reveal/", data=form(datum=7)).status_code == 200


@pytest.mark.parametrize(("change", "status", "words"), [
    ({"password": "wrong password"}, 401, "bad username or password"),
    ({"user": "nobody"}, 401, "bad username or password"),
    ({"exercise": 99}, 404, "no such exercise"),
    ({"exercise": "x"}, 422, "exercise_id"),
    ({"datum": "abc"}, 422, "datum_id: expected an integer"),
    ({"datum": 80}, 422, "0 <= datum_id < 80"),
    ({"datum": -1}, 422, "0 <= datum_id < 80"),
])
def test_reveal_errors(client, change, status, words):
    reply = client.post("/reveal/", data=form(**change))
    assert reply.status_code == status
    assert words in reply.json()["detail"]


def test_unapproved_team_and_closed_exercise_are_refused(client, board):
    assert client.post("/register/", data={"username": "beta", "password": PASSWORD}).status_code == 201
    reply = client.post("/reveal/", data=form(user="beta"))
    assert reply.status_code == 403 and "not approved" in reply.json()["detail"]
    with open_database(board)() as session:
        service.set_team(session, "beta", approved=True)
        service.set_open(session, 1, False)
    reply = client.post("/reveal/", data=form(user="beta"))
    assert reply.status_code == 403 and "closed" in reply.json()["detail"]


def test_repeated_failed_logins_are_slowed_down(client):
    for _ in range(5):
        assert client.post("/reveal/", data=form(password="nope nope")).status_code == 401
    reply = client.post("/reveal/", data=form())  # even the right password must wait now
    assert reply.status_code == 429 and "failed logins" in reply.json()["detail"]


def _csv(values) -> bytes:
    return "".join(f"{v}\n" for v in values).encode()


def submit(client, content: bytes, user="alpha"):
    return client.post("/submit/", data={"username": user, "password": PASSWORD, "exercise_id": "1"},
                       files={"file": ("pred.csv", content, "text/csv")})


def test_submission_is_checked_scored_and_final(client, tiny_task_dir):
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    classes = sorted(set(labels.tolist()))
    bad = {
        _csv(labels[:-1]): "79 lines; expected 80",
        b"label\n" + _csv(labels[1:]): "line 1",
        _csv([*labels[:9], 7, *labels[10:]]): "line 10",
        b"\xff\xfe" + _csv(labels): "not UTF-8",
        b"": "empty",
        b"".join(f"{i},{v}\n".encode() for i, v in enumerate(labels)): "several columns",
    }
    for content, words in bad.items():
        reply = submit(client, content)
        assert reply.status_code == 422, content[:20]
        assert words in reply.json()["detail"]
    pred = labels.copy()
    pred[:8] = [classes[0] if v != classes[0] else classes[1] for v in pred[:8]]
    reply = submit(client, _csv(pred))
    assert reply.status_code == 200
    assert reply.json()["accuracy"] == pytest.approx(72 / 80)
    assert "worst_group_accuracy" in reply.json()
    second = submit(client, _csv(labels))
    assert second.status_code == 409
    board = client.get("/leaderboard.json").json()
    assert board[0]["team"] == "alpha" and board[0]["scores"]["1"]["accuracy"] == pytest.approx(0.9)
    assert board[0]["scores"]["1"]["default"] is False
    page = client.get("/")
    assert "alpha" in page.text and "0.9000" in page.text


def test_leaderboard_uses_default_scores_and_ranks(client, board):
    with open_database(board)() as session:
        service.add_team(session, "gamma", PASSWORD, approve=True)
    rows = client.get("/leaderboard.json").json()
    assert {r["team"] for r in rows} == {"alpha", "gamma"}
    assert all(r["scores"]["1"]["default"] and r["total"] == pytest.approx(0.8) for r in rows)
    assert [r["rank"] for r in rows] == [1, 1]
    assert "(default)" in client.get("/").text


def test_downloads_only_participant_files(client):
    assert client.get("/exercises/1/X_val.npy").status_code == 200
    assert client.get("/exercises/1/y_val.npy").status_code == 404
    assert client.get("/exercises/1/..%2Fanswers%2Fy_val.npy").status_code == 404
    info = client.get("/exercises.json").json()
    assert info[0]["budget"] == 5 and info[0]["target_rows"] == 80
    assert "labels" not in json.dumps(info)


def test_budget_and_single_submission_hold_under_concurrency(live, tiny_task_dir):
    with httpx.Client(base_url=live, timeout=60) as http:
        def one(datum):
            return http.post("/reveal/", data=form(datum=datum)).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(one, range(50)))
        assert codes.count(200) == 5 and codes.count(429) == 45

        labels = np.load(tiny_task_dir / "answers" / "y_val.npy")

        def send(_):
            return http.post("/submit/", data={"username": "alpha", "password": PASSWORD,
                                               "exercise_id": "1"},
                             files={"file": ("p.csv", _csv(labels))}).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(send, range(8)))
        assert codes.count(200) == 1 and codes.count(409) == 7


def test_the_original_curl_and_requests_calls_work(live):
    import requests

    res = requests.post(live + "/reveal/", data={"username": "alpha", "password": PASSWORD,
                                                 "exercise_id": 1, "datum_id": 3})
    answer = json.loads(res.content)
    assert answer["datum_id"] == 3 and "previously revealed" in answer
    curl = subprocess.run(["curl", "-s", "-F", "username=alpha", "-F", f"password={PASSWORD}",
                           "-F", "exercise_id=1", "-F", "datum_id=5", live + "/reveal/"],
                          capture_output=True, text=True, check=False)
    if curl.returncode == 127:
        pytest.skip("curl not installed")
    assert json.loads(curl.stdout)["previously revealed"] == [3]


def test_reveals_and_submissions_survive_a_restart(board, tiny_task_dir):
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    with TestClient(create_app(board)) as c:
        for datum in range(5):
            assert c.post("/reveal/", data=form(datum=datum)).status_code == 200
        assert submit(c, _csv(labels)).status_code == 200
    with TestClient(create_app(board)) as c:  # a new process would see the same database
        assert c.post("/reveal/", data=form(datum=20)).status_code == 429
        assert c.post("/reveal/", data=form(datum=2)).json()["previously revealed"] == [0, 1, 3, 4]
        assert submit(c, _csv(labels)).status_code == 409
        assert c.get("/leaderboard.json").json()[0]["scores"]["1"]["accuracy"] == 1.0


def test_admin_cli_forms(db_url, tiny_task_dir, tmp_path, monkeypatch, capsys):
    assert main(["admin", "--db", db_url, "add-exercise", str(tiny_task_dir), "--id", "7",
                 "--points", "3", "--default-score", "0.5", "--budget", "2"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["admin", "--db", db_url, "add-team", "delta", "--password-stdin"]) == 0
    assert main(["admin", "--db", db_url, "approve", "delta"]) == 0
    assert main(["admin", "--db", db_url, "list-teams"]) == 0
    assert "delta\tapproved=True" in capsys.readouterr().out
    out = tmp_path / "results.csv"
    assert main(["admin", "--db", db_url, "export", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("rank,team,7_cc") and lines[1].split(",")[2] == "0.5"
    assert main(["admin", "--db", db_url, "approve", "nobody"]) == 2
    assert "no such team" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["admin", "--db", db_url, "add-team", "eps", "--password-stdin"]) == 2
    assert main(["admin", "--db", db_url, "add-exercise", str(tmp_path / "missing")]) == 2


def test_new_phase_archives_and_wipes(client, board):
    assert client.post("/reveal/", data=form(datum=1)).status_code == 200
    with open_database(board)() as session:
        document = service.new_phase(session, "final")
        assert len(document["reveals"]) == 1
        assert service.get_phase(session) == "final"
    assert client.post("/reveal/", data=form(datum=9)).json()["previously revealed"] == []


def test_server_does_not_import_torch():
    """Nor numpy until a score is computed, nor Jinja2 until a page is rendered: the first
    answers come sooner (issue 21, start-up)."""
    code = ("import sys; import underspec.server.app; "
            "heavy = sorted({'torch', 'pandas', 'sklearn', 'numpy', 'jinja2'} & set(sys.modules)); print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_client_verbs_and_the_http_oracle(live, board, tiny_task_dir, tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")  # the client side runs the solver
    monkeypatch.setenv("UNDERSPEC_USERNAME", "alpha")
    monkeypatch.setenv("UNDERSPEC_PASSWORD", PASSWORD)
    monkeypatch.setenv("UNDERSPEC_CONFIG", str(tmp_path / "none.json"))
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    assert main(["reveal", "1", "6", "--server", live]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == int(labels[6])
    out = tmp_path / "pred.csv"
    assert main(["solve", str(tiny_task_dir), "--oracle", live, "--exercise", "1", "--submit",
                 "--out", str(out), "--json", str(tmp_path / "s.json"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    printed = capsys.readouterr().out
    with open_database(board)() as session:
        from sqlalchemy import func, select

        from underspec.server.db import Reveal, Submission

        reveals = session.scalar(select(func.count()).select_from(Reveal))
        submitted = session.scalar(select(func.count()).select_from(Submission))
    # the row revealed by hand counts against the same budget of 5: the solver stops there
    queried = {q["index"] for q in summary["queries"]}
    assert reveals == len(queried | {6}) and reveals <= 5
    assert submitted == (1 if summary["decision"] == "submit" else 0)
    assert ("submitted to exercise 1" in printed) == (summary["decision"] == "submit")
    assert main(["submit", "1", str(out), "--server", live]) == 2 or submitted == 0
    err = capsys.readouterr().err
    assert PASSWORD not in printed + err
    monkeypatch.delenv("UNDERSPEC_PASSWORD")
    assert main(["reveal", "1", "6", "--server", live]) == 2
    assert "UNDERSPEC_PASSWORD" in capsys.readouterr().err


def test_solve_refuses_an_http_oracle_without_exercise_and_submit_without_server(tiny_task_dir,
                                                                                   tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "p.csv"
    assert main(["solve", str(tiny_task_dir), "--oracle", "http://127.0.0.1:9", "--out", str(out)]) == 2
    assert "--exercise" in capsys.readouterr().err
    answers = f"answers:{tiny_task_dir / 'answers' / 'y_val.npy'}"
    assert main(["solve", str(tiny_task_dir), "--oracle", answers, "--submit", "--out", str(out)]) == 2
    assert "--submit: needs the leaderboard" in capsys.readouterr().err
    assert not out.exists()


def test_cached_leaderboard_follows_changes_made_by_other_processes(client, board, tiny_task_dir):
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    assert [r["team"] for r in client.get("/leaderboard.json").json()] == ["alpha"]
    with open_database(board)() as session:  # another session, as `underspec admin` would be
        service.add_team(session, "beta", PASSWORD, approve=True)
    assert {r["team"] for r in client.get("/leaderboard.json").json()} == {"alpha", "beta"}
    assert submit(client, _csv(labels)).status_code == 200
    top = client.get("/leaderboard.json").json()[0]
    assert top["team"] == "alpha" and top["scores"]["1"]["accuracy"] == 1.0
    assert not top["scores"]["1"]["default"]
    assert main(["admin", "--db", board, "disable", "alpha"]) == 0
    assert [r["team"] for r in client.get("/leaderboard.json").json()] == ["beta"]


def test_a_version_1_database_is_migrated_on_open(db_url):
    from underspec.server.db import MIGRATIONS, SCHEMA_VERSION, Meta, get_meta, migrate

    engine = make_engine(db_url)
    Meta.__table__.create(engine)
    MIGRATIONS[1](engine)
    with Session(engine) as session, session.begin():
        session.add(Meta(key="schema_version", value="1"))
    assert migrate(engine) == 1  # the version it found
    with Session(engine) as session:
        assert get_meta(session, "schema_version") == str(SCHEMA_VERSION)
        assert get_meta(session, "revision") == "0"
    assert migrate(engine) == SCHEMA_VERSION  # nothing left to do
    engine.dispose()


def test_the_server_tests_fixtures_never_import_torch():
    # regression (issue 25): conftest imported torch at module level, so the server tests
    # needed it although the server never imports it
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import tests.conftest, tests.server_fixtures, tests.browser_fixtures\n"
            "from underspec.server.app import create_app\n"
            "print('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
