"""All of the core's models, importable from one place (and seen by Alembic)."""

from portal.models.audit import AuditHead, AuditRecord
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.job import Job, JobState
from portal.models.mail import OutboxMail
from portal.models.notification import ConsentWording, Notification
from portal.models.org import Product, Team, TeamMembership, Territory
from portal.models.reference import Profession, Role, Side, TeamKey, Verification
from portal.models.session import RecoveryCode, TwoFactor, UserSession
from portal.models.user import HcpProfile, User

__all__ = [
    "AuditHead",
    "AuditRecord",
    "Base",
    "ConsentWording",
    "HcpProfile",
    "Job",
    "JobState",
    "Notification",
    "OutboxMail",
    "Product",
    "Profession",
    "RecoveryCode",
    "Role",
    "Side",
    "Team",
    "TeamKey",
    "TeamMembership",
    "Territory",
    "TwoFactor",
    "UTCDateTime",
    "User",
    "UserSession",
    "Verification",
    "utcnow",
]
