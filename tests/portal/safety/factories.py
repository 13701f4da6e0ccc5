"""PV cases opened the way the portal opens them (through ``open_case``), and the people around
them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditRecord, Notification, Role, User, utcnow
from portal.safety import services
from portal.safety.models import PvCase
from tests.factories import make_hcp, make_user


def open_case(
    *,
    text: str = "My patient developed a rash after the first dose.",
    reporter: User | None = None,
    source: services.CaseSource = services.CaseSource.QUESTION,
    received_at: dt.datetime | None = None,
    **overrides: Any,
) -> PvCase:
    """A case opened by detection (no actor), committed; its reporter an HCP unless given."""
    case = services.open_case(
        None,
        source=source,
        text=text,
        reasons=overrides.pop("reasons", ["Possible adverse event"]),
        reporter=reporter if reporter is not None else make_hcp(),
        received_at=received_at or utcnow(),
        **overrides,
    )
    db.session.commit()
    return case


def pv_officer(**overrides: Any) -> User:
    return make_user(Role.PHARMACOVIGILANCE, **overrides)


def audit_of(action: str) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def notifications_of(user: User) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    )
