"""LTI 1.3: a course on Canvas or Moodle opens an exercise here and gets its scores back
(grader/lti_passback.py sends them after each grading).

Registered on the platform: the login URL `/lti/login`, the redirect (launch) URL `/lti/launch`,
the key set URL `/lti/jwks`, and on each link the custom parameter `exercise=ID`; the platform's
side (issuer, client id, its URLs, deployment ids, the tool's key files) is GRADER_LTI_CONFIG,
with the grader's part of each registration beside it (grader/lti_settings.py: the tool's public
URL, the courses allowed, whether their instructors are staff here). Without it every route here
answers 404 saying so.

The flow (OIDC third-party login, pylti1p3's Flask adapter): the platform sends the browser to
/lti/login; we redirect it to the platform's auth URL with a state (also in a cookie), a nonce
(kept here) and the configured launch URL (never one from the Host header); the platform posts
its signed id_token to /lti/launch, where pylti1p3 checks the state cookie, the nonce (good for one
launch), the signature against the platform's JWKS, the client id and the deployment. Then the
grader's own checks: the launch's course (context id) must be configured for that registration,
since one deployment can cover every course of an account (a student's sandbox course too),
else a 403 and nobody is created. The platform's user (issuer + sub) gets their grader user,
is logged in as auth.py logs in, their link with the score's lineitem (only when it is https on
the platform's hosts) is stored, and the browser goes to the exercise.

* Roles: a first launch as Instructor or TA creates staff only when the course's configuration
  says its instructors are staff here, otherwise a student (an instructor here promotes them).
  A later launch never promotes; it only makes a staff user a student when the platform now says
  Learner. Every role a launch gives or takes goes through `role_changed` (the log, WARNING).

* The launch is a cross-site form POST: the CSRF check exempts this blueprint (the signature, the
  state cookie and the one-time nonce protect it), and the grader's session cookie (SameSite=Lax)
  does not come with it, so the nonce lives in files under <instance_dir>/lti-state, shared by
  every web process of the host, not in the session; over https pylti1p3's cookies are
  SameSite=None; Secure.
* The grader's pages refuse frames (CSP frame-ancestors 'none'): the LMS opens the link in a new
  window or tab.
* Each claim the grader reads is checked for its shape (`read_claims`): a signed launch whose
  custom claim is a list, say, is a 400 that names the claim, and nobody is created.
* The user's SIS id (the lis claim's person_sourcedid) and Canvas user id (the custom parameter
  canvas_user_id, which Canvas fills when the tool's custom fields say
  `canvas_user_id=$Canvas.user.id`) are stored for the Canvas export when the launch has sane
  ones; an odd one is left out, the launch goes on.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, flash, jsonify, redirect, url_for
from pylti1p3.contrib.flask import FlaskCacheDataStorage, FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from sqlalchemy.exc import IntegrityError

from ..errors import ConfigError, DuplicateUser, UsageError, UserError
from ..lti_passback import TimeoutSession, tool_config
from ..storage.lti_links import add_lti_user, lti_user, upsert_lti_link
from ..storage.models import Exercise
from ..storage.users import check_lms_ids, set_lms_ids
from .auth import STAFF, log_in
from .db import config, db
from .errors import respond

bp = Blueprint("lti", __name__, url_prefix="/lti")
log = logging.getLogger("grader.web.lti")

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
LIFETIME_S = 600             # from the login to its launch (the nonce, the state's record)
# the id_token must say when it was made and until when it holds (pylti1p3 checks `aud` itself)
JWT_OPTIONS = {"verify_aud": False, "require": ["exp", "iat"]}
NOT_CONFIGURED = ("LTI is not configured on this server: its administrator sets GRADER_LTI_CONFIG (a tool "
                  "configuration file) to let an LMS open exercises here.")


@bp.before_request
def configured():
    if config().lti_config is None:
        return respond(404, NOT_CONFIGURED)
    return None


def grader_role(roles) -> str:
    """The course roles (LIS membership) of the launch as a grader role: a teaching assistant (also
    when the platform sends Instructor with it, its principal role) is a TA, an instructor an
    instructor, anyone else a student. Institution and system roles do not count."""
    context = set()
    for role in roles or []:
        if role.startswith(MEMBERSHIP):
            context.add(role[len(MEMBERSHIP):])                 # "#Instructor", "/Instructor#TeachingAssistant"
        elif "/" not in role and "#" not in role:
            context.add("#" + role)                              # a simple name: "Instructor"
    if any(r.endswith("#TeachingAssistant") for r in context):
        return "ta"
    return "instructor" if "#Instructor" in context else "student"


@bp.route("/login", methods=["GET", "POST"])
def login():
    """OIDC login initiation: to the platform's auth URL, with a state and a nonce, and the
    registration's configured launch URL as redirect_uri (never one built from the Host header)."""
    tool = tool_config(config())
    request = FlaskRequest()
    if not request.get_param("iss"):
        return _login_refused("the request names no platform (iss)")
    try:
        settings = tool.grader(request.get_param("iss"), request.get_param("client_id"))
    except LookupError as e:
        return _login_refused(e)
    if settings.launch_url is None:
        log.warning("LTI login from %s refused: its registration has no grader tool_url", settings.issuer)
        return respond(503, "LTI logins are not set up on this grader yet: its administrator adds the grader's "
                            "public URL (\"grader\": {\"tool_url\": \"https://...\"}) to this platform's registration "
                            "in GRADER_LTI_CONFIG.")
    storage = launch_storage()
    storage.cache.sweep()
    oidc = FlaskOIDCLogin(request, tool)
    try:
        return oidc.set_launch_data_storage(storage).set_launch_data_lifetime(LIFETIME_S).redirect(settings.launch_url)
    except Exception as e:  # noqa: BLE001 - pylti1p3: OIDCException, or a plain one for an unknown issuer
        return _login_refused(e)


def _login_refused(e: Exception | str):
    log.warning("LTI login refused: %s", e)
    return respond(400, f"This LMS login cannot be used here ({e}). The platform may not be registered "
                        "with this grader.")


@bp.route("/launch", methods=["POST"])
def launch():
    """The platform's signed launch: checked, its course allowed, its user found or created (and a
    staff user the platform now calls a learner made a student), their link stored, then the exercise."""
    tool = tool_config(config())
    try:
        message = FlaskMessageLaunch(FlaskRequest(), tool, launch_data_storage=launch_storage(),
                                     requests_session=TimeoutSession())
        message.set_launch_data_lifetime(LIFETIME_S).set_jwt_verify_options(dict(JWT_OPTIONS))
        claims = message.get_launch_data()                       # validates
        if not message.is_resource_launch():
            raise ValueError("only a resource link launch opens an exercise")
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - LtiException and pylti1p3's plain ones: the launch is refused
        log.warning("LTI launch refused: %s", e)
        return respond(400, f"This LMS launch was refused ({e}). Open the exercise from the LMS again.")
    launch = read_claims(claims)                              # UsageError (400) for a claim of the wrong shape
    issuer, client_id = claims["iss"], message.get_client_id()
    settings = tool.grader(issuer, client_id)
    course = settings.contexts.get(launch.context_id) if launch.context_id else None
    if course is None:
        log.warning("LTI launch refused: the context %r (%s) of %s is not configured", launch.context_id,
                    launch.context_title, issuer)
        which = (f"This LMS course (context id {launch.context_id!r}"
                 + (f", {launch.context_title!r}" if launch.context_title else "") + ")"
                 if launch.context_id else "This LMS launch names no course (no context claim), so it")
        return respond(403, f"{which} is not set up to open exercises on this grader; nobody was signed in. The course "
                            "staff ask the grader's administrator to add the context id to \"grader\": {\"contexts\": ...} "
                            "of this platform's registration in GRADER_LTI_CONFIG.")
    exercise_id = launch.exercise_id
    if not exercise_id:
        return respond(400, "This LMS link does not say which exercise to open: the course staff add the custom "
                            "parameter exercise=ID to it.")
    lineitem = launch.lineitem
    problem = settings.lineitem_problem(lineitem) if lineitem else None
    if problem:
        log.warning("LTI launch from %s: lineitem %r not stored (scores will not be sent): %s", issuer,
                    lineitem[:200], problem)
        lineitem = None
    platform_role = grader_role(launch.roles)
    for attempt in range(3):        # a double launch of a new user: the second finds the first's user
        changes = []
        try:
            with db() as s:
                if s.get(Exercise, exercise_id) is None:
                    return respond(404, f"This LMS link opens the exercise {exercise_id!r}, which this grader does "
                                        "not have. The course staff fix the link's custom parameter exercise=ID.")
                user = lti_user(s, issuer, launch.sub)
                if user is None:
                    role = platform_role if course.instructors_are_staff else "student"
                    user = add_lti_user(s, role, name=launch.name, email=launch.email, sub=launch.sub)
                    if role in STAFF:
                        why = f"first launch as {platform_role} from {launch.context_id!r}, whose instructors are staff"
                        changes.append((None, role, why))
                elif user.role in STAFF and platform_role == "student":
                    changes.append((user.role, "student", f"launch as a learner from {launch.context_id!r}"))
                    user.role = "student"
                set_lms_ids(user, launch.sis_user_id, launch.canvas_user_id)      # None: keeps the stored one
                upsert_lti_link(s, user, exercise_id, issuer=issuer, client_id=client_id,
                                deployment_id=claims[CLAIM + "deployment_id"], sub=launch.sub,
                                lineitem=lineitem, scopes=launch.scopes)
                user_id, user_name, role = user.id, user.name, user.role
            break
        except (DuplicateUser, IntegrityError):
            if attempt == 2:
                raise
    for old, new, why in changes:                              # committed: each one said once
        role_changed(user_id, user_name, old, new, f"LTI {issuer}: {why}")
    log_in(user_id)
    if role in STAFF:
        return redirect(url_for("staff.analytics", exercise_id=exercise_id), 303)
    if platform_role in STAFF:
        flash("Your LMS says you teach this course; here you are signed in as a student. Staff rights on the grader "
              "are granted by one of its instructors.", "info")
    return redirect(url_for("student.history", exercise=exercise_id), 303)


def role_changed(user_id: int, name: str, old: str | None, new: str, why: str) -> None:
    """Every role an LTI launch gives or takes (old None: a new user), said once it is committed:
    the one place the audit trail will record it."""
    log.warning("role of user %s (%r) %s -> %s: %s", user_id, name, old or "(new user)", new, why)


@bp.route("/jwks")
def jwks():
    """The tool's public keys: the platform checks our service requests (grade passback) with them."""
    return jsonify(tool_config(config()).get_jwks())


@dataclass(frozen=True)
class Claims:
    """What a launch tells the grader, each claim checked for its shape: the signature says who
    sent the token, not that its claims are what the specification says they are."""

    sub: str
    context_id: str | None     # the platform's course: only configured ones may launch
    context_title: str | None
    exercise_id: str           # "" when the link has no custom parameter exercise
    roles: list[str]
    name: str | None
    email: str | None
    lineitem: str | None
    scopes: list[str]
    sis_user_id: str | None      # for the Canvas export; None when absent or not a sane id
    canvas_user_id: str | None


def read_claims(claims: dict) -> Claims:
    """The launch's claims, or a UsageError (400) naming the first one of the wrong shape."""
    custom = _claim(claims, CLAIM + "custom", dict, "custom claim (the link's custom parameters)") or {}
    ags = _claim(claims, AGS_CLAIM, dict, "grade service endpoint claim") or {}
    context = _claim(claims, CLAIM + "context", dict, "context claim (the course)") or {}
    name, given, family = (_claim(claims, key, str, f"{key} claim") for key in ("name", "given_name", "family_name"))
    return Claims(
        sub=_claim(claims, "sub", str, "sub claim (the user)"),
        context_id=_claim(context, "id", str, "context's id") or None,
        context_title=_claim(context, "title", str, "context's title"),
        exercise_id=(_claim(custom, "exercise", str, "custom parameter exercise") or "").strip(),
        roles=_claim(claims, CLAIM + "roles", list, "roles claim") or [],
        name=name or " ".join(filter(None, (given, family))) or None,
        email=_claim(claims, "email", str, "email claim"),
        lineitem=_claim(ags, "lineitem", str, "grade service's lineitem"),
        scopes=_claim(ags, "scope", list, "grade service's scope") or [],
        sis_user_id=_lms_id(claims.get(CLAIM + "lis"), "person_sourcedid", "sis_user_id"),
        canvas_user_id=_lms_id(custom, "canvas_user_id", "canvas_user_id"))


def _lms_id(within, key: str, field: str) -> str | None:
    """An LMS id the export may use, or None: these ids only help the Canvas export match students,
    so a launch with an odd one (not a text, too long, a Canvas variable left unexpanded such as
    "$Canvas.user.id") goes on without it rather than being refused."""
    value = within.get(key) if isinstance(within, dict) else None
    if not isinstance(value, str):
        return None
    try:
        check_lms_ids(**{field: value.strip()})
    except UserError:
        return None
    return value.strip()


KINDS = {dict: "an object", str: "a text", list: "a list of texts"}


def _claim(within: dict, key: str, kind: type, label: str):
    """within[key] when it is absent or of its kind (a list: of texts)."""
    value = within.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
        raise UsageError(f"This LMS launch cannot be used: its {label} is not {KINDS[kind]}. The LMS's administrator "
                         "checks the tool's registration there; nothing was changed here.")
    return value


# ---------------------------------------------------------------- the state between login and launch

def launch_storage() -> "LaunchStorage":
    return LaunchStorage(FileCache(Path(config().instance_dir) / "lti-state"))


class LaunchStorage(FlaskCacheDataStorage):
    """pylti1p3's cache storage, with a nonce good for one launch only and the launch's claims
    (names, e-mail) never written: they are used at once."""

    def __init__(self, cache: "FileCache"):
        super().__init__(cache)
        self.cache = cache

    def set_value(self, key, value, exp=None):
        if key.startswith("lti1p3-launch-"):
            return
        super().set_value(key, value, exp)

    def check_value(self, key):
        if key.startswith("lti1p3-nonce-"):
            return self.cache.take(self._prepare_key(key))
        return super().check_value(key)


class FileCache:
    """The get/set a pylti1p3 cache needs, as small JSON files in one folder (mode 700): every web
    process on this host sees the same values, with no server. Expired values read as None."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str):
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if entry.get("expires", 0) < time.time():
            path.unlink(missing_ok=True)
            return None
        return entry.get("value")

    def set(self, key: str, value, exp: int | None = None) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"expires": time.time() + (exp or LIFETIME_S), "value": value}, f)
        os.replace(tmp, self._path(key))            # whole, or not at all

    def take(self, key: str) -> bool:
        """True for the one caller that removes an unexpired value (two launches with one nonce: one wins)."""
        found = self.get(key) is not None
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return found

    def sweep(self) -> None:
        """Drop what no launch can use any more (run on each login)."""
        cutoff = time.time() - LIFETIME_S
        try:
            for path in self.folder.iterdir():
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
        except OSError:
            pass
