"""The leaderboard's web pages through the in-process client: CSRF and origin checks, login
sessions, the forms for reveal and submit, what a team's pages show, and the body size limit."""

from __future__ import annotations

import re

import numpy as np

from tests.server_fixtures import PASSWORD
from underspec.server import service
from underspec.server.db import open_database, team_by_name
from underspec.server.dependencies import SESSION_COOKIE


def token(client, path: str) -> str:
    """The CSRF token of the form on ``path`` (the GET also sets the browser cookie)."""
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def login(client, user="alpha", password=PASSWORD):
    return client.post("/account/login", data={"username": user, "password": password,
                                               "csrf": token(client, "/account/login")},
                       follow_redirects=False)


def test_forms_refuse_a_missing_token_and_another_origin(client, board):
    data = {"username": "gamma", "password": PASSWORD}
    missing = client.post("/account/register", data=data)
    assert missing.status_code == 403 and "form token" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    forged = client.post("/account/register", data={**data, "csrf": "0" * 64})
    assert forged.status_code == 403
    good = token(client, "/account/register")
    other_site = client.post("/account/register", data={**data, "csrf": good},
                             headers={"Origin": "http://evil.example"})
    assert other_site.status_code == 403 and "another site" in other_site.text
    with open_database(board)() as session:
        assert team_by_name(session, "gamma") is None  # nothing was registered so far
    ok = client.post("/account/register", data={**data, "csrf": good})
    assert ok.status_code == 201 and "must approve" in ok.text
    again = client.post("/account/register", data={**data, "csrf": good})
    assert again.status_code == 409 and "taken" in again.text


def test_login_session_and_the_forms_show_only_the_teams_own_reveals(client, board, tiny_task_dir):
    labels = np.load(tiny_task_dir / "answers" / "y_val.npy")
    bad = login(client, password="wrong password")
    assert bad.status_code == 401 and SESSION_COOKIE not in bad.cookies
    assert "bad username or password" in bad.text.lower()
    assert login(client).headers["location"] == "/account/"
    assert "Approved" in client.get("/account/").text
    # another team reveals row 9: alpha's pages must not show it
    with open_database(board)() as session:
        service.add_team(session, "beta", PASSWORD, approve=True)
    assert client.post("/reveal/", data={"username": "beta", "password": PASSWORD,
                                         "exercise_id": "1", "datum_id": "9"}).status_code == 200
    csrf = token(client, "/exercises/1/")
    moved = client.post("/exercises/1/reveal", data={"datum_id": "3", "csrf": csrf},
                        follow_redirects=False)
    assert moved.status_code == 303
    page = client.get("/exercises/1/").text
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td></tr>", page)
    assert rows == [("3", str(labels[3]))]
    assert 'id="left">4<' in page
    classes = np.unique(labels)
    other = classes[(np.searchsorted(classes, labels) + 1) % len(classes)]
    wrong = np.where(np.arange(80) < 8, other, labels)  # 8 of 80 rows wrong
    csv = "".join(f"{v}\n" for v in wrong).encode()
    sent = client.post("/exercises/1/submit", data={"csrf": csrf, "confirm": "yes"},
                       files={"file": ("p.csv", csv, "text/csv")}, follow_redirects=False)
    assert sent.status_code == 303
    page = client.get("/exercises/1/").text
    live = float(re.search(r"Live accuracy: ([0-9]+\.[0-9]+)", page).group(1))
    assert abs(live - (labels == wrong).mean()) < 1e-4
    second = client.post("/exercises/1/submit", data={"csrf": csrf, "confirm": "yes"},
                         files={"file": ("p.csv", csv, "text/csv")})
    assert second.status_code == 409 and "already submitted" in second.text
    # a tampered session cookie is no session
    cookie = client.cookies.get(SESSION_COOKIE)
    tampered = cookie.replace(cookie.split("|")[0], "another-token")
    domain = next(c.domain for c in client.cookies.jar if c.name == SESSION_COOKIE)
    client.cookies.delete(SESSION_COOKIE)  # replace it: a second cookie of the same name could be sent first
    client.cookies.set(SESSION_COOKIE, tampered, domain=domain)
    assert client.cookies.get(SESSION_COOKIE) == tampered
    assert client.get("/account/", follow_redirects=False).status_code == 303


def test_an_unapproved_team_logs_in_but_cannot_play(client, board):
    with open_database(board)() as session:
        service.add_team(session, "delta", PASSWORD)
    assert login(client, user="delta").status_code == 303
    assert "Waiting for the organisers" in client.get("/account/").text
    refused = client.post("/exercises/1/reveal",
                          data={"datum_id": "3", "csrf": token(client, "/exercises/1/")})
    assert refused.status_code == 403 and "not approved" in refused.text


def test_request_bodies_over_the_limit_are_refused_before_parsing(client, board):
    from underspec.server.app import MAX_BODY_BYTES

    big = b"1\n" * (MAX_BODY_BYTES // 2 + 10)
    reply = client.post("/submit/", data={"username": "alpha", "password": PASSWORD,
                                          "exercise_id": "1"},
                        files={"file": ("p.csv", big, "text/csv")})
    assert reply.status_code == 413 and "larger than" in reply.json()["detail"]

    def chunks():  # no Content-Length: counted while read
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    chunked = client.post("/register/", content=chunks(),
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 413
    with open_database(board)() as session:
        assert service.results(session)[0]["scores"][1]["default"]  # nothing was submitted
