"""Scores to the LMS: LTI 1.3 Assignment and Grade Services, after a submission is graded.

`send_score(config, submission_id)` sends the counting score of the submission's (user, exercise)
(what the student's home page shows: the course's gradebook policy, late penalty included; the
bonus on top, as extra credit) to the lineitem of that user's last launch: an OAuth2 access token
from the platform's token endpoint (client credentials with a JWT signed by the tool's private
key), then a POST of the score to `<lineitem>/scores`. The worker calls it once the grading is
committed and only logs what goes wrong: a platform that is down never changes a grading, and the
next grading of that exercise sends the (counting) score again.

The lineitem is checked again before anything is sent (grader/lti_settings.py: https, on the
platform's own hosts): a link stored before that check, or a registration changed since, never
sends the platform's access token elsewhere; such a score is logged and not sent.

Also the one reader of GRADER_LTI_CONFIG (`tool_config`), for the web's launches too. No Flask here.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.grade import Grade
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.tool_config import ToolConfJsonFile

from .config import Config
from .errors import ConfigError, SetupError
from .lti_settings import GraderSettings, read_settings

log = logging.getLogger("grader.lti")

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
TIMEOUT_S = 10          # each request to a platform: a hung LMS must not hold a worker or a web process


class ToolConf(ToolConfJsonFile):
    """pylti1p3's tool configuration with the grader's settings of each registration
    (grader/lti_settings.py), every one of them checked when the file is read."""

    def __init__(self, config_file: str):
        super().__init__(config_file)
        self._grader: dict[tuple[str, str], GraderSettings] = {}
        for issuer, entries in self._config.items():           # the JSON as pylti1p3 checked and keeps it
            for entry in entries if isinstance(entries, list) else [entries]:
                self._grader[issuer, entry["client_id"]] = read_settings(config_file, issuer, entry)

    def grader(self, issuer: str, client_id: str | None = None) -> GraderSettings:
        """The grader's settings of the registration pylti1p3 picks for (issuer, client_id);
        LookupError when there is none."""
        try:
            entry = self.get_iss_config(issuer, client_id)
        except Exception as e:  # noqa: BLE001 - pylti1p3: "iss ... not found in settings"
            raise LookupError(str(e)) from None
        return self._grader[issuer, entry["client_id"]]


def tool_config(config: Config) -> ToolConf:
    """pylti1p3's tool configuration from GRADER_LTI_CONFIG (its key files relative to it);
    a ConfigError naming the variable when it cannot be used."""
    if config.lti_config is None:
        raise ConfigError("LTI is not configured: set GRADER_LTI_CONFIG to a tool configuration JSON file")
    try:
        return ToolConf(str(config.lti_config))
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - pylti1p3 raises plain Exception for a bad file or key
        detail = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) else str(e)
        raise ConfigError(f"GRADER_LTI_CONFIG={config.lti_config} cannot be used ({detail})") from None


class TimeoutSession(requests.Session):
    """requests without a timeout waits forever; every request to a platform gets TIMEOUT_S."""

    def __init__(self):
        super().__init__()
        self.headers["User-Agent"] = "nn-grader (LTI 1.3)"

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT_S)
        return super().request(*args, **kwargs)


def send_score(config: Config, submission_id: int) -> dict | None:
    """Send the counting score of the submission's (user, exercise) to its LMS lineitem; returns the
    score as sent, or None when there is nothing to send (no LTI config, the submission is not
    graded, no launch with a lineitem and the score scope, a lineitem that is not the platform's:
    logged). A platform that refuses or cannot be
    reached raises SetupError (the caller logs it)."""
    if config.lti_config is None:
        return None
    from .storage.db import session_scope
    from .storage.gradebook import counting
    from .storage.lti_links import lti_link_for
    from .storage.submissions import get_submission
    with session_scope(config) as session:
        submission = get_submission(session, submission_id)
        if submission.status != "graded":
            return None
        link = lti_link_for(session, submission.user_id, submission.exercise_id)
        if link is None or not link.lineitem or SCORE_SCOPE not in (link.scopes or []):
            return None
        row = counting(session, submission.user_id, submission.exercise_id)
        if row.score is None:          # graded, yet nothing counts (cannot happen today)
            return None
        score = row.score + (row.bonus or 0.0)
        target = (link.issuer, link.client_id, link.lineitem, link.sub)
        maximum = submission.exercise.points
    issuer, client_id, lineitem, sub = target
    grade = (Grade().set_score_given(round(max(score, 0.0), 6)).set_score_maximum(maximum)
             .set_activity_progress("Completed").set_grading_progress("FullyGraded").set_user_id(sub)
             .set_timestamp(datetime.now(timezone.utc).isoformat(timespec="milliseconds")))
    # the network, outside any transaction
    tool = tool_config(config)
    try:
        registration = tool.find_registration_by_params(issuer, client_id)
        settings = tool.grader(issuer, client_id)
    except Exception as e:  # noqa: BLE001 - pylti1p3: "iss ... not found in settings"
        raise ConfigError(f"GRADER_LTI_CONFIG={config.lti_config} has no registration for {issuer} "
                          f"(client {client_id}): {e}") from None
    problem = settings.lineitem_problem(lineitem)
    if problem:
        log.warning("submission %s: score not sent to the lineitem %r of %s: %s", submission_id, lineitem[:200],
                    issuer, problem)
        return None
    service = AssignmentsGradesService(ServiceConnector(registration, TimeoutSession()),
                                       {"scope": [SCORE_SCOPE], "lineitem": lineitem})
    try:
        service.put_grade(grade)
    except Exception as e:  # noqa: BLE001 - LtiServiceException (a refusal), requests' errors, a bad reply
        raise SetupError(f"the score of submission {submission_id} was not accepted by {issuer} "
                         f"({lineitem}): {_reason(e)}") from None
    sent = {"scoreGiven": grade.get_score_given(), "scoreMaximum": maximum, "userId": sub, "lineitem": lineitem}
    log.info("submission %s: score %s/%s sent to %s", submission_id, sent["scoreGiven"], maximum, issuer)
    return sent


def _reason(error: Exception) -> str:
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code} {(response.text or '').strip()[:200]}"
    return f"{type(error).__name__}: {error}"
