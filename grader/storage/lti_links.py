"""LMS links (LTI 1.3): the users a platform launched, and where their scores go.

A platform's user is known by (issuer, sub), never by name or e-mail (an LMS account must not take
over a grader account that happens to share its address, nor one whose name only looks the
same: a new user's name has a free `name_key`): their first launch creates a user (its role
decided by grader/web/lti.py), later ones find it through any of their links. Each launch
writes the link of (user, exercise, issuer) again, so the lineitem is always the one of the last
launch (None when the web found it is not the platform's).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import LtiLink, User, utcnow
from .names import name_key
from .users import EMAIL, NAME, add_user

KEY_CHARS = 80            # users.name_key's column


def upsert_lti_link(session: Session, user: User, exercise_id: str, *, issuer: str, client_id: str,
                    deployment_id: str, sub: str, lineitem: str | None, scopes: Iterable[str]) -> LtiLink:
    """The link of (user, exercise, issuer), written or updated from a launch."""
    link = session.scalar(select(LtiLink).where(LtiLink.user_id == user.id, LtiLink.exercise_id == exercise_id,
                                                LtiLink.issuer == issuer))
    if link is None:
        link = LtiLink(user_id=user.id, exercise_id=exercise_id, issuer=issuer)
        session.add(link)
    link.client_id, link.deployment_id, link.sub = client_id, deployment_id, sub
    link.lineitem, link.scopes, link.updated_at = lineitem or None, list(scopes), utcnow()
    session.flush()
    return link


def lti_link_for(session: Session, user_id: int, exercise_id: str) -> LtiLink | None:
    """Where the score of (user, exercise) goes: the link of the latest launch, or None."""
    return session.scalar(select(LtiLink).where(LtiLink.user_id == user_id, LtiLink.exercise_id == exercise_id)
                          .order_by(LtiLink.updated_at.desc(), LtiLink.id.desc()).limit(1))


def lti_user(session: Session, issuer: str, sub: str) -> User | None:
    """The user an earlier launch from this platform created for `sub`, or None."""
    return session.scalar(select(User).join(LtiLink, LtiLink.user_id == User.id)
                          .where(LtiLink.issuer == issuer, LtiLink.sub == sub).limit(1))


def add_lti_user(session: Session, role: str, *, name: str | None, email: str | None, sub: str) -> User:
    """A new user for a platform's user: named after their name, else their e-mail, else their sub,
    made valid for `add_user` and unique by its key (a launch named "Alice" when `alice` exists is
    `Alice-2`); no password (they come in through the LMS)."""
    email = email if email and len(email) <= 254 and EMAIL.fullmatch(email) else None
    base = next((b for b in (_name_part(name), _name_part(email), _name_part(sub)) if b), "lti-user")
    for first in range(1, 1000, 50):                    # 50 candidates a query
        candidates = [base if n == 1 else f"{base[:58]}-{n}" for n in range(first, first + 50)]
        keys = {name_key(c): c for c in candidates}
        taken = set(session.scalars(select(User.name_key).where(User.name_key.in_(list(keys)))))
        free = next((c for k, c in keys.items() if k not in taken), None)
        if free is not None:
            return add_user(session, free, role, email=email)
    return add_user(session, "lti-" + hashlib.sha256(f"{sub}|{base}".encode()).hexdigest()[:16], role, email=email)


def _name_part(text: str | None) -> str:
    """`text` as a user name: runs of characters a name cannot hold become one `_`; shortened
    until its key (which NFKC can make longer: `ﬃ` is `ffi`) fits, with room for a `-999`."""
    cleaned = re.sub(r"[^\w.@+-]+", "_", (text or "").strip()).strip("_.")[:64]
    while cleaned and max(len(name_key(cleaned)), len(name_key(cleaned[:58] + "-999"))) > KEY_CHARS:
        cleaned = cleaned[:-1].rstrip("_.")
    return cleaned if NAME.fullmatch(cleaned) else ""
