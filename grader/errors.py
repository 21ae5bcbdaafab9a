"""Every error the grader raises on purpose, classified by whose fault it is.

| class              | whose fault                         | CLI exit | worker        | web     |
|--------------------|-------------------------------------|----------|---------------|---------|
| SubmissionError    | the submission or the request       | 2        | failed, final | 4xx     |
| SetupError         | the machine's setup (data, sandbox) | 1        | retry         | 503     |
| GraderError        | ours (a broken manifest or suite)   | 1        | error         | 500     |

A SetupError never produces a score: a student never gets a zero for a missing dataset or a
stopped engine. str(e) is always a sentence meant for whoever has to act on it.
"""
from __future__ import annotations


class GraderError(Exception):
    """Base of the grader's own errors: a bug or a broken exercise (manifest, suite)."""

    exit_code = 1
    http_status = 500
    retry = False


class SubmissionError(GraderError):
    """The submission (or the command) cannot be graded as given; the message is for the student."""

    exit_code = 2
    http_status = 400


class SetupError(GraderError):
    """An infrastructure problem; the message says what to fix. Retried by workers, never scored."""

    exit_code = 1
    http_status = 503
    retry = True


# ---------------------------------------------------------------- the submission's (exit 2)

class UsageError(SubmissionError):
    """A command-line argument that cannot work (a file that does not exist, say)."""


class IngestError(SubmissionError):
    """The file cannot be graded at all: not a notebook, empty, too large, not UTF-8."""

    http_status = 422


class UnknownExercise(SubmissionError, LookupError):
    """The exercise id names no exercise."""

    http_status = 404


class UnknownSubmission(SubmissionError, LookupError):
    """The id names no submission."""

    http_status = 404


class SubmissionRefused(SubmissionError):
    """The course's rules refuse this submission now (closed after the due date)."""

    http_status = 403


class TooManySubmissions(SubmissionRefused):
    """The submission limit of the window, or the cool-off between two, is not over yet."""

    http_status = 429


class UserError(SubmissionError):
    """A user record that cannot be written as given (bad name, role or e-mail)."""

    http_status = 422


class UnknownUser(UserError, LookupError):
    """The name names no user."""

    http_status = 404


class DuplicateUser(UserError):
    """A user of that name exists already."""

    http_status = 409


class RosterError(UserError):
    """A roster file with bad lines; the message names the file and each bad line by number."""


# ---------------------------------------------------------------- the setup's (exit 1, retried)

class ConfigError(SetupError):
    """A setting (environment variable or config value) that is not valid; names the setting."""

    retry = False     # retrying does not change a setting


class BrokerShared(ConfigError):
    """Another deployment uses the broker's queues; names it, GRADER_BROKER_URL and the override."""


class DatasetError(SetupError):
    """A dataset cannot be used; the message says which file, where we looked and what to do."""


class SandboxUnavailable(SetupError):
    """The sandbox cannot start for an infrastructure reason: never the student's fault."""


class DatabaseUnavailable(SetupError):
    """The database cannot be reached or is not set up; the message names GRADER_DATABASE_URL."""


class StorageUnavailable(SetupError):
    """A stored submission file is missing or damaged (a storage folder not mounted, say)."""


# ---------------------------------------------------------------- ours (exit 1)

class ManifestError(GraderError):
    """A broken or missing manifest."""


class SuiteError(GraderError):
    """The hidden suite itself is broken or could not run."""


class InvalidTransition(GraderError):
    """A submission status change the lifecycle forbids (a backward move), or a grading attempt
    recorded twice: a bug in the caller, never the student's fault."""

    http_status = 409
