"""Users, their passwords and their API tokens, and the roster import: who may log in, as what
(and the LMS ids, SIS and Canvas user id, that the Canvas export matches students by).

Names are compared by their key (`names.name_key`): look-alikes are one account. Passwords are
scrypt hashes of at most PASSWORD_CHARS characters; a login for an unknown name checks a dummy
hash, so it takes as long as one for a real name. An API token is shown once and only its sha256
is kept; it may have a label and an expiry, and its owner lists and revokes their tokens. Errors
are those of `grader.errors` (UnknownUser, DuplicateUser, RosterError, UserError)."""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import DuplicateUser, RosterError, UnknownUser, UserError
from .models import ROLES, ApiToken, User, utcnow
from .names import name_key

NAME = re.compile(r"[\w.@+-]{1,64}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
TOKEN_PREFIX = "grd_"
PASSWORD_CHARS = 1024        # longer is no password a person types; scrypt of 10 MB costs 0.5 s
TOKEN_LABEL_CHARS = 100

_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (hashlib.scrypt, 16 MiB of memory per check)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def check_password_length(password: str) -> None:
    if not password:
        raise UserError("the password is empty")
    if len(password) > PASSWORD_CHARS:
        raise UserError(f"a password can have at most {PASSWORD_CHARS} characters")


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def verify_password(user: User | None, password: str) -> bool:
    """Whether the password is the user's. For no user (an unknown name) or a user without a
    password, a dummy hash is checked all the same: the answer takes as long for every name."""
    stored = (user.password_hash if user is not None else None) or _DUMMY_HASH
    if len(password) > PASSWORD_CHARS:
        password = ""                           # never the user's, and not worth hashing
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except ValueError:
        return False
    return (scheme == "scrypt" and hmac.compare_digest(actual, expected) and stored is not _DUMMY_HASH
            and 0 < len(password) <= PASSWORD_CHARS)


def _check_user(name: str, role: str, email: str | None, section: str | None) -> None:
    if not NAME.fullmatch(name or ""):
        raise UserError(f"user name {name!r} must be 1 to 64 letters, digits or . _ @ + -")
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if email is not None and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise UserError(f"{email!r} is not an e-mail address")
    if section is not None and len(section) > 64:
        raise UserError(f"section {section[:20]!r}... is longer than 64 characters")


def add_user(session: Session, name: str, role: str = "student", *, email: str | None = None,
             section: str | None = None, password: str | None = None) -> User:
    """A new user; DuplicateUser if the name is taken."""
    _check_user(name, role, email, section)
    if password is not None:
        check_password_length(password)
    same = session.scalar(select(User.name).where(User.name_key == name_key(name)))
    if same is not None:
        raise DuplicateUser(f"a user named {name!r} exists already" if same == name else
                            f"{name!r} is the same name as the user {same!r} (names ignore case and look-alike "
                            "letters)")
    user = User(name=name, role=role, email=email, section=section,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:                  # added by someone else meanwhile
        raise DuplicateUser(f"a user named {name!r} exists already") from None
    return user


def set_password(session: Session, user: User | str, password: str) -> None:
    """A new password; every session of the user ends (whoever knew the old one is logged out)."""
    from .login_sessions import end_all
    check_password_length(password)
    user = get_user(session, user)
    user.password_hash = hash_password(password)
    end_all(session, user.id)
    session.flush()


def get_user(session: Session, user: User | str) -> User:
    """The user of that name or a look-alike of it (a User is returned as it is); UnknownUser if none."""
    if isinstance(user, User):
        return user
    found = session.scalar(select(User).where(User.name_key == name_key(user)))
    if found is None:
        raise UnknownUser(f"no user named {user!r}")
    return found


def people_of(session: Session, names) -> dict[str, Person]:
    """Each of these users' e-mail address and LMS ids (None where unknown), in one query."""
    found = session.execute(select(User.name, User.email, User.sis_user_id, User.canvas_user_id)
                            .where(User.name.in_(list(names))))
    return {name: Person(email, sis, canvas) for name, email, sis, canvas in found}


@dataclass(frozen=True)
class Person:
    email: str | None
    sis_user_id: str | None
    canvas_user_id: str | None


def all_users(session: Session, role: str | None = None) -> list[User]:
    """Every user (of one role), by name."""
    query = select(User).order_by(User.name)
    if role is not None:
        query = query.where(User.role == role)
    return list(session.scalars(query))


@dataclass(frozen=True)
class RosterImport:
    added: int
    updated: int


ROSTER_COLUMNS = ("name", "email", "section", "role", "sis_user_id", "canvas_user_id")
# Canvas's own roster and gradebook exports call the LMS ids "SIS User ID" and "ID"
ROSTER_ALIASES = {"sis user id": "sis_user_id", "id": "canvas_user_id", "canvas user id": "canvas_user_id"}
LMS_IDS = ("sis_user_id", "canvas_user_id")
SIS_ID_CHARS = 100                       # users.sis_user_id
CANVAS_ID = re.compile(r"[0-9]{1,32}")   # users.canvas_user_id, exercises.canvas_assignment_id


def check_lms_ids(sis_user_id: str | None = None, canvas_user_id: str | None = None) -> None:
    """UserError for an LMS id that cannot be one (None: not given)."""
    if sis_user_id is not None and (not sis_user_id or len(sis_user_id) > SIS_ID_CHARS
                                    or not sis_user_id.isprintable()):
        raise UserError(f"SIS user id {sis_user_id[:20]!r} must be 1 to {SIS_ID_CHARS} printable characters")
    if canvas_user_id is not None and not CANVAS_ID.fullmatch(canvas_user_id):
        raise UserError(f"Canvas user id {canvas_user_id[:20]!r} must be a number (Canvas's user id)")


def set_lms_ids(user: User, sis_user_id: str | None = None, canvas_user_id: str | None = None) -> bool:
    """The user's LMS ids, each one given (not None) replacing the stored one; whether one changed."""
    check_lms_ids(sis_user_id, canvas_user_id)
    changed = False
    for name, value in (("sis_user_id", sis_user_id), ("canvas_user_id", canvas_user_id)):
        if value is not None and getattr(user, name) != value:
            setattr(user, name, value)
            changed = True
    return changed


def _roster_column(header: str) -> str:
    header = header.lower()
    return ROSTER_ALIASES.get(header, header.replace(" ", "_"))


def import_roster(session: Session, roster: Path | str | bytes | Iterable[str],
                  source: str | None = None) -> RosterImport:
    """Add or update users from a CSV roster: columns name, email, section, role (a header row
    naming them may come first, in any order; role defaults to student), and, under a header, the
    LMS ids sis_user_id and canvas_user_id (Canvas's spellings "SIS User ID" and "ID" too) that the
    Canvas export fills in; an empty id leaves the stored one. Every line is checked before
    anything is written: RosterError names each bad line by its number."""
    if isinstance(roster, Path):
        source = source or roster.name
        try:
            roster = roster.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise RosterError(f"cannot read roster {source}: {getattr(e, 'strerror', None) or e}") from None
    if isinstance(roster, (str, bytes)):            # the whole text of an upload
        roster = (roster.decode("utf-8-sig") if isinstance(roster, bytes) else roster).splitlines()
    source = source or "roster"
    reader = csv.reader(roster)
    columns = ["name", "email", "section", "role"]
    rows, problems, seen = [], [], {}
    for fields in reader:
        line = reader.line_num
        fields = [f.strip() for f in fields]
        if not any(fields) or fields[0].startswith("#"):
            continue
        if not rows and not problems and not seen and "name" in [f.lower() for f in fields]:
            columns = [_roster_column(f) for f in fields]      # a header row
            unknown = sorted(set(columns) - set(ROSTER_COLUMNS))
            if unknown:
                words = "unknown column" if len(unknown) == 1 else "unknown columns"
                raise RosterError(f"{source} line {line}: {words} {', '.join(unknown)}: "
                                  f"use {', '.join(ROSTER_COLUMNS)}")
            continue
        if len(fields) > len(columns):
            problems.append(f"line {line}: {len(fields)} fields, expected at most {len(columns)} "
                            f"({', '.join(columns)})")
            continue
        row = dict(zip(columns, fields))
        name = row.get("name", "")
        entry = {"email": row.get("email") or None, "section": row.get("section") or None,
                 "role": (row.get("role") or "student").lower()}
        ids = {key: row.get(key) or None for key in LMS_IDS}
        try:
            _check_user(name, entry["role"], entry["email"], entry["section"])
            check_lms_ids(**ids)
        except UserError as e:
            problems.append(f"line {line}: {e}")
            continue
        if name_key(name) in seen:
            problems.append(f"line {line}: {name!r} is already on line {seen[name_key(name)]}")
            continue
        seen[name_key(name)] = line
        rows.append((name, entry, ids))
    if problems:
        raise RosterError(f"{source}: nothing imported; " + "; ".join(problems))
    keys = [name_key(n) for n, _, _ in rows]
    existing = {u.name_key: u for u in session.scalars(select(User).where(User.name_key.in_(keys)))}
    added = updated = 0
    for name, entry, ids in rows:
        user = existing.get(name_key(name))
        if user is None:
            session.add(User(name=name, **entry, **ids))
            added += 1
            continue
        changed = (user.email, user.section, user.role) != (entry["email"], entry["section"], entry["role"])
        user.email, user.section, user.role = entry["email"], entry["section"], entry["role"]
        if set_lms_ids(user, **ids) or changed:
            updated += 1
    session.flush()
    return RosterImport(added, updated)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User | str, label: str | None = None,
                expires_at: datetime | None = None) -> str:
    """A new API token for the user: returned once, in plain; only its sha256 is stored."""
    user = get_user(session, user)
    if label is not None and len(label) > TOKEN_LABEL_CHARS:
        raise UserError(f"a token's label can have at most {TOKEN_LABEL_CHARS} characters")
    if expires_at is not None and expires_at <= utcnow():
        raise UserError("a token's expiry must lie in the future")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), label=label or None,
                         expires_at=expires_at))
    session.flush()
    return token


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    """The user's API tokens, newest first (expired ones too: their owner sees why one stopped)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: Session, user_id: int, token_id: int) -> None:
    """The user's own token, gone; UserError for an id that is not one of theirs."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id:
        raise UserError(f"you have no API token number {token_id}")
    session.delete(row)
    session.flush()


def user_for_token(session: Session, token: str) -> User | None:
    """The token's user (its last use recorded), or None for a token that was never issued, was
    revoked or has expired."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    row.last_used_at = utcnow()
    return row.user
