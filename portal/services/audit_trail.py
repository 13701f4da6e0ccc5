"""Reading the audit trail (compliance and administrators)."""

from __future__ import annotations

from sqlalchemy import func, select

from portal import audit, policy
from portal.models import AuditRecord, User
from portal.pagination import Page, paginate

PAGE_SIZE = 50
# Counted up to here: past it the page says "more than 10,000 records" (a year is 586,000).
COUNT_CAP = 10_000


def list_records(
    actor: User,
    *,
    action: str = "",
    actor_email: str = "",
    target_type: str = "",
    target_id: str = "",
    page: int = 1,
) -> Page[AuditRecord]:
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
    return paginate(
        query.order_by(AuditRecord.id.desc()), page=page, page_size=PAGE_SIZE, count_cap=COUNT_CAP
    )


def verify_chain(actor: User) -> audit.VerifyResult:
    """Check the whole chain (see :func:`portal.audit.verify`). Compliance and administrators."""
    policy.require(policy.can_view_audit_trail(actor))
    return audit.verify()
