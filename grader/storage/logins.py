"""Failed logins, counted in the database so that every web process and host agrees, and what
they mean for the next try. The rules keep guessing a password slow without letting anyone lock
a classmate out before a deadline:

* per (name, address): after `per_name` failures in the window, that address waits before it
  may try that name again. Failures from other addresses never refuse the real student's right
  password: five wrong ones typed for alice lock out only the address that typed them.
* per address, across names: `per_address` failures (loose: a campus NAT is many students).
* per name, across addresses: every failure past `per_name` slows each further try for that
  name by `delay_s`, at most `max_delay_s`, and the password is then checked as usual: many
  addresses guessing one password are slowed, and the real student still gets in.

Names are folded (stripped, lower case), as "ALICE " and alice are the same login.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import LoginFailure, utcnow

KEY_CHARS = 200                   # LoginFailure.key's length


@dataclass(frozen=True)
class Limits:
    per_name: int                 # failures for a name from one address, in the window
    per_address: int              # failures from one address, any names
    window_s: float
    delay_s: float                # per failure of a name past per_name, from anywhere
    max_delay_s: float


@dataclass(frozen=True)
class Verdict:
    """`wait_s` > 0: refused now, `refused_for` says whose failures ("name" from this address, or
    the "address"); else check the password after `delay_s`."""

    wait_s: float = 0.0
    refused_for: str | None = None
    delay_s: float = 0.0


def _keys(name: str, address: str) -> dict[str, str]:
    """The keys a failure counts under: the name from this address, the address, the name from anywhere."""
    folded = name.strip().lower()
    return {"name": f"pair:{address} {folded}"[:KEY_CHARS], "address": f"addr:{address}"[:KEY_CHARS],
            "anywhere": f"name:{folded}"[:KEY_CHARS]}


def check(session: Session, name: str, address: str, limits: Limits) -> Verdict:
    """What the next try of `name` from `address` gets (nothing is written)."""
    keys = _keys(name, address)
    now = utcnow()
    rows = session.execute(select(LoginFailure.key, func.count(), func.min(LoginFailure.at))
                           .where(LoginFailure.key.in_(keys.values()),
                                  LoginFailure.at > now - timedelta(seconds=limits.window_s))
                           .group_by(LoginFailure.key)).all()
    found = {key: (count, oldest) for key, count, oldest in rows}
    for which, limit in (("address", limits.per_address), ("name", limits.per_name)):
        count, oldest = found.get(keys[which], (0, None))
        if count >= limit:
            if oldest.tzinfo is None:              # SQLite's aggregate comes back plain
                oldest = oldest.replace(tzinfo=timezone.utc)
            wait = max(limits.window_s - (now - oldest).total_seconds(), 1.0)
            return Verdict(wait, which)
    past = found.get(keys["anywhere"], (0, None))[0] - limits.per_name
    return Verdict(delay_s=min(max(past, 0) * limits.delay_s, limits.max_delay_s))


def failed(session: Session, name: str, address: str, window_s: float) -> None:
    """Record a failure under each key; drop what is older than the window (the table stays small)."""
    now = utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(seconds=window_s)))
    session.add_all(LoginFailure(key=key, at=now) for key in _keys(name, address).values())


def succeeded(session: Session, name: str, address: str) -> None:
    """The right password: this address's failures for the name are forgotten (the student's own
    typos). The name's failures from elsewhere still slow its guessers until the window ends."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == _keys(name, address)["name"]))
