"""LTI 1.3 against a fake platform that the test serves on localhost: its own RSA key and JWKS, a
token endpoint that checks the tool's client assertion against the key set the tool publishes at
/lti/jwks, and a lineitem that records the scores it receives. The tool is the real app through
Flask's test client (over https, as in production: pylti1p3's cookies are then SameSite=None), the
platform real HTTP; the OIDC login, the launch and the grade passback run as they do with an LMS.
No mocks: a platform that is down is a server that was shut down."""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask, jsonify, request
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select
from werkzeug.serving import make_server

from grader.config import Config
from grader.errors import ConfigError, SetupError
from grader.lti_passback import send_score, tool_config
from grader.results import GradeResult
from grader.results import TestResult as Outcome
from grader.storage import migrate
from grader.storage.exercises import sync_exercises
from grader.storage.submissions import create_submission, get_submission, mark_status, record_run
from grader.storage.users import add_user
from grader.storage.db import dispose_engines, session_scope
from grader.storage.lti_links import lti_link_for
from grader.storage.models import Exercise, LtiLink, User
from grader.web import create_app
from support import FIXTURES, ROOT, TOY_SOLUTION, pem, rsa_key, write_lti_tool

PERCEPTRON = (ROOT / "reference" / "perceptron.py").read_bytes()
BASE = "https://localhost"                   # the tool, as the platform knows it
CLIENT_ID = "grader-client-1"
DEPLOYMENT = "deployment-1"
PLATFORM_KID = "platform-key-1"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
TEACHING_ASSISTANT = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
COURSE = "course-ctx-1"                      # the platform's context id of the course configured here


class FakePlatform:
    """An LMS's side of LTI 1.3 on a free localhost port, in a thread."""

    def __init__(self):
        self.key = rsa_key()
        self.tool_jwks: dict = {"keys": []}       # what the tool publishes: the test fetches /lti/jwks
        self.tokens: dict[str, list[str]] = {}    # access token -> its scopes
        self.token_requests: list[dict] = []
        self.scores: list[dict] = []
        self.seen_jti: set[str] = set()
        app = Flask("fake_platform")
        app.add_url_rule("/jwks", view_func=self.jwks)
        app.add_url_rule("/token", view_func=self.token, methods=["POST"])
        app.add_url_rule("/courses/<course>/line_items/<item>/scores", view_func=self.score, methods=["POST"])
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def lineitem(self) -> str:
        return self.url + "/courses/1/line_items/7"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    # ---------------------------------------------------------------- its endpoints

    def jwks(self):
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return jsonify(keys=[{**public, "kid": PLATFORM_KID, "alg": "RS256", "use": "sig"}])

    def token(self):
        """Client credentials with a JWT assertion, checked against the tool's published key set."""
        form = request.form
        record = {"scope": form.get("scope", ""), "granted": False}
        self.token_requests.append(record)
        try:
            assert form.get("grant_type") == "client_credentials"
            assert form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            assertion = form["client_assertion"]
            kid = jwt.get_unverified_header(assertion)["kid"]
            (jwk,) = [k for k in self.tool_jwks["keys"] if k.get("kid") == kid]
            claims = jwt.decode(assertion, RSAAlgorithm.from_jwk(json.dumps(jwk)), algorithms=["RS256"],
                                audience=self.token_url, issuer=CLIENT_ID,
                                options={"require": ["exp", "iat", "jti", "sub"]})
            assert claims["sub"] == CLIENT_ID and claims["jti"] not in self.seen_jti
            self.seen_jti.add(claims["jti"])
        except (AssertionError, KeyError, ValueError, jwt.InvalidTokenError) as e:
            record["error"] = repr(e)
            return jsonify(error="invalid_client"), 401
        access = secrets.token_urlsafe(24)
        self.tokens[access] = record["scope"].split()
        record["granted"] = True
        return jsonify(access_token=access, token_type="Bearer", expires_in=3600, scope=record["scope"])

    def score(self, course, item):
        scheme, _, access = request.headers.get("Authorization", "").partition(" ")
        authorized = scheme == "Bearer" and SCORE_SCOPE in self.tokens.get(access, [])
        self.scores.append({"path": request.path, "authorized": authorized, "content_type": request.content_type,
                            "body": json.loads(request.get_data(as_text=True) or "null")})
        if not authorized:
            return jsonify(error="unauthorized"), 401
        return jsonify(resultUrl=f"{self.url}/courses/{course}/line_items/{item}/results/1")

    # ---------------------------------------------------------------- what its auth endpoint would post

    def id_token(self, nonce: str, *, sub="lms-user-1", roles=(LEARNER,), exercise="perceptron", key=None,
                 **claims) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer, "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": sub, "nonce": nonce,
            "iat": now, "exp": now + 300,
            "name": "Ada Lovelace", "email": "ada@example.edu",
            CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "roles": list(roles),
            CLAIM + "resource_link": {"id": "resource-link-1", "title": "The perceptron"},
            CLAIM + "context": {"id": COURSE, "label": "NN", "title": "Neural networks"},
            CLAIM + "custom": {"exercise": exercise},
            CLAIM + "target_link_uri": BASE + "/lti/launch",
            AGS: {"scope": [LINEITEM_SCOPE, SCORE_SCOPE], "lineitem": self.lineitem,
                  "lineitems": self.url + "/courses/1/line_items"},
            **claims,
        }
        private, _ = pem(key or self.key)
        return jwt.encode(body, private, algorithm="RS256", headers={"kid": PLATFORM_KID})


@pytest.fixture
def platform():
    p = FakePlatform()
    yield p
    p.close()


class LtiSite:
    """The grader with GRADER_LTI_CONFIG naming this platform, on a fresh SQLite database; the
    course COURSE configured (its instructors staff here with instructors_are_staff)."""

    def __init__(self, tmp_path, platform: FakePlatform, exercises_dir=None, instructors_are_staff=False,
                 **grader):
        self.platform = platform
        grader.setdefault("contexts", {COURSE: {"title": "NN", "instructors_are_staff": instructors_are_staff}})
        lti_config, self.tool_public = write_lti_tool(tmp_path, platform.issuer, platform.url, platform.token_url,
                                                      CLIENT_ID, DEPLOYMENT, **grader)
        extra = {"exercises_dir": exercises_dir} if exercises_dir else {}
        self.config = Config(instance_dir=tmp_path, lti_config=lti_config, secret_key="k" * 32, **extra)
        migrate.upgrade(self.config)
        with session_scope(self.config) as s:
            sync_exercises(s, self.config)
        self.app = create_app(self.config, TESTING=True, SESSION_COOKIE_SECURE=False)
        # the platform knows the tool's keys from the URL registered with it
        platform.tool_jwks = self.app.test_client().get("/lti/jwks", base_url=BASE).get_json()

    def login(self, client, **params):
        """GET /lti/login as the platform sends the browser there; the redirect's (state, nonce)."""
        query = {"iss": self.platform.issuer, "login_hint": "hint-42", "target_link_uri": BASE + "/lti/launch",
                 "lti_message_hint": "message-hint-7", **params}
        response = client.get("/lti/login", query_string=query, base_url=BASE)
        assert response.status_code == 302, response.data[:500]
        location = urlsplit(response.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == self.platform.url + "/auth"
        auth = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert auth["client_id"] == CLIENT_ID and auth["redirect_uri"] == BASE + "/lti/launch"
        assert auth["response_type"] == "id_token" and auth["response_mode"] == "form_post"
        assert auth["scope"] == "openid" and auth["prompt"] == "none"
        assert auth["login_hint"] == "hint-42" and auth["lti_message_hint"] == "message-hint-7"
        return auth["state"], auth["nonce"], response

    def launch(self, client, **token_claims):
        """The whole flow: login, the platform's id_token for its nonce, the form post to /lti/launch."""
        state, nonce, _ = self.login(client)
        id_token = self.platform.id_token(nonce, **token_claims)
        return client.post("/lti/launch", data={"id_token": id_token, "state": state}, base_url=BASE), id_token, state

    def user(self, sub: str) -> User | None:
        with session_scope(self.config) as s:
            return s.scalar(select(User).join(LtiLink, LtiLink.user_id == User.id).where(LtiLink.sub == sub))

    def graded(self, user_name: str, exercise="perceptron", score=14.5, bonus=1.0) -> int:
        """A submission of the user, written graded as the worker does (support.Site.graded)."""
        result = GradeResult(exercise=exercise, score=score, max_score=20.0, bonus=bonus, bonus_max=3.0, tests=[
            Outcome("test_step_function_values", "step_function", "passed", score, 20.0)],
            output="", sandbox={"backend": "local", "device": "cpu"})
        with session_scope(self.config) as s:
            submission = create_submission(s, self.config, user_name, exercise, "mine.py", PERCEPTRON)
            mark_status(s, submission, "queued")
            mark_status(s, submission, "running")
            record_run(s, submission, result, backend="local")
            mark_status(s, submission, "graded")
            return submission.id


@pytest.fixture
def site(tmp_path, platform):
    yield LtiSite(tmp_path, platform)
    dispose_engines()


@pytest.fixture
def staff_site(tmp_path, platform):
    """The course configured with instructors_are_staff: its Instructors and TAs are staff here."""
    yield LtiSite(tmp_path, platform, instructors_are_staff=True)
    dispose_engines()


# ---------------------------------------------------------------- the launch

def test_launch_creates_the_user_logs_them_in_and_opens_the_exercise(site, platform):
    client = site.app.test_client()
    state, nonce, login = site.login(client)
    cookies = login.headers.getlist("Set-Cookie")
    state_cookie = next(c for c in cookies if c.startswith(f"lti1p3-{state}="))
    # the launch comes back as a cross-site POST: only a SameSite=None; Secure cookie comes with it
    assert "SameSite=None" in state_cookie and "Secure" in state_cookie and "HttpOnly" in state_cookie

    response = client.post("/lti/launch", data={"id_token": platform.id_token(nonce), "state": state},
                           base_url=BASE)         # no CSRF token: the blueprint is exempt
    assert response.status_code == 303, response.data[:500]
    assert response.headers["Location"] == "/history?exercise=perceptron"

    user = site.user("lms-user-1")
    assert user is not None and user.name == "Ada_Lovelace" and user.role == "student"
    assert user.email == "ada@example.edu" and user.password_hash is None
    with session_scope(site.config) as s:
        link = lti_link_for(s, user.id, "perceptron")
        assert (link.issuer, link.client_id, link.deployment_id, link.sub) == \
            (platform.issuer, CLIENT_ID, DEPLOYMENT, "lms-user-1")
        assert link.lineitem == platform.lineitem and link.scopes == [LINEITEM_SCOPE, SCORE_SCOPE]

    home = client.get("/", base_url=BASE)
    assert home.status_code == 200 and b"Ada_Lovelace" in home.data and b"The perceptron" in home.data
    assert client.get(response.headers["Location"], base_url=BASE).status_code == 200
    # what the login left for its launch is on disk; the launch's claims (name, e-mail) are not
    kept = [p.read_text() for p in (site.config.instance_dir / "lti-state").iterdir()]
    assert kept and not any("ada@example.edu" in text or "Lovelace" in text for text in kept)


def test_a_second_launch_finds_the_same_user_and_names_stay_unique(site, platform):
    first, _, _ = site.launch(site.app.test_client())
    again, _, _ = site.launch(site.app.test_client(), exercise="feedforward", name="Someone Else")
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == "/history?exercise=feedforward"
    other, _, _ = site.launch(site.app.test_client(), sub="lms-user-2")     # another Ada Lovelace
    assert other.status_code == 303
    with session_scope(site.config) as s:
        users = {u.name: u for u in s.scalars(select(User))}
        assert set(users) == {"Ada_Lovelace", "Ada_Lovelace-2"}
        links = s.scalars(select(LtiLink).order_by(LtiLink.id)).all()
        assert [(l.user_id, l.exercise_id, l.sub) for l in links] == [
            (users["Ada_Lovelace"].id, "perceptron", "lms-user-1"),
            (users["Ada_Lovelace"].id, "feedforward", "lms-user-1"),
            (users["Ada_Lovelace-2"].id, "perceptron", "lms-user-2")]


@pytest.mark.parametrize("roles, role, location", [
    ([INSTRUCTOR], "instructor", "/staff/analytics/perceptron"),
    ([INSTRUCTOR, TEACHING_ASSISTANT], "ta", "/staff/analytics/perceptron"),
    (["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor", LEARNER], "student",
     "/history?exercise=perceptron"),
])
def test_lti_roles_map_to_grader_roles(staff_site, roles, role, location):
    site = staff_site
    client = site.app.test_client()
    response, _, _ = site.launch(client, sub="staff-1", roles=roles, name=None, email="pat@example.edu")
    assert response.status_code == 303 and response.headers["Location"] == location
    user = site.user("staff-1")
    assert user.role == role and user.name == "pat@example.edu"
    assert client.get(location, base_url=BASE).status_code == 200


def test_a_launch_signed_by_another_key_is_refused_and_logs_nobody_in(site, platform):
    client = site.app.test_client()
    state, nonce, _ = site.login(client)
    forged = platform.id_token(nonce, sub="intruder", roles=[INSTRUCTOR], key=rsa_key())
    response = client.post("/lti/launch", data={"id_token": forged, "state": state}, base_url=BASE)
    assert response.status_code == 400 and b"launch was refused" in response.data
    assert b"Signature verification failed" in response.data
    assert site.user("intruder") is None
    with session_scope(site.config) as s:
        assert s.scalars(select(User)).all() == []
    home = client.get("/", base_url=BASE)
    assert home.status_code == 302 and "/login" in home.headers["Location"]


def test_a_launch_is_good_once_and_only_with_its_state(site, platform):
    client = site.app.test_client()
    response, id_token, state = site.launch(client)
    assert response.status_code == 303
    replay = client.post("/lti/launch", data={"id_token": id_token, "state": state}, base_url=BASE)
    assert replay.status_code == 400 and b"Invalid Nonce" in replay.data
    # another browser (without the login's cookies) with a fresh, validly signed token
    state2, nonce2, _ = site.login(site.app.test_client())
    stranger = site.app.test_client()
    stolen = stranger.post("/lti/launch", data={"id_token": platform.id_token(nonce2), "state": state2},
                           base_url=BASE)
    assert stolen.status_code == 400 and b"launch was refused" in stolen.data and b"cookie" in stolen.data
    assert stranger.get("/", base_url=BASE).status_code == 302


def test_an_expired_id_token_is_refused(site, platform):
    client = site.app.test_client()
    response, _, _ = site.launch(client, exp=int(time.time()) - 60)
    assert response.status_code == 400 and b"expired" in response.data
    assert site.user("lms-user-1") is None


def test_an_unknown_exercise_is_a_clear_404_and_creates_nobody(site):
    client = site.app.test_client()
    response, _, _ = site.launch(client, exercise="no-such-exercise")
    assert response.status_code == 404
    assert b"no-such-exercise" in response.data and b"exercise=ID" in response.data
    with session_scope(site.config) as s:
        assert s.scalars(select(User)).all() == []
    missing, _, _ = site.launch(site.app.test_client(), **{CLAIM + "custom": {}})
    assert missing.status_code == 400 and b"custom parameter exercise=ID" in missing.data


@pytest.mark.parametrize("claim, value, words", [
    (CLAIM + "custom", ["exercise=perceptron"], b"custom"),
    (CLAIM + "custom", {"exercise": ["perceptron"]}, b"exercise"),
    (AGS, "https://lms.example/lineitem", b"endpoint"),
    (AGS, {"lineitem": 7, "scope": [SCORE_SCOPE]}, b"lineitem"),
    (AGS, {"lineitem": "https://lms.example/lineitem", "scope": SCORE_SCOPE}, b"scope"),
    (CLAIM + "roles", "Instructor", b"roles"),
    (CLAIM + "roles", [7], b"roles"),
    ("email", {"address": "ada@example.edu"}, b"email"),
    ("name", ["Ada"], b"name"),
    (CLAIM + "context", "course-ctx-1", b"context"),
    (CLAIM + "context", {"id": 7}, b"context"),
])
def test_a_launch_with_a_malformed_claim_is_a_400_that_names_it(site, claim, value, words):
    """A platform that signs a claim of the wrong shape: refused with a sentence, nobody created."""
    response, _, _ = site.launch(site.app.test_client(), **{claim: value})
    assert response.status_code == 400, response.data[:300]
    assert b"This LMS launch cannot be used" in response.data and words in response.data
    with session_scope(site.config) as s:
        assert s.scalars(select(User)).all() == []


def test_a_launch_stores_the_users_sis_and_canvas_ids_and_odd_ones_are_left_out(site):
    """The lis claim's person_sourcedid and the custom canvas_user_id (Canvas fills it from
    `canvas_user_id=$Canvas.user.id`) reach the user's row for the Canvas export. One of another
    type, too long, or a Canvas variable left unexpanded is left out: the launch goes on, and an id
    stored before stays; a later launch with new ids replaces them."""
    lis = CLAIM + "lis"
    first, _, _ = site.launch(site.app.test_client(), **{
        lis: {"person_sourcedid": "SIS-0042", "course_section_sourcedid": "NN-1"},
        CLAIM + "custom": {"exercise": "perceptron", "canvas_user_id": "90210"}})
    assert first.status_code == 303, first.data[:300]
    user = site.user("lms-user-1")
    assert (user.sis_user_id, user.canvas_user_id) == ("SIS-0042", "90210")
    for odd_sis, odd_canvas in ((42, "$Canvas.user.id"), ("x" * 101, 90210), ("", ["7"]), (None, "1" * 33)):
        again, _, _ = site.launch(site.app.test_client(), **{
            lis: {"person_sourcedid": odd_sis} if odd_sis != "" else "not an object",
            CLAIM + "custom": {"exercise": "perceptron", "canvas_user_id": odd_canvas}})
        assert again.status_code == 303, (odd_sis, odd_canvas, again.data[:300])
        user = site.user("lms-user-1")
        assert (user.sis_user_id, user.canvas_user_id) == ("SIS-0042", "90210"), (odd_sis, odd_canvas)
    later, _, _ = site.launch(site.app.test_client(), **{
        lis: {"person_sourcedid": " SIS-0043 "}, CLAIM + "custom": {"exercise": "perceptron", "canvas_user_id": "5"}})
    assert later.status_code == 303
    user = site.user("lms-user-1")
    assert (user.sis_user_id, user.canvas_user_id) == ("SIS-0043", "5")
    plain, _, _ = site.launch(site.app.test_client(), sub="lms-user-2")          # no such claims: none stored
    assert plain.status_code == 303
    assert (site.user("lms-user-2").sis_user_id, site.user("lms-user-2").canvas_user_id) == (None, None)


# ---------------------------------------------------------------- the course and the roles

def users_of(site) -> list[tuple[str, str]]:
    with session_scope(site.config) as s:
        return [(u.name, u.role) for u in s.scalars(select(User).order_by(User.id))]


def role_changes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "grader.web.lti" and r.levelno == logging.WARNING
            and r.getMessage().startswith("role of user")]


@pytest.mark.parametrize("context", [
    {"id": "sandbox-of-a-student", "title": "Mallory's sandbox"},      # another course of the same platform
    None,                                                              # no context claim (null: as absent)
])
def test_an_instructor_launch_from_a_course_not_configured_is_refused_and_creates_nobody(staff_site, context):
    site = staff_site
    client = site.app.test_client()
    response, _, _ = site.launch(client, roles=[INSTRUCTOR], **{CLAIM + "context": context})
    assert response.status_code == 403, response.data[:300]
    assert b"not set up to open exercises" in response.data and b"GRADER_LTI_CONFIG" in response.data
    assert (b"sandbox-of-a-student" in response.data) if context else (b"no context claim" in response.data)
    assert users_of(site) == []
    with session_scope(site.config) as s:
        assert s.scalars(select(LtiLink)).all() == []
    home = client.get("/", base_url=BASE)
    assert home.status_code == 302 and "/login" in home.headers["Location"]


def test_a_first_instructor_launch_is_a_student_unless_the_course_says_instructors_are_staff(site, caplog):
    client = site.app.test_client()
    with caplog.at_level(logging.WARNING, logger="grader.web.lti"):
        response, _, _ = site.launch(client, roles=[INSTRUCTOR])
    assert response.status_code == 303 and response.headers["Location"] == "/history?exercise=perceptron"
    assert users_of(site) == [("Ada_Lovelace", "student")]
    page = client.get(response.headers["Location"], base_url=BASE)
    assert page.status_code == 200 and b"granted by one of its instructors" in page.data
    assert client.get("/staff/analytics/perceptron", base_url=BASE).status_code == 403
    assert role_changes(caplog) == []                                     # nothing was given


def test_with_instructors_are_staff_a_first_instructor_launch_is_staff_and_logged(staff_site, caplog):
    client = staff_site.app.test_client()
    with caplog.at_level(logging.WARNING, logger="grader.web.lti"):
        response, _, _ = staff_site.launch(client, roles=[INSTRUCTOR])
    assert response.status_code == 303 and response.headers["Location"] == "/staff/analytics/perceptron"
    assert users_of(staff_site) == [("Ada_Lovelace", "instructor")]
    (change,) = role_changes(caplog)
    assert "'Ada_Lovelace'" in change and "(new user) -> instructor" in change and COURSE in change


def test_a_staff_user_the_platform_now_calls_a_learner_becomes_a_student(staff_site, caplog):
    site = staff_site
    assert site.launch(site.app.test_client(), roles=[INSTRUCTOR])[0].status_code == 303
    client = site.app.test_client()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="grader.web.lti"):
        response, _, _ = site.launch(client, roles=[LEARNER])
    assert response.status_code == 303 and response.headers["Location"] == "/history?exercise=perceptron"
    assert users_of(site) == [("Ada_Lovelace", "student")]
    assert client.get("/staff/analytics/perceptron", base_url=BASE).status_code == 403
    assert [c.split(": ", 1)[0] for c in role_changes(caplog)] == [
        f"role of user {site.user('lms-user-1').id} ('Ada_Lovelace') instructor -> student"]
    # and an Instructor launch later does not give it back: an instructor here does
    assert site.launch(site.app.test_client(), roles=[INSTRUCTOR])[0].status_code == 303
    assert users_of(site) == [("Ada_Lovelace", "student")] and len(role_changes(caplog)) == 1


def test_a_learner_who_launches_later_as_instructor_stays_a_student(staff_site, caplog):
    site = staff_site
    assert site.launch(site.app.test_client(), roles=[LEARNER])[0].status_code == 303
    client = site.app.test_client()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="grader.web.lti"):
        response, _, _ = site.launch(client, roles=[INSTRUCTOR, TEACHING_ASSISTANT])
    assert response.status_code == 303 and response.headers["Location"] == "/history?exercise=perceptron"
    assert users_of(site) == [("Ada_Lovelace", "student")] and role_changes(caplog) == []
    assert client.get("/staff/analytics/perceptron", base_url=BASE).status_code == 403


@pytest.mark.parametrize("existing, launched, created", [
    ("alice", "Alice", "Alice-2"),
    ("alice", "\u0410lice", "\u0410lice-2"),                  # a Cyrillic A
    ("Ada_Lovelace", "ａｄａ lovelace", "ａｄａ_lovelace-2"),   # fullwidth
])
def test_a_launch_never_takes_a_name_whose_key_is_taken(site, existing, launched, created):
    with session_scope(site.config) as s:
        add_user(s, existing, "instructor")
    response, _, _ = site.launch(site.app.test_client(), name=launched)
    assert response.status_code == 303, response.data[:300]
    assert users_of(site) == [(existing, "instructor"), (created, "student")]
    assert site.user("lms-user-1").name == created


def test_a_name_whose_key_grows_under_nfkc_is_shortened_to_fit(site):
    response, _, _ = site.launch(site.app.test_client(), name="\ufb03" * 64)      # each ﬃ is ffi
    assert response.status_code == 303, response.data[:300]
    from grader.storage.names import name_key
    name = site.user("lms-user-1").name
    assert name and set(name) == {"\ufb03"} and len(name_key(name + "-999")) <= 80


# ---------------------------------------------------------------- the login

def test_a_login_from_an_unregistered_platform_is_refused(site):
    response = site.app.test_client().get("/lti/login", base_url=BASE, query_string={
        "iss": "https://unknown-lms.example", "login_hint": "x", "target_link_uri": BASE + "/lti/launch"})
    assert response.status_code == 400 and b"not be registered" in response.data


def login_redirect_uri(site, **request) -> str:
    response = site.app.test_client().get("/lti/login", query_string={
        "iss": site.platform.issuer, "login_hint": "hint-42", "target_link_uri": BASE + "/lti/launch"}, **request)
    assert response.status_code == 302, response.data[:300]
    return parse_qs(urlsplit(response.headers["Location"]).query)["redirect_uri"][0]


def test_the_redirect_uri_is_the_configured_one_whatever_the_host_header_says(site):
    assert login_redirect_uri(site, base_url=BASE) == BASE + "/lti/launch"
    assert login_redirect_uri(site, base_url="https://evil.example") == BASE + "/lti/launch"
    assert login_redirect_uri(site, base_url=BASE, headers={"Host": "evil.example:8443",
                                                           "X-Forwarded-Host": "evil.example"}) == BASE + "/lti/launch"


def test_a_tool_url_under_a_path_gives_its_launch_url(tmp_path, platform):
    site = LtiSite(tmp_path, platform, tool_url="https://uni.example/grader/")
    try:
        assert login_redirect_uri(site, base_url=BASE) == "https://uni.example/grader/lti/launch"
    finally:
        dispose_engines()


def test_without_a_tool_url_the_login_is_refused_with_a_sentence(tmp_path, platform):
    site = LtiSite(tmp_path, platform, tool_url=None)
    try:
        response = site.app.test_client().get("/lti/login", base_url=BASE, query_string={
            "iss": platform.issuer, "login_hint": "x", "target_link_uri": BASE + "/lti/launch"})
        assert response.status_code == 503 and "Location" not in response.headers
        assert b"tool_url" in response.data and b"GRADER_LTI_CONFIG" in response.data
        missing = site.app.test_client().get("/lti/login", base_url=BASE, query_string={"login_hint": "x"})
        assert missing.status_code == 400 and b"names no platform" in missing.data
    finally:
        dispose_engines()


def test_jwks_publishes_the_tools_public_key_only(site):
    keys = site.app.test_client().get("/lti/jwks", base_url=BASE).get_json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["kid"]
    assert "d" not in keys[0] and "p" not in keys[0]
    published = RSAAlgorithm.from_jwk(json.dumps(keys[0]))
    expected = serialization.load_pem_public_key(site.tool_public.encode())
    assert published.public_numbers() == expected.public_numbers()


# ---------------------------------------------------------------- the grade passback

def test_graded_submission_sends_the_counting_score_to_the_lineitem(site, platform):
    client = site.app.test_client()
    assert site.launch(client)[0].status_code == 303
    submission_id = site.graded("Ada_Lovelace", score=14.5, bonus=1.0)
    sent = send_score(site.config, submission_id)
    with session_scope(site.config) as s:
        points = s.get(Exercise, "perceptron").points
    assert points == 20.0
    assert sent == {"scoreGiven": 15.5, "scoreMaximum": points, "userId": "lms-user-1", "lineitem": platform.lineitem}

    (score,) = platform.scores
    assert score["authorized"] and score["path"] == "/courses/1/line_items/7/scores"
    assert score["content_type"] == SCORE_TYPE
    body = score["body"]
    assert body["scoreGiven"] == 15.5 and body["scoreMaximum"] == 20.0 and body["userId"] == "lms-user-1"
    assert body["activityProgress"] == "Completed" and body["gradingProgress"] == "FullyGraded"
    assert abs(datetime.fromisoformat(body["timestamp"]).timestamp() - time.time()) < 60
    (token,) = platform.token_requests
    assert token["granted"] and token["scope"] == SCORE_SCOPE          # asks for the score scope only

    # a worse submission later: the counting (best) score is sent again, not the worse one
    worse = site.graded("Ada_Lovelace", score=3.0, bonus=0.0)
    assert send_score(site.config, worse)["scoreGiven"] == 15.5
    assert [s["body"]["scoreGiven"] for s in platform.scores] == [15.5, 15.5]


def test_no_link_no_config_or_not_graded_sends_nothing(site, platform, tmp_path):
    with session_scope(site.config) as s:
        add_user(s, "carol")
    assert send_score(site.config, site.graded("carol")) is None          # never launched from an LMS
    assert site.launch(site.app.test_client())[0].status_code == 303
    with session_scope(site.config) as s:
        pending = create_submission(s, site.config, "Ada_Lovelace", "perceptron", "a.py", PERCEPTRON).id
    assert send_score(site.config, pending) is None                       # received, not graded
    without_lti = Config(instance_dir=tmp_path, secret_key="k" * 32)
    assert send_score(without_lti, site.graded("Ada_Lovelace")) is None
    assert platform.scores == [] and platform.token_requests == []


@pytest.mark.parametrize("lineitem, why", [
    ("file:///etc/passwd", "not https"),
    ("https://evil.example/courses/1/line_items/7", "is not the platform's"),
    ("http://lms.example/courses/1/line_items/7", "not https"),          # the platform's host, but in clear
    ("https://someone@lms.example/courses/1/line_items/7", "user name"),
    ("https://lms.example:99999/courses/1/line_items/7", "not a URL"),
    ("https://lms.example/courses/1/line_items/7\r\nX: 1", "not a plain URL"),
])
def test_a_lineitem_that_is_not_the_platforms_is_not_stored_and_nothing_is_sent(tmp_path, platform, caplog,
                                                                                 lineitem, why):
    site = LtiSite(tmp_path, platform, platform_hosts=["lms.example"])
    try:
        with caplog.at_level(logging.WARNING, logger="grader.web.lti"):
            response, _, _ = site.launch(site.app.test_client(), **{AGS: {"scope": [SCORE_SCOPE], "lineitem": lineitem}})
        assert response.status_code == 303, response.data[:300]
        with session_scope(site.config) as s:
            link = lti_link_for(s, site.user("lms-user-1").id, "perceptron")
            assert link is not None and link.lineitem is None
        assert any("not stored" in r.getMessage() and why in r.getMessage() for r in caplog.records), caplog.text
        assert send_score(site.config, site.graded("Ada_Lovelace")) is None
        assert platform.token_requests == [] and platform.scores == []
    finally:
        dispose_engines()


def test_a_lineitem_on_a_configured_platform_host_is_stored(tmp_path, platform):
    site = LtiSite(tmp_path, platform, platform_hosts=["lms.example"])
    try:
        lineitem = "https://LMS.example/courses/1/line_items/7?type_id=3"
        response, _, _ = site.launch(site.app.test_client(), **{AGS: {"scope": [SCORE_SCOPE], "lineitem": lineitem}})
        assert response.status_code == 303
        with session_scope(site.config) as s:
            assert lti_link_for(s, site.user("lms-user-1").id, "perceptron").lineitem == lineitem
    finally:
        dispose_engines()


def test_the_passback_checks_a_stored_lineitem_again_before_sending(site, platform, caplog):
    """A link stored before the launch checked lineitems: the platform's access token never goes
    to another server (here one on `localhost`, not the platform's 127.0.0.1), nor to a file."""
    other = FakePlatform()
    try:
        assert site.launch(site.app.test_client())[0].status_code == 303
        submission_id = site.graded("Ada_Lovelace")
        for lineitem in (f"http://localhost:{other.server.server_port}/courses/1/line_items/7", "file:///etc/passwd"):
            with session_scope(site.config) as s:
                s.scalar(select(LtiLink)).lineitem = lineitem
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="grader.lti"):
                assert send_score(site.config, submission_id) is None
            assert any("score not sent to the lineitem" in r.getMessage() for r in caplog.records), caplog.text
        assert other.scores == [] and platform.token_requests == [] and platform.scores == []
    finally:
        other.close()


def test_a_platform_that_refuses_the_tools_key_or_is_down_raises_setup_error(site, platform):
    assert site.launch(site.app.test_client())[0].status_code == 303
    submission_id = site.graded("Ada_Lovelace")
    platform.tool_jwks = {"keys": []}                                   # it no longer knows our key
    with pytest.raises(SetupError, match="HTTP 401"):
        send_score(site.config, submission_id)
    assert platform.token_requests[-1]["granted"] is False and platform.scores == []
    platform.close()                                                      # and now it is down
    with pytest.raises(SetupError, match="not accepted"):
        send_score(site.config, submission_id)


def test_the_worker_sends_the_score_after_grading_and_a_down_platform_changes_nothing(tmp_path, platform, caplog):
    """grader/queue/tasks.py: a real grading (the toy exercise, local sandbox) in this process,
    then the score to the platform; with the platform shut down the submission is graded all the same."""
    from grader import service
    from grader.queue.app import make_celery
    from grader.queue.tasks import run_attempt
    site = LtiSite(tmp_path, platform, exercises_dir=FIXTURES / "exercises")
    try:
        assert site.launch(site.app.test_client(), exercise="toy")[0].status_code == 303
        app = make_celery(site.config)
        first = service.submit(site.config, "Ada_Lovelace", "toy", "sub.py", TOY_SOLUTION.encode())
        assert run_attempt(app, first, 1) == "graded"
        (score,) = platform.scores
        assert score["authorized"] and score["body"]["scoreGiven"] == 7.0 and score["body"]["scoreMaximum"] == 6.0

        platform.close()
        second = service.submit(site.config, "Ada_Lovelace", "toy", "sub2.py", TOY_SOLUTION.encode())
        with caplog.at_level(logging.WARNING, logger="grader.queue"):
            assert run_attempt(app, second, 1) == "graded"
        with session_scope(site.config) as s:
            assert get_submission(s, second).status == "graded"
        assert any("score not sent to the LMS" in r.getMessage() for r in caplog.records)
        assert len(platform.scores) == 1
    finally:
        dispose_engines()


# ---------------------------------------------------------------- without LTI, and the setting

def test_without_lti_config_the_routes_answer_404_saying_so(tmp_path):
    config = Config(instance_dir=tmp_path, secret_key="k" * 32)
    migrate.upgrade(config)
    client = create_app(config, TESTING=True, SESSION_COOKIE_SECURE=False).test_client()
    try:
        for response in (client.get("/lti/login?iss=x&login_hint=y"), client.post("/lti/login"),
                         client.post("/lti/launch", data={"id_token": "x", "state": "y"}), client.get("/lti/jwks")):
            assert response.status_code == 404
            assert b"LTI is not configured" in response.data and b"GRADER_LTI_CONFIG" in response.data
    finally:
        dispose_engines()


def test_the_setting_is_read_and_checked(tmp_path):
    good = tmp_path / "lti.json"
    good.write_text("{}")
    env = {"GRADER_INSTANCE_DIR": str(tmp_path), "GRADER_LTI_CONFIG": str(good)}
    assert Config.from_env(env).lti_config == good
    assert Config.from_env({"GRADER_INSTANCE_DIR": str(tmp_path)}).lti_config is None
    with pytest.raises(ConfigError, match="GRADER_LTI_CONFIG=.*missing.json cannot be read"):
        Config.from_env({**env, "GRADER_LTI_CONFIG": str(tmp_path / "missing.json")})
    (tmp_path / "bad.json").write_text("{ not json")
    with pytest.raises(ConfigError, match="GRADER_LTI_CONFIG=.*bad.json is not a JSON file"):
        Config(instance_dir=tmp_path, lti_config=tmp_path / "bad.json")
    # JSON, but a key file that is not there: the web and the worker say which setting to fix
    (tmp_path / "nokey.json").write_text(json.dumps({"https://lms.example": {
        "client_id": "c", "auth_login_url": "https://lms.example/auth", "auth_token_url": "https://lms.example/token",
        "key_set_url": "https://lms.example/jwks", "private_key_file": "absent.key", "deployment_ids": ["d"]}}))
    with pytest.raises(ConfigError, match="GRADER_LTI_CONFIG=.*nokey.json cannot be used .*absent.key"):
        tool_config(Config(instance_dir=tmp_path, lti_config=tmp_path / "nokey.json"))


@pytest.mark.parametrize("grader, words", [
    ("yes", "not an object"),
    ({"contexts": {}, "tool_uri": "https://x.example"}, "unknown \"grader\" key tool_uri"),
    ({"tool_url": "grader.example.edu"}, "tool_url\" is not a URL"),
    ({"tool_url": "http://grader.example.edu"}, "not an https URL"),
    ({"tool_url": "https://grader.example.edu/?x=1"}, "query"),
    ({"contexts": ["course-1"]}, "must be an object"),
    ({"contexts": {"course-1": {"instructor_are_staff": True}}}, "course-1"),
    ({"contexts": {"course-1": {"instructors_are_staff": "yes"}}}, "true or false"),
    ({"platform_hosts": "lms.example"}, "platform_hosts"),
    ({"platform_hosts": ["https://lms.example"]}, "platform_hosts"),
])
def test_a_malformed_grader_section_is_a_config_error_naming_it(tmp_path, grader, words):
    lti_config, _ = write_lti_tool(tmp_path, "https://lms.example", "https://lms.example", "https://lms.example/token",
                                   CLIENT_ID, DEPLOYMENT)
    tool = json.loads(lti_config.read_text())
    tool["https://lms.example"]["grader"] = grader
    lti_config.write_text(json.dumps(tool))
    with pytest.raises(ConfigError) as raised:
        tool_config(Config(instance_dir=tmp_path, lti_config=lti_config))
    assert words in str(raised.value) and "GRADER_LTI_CONFIG=" in str(raised.value)
    assert "https://lms.example (client grader-client-1)" in str(raised.value)
