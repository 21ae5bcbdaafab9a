"""Every bad parameter is a 400 with a sentence (or another answer below 500), never a 500.

ROUTES is the table of what each route reads: path converters, query arguments, form and
multipart fields, the API's bearer header. For each route of `url_map` and each method it takes,
each parameter gets each malformed value of BAD (the others keep a valid value), as anonymous, a
student, a TA and the instructor, forms with the role's CSRF token so the request reaches the
view. A route the table does not cover fails `test_the_table_covers_every_route`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

import pytest
from werkzeug.exceptions import BadRequest

from support import csrf

ROLES = ("anonymous", "alice", "tina", "ines")
CSRF, TOKEN, SUBMISSION = object(), object(), object()     # the role's token; alice's submission id
FILE = ("mine.py", b"x = 1\n")

# each malformed value as the raw (percent-encoded) text sent, one string per occurrence
BAD = {
    "empty": [""],
    "whitespace": ["%20%09%20"],
    "very long": ["x" * 5000],
    "CR/LF": ["%2F%0D%0AX-Injected:%201"],
    "NUL": ["a%00b"],
    "not UTF-8": ["%FF%FE"],
    "negative": ["-1"],
    "huge": ["9" * 30],
    "1e309": ["1e309"],
    "NaN": ["NaN"],
    "a date without a zone": ["2000-01-01T00:00:00"],
    "a date out of range": ["9999-12-31T23:59:59-14:00"],
    "a path out": ["..%2F..%2Fetc%2Fpasswd"],
    "unicode": [quote("Ünï ☃ 𝔘\u202e\ufeff", safe="")],
    "twice": None,                 # the valid value, then another: a list where one value is expected
}
# what a file's content may be besides its name
BAD_CONTENT = {"empty": b"", "binary": b"\xff\xfe\x00\x01", "NUL": b"x = 1\x00\n", "cells not a list": b'{"cells": 5}',
               "a cell's source a number": b'{"cells": [{"cell_type": "code", "source": 7}]}',
               "deep nesting": b"[" * 100_000}


@dataclass
class Reads:
    """What one request to the route reads: name -> (where, valid value); `walk`: the names to
    send bad values for (None: all), `roles`: as whom."""

    params: dict[str, tuple[str, object]]
    walk: tuple[str, ...] | None = None
    roles: tuple[str, ...] = ROLES
    names: list[str] = field(init=False)

    def __post_init__(self):
        self.names = list(self.params if self.walk is None else self.walk)


def form(**fields):
    return {name: ("form", value) for name, value in fields.items()}


def query(**fields):
    return {name: ("query", value) for name, value in fields.items()}


# with every value valid, a route answers below 400 (or 401/403/404 for a role it refuses), except:
REFUSED_WHEN_VALID = {("/lti/launch", "POST")}            # no platform signed this id_token
# sessions live on the server: a logout ends the role's session, so each of its requests logs in anew
ENDS_THE_SESSION = {("/logout", "POST")}
BEARER = {"Authorization": ("header", TOKEN)}
SUBMISSION_PATH = {"submission_id": ("path", SUBMISSION)}
RULES = form(csrf_token=CSRF, action="rules", due_at="2030-01-01T00:00", penalty_percent_per_day="10",
             max_penalty_percent="50", closed_after_due=None, max_submissions=None, window_hours=None,
             cooloff_minutes=None, show_hidden_points=None)
LTI_LOGIN = dict(iss="https://lms.example", login_hint="hint", target_link_uri="https://localhost/lti/launch",
                 lti_message_hint="message", client_id=None, lti_deployment_id=None)

ROUTES: dict[tuple[str, str], list[Reads]] = {
    ("/static/<path:filename>", "GET"): [Reads({"filename": ("path", "style.css")})],
    ("/login", "GET"): [Reads(query(next="/history"))],
    ("/login", "POST"): [
        Reads(form(csrf_token=CSRF, username="nobody", password="wrong", next="/history")),
        # logged in, to the page `next` names (each login is a scrypt of 70 ms: anonymous only)
        Reads(form(csrf_token=CSRF, username="alice", password="alice-pw", next="/"), walk=("next",),
              roles=("anonymous",))],
    ("/logout", "POST"): [Reads(form(csrf_token=CSRF))],
    ("/", "GET"): [Reads({})],
    ("/account", "GET"): [Reads({})],
    ("/account/tokens", "POST"): [Reads(form(csrf_token=CSRF, label="laptop", expires_days="30"))],
    ("/account/tokens/<id:token_id>/revoke", "POST"): [Reads({"token_id": ("path", "1"), **form(csrf_token=CSRF)})],
    # a wrong current password: the walk must not end the session it walks with
    ("/account/password", "POST"): [Reads(form(csrf_token=CSRF, current="not-the-password", new="n3w-pass",
                                               again="n3w-pass"))],
    ("/submit", "POST"): [Reads({"csrf_token": ("multipart", CSRF), "exercise": ("multipart", "perceptron"),
                                 "file": ("file", FILE)})],
    ("/submissions/<id:submission_id>", "GET"): [Reads(SUBMISSION_PATH)],
    ("/submissions/<id:submission_id>/status.json", "GET"): [Reads(SUBMISSION_PATH)],
    ("/history", "GET"): [Reads(query(exercise="perceptron"))],
    ("/staff/gradebook", "GET"): [Reads(query(policy="latest", section="A"))],
    ("/staff/grades.csv", "GET"): [Reads(query(format="canvas", policy="best"))],
    ("/staff/submissions", "GET"): [Reads(query(exercise="perceptron"))],
    ("/staff/submissions/<id:submission_id>/file", "GET"): [Reads(SUBMISSION_PATH)],
    ("/staff/regrade", "POST"): [Reads(form(csrf_token=CSRF, submission=None, exercise="perceptron", user=None)),
                                 Reads(form(csrf_token=CSRF, submission=SUBMISSION), walk=("submission",))],
    ("/staff/regrade/report", "GET"): [Reads(query(since="2000-01-01T00:00:00+00:00", user="alice",
                                                   exercise="perceptron", submission=None))],
    ("/staff/regrades", "GET"): [Reads({})],
    ("/staff/analytics/<exercise_id>", "GET"): [Reads({"exercise_id": ("path", "perceptron"), **query(policy="best")})],
    ("/staff/exercises/<exercise_id>/settings", "GET"): [Reads({"exercise_id": ("path", "perceptron")})],
    ("/staff/exercises/<exercise_id>/settings", "POST"): [
        Reads({"exercise_id": ("path", "perceptron"), **RULES}),
        Reads({"exercise_id": ("path", "perceptron"),
               **form(csrf_token=CSRF, action="extension", student="bob", extension_due_at="2031-01-01T00:00")},
              walk=("student", "extension_due_at")),
        Reads({"exercise_id": ("path", "perceptron"), **form(csrf_token=CSRF, action="publish")}, walk=()),
        Reads({"exercise_id": ("path", "perceptron"),
               **form(csrf_token=CSRF, action="canvas", canvas_assignment_id="1234")},
              walk=("canvas_assignment_id",))],
    ("/staff/course", "POST"): [Reads(form(csrf_token=CSRF, policy="best", section="A"))],
    ("/api/v1/exercises", "GET"): [Reads(BEARER)],
    ("/api/v1/submissions", "POST"): [Reads({**BEARER, "exercise": ("multipart", "perceptron"),
                                             "file": ("file", FILE)})],
    ("/api/v1/submissions/<id:submission_id>", "GET"): [Reads({**BEARER, **SUBMISSION_PATH})],
    ("/api/v1/grades", "GET"): [Reads({**BEARER, **query(format="csv", policy=None)})],
    ("/api/v1/openapi.json", "GET"): [Reads({})],
    # the LTI routes never read the session's user: anonymous only
    ("/lti/login", "GET"): [Reads(query(**LTI_LOGIN), roles=("anonymous",))],
    ("/lti/login", "POST"): [Reads(form(**LTI_LOGIN), roles=("anonymous",))],
    ("/lti/launch", "POST"): [Reads(form(id_token="a.b.c", state="state-1"), roles=("anonymous",))],
    ("/lti/jwks", "GET"): [Reads({})],
}


# ---------------------------------------------------------------- building one request

class Role:
    """A role's session cookie (with its CSRF token) and API token: each request gets a fresh client
    with this cookie, so a login, a logout or a flashed message changes nothing for the next."""

    def __init__(self, site, name: str):
        client = site.client(None if name == "anonymous" else name)
        self.csrf = csrf(client.get("/login" if name == "anonymous" else "/"))
        self.cookie = client.get_cookie(site.app.config["SESSION_COOKIE_NAME"]).value
        self.token = None if name == "anonymous" else site.token(name)
        self.site = site

    def client(self):
        client = self.site.app.test_client()
        client.set_cookie(self.site.app.config["SESSION_COOKIE_NAME"], self.cookie)
        return client


def _valid(value, role: Role, site) -> str | None:
    """A table value as text (the role's CSRF token, alice's submission id)."""
    if value is CSRF:
        return role.csrf
    if value is TOKEN:
        return role.token
    if value is SUBMISSION:
        return str(site.submission_id)
    return value


def request_for(rule: str, method: str, reads: Reads, role: Role, site, name: str | None, raw: list[str] | None,
                content: bytes | None = None) -> dict:
    """The arguments of client.open: every parameter at its valid value, except `name`, which is sent
    as the occurrences `raw` (percent-encoded text), or with the file content `content`."""
    path, query_parts, form_parts, multipart_parts, environ = rule, [], [], [], {}
    for param, (where, value) in reads.params.items():
        valid = _valid(value, role, site)
        if where == "file":
            filename, data = valid
            if param == name:
                names = [unquote_to_bytes(r) for r in raw] if raw is not None else [filename.encode()]
                sent = [(n, data if content is None else content) for n in names]
            else:
                sent = [(filename.encode(), data)]
            multipart_parts += [(param, data_, filename_) for filename_, data_ in sent]
            continue
        if param == name:
            occurrences = raw
        elif valid is None:
            continue
        else:
            occurrences = [quote(valid, safe="")]
        if where == "path":
            path = re.sub(rf"<(\w+:)?{param}>", occurrences[0], path)
        elif where == "query":
            query_parts += [f"{param}={o}" for o in occurrences]
        elif where == "form":
            form_parts += [f"{param}={o}" for o in occurrences]
        elif where == "multipart":
            multipart_parts += [(param, unquote_to_bytes(o), None) for o in occurrences]
        elif where == "header":
            if value is TOKEN and valid is None and param != name:
                continue                                  # anonymous: no token
            environ["HTTP_AUTHORIZATION"] = ", ".join("Bearer " + unquote_to_bytes(o).decode("latin-1")
                                                      for o in occurrences)
    kwargs = {"method": method, "path": path + ("?" + "&".join(query_parts) if query_parts else ""),
              "environ_overrides": environ}
    if form_parts:
        kwargs.update(data="&".join(form_parts), content_type="application/x-www-form-urlencoded")
    elif multipart_parts:
        kwargs.update(data=multipart(multipart_parts), content_type=f"multipart/form-data; boundary={BOUNDARY}")
    return kwargs


BOUNDARY = "walk-boundary-5c1e"


def multipart(parts: list[tuple[str, bytes, bytes | None]]) -> bytes:
    """A multipart/form-data body written by hand: names and file names go out as given, bytes
    that no browser would send included."""
    body = b""
    for name, data, filename in parts:
        disposition = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"\r\nContent-Type: application/octet-stream'
        body += b"--" + BOUNDARY.encode() + b"\r\n" + disposition + b"\r\n\r\n" + data + b"\r\n"
    return body + b"--" + BOUNDARY.encode() + b"--\r\n"


def message(response) -> str:
    """What the answer says to whoever sent it: the JSON message, the error page's sentence, the
    flashed error, or a form's error beside it (the rules form shows itself again with it)."""
    if response.is_json:
        body = response.get_json(silent=True)
        return str(body.get("message") or "") if isinstance(body, dict) else ""
    html = response.get_data(as_text=True)
    found = re.search(r'<p class="flash error" role="alert">(.*?)</p>', html, re.S) or \
        re.search(r'<p class="reason" id="[\w-]+-error" role="alert">(.*?)</p>', html, re.S) or \
        re.search(r'<section class="card narrow">\s*<h1>[^<]*</h1>\s*<p>(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""


def problem(response) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code}: {message(response) or response.get_data(as_text=True)[:200]}"
    if "X-Injected" in response.headers:
        return "a header was injected"
    if response.status_code == 400 and (not message(response) or message(response) == BadRequest.description):
        return "400 without a sentence that says what is wrong"
    return None


# ---------------------------------------------------------------- the tests

@pytest.fixture(scope="module")
def roles(walk_site):
    return {name: Role(walk_site, name) for name in ROLES}


def test_the_table_covers_every_route(walk_site):
    served = {(rule.rule, method) for rule in walk_site.app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == set(ROUTES), {"not in the table": served - set(ROUTES), "no such route": set(ROUTES) - served}
    for rule in walk_site.app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for reads in ROUTES[rule.rule, method]:
                in_path = {name for name, (where, _) in reads.params.items() if where == "path"}
                assert in_path == set(rule.arguments), (rule.rule, in_path)


@pytest.mark.parametrize("route", list(ROUTES), ids=[f"{method} {rule}" for rule, method in ROUTES])
def test_no_malformed_parameter_answers_500(walk_site, roles, route):
    rule, method = route
    found = []
    for reads in ROUTES[route]:
        for role_name in reads.roles:
            role = roles[role_name]
            sends = [(None, None, None, None)]          # (parameter, label, raw occurrences, file content)
            for name in reads.names:
                where, value = reads.params[name]
                for label, raw in BAD.items():
                    if raw is None:             # twice: the valid value and another
                        if where == "path":
                            continue
                        valid = _valid(value, role, walk_site)
                        first = valid[0] if isinstance(valid, tuple) else valid or "x"
                        raw = [quote(first, safe=""), "other"]
                    sends.append((name, label, raw, None))
                if where == "file":
                    sends += [(name, f"content {label}", None, content) for label, content in BAD_CONTENT.items()]
            for name, label, raw, content in sends:
                if route in ENDS_THE_SESSION:
                    role = Role(walk_site, role_name)
                kwargs = request_for(rule, method, reads, role, walk_site, name, raw, content)
                where = f"{method} {kwargs['path'][:120]} as {role_name}, {name or 'every parameter valid'}: {label}"
                try:
                    response = role.client().open(**kwargs)
                except Exception as e:  # noqa: BLE001 - TESTING propagates what no handler answered
                    found.append(f"{where}: raised {type(e).__name__}: {str(e)[:200]}")
                    continue
                if problem(response):
                    found.append(f"{where}: {problem(response)}")
                elif name is None and response.status_code == 400 and route not in REFUSED_WHEN_VALID:
                    found.append(f"{where}: 400, so the bad values never reach the view: {message(response)}")
    for name, role in roles.items():            # the next routes are walked by these roles, still logged in
        assert name == "anonymous" or role.client().get("/").status_code == 200, f"{route} ended {name}'s session"
    assert not found, f"{len(found)} bad answer(s):\n" + "\n".join(found[:40])
