"""The grader's own part of each platform registration in GRADER_LTI_CONFIG.

pylti1p3's tool JSON maps an issuer to its registration(s) (client_id, the platform's URLs,
deployment_ids, the tool's key files) and keeps keys it does not know; each registration carries
the grader's settings beside them, in a "grader" object:

    "grader": {
      "tool_url": "https://grader.example.edu",
      "contexts": {"<the course's context id>": {"title": "NN 2025", "instructors_are_staff": true}},
      "platform_hosts": ["school.instructure.com"]
    }

* `tool_url`: the grader's public URL as registered on the platform. The OIDC redirect_uri is
  `<tool_url>/lti/launch`, never built from the request's Host header (which the browser sets).
* `contexts`: the platform's courses (the launch's context claim, its `id`) that may open
  exercises here. A deployment can cover every course of an account, a student's sandbox course
  included, so a launch from any other context is refused. `instructors_are_staff` (default false)
  lets that course's Instructors and TAs be created as staff on their first launch; otherwise
  they start as students and an instructor here promotes them.
* `platform_hosts`: hosts the platform's grade service lives on besides the issuer's and those of
  its auth and token URLs (Canvas Cloud: the school's own host). A lineitem (where scores are
  POSTed, with the platform's access token) elsewhere is never stored nor used.

Missing settings refuse the route that needs them, with a sentence; a malformed one is a
ConfigError naming it. No Flask here: the worker's passback checks lineitems too.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigError

KEYS = {"tool_url", "contexts", "platform_hosts"}
CONTEXT_KEYS = {"title", "instructors_are_staff"}
HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\]")
MAX_URL_CHARS = 2048


@dataclass(frozen=True)
class Course:
    """A platform course allowed to open exercises here."""

    title: str | None = None
    instructors_are_staff: bool = False


@dataclass(frozen=True)
class GraderSettings:
    """The "grader" object of one registration, checked."""

    issuer: str
    tool_url: str | None                  # without a trailing slash; None: LTI logins are refused
    contexts: dict[str, Course]
    hosts: frozenset[str]                 # where its lineitems may be

    @property
    def launch_url(self) -> str | None:
        return None if self.tool_url is None else self.tool_url + "/lti/launch"

    def lineitem_problem(self, url: str) -> str | None:
        """Why scores must not go to this lineitem URL, or None when it is the platform's."""
        if len(url) > MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
            return "it is not a plain URL"
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            parts.port                                        # noqa: B018 - a bad port raises ValueError
        except ValueError:
            return "it is not a URL"
        if parts.username is not None or parts.password is not None:
            return "it holds a user name or password"
        scheme = parts.scheme.lower()
        if not (scheme == "https" or (scheme == "http" and is_loopback(host))):
            return f"it is a {scheme or 'relative'} URL, not https"
        if host not in self.hosts:
            return (f"its host {host!r} is not the platform's ({', '.join(sorted(self.hosts))}); the "
                    "administrator adds it to \"platform_hosts\" in GRADER_LTI_CONFIG if it is")
        return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_settings(file: str, issuer: str, registration: dict) -> GraderSettings:
    """The checked "grader" object of one registration (empty settings when it has none);
    a ConfigError that names the registration and the key when one is malformed."""
    where = f"GRADER_LTI_CONFIG={file}: the registration of {issuer} (client {registration.get('client_id')})"
    raw = registration.get("grader", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} has a \"grader\" entry that is not an object")
    unknown = set(raw) - KEYS
    if unknown:
        raise ConfigError(f"{where} has unknown \"grader\" {'key' if len(unknown) == 1 else 'keys'} "
                          f"{', '.join(sorted(unknown))}: use "
                          + ", ".join(sorted(KEYS)))
    tool_url = raw.get("tool_url")
    if tool_url is not None:
        tool_url = _tool_url(where, tool_url)
    contexts_raw = raw.get("contexts", {})
    if not isinstance(contexts_raw, dict):
        raise ConfigError(f"{where}: \"grader\".\"contexts\" must be an object: context id -> "
                          "{\"instructors_are_staff\": true or false}")
    contexts = {}
    for context_id, entry in contexts_raw.items():
        if not isinstance(entry, dict) or set(entry) - CONTEXT_KEYS:
            raise ConfigError(f"{where}: the context {context_id!r} must be an object with at most the keys "
                              + ", ".join(sorted(CONTEXT_KEYS)))
        staff, title = entry.get("instructors_are_staff", False), entry.get("title")
        if not isinstance(staff, bool) or not isinstance(title, (str, type(None))):
            raise ConfigError(f"{where}: the context {context_id!r} needs instructors_are_staff true or false "
                              "and a title that is a text")
        contexts[context_id] = Course(title=title, instructors_are_staff=staff)
    extra = raw.get("platform_hosts", [])
    if not isinstance(extra, list) or not all(isinstance(h, str) and HOST.fullmatch(h.lower()) for h in extra):
        raise ConfigError(f"{where}: \"grader\".\"platform_hosts\" must be a list of host names such as "
                          "\"school.instructure.com\"")
    hosts = {h.lower() for h in extra}
    for url in (issuer, registration.get("auth_login_url"), registration.get("auth_token_url")):
        try:
            host = urlsplit(url).hostname if isinstance(url, str) else None
        except ValueError:
            host = None
        if host:
            hosts.add(host.lower())
    return GraderSettings(issuer=issuer, tool_url=tool_url, contexts=contexts, hosts=frozenset(hosts))


def _tool_url(where: str, url) -> str:
    problem = None
    if not isinstance(url, str):
        problem = "is not a text"
    else:
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            parts, host = None, ""
        if parts is None or not host:
            problem = "is not a URL"
        elif not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
            problem = "is not an https URL"
        elif parts.query or parts.fragment or parts.username is not None:
            problem = "may not hold a query, a fragment or a user name"
    if problem:
        raise ConfigError(f"{where}: \"grader\".\"tool_url\" {problem}: give the grader's public URL as the "
                          "platform knows it, e.g. https://grader.example.edu")
    return url.rstrip("/")
