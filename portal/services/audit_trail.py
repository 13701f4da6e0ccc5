"""Reading the audit trail (compliance and administrators)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import func, select

from portal import audit, policy
from portal.extensions import db
from portal.models import AuditRecord, User

PAGE_SIZE = 50


@dataclasses.dataclass(frozen=True)
class AuditPage:
    records: Sequence[AuditRecord]
    total: int
    page: int
    pages: int


def list_records(
    actor: User,
    *,
    action: str = "",
    actor_email: str = "",
    target_type: str = "",
    target_id: str = "",
    page: int = 1,
) -> AuditPage:
    """Newest audit records first, filtered. Compliance auditors and administrators only."""
    policy.require(policy.can_view_audit_trail(actor))
    query = select(AuditRecord)
    if action:
        query = query.where(AuditRecord.action.startswith(action.strip()))
    if actor_email:
        query = query.where(
            func.lower(AuditRecord.actor_label).contains(actor_email.strip().lower())
        )
    if target_type:
        query = query.where(AuditRecord.target_type == target_type.strip())
    if target_id:
        query = query.where(AuditRecord.target_id == target_id.strip())
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    records = db.session.scalars(
        query.order_by(AuditRecord.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    return AuditPage(records, total, page, pages)


def verify_chain(actor: User) -> audit.VerifyResult:
    """Check the whole chain (see :func:`portal.audit.verify`). Compliance and administrators."""
    policy.require(policy.can_view_audit_trail(actor))
    return audit.verify()
