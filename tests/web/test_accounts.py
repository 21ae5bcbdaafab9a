"""Sessions, passwords, names and API tokens as an attacker tries them: a cookie copied before a
logout or a password change is worth nothing after it, look-alike names are one account, an
unknown name costs the same hash as a known one, tokens are listed, labelled, expired and revoked
by their owner only, and nothing personal is kept by a browser's or a proxy's cache."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import pytest

from grader.errors import DuplicateUser, UserError
from grader.storage.models import ApiToken, utcnow
from grader.storage.users import PASSWORD_CHARS, add_user, get_user, import_roster, set_password
from grader.storage.db import session_scope
from support import PERCEPTRON, csrf, perceptron_result


def cookie_of(client) -> str:
    return client.get_cookie("grader_session").value


def with_cookie(site, value: str):
    client = site.app.test_client()
    client.set_cookie("grader_session", value)
    return client


def logged_in(client) -> bool:
    return client.get("/").status_code == 200


def test_a_cookie_copied_before_logout_is_worth_nothing_after_it(any_site):
    alice = any_site.client("alice")
    stolen = cookie_of(alice)
    assert logged_in(with_cookie(any_site, stolen))               # the copy works while alice is logged in
    assert alice.post("/logout", data={"csrf_token": csrf(alice.get("/"))}).status_code == 302
    assert not logged_in(with_cookie(any_site, stolen))
    assert logged_in(any_site.client("alice"))                    # a new login is a new session


def test_a_password_change_logs_out_every_other_browser(site):
    laptop, phone = site.client("alice"), site.client("alice")
    page = laptop.get("/account")
    assert page.status_code == 200 and b"Change the password" in page.data
    wrong = laptop.post("/account/password", data={"csrf_token": csrf(page), "current": "nope",
                                                   "new": "n3w-secret", "again": "n3w-secret"})
    assert wrong.status_code == 422 and b"current password is not right" in wrong.data and logged_in(phone)
    changed = laptop.post("/account/password", data={"csrf_token": csrf(page), "current": "alice-pw",
                                                     "new": "n3w-secret", "again": "n3w-secret"})
    assert changed.status_code == 303
    assert logged_in(laptop) and not logged_in(phone)
    login = site.app.test_client()
    form = login.get("/login")
    assert login.post("/login", data={"username": "alice", "password": "alice-pw",
                                      "csrf_token": csrf(form)}).status_code == 401
    assert login.post("/login", data={"username": "alice", "password": "n3w-secret",
                                      "csrf_token": csrf(form)}).status_code == 302
    other = site.client("bob")                                    # an operator's reset ends sessions too
    with session_scope(site.config) as s:
        set_password(s, "bob", "reset-by-staff")
    assert not logged_in(other)


def test_look_alike_names_are_one_account(any_site):
    with session_scope(any_site.config) as s:
        for look_alike in ("Alice", "ALICE", "ａｌｉｃｅ", "\u0430lice", "\u0391lice"):   # fullwidth, Cyrillic а, Greek Α
            with pytest.raises(DuplicateUser, match="same name as the user 'alice'"):
                add_user(s, look_alike, password="x")
            assert get_user(s, look_alike).name == "alice"
        result = import_roster(s, "name,email\n\u0430lice,alice@example.org\ncarol,carol@example.org\n")
        assert (result.added, result.updated) == (1, 1) and get_user(s, "alice").email == "alice@example.org"
        with pytest.raises(Exception, match="already on line 2"):
            import_roster(s, "name\ndave\nDAVE\n")
    client = any_site.app.test_client()
    form = client.get("/login")
    assert client.post("/login", data={"username": "\u0430lice", "password": "alice-pw",
                                       "csrf_token": csrf(form)}).status_code == 302
    assert b"alice" in client.get("/").data


def test_an_unknown_name_costs_the_same_hash_as_a_known_one(site, monkeypatch):
    """The answer's time must not tell which names exist: a login for an unknown name, or one
    with an absurdly long password, runs scrypt exactly as a known name's does. (A wrapper that
    counts the real scrypt's calls; the timing itself is printed by bench/login_times.py.)"""
    calls = []
    real = hashlib.scrypt

    def counted(*args, **kwargs):
        calls.append(kwargs.get("n"))
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    client = site.app.test_client()
    form = client.get("/login")
    for name, password in (("alice", "wrong"), ("nobody-at-all", "wrong"), ("alice", "x" * 400_000)):
        calls.clear()
        answer = client.post("/login", data={"username": name, "password": password, "csrf_token": csrf(form)})
        assert answer.status_code == 401 and calls == [2 ** 14], (name, len(password), calls)


def test_passwords_have_a_length_cap(site):
    with session_scope(site.config) as s:
        with pytest.raises(UserError, match=f"at most {PASSWORD_CHARS} characters"):
            set_password(s, "alice", "x" * (PASSWORD_CHARS + 1))
        set_password(s, "alice", "y" * PASSWORD_CHARS)              # the cap itself is a password


def test_a_student_makes_lists_and_revokes_their_own_api_tokens(any_site):
    alice, bob = any_site.client("alice"), any_site.client("bob")
    page = alice.get("/account")
    made = alice.post("/account/tokens", data={"csrf_token": csrf(page), "label": "my <laptop>",
                                               "expires_days": "30"})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    token = re.search(rb'id="new-token">(grd_[\w-]+)<', made.data).group(1).decode()
    api = any_site.app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    created = api.post("/api/v1/submissions", headers=bearer, content_type="multipart/form-data",
                       data={"exercise": "perceptron", "file": (io.BytesIO(PERCEPTRON), "p.py")})
    assert created.status_code == 201
    listing = alice.get("/account").data
    assert b"my &lt;laptop&gt;" in listing and token.encode() not in listing     # shown once, escaped label
    row = listing.split(b"my &lt;laptop&gt;")[1].split(b"</tr>")[0]       # made, last used, expires: times
    assert listing.count(b"Revoke") == 1 and row.count(b"<time datetime=") == 3 and b"never" not in row
    with session_scope(any_site.config) as s:
        token_id = s.query(ApiToken.id).filter(ApiToken.label == "my <laptop>").scalar()
    stolen = bob.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf(bob.get("/account"))})
    assert stolen.status_code == 422 and api.get("/api/v1/exercises", headers=bearer).status_code == 200
    assert alice.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf(page)}).status_code == 303
    assert api.get("/api/v1/exercises", headers=bearer).status_code == 401
    bad = alice.post("/account/tokens", data={"csrf_token": csrf(page), "expires_days": "100000"})
    assert bad.status_code == 422 and b"expires_days must be one of" in bad.data


def test_an_expired_token_is_refused_and_shown_as_expired(site):
    token = site.token("alice")
    with session_scope(site.config) as s:
        row = s.query(ApiToken).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
    answer = site.app.test_client().get("/api/v1/exercises", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert b"expired" in site.client("alice").get("/account").data


def test_nothing_personal_is_kept_by_a_cache(site):
    alice, tina = site.client("alice"), site.client("tina")
    submission_id = int(site.upload(alice).headers["Location"].rsplit("/", 1)[1])
    site.graded(submission_id, perceptron_result())
    for client, path in ((tina, "/staff/gradebook"), (tina, "/staff/grades.csv"), (tina, "/staff/grades.csv?format=canvas"),
                         (tina, f"/staff/submissions/{submission_id}/file"), (alice, f"/submissions/{submission_id}"),
                         (alice, "/account"), (alice, "/")):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers.get("Cache-Control") == "no-store", path
    api = site.app.test_client().get("/api/v1/grades", headers={"Authorization": f"Bearer {site.token('tina')}"})
    assert api.headers["Cache-Control"] == "no-store"
    assert "no-store" not in (alice.get("/static/style.css").headers.get("Cache-Control") or "")
