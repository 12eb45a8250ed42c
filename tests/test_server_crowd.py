"""The leaderboard under a crowd and an attacker: no stall, no lock-out, bounded memory and
work, organiser mistakes refused, strict parsing, revocable sessions, safe exports, pages a
venue can serve offline. One test per defect of the issue "The leaderboard under a real crowd".
"""

from __future__ import annotations

import io
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.server_fixtures import PASSWORD
from underspec.cli import main
from underspec.server import accounts, service
from underspec.server.accounts import Credentials, Verifier
from underspec.server.app import create_app
from underspec.server.db import Exercise, open_database


def form(datum=0, user="alpha", password=PASSWORD, exercise="1"):
    return {"username": user, "password": password, "exercise_id": exercise, "datum_id": str(datum)}


def test_forty_concurrent_reveals_and_a_hundred_page_loads_do_not_stall(live):
    # 20 concurrent requests used to hold every pooled connection while waiting for a thread
    with httpx.Client(base_url=live, timeout=15, limits=httpx.Limits(max_connections=200)) as http:
        assert http.post("/reveal/", data=form()).status_code == 200

        def reveal(i):
            return http.post("/reveal/", data=form(datum=i % 5)).status_code

        def listing(_):
            return http.get("/exercises.json").status_code

        with ThreadPoolExecutor(40) as pool:
            assert set(pool.map(reveal, range(120))) == {200}
        with ThreadPoolExecutor(100) as pool:
            assert set(pool.map(listing, range(200))) == {200}
        began = time.perf_counter()
        assert http.get("/leaderboard.json").status_code == 200
        assert time.perf_counter() - began < 2


def test_sigterm_stops_the_server_within_its_shutdown_timeout(board):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "underspec", "serve", "--db", board, "--port", str(port),
                             "--shutdown-timeout", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        proc.stdout.readline()  # "leaderboard on ..."
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/exercises.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        slow = socket.create_connection(("127.0.0.1", port))  # an upload that never ends
        slow.sendall(b"POST /submit/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n")
        time.sleep(0.3)
        began = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=8)
        assert time.perf_counter() - began < 6
        slow.close()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_wrong_passwords_from_another_client_never_lock_out_the_team(board):
    app = create_app(board)
    with TestClient(app, client=("10.0.0.66", 4000)) as attacker, \
            TestClient(app, client=("10.0.0.1", 5000)) as owner:
        for _ in range(12):
            assert attacker.post("/reveal/", data=form(password="wrong guess")).status_code in (401, 429)
        assert attacker.post("/reveal/", data=form()).status_code == 429  # the attacker waits
        assert owner.post("/reveal/", data=form(datum=1)).status_code == 200  # the owner does not
    with TestClient(app, client=("10.0.0.66", 4000)) as same_address:
        # once checked, the right password passes at once, even from the throttled address
        assert same_address.post("/reveal/", data=form(datum=2)).status_code == 200


def test_failure_tables_are_bounded_and_long_fields_refused_before_any_work(board, monkeypatch):
    class NoArgon2:  # the bookkeeping is under test, not argon2
        def verify(self, _hash, _password):
            raise accounts.VerificationError("wrong")

    monkeypatch.setattr(accounts, "_hasher", NoArgon2())
    verifier = Verifier(table_size=50, burst=10**6)
    for i in range(500):
        verifier.check(Credentials(f"name{i}", "password", f"10.0.{i // 250}.{i % 250}"), None)
        verifier.take_check(f"10.0.{i // 250}.{i % 250}")
    assert len(verifier._failures) == 50 and len(verifier._buckets) == 50
    with TestClient(create_app(board)) as client:
        reply = client.post("/reveal/", data=form(user="x" * 65))
        assert reply.status_code == 422 and "64 characters" in reply.json()["detail"]
        reply = client.post("/reveal/", data=form(user="x" * 200_000))
        assert reply.status_code == 413  # over the 64 KiB of a form: refused unread


def test_unknown_names_cannot_take_more_than_their_share_of_argon2(board):
    app = create_app(board, verifier=Verifier(burst=3, checks_per_second=0.01))
    with TestClient(app, client=("10.0.0.1", 1)) as owner, TestClient(app, client=("10.0.0.9", 1)) as guesser:
        assert owner.post("/reveal/", data=form()).status_code == 200  # one argon2 check, then none
        codes = [guesser.post("/reveal/", data=form(user=f"random{i}")).status_code for i in range(6)]
        assert codes[:3] == [401, 401, 401] and set(codes[3:]) == {429}
        refused = guesser.post("/reveal/", data=form(user="random9"))
        assert "password checks" in refused.json()["detail"] and int(refused.headers["retry-after"]) >= 1
        for datum in range(5):
            assert owner.post("/reveal/", data=form(datum=datum)).status_code == 200


def test_dummy_hash_has_the_parameters_of_real_hashes():
    # unknown names must cost the same argon2 work as known ones
    assert not accounts._hasher.check_needs_rehash(accounts._DUMMY)


def test_replacing_an_exercise_in_use_is_refused_and_the_site_keeps_working(client, board, tiny_task_dir,
                                                                           tmp_path, capsys):
    from underspec.data.generators import generate

    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    sent = client.post("/submit/", data={"username": "alpha", "password": PASSWORD, "exercise_id": "1"},
                       files={"file": ("p.csv", "".join(f"{v}\n" for v in labels).encode())})
    assert sent.status_code == 200
    other = tmp_path / "other"
    generate("cc", source="digits", seed=4, out=other, sizes=(60, 200, 50))
    assert main(["admin", "--db", board, "add-exercise", str(other), "--id", "1"]) == 2
    err = capsys.readouterr().err
    assert "exercise 1" in err and "1 submissions" in err and "new-phase" in err
    assert client.get("/").status_code == 200 and client.get("/leaderboard.json").status_code == 200
    assert main(["admin", "--db", board, "export", "--out", str(tmp_path / "r.csv")]) == 0
    assert main(["admin", "--db", board, "new-phase", "final"]) == 0
    assert main(["admin", "--db", board, "add-exercise", str(other), "--id", "1"]) == 0  # now unused
    with open_database(board)() as session:
        assert session.get(Exercise, 1).n_items == 50


@pytest.mark.parametrize("path", ["/exercises/99999999999999999999/", "/exercises/2147483648/",
                                  "/exercises/2147483648/X_val.npy", "/exercises/-1/"])
def test_huge_or_negative_ids_in_paths_are_404(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(("field", "value"), [("username", "al\x00pha"), ("username", "al\u202epha"),
                                              ("exercise_id", "99999999999999999999"), ("password", "a\x00b")])
def test_hostile_fields_are_refused_with_422(client, field, value):
    reply = client.post("/reveal/", data={**form(), field: value})
    assert reply.status_code == 422 and field.split("_")[0] in reply.json()["detail"]


def test_public_split_is_secret_per_exercise_unless_seeded(db_url, tiny_task_dir):
    with open_database(db_url)() as session:
        masks = [service.add_exercise(session, tiny_task_dir, exercise_id=i, public_share=0.5).mask("public")
                 for i in (1, 2)]
        seeded = [service.add_exercise(session, tiny_task_dir, exercise_id=i, public_share=0.5,
                                       split_seed=11).mask("public") for i in (3, 4)]
    seed0 = np.random.default_rng(0).random(len(masks[0])) < 0.5
    assert not np.array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[0], seed0) and not np.array_equal(masks[1], seed0)
    assert np.array_equal(seeded[0], seeded[1])


@pytest.mark.parametrize("datum", ["1_0", "+4", "\u0664", "1e0", "0x3", "4.0"])
def test_only_plain_ascii_integers_are_rows(client, datum):
    reply = client.post("/reveal/", data=form(datum=datum))
    assert reply.status_code == 422 and "datum_id" in reply.json()["detail"]


@pytest.mark.parametrize("line", ["1e0", "+1", "1_0", "1.0"])
def test_submission_lines_are_plain_integers(client, tiny_task_dir, line):
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    rows = [str(v) for v in labels]
    rows[0] = line.replace("1", str(labels[0])) if line != "1.0" else f"{labels[0]}.0"
    reply = client.post("/submit/", data={"username": "alpha", "password": PASSWORD, "exercise_id": "1"},
                        files={"file": ("p.csv", "\n".join(rows).encode())})
    assert reply.status_code == 422 and "line 1" in reply.json()["detail"]


def test_a_field_sent_twice_is_refused(client, tiny_task_dir):
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    good = "".join(f"{v}\n" for v in labels).encode()
    reply = client.post("/submit/", data={"username": "alpha", "password": PASSWORD, "exercise_id": "1"},
                        files=[("file", ("a.csv", good)), ("file", ("b.csv", good))])
    assert reply.status_code == 422 and "file: sent more than once" in reply.json()["detail"]
    assert client.get("/leaderboard.json").json()[0]["scores"]["1"]["default"]


def _login(client, user="alpha", password=PASSWORD):
    page = client.get("/account/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return client.post("/account/login", data={"username": user, "password": password, "csrf": csrf},
                       follow_redirects=False), csrf


def test_logout_revokes_the_cookie_and_a_reset_password_ends_sessions(client, board, monkeypatch, capsys):
    from underspec.server.dependencies import SESSION_COOKIE

    reply, csrf = _login(client)
    cookie = reply.cookies[SESSION_COOKIE]
    assert "Approved" in client.get("/account/").text
    client.post("/account/logout", data={"csrf": csrf})
    client.cookies.set(SESSION_COOKIE, cookie)  # a copy of the cookie kept from before
    assert client.get("/account/", follow_redirects=False).status_code == 303
    reply, _ = _login(client)
    assert reply.status_code == 303
    monkeypatch.setattr(sys, "stdin", io.StringIO("a new password 42\n"))
    assert main(["admin", "--db", board, "reset-password", "alpha", "--password-stdin"]) == 0
    assert client.get("/account/", follow_redirects=False).status_code == 303
    assert client.post("/reveal/", data=form()).status_code == 401
    assert client.post("/reveal/", data=form(password="a new password 42")).status_code == 200


@pytest.mark.parametrize(("name", "status"), [("\u0430lpha", 409), ("ALPHA", 409), ("al\u202epha", 422),
                                              ("a\u200bb", 422), ("x" * 65, 422)])
def test_registration_refuses_lookalikes_and_invisible_characters(client, name, status):
    assert client.post("/register/", data={"username": name, "password": PASSWORD}).status_code == status


def test_registration_normalises_names(client):
    reply = client.post("/register/", data={"username": "\uff42\uff45\uff54\uff41", "password": PASSWORD})
    assert reply.status_code == 201 and reply.json()["team"] == "beta"


def test_exported_csv_cannot_run_formulas(db_url, tiny_task_dir, tmp_path):
    with open_database(db_url)() as session:
        service.add_exercise(session, tiny_task_dir)
        service.add_team(session, '=HYPERLINK("http://evil","x")', PASSWORD, approve=True)
    out = tmp_path / "r.csv"
    assert main(["admin", "--db", db_url, "export", "--out", str(out)]) == 0
    assert "'=HYPERLINK" in out.read_text() and "\n1,=" not in out.read_text()


def test_docs_are_served_without_a_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" not in page.text  # the script is a file
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources)
    for source in sources:
        assert client.get(source).status_code == 200
    assert "SwaggerUIBundle" in client.get("/docs/init.js").text


def test_pages_fit_a_phone_carry_security_headers_and_name_the_challenge(client, board):
    with open_database(board)() as session:
        service.init_challenge(session, "Hackathon 42")
    page = client.get("/")
    assert 'name="viewport"' in page.text and "<title>Leaderboard · Hackathon 42</title>" in page.text
    assert "no submission yet" in page.text
    for header in ("content-security-policy", "x-frame-options", "referrer-policy", "x-content-type-options"):
        assert header in page.headers and header in client.get("/leaderboard.json").headers


def test_error_pages_speak_the_forms_words_and_keep_the_team_logged_in(client, board):
    _, csrf = _login(client)
    reply = client.post("/exercises/1/reveal", data={"datum_id": "500", "csrf": csrf})
    assert reply.status_code == 422 and "datum_id" not in reply.text
    assert "not a row of X_val.npy: give a whole number from 0 to 79" in reply.text
    assert 'id="login"' not in reply.text and 'id="me"' in reply.text
    labels = "".join("0\n" for _ in range(80)).encode()
    unconfirmed = client.post("/exercises/1/submit", data={"csrf": csrf}, files={"file": ("p.csv", labels)})
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    assert client.get("/leaderboard.json").json()[0]["scores"]["1"]["default"]


def test_never_submitted_teams_come_after_submitters_at_equal_totals(db_url, tiny_task_dir):
    with open_database(db_url)() as session:
        ex = service.add_exercise(session, tiny_task_dir, default_score=0.5)
        for name in ("aaa", "zzz"):
            service.add_team(session, name, PASSWORD, approve=True)
        labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
        classes = np.unique(labels)
        other = classes[(np.searchsorted(classes, labels) + 1) % len(classes)]
        half = np.where(np.arange(len(labels)) % 2 == 0, labels, other)  # accuracy 0.5, the default
        service.submit(session, service.team_by_name(session, "zzz"), ex,
                       "".join(f"{v}\n" for v in half).encode())
        rows = service.results(session)
    assert [(r["team"], r["rank"], r["submitted"]) for r in rows] == [("zzz", 1, 1), ("aaa", 1, 0)]


def test_a_refused_second_submission_leaves_the_cached_exercises_whole(client, tiny_task_dir):
    # the 409 rolls back its session: objects cached from that session must not expire with it
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    csv = "".join(f"{v}\n" for v in labels).encode()
    data = {"username": "alpha", "password": PASSWORD, "exercise_id": "1"}
    assert client.post("/submit/", data=data, files={"file": ("p.csv", csv)}).status_code == 200
    assert client.post("/submit/", data=data, files={"file": ("p.csv", csv)}).status_code == 409
    assert client.post("/reveal/", data=form(datum=3)).status_code == 200
    assert client.get("/").status_code == 200


def test_concurrent_first_logins_of_one_team_share_one_argon2_check(live):
    calls = []
    original = Verifier.check

    def counted(self, creds, stored_hash):
        calls.append(creds.name)
        time.sleep(0.2)  # long enough for the others to arrive while it runs
        return original(self, creds, stored_hash)

    Verifier.check = counted
    try:
        with httpx.Client(base_url=live, timeout=30) as http, ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda i: http.post("/reveal/", data=form(datum=i % 5)).status_code, range(8)))
    finally:
        Verifier.check = original
    assert codes == [200] * 8 and len(calls) < 8


def test_driver_statements_compile_for_each_dialect():
    # the reveal's hot path runs SQLAlchemy statements on the raw driver: each dialect's
    # parameter style must come out right, or every reveal fails on that database
    from sqlalchemy.dialects import postgresql, sqlite

    from underspec.server.db import DriverStatement
    from underspec.server.service import _EARLIER_REVEALS, _REVISION

    lite = DriverStatement(_EARLIER_REVEALS, sqlite.dialect())
    assert "?" in lite.sql and lite.order == ["team", "exercise"]
    pg = DriverStatement(_EARLIER_REVEALS, postgresql.dialect())
    assert "%(team)s" in pg.sql and pg.order is None
    assert list(DriverStatement(_REVISION, sqlite.dialect()).defaults.values()) == ["revision"]


def test_requests_survive_the_database_dropping_its_connections(client, board, tiny_task_dir):
    # a PostgreSQL restart (or an idle timeout) drops the pooled connections; without a
    # pre-ping on every checkout, the request that finds one dead is retried on a fresh one
    if not board.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (UNDERSPEC_TEST_DB): SQLite connections are not dropped")
    from sqlalchemy import text

    from underspec.server.db import make_engine

    with ThreadPoolExecutor(4) as pool:  # several pooled connections, all to be dropped
        assert set(pool.map(lambda d: client.post("/reveal/", data=form(datum=d)).status_code, range(4))) == {200}
    assert client.get("/").status_code == 200
    engine = make_engine(board)
    with engine.connect() as conn:
        dropped = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE pid <> pg_backend_pid() AND datname = current_database()")).scalar()
    engine.dispose()
    assert dropped >= 1
    assert client.post("/reveal/", data=form(datum=1)).status_code == 200
    assert client.get("/").status_code == 200 and client.get("/leaderboard.json").status_code == 200
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    sent = client.post("/submit/", data={"username": "alpha", "password": PASSWORD, "exercise_id": "1"},
                       files={"file": ("p.csv", "".join(f"{v}\n" for v in labels).encode())})
    assert sent.status_code == 200


def test_sqlite_reveals_run_on_the_event_loop_and_take_a_thread_when_the_database_is_locked(client, board,
                                                                                             monkeypatch):
    # the hop to a worker thread and back cost more than the reveal's three SQLite statements
    # (1,000 against 2,300 reveals a second); a reveal that would wait for a lock must not block
    # the event loop: it takes a thread and waits there
    if board.startswith("postgresql"):
        pytest.skip("SQLite only: PostgreSQL reveals wait on the loop with asyncio connections (next test)")
    import sqlite3
    import threading

    from underspec.server.board import Board

    calls = []
    real = Board.with_reveals

    def spy(self, work, inline=False):
        calls.append(inline)
        return real(self, work, inline)

    monkeypatch.setattr(Board, "with_reveals", spy)
    assert client.post("/reveal/", data=form(datum=0)).status_code == 200  # first login: argon2
    calls.clear()
    assert client.post("/reveal/", data=form(datum=1)).status_code == 200
    assert calls == [True]

    calls.clear()
    writer = sqlite3.connect(board, timeout=0, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    answers = []
    thread = threading.Thread(target=lambda: answers.append(client.post("/reveal/", data=form(datum=2))))
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive() and calls == [True, False]  # fell back, and waits in a thread
    assert client.get("/leaderboard.json").status_code == 200  # the event loop still answers
    writer.execute("COMMIT")
    thread.join(10)
    writer.close()
    assert answers[0].status_code == 200 and answers[0].json()["previously revealed"] == [0, 1]


def test_postgresql_reveals_wait_for_the_database_on_the_event_loop_without_a_thread(client, board, monkeypatch):
    # the hop to a worker thread and back cost more than the reveal's statements (750 against
    # 1,800 answers a second for a bare route); a blocking call on the loop would stall every
    # other request while the database waits: psycopg's asyncio connections do neither
    if not board.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (UNDERSPEC_TEST_DB)")
    import threading

    import anyio.to_thread
    import psycopg

    app_board = client.app.state.board
    assert app_board.inline is None and app_board.native is not None
    assert client.post("/reveal/", data=form(datum=0)).status_code == 200  # first login: argon2
    hops = []
    real_hop = anyio.to_thread.run_sync

    async def counted_hop(*args, **kwargs):
        hops.append(args[0])
        return await real_hop(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted_hop)
    assert client.post("/reveal/", data=form(datum=1)).status_code == 200
    assert hops == []  # no worker thread

    dsn = app_board.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as locker:
        locker.execute("LOCK TABLE reveal IN EXCLUSIVE MODE")  # a new reveal's insert must wait
        answers = []
        thread = threading.Thread(target=lambda: answers.append(client.post("/reveal/", data=form(datum=2))))
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # waiting for the lock
        assert client.get("/leaderboard.json").status_code == 200  # the event loop still answers
        locker.commit()
    thread.join(10)
    assert answers[0].status_code == 200 and answers[0].json()["previously revealed"] == [0, 1]


def test_known_reveals_spare_a_read_and_a_stale_list_never_breaks_the_budget(board):
    # a repeated reveal, or one past the budget, needs no read of the reveal table; what
    # another process records (a second server on the same database) is found when the next
    # slot turns out taken
    with TestClient(create_app(board)) as here, TestClient(create_app(board)) as other:
        table_reads = []
        statements = here.app.state.board.statements
        earlier = statements.earlier

        class Counted:  # the table's reads, on a blocking or an asyncio connection alike
            def execute(self, *args, **values):
                table_reads.append(1)
                return earlier.execute(*args, **values)

            async def execute_async(self, *args, **values):
                table_reads.append(1)
                return await earlier.execute_async(*args, **values)

        statements.earlier = Counted()
        assert here.post("/reveal/", data=form(datum=0)).status_code == 200
        assert table_reads  # the first reveal read the table
        table_reads.clear()
        again = here.post("/reveal/", data=form(datum=0))
        assert again.status_code == 200 and again.json()["previously revealed"] == [] and table_reads == []
        for datum in (1, 2, 3, 4):  # the other server spends the rest of the budget of 5
            assert other.post("/reveal/", data=form(datum=datum)).status_code == 200
        refused = here.post("/reveal/", data=form(datum=5))
        assert refused.status_code == 429, refused.text
        free = here.post("/reveal/", data=form(datum=3))
        assert free.status_code == 200 and sorted(free.json()["previously revealed"]) == [0, 1, 2, 4]
