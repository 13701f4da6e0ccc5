"""Administration of accounts: staff creation and assignments, HCP verification, suspension."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence

from flask import current_app
from flask_babel import LazyString, gettext, lazy_gettext
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from portal import audit, i18n, policy, realtime
from portal.errors import Conflict, InvalidInput, NotFound
from portal.extensions import db
from portal.models import (
    HcpProfile,
    Product,
    Role,
    Team,
    TeamKey,
    TeamMembership,
    Territory,
    User,
    Verification,
    utcnow,
)
from portal.models.reference import STAFF_ROLES
from portal.services import mail, passwords, sessions
from portal.services.accounts import find_user_by_email, normalize_email, welcome_staff_mail
from portal.urls import external_url

PAGE_SIZE = 25


def get_user(actor: User | None, user_id: int) -> User:
    """The user with ``user_id`` if ``actor`` may view accounts; :class:`NotFound` otherwise."""
    if actor is not None:
        policy.require_visible(policy.can_view_users(actor), "That user")
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("That user was not found.")
    return user


@dataclasses.dataclass(frozen=True)
class UserPage:
    users: Sequence[User]
    total: int
    page: int
    pages: int


def _user_query(text: str, role: str, status: str) -> Select[User]:
    query = select(User).outerjoin(HcpProfile, HcpProfile.user_id == User.id)
    if text:
        pattern = f"%{text.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(User.email).like(pattern),
                func.lower(User.name).like(pattern),
                HcpProfile.npi.like(pattern),
                func.lower(HcpProfile.institution).like(pattern),
            )
        )
    if role:
        query = query.where(User.role == Role(role))
    if status == "pending":
        query = query.where(HcpProfile.verification == Verification.PENDING)
    elif status == "rejected":
        query = query.where(HcpProfile.verification == Verification.REJECTED)
    elif status == "suspended":
        query = query.where(User.suspended.is_(True))
    elif status == "active":
        # In good standing: not suspended and, for an HCP, verified (pending and rejected
        # registrations have their own filters).
        query = query.where(
            User.suspended.is_(False),
            or_(User.role != Role.HCP, HcpProfile.verification == Verification.VERIFIED),
        )
    return query


def search_users(
    actor: User, *, text: str = "", role: str = "", status: str = "", page: int = 1
) -> UserPage:
    """A page of users matching the filters, newest first.

    Administrators and compliance auditors may search. ``role`` is a :class:`Role` value,
    ``status`` one of ``pending``, ``rejected``, ``suspended``, ``active`` (empty: all);
    ``active`` means in good standing: not suspended and, for HCPs, verified.
    """
    policy.require(policy.can_view_users(actor))
    if role and role not in set(Role):
        raise InvalidInput("Unknown role.", field="role")
    query = _user_query(text, role, status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    users = db.session.scalars(
        query.options(selectinload(User.hcp_profile))
        .order_by(User.created_at.desc(), User.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return UserPage(users, total, page, pages)


def count_pending_hcps() -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(HcpProfile)
            .where(HcpProfile.verification == Verification.PENDING)
        )
        or 0
    )


@dataclasses.dataclass
class StaffAssignment:
    """Role and where a staff member works."""

    role: str
    team_keys: Sequence[str] = ()
    lead_team_keys: Sequence[str] = ()
    territory_ids: Sequence[int] = ()
    product_ids: Sequence[int] = ()


def _resolve_assignment(
    assignment: StaffAssignment,
) -> tuple[Role, list[Team], set[str], list[Territory], list[Product]]:
    try:
        role = Role(assignment.role)
    except ValueError as exc:
        raise InvalidInput("Choose a role from the list.", field="role") from exc
    if role not in STAFF_ROLES:
        raise InvalidInput(
            "HCP accounts are created by registration, not by administrators.", field="role"
        )
    keys = set(assignment.team_keys)
    unknown = keys - set(TeamKey)
    if unknown:
        raise InvalidInput(f"Unknown team: {', '.join(sorted(unknown))}.", field="teams")
    teams = list(db.session.scalars(select(Team).where(Team.key.in_([TeamKey(k) for k in keys]))))
    if len(teams) != len(keys):
        raise InvalidInput("A chosen team does not exist yet.", field="teams")
    leads = set(assignment.lead_team_keys)
    if not leads <= keys:
        raise InvalidInput("A team lead must be a member of that team.", field="lead_teams")
    territories = list(
        db.session.scalars(select(Territory).where(Territory.id.in_(assignment.territory_ids)))
    )
    if len(territories) != len(set(assignment.territory_ids)):
        raise InvalidInput("A chosen territory does not exist.", field="territories")
    products = list(
        db.session.scalars(select(Product).where(Product.id.in_(assignment.product_ids)))
    )
    if len(products) != len(set(assignment.product_ids)):
        raise InvalidInput("A chosen product does not exist.", field="products")
    return role, teams, leads, territories, products


def _apply_assignment(
    user: User,
    role: Role,
    teams: list[Team],
    leads: set[str],
    territories: list[Territory],
    products: list[Product],
) -> None:
    user.role = role
    user.memberships = [TeamMembership(team=t, is_lead=t.key.value in leads) for t in teams]
    user.territories = territories
    user.products = products


def _assignment_snapshot(user: User) -> dict[str, object]:
    return {
        "role": user.role.value,
        "teams": sorted(m.team.key.value + ("*" if m.is_lead else "") for m in user.memberships),
        "territories": sorted(t.code for t in user.territories),
        "products": sorted(p.code for p in user.products),
    }


def create_staff(
    actor: User | None,
    *,
    email: str,
    name: str,
    assignment: StaffAssignment,
    password: str | None = None,
) -> User:
    """Create a staff account. ``actor`` is an administrator, or ``None`` for the CLI.

    Without ``password`` the new colleague gets a "choose your password" mail. Raises
    :class:`InvalidInput`, :class:`Conflict` (email taken) or :class:`PermissionDenied`.
    Audits ``user.created``.
    """
    if actor is not None:
        policy.require(policy.can_create_staff(actor))
    email = normalize_email(email)
    if not name.strip():
        raise InvalidInput("Enter the person's name.", field="name")
    if find_user_by_email(email) is not None:
        raise Conflict("An account with this email address already exists.", field="email")
    role, teams, leads, territories, products = _resolve_assignment(assignment)
    if password is not None:
        problem = passwords.password_problem(
            password, min_length=current_app.config["PASSWORD_MIN_LENGTH"], email=email
        )
        if problem:
            raise InvalidInput(problem, field="password")
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        # Unusable until the colleague chooses one through the welcome link.
        password_hash=passwords.hash_password(password or secrets.token_urlsafe(32)),
        email_confirmed_at=utcnow() if password else None,
    )
    _apply_assignment(user, role, teams, leads, territories, products)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.created", user, email=email, **_assignment_snapshot(user))
    if password is None:
        welcome_staff_mail(user)
    db.session.commit()
    return user


def update_staff(actor: User, target: User, assignment: StaffAssignment) -> User:
    """Change a staff member's role, teams (and leads), territories and products.

    Administrators only, never on themselves or an HCP. Audits ``user.assignment_changed`` with
    the before and after. A change of role ends every session of the account
    (``session.revoked``) and disconnects its sockets.
    """
    policy.require(policy.can_edit_staff(actor, target), "You cannot change this account's role.")
    role, teams, leads, territories, products = _resolve_assignment(assignment)
    before = _assignment_snapshot(target)
    _apply_assignment(target, role, teams, leads, territories, products)
    db.session.flush()
    after = _assignment_snapshot(target)
    if before != after:
        audit.record(actor, "user.assignment_changed", target, before=before, after=after)
    if before["role"] != after["role"]:
        # What the open sessions were allowed to do has changed: they end, sockets included.
        target.session_version += 1
        sessions.revoke_all(actor, target, reason=sessions.Reason.ROLE_CHANGED)
        realtime.close_sockets_after_commit(db.session(), target.id)
    db.session.commit()
    return target


def _required_reason(reason: str, message: str) -> str:
    reason = reason.strip()
    if len(reason) < 5:
        raise InvalidInput(message, field="reason")
    return reason


def _decide_verification(
    actor: User,
    hcp: User,
    verdict: Verification,
    reason: str | None,
    subject: LazyString,
    news: LazyString,
) -> User:
    policy.require(policy.can_verify_hcp(actor, hcp), "This HCP is not awaiting verification.")
    profile = hcp.hcp_profile
    assert profile is not None  # guaranteed by policy
    profile.verification = verdict
    profile.verified_at = utcnow()
    profile.verified_by = actor
    profile.rejection_reason = reason
    if verdict is Verification.VERIFIED:
        audit.record(actor, "hcp.verified", hcp, npi=profile.npi, licence=profile.licence_number)
    else:
        audit.record(actor, "hcp.rejected", hcp, reason=reason)
    with i18n.for_user(hcp.locale, hcp.timezone):
        mail.enqueue(
            hcp.email,
            str(subject),
            gettext("Hello %(name)s,", name=hcp.name) + f"\n\n{news}\n{external_url('main.home')}",
        )
    db.session.commit()
    return hcp


def verify_hcp(actor: User, hcp: User) -> User:
    """Mark a pending HCP as verified and tell them by mail. Administrators only.

    Raises :class:`PermissionDenied` unless the HCP is pending. Audits ``hcp.verified``.
    """
    return _decide_verification(
        actor,
        hcp,
        Verification.VERIFIED,
        None,
        # Lazy: written in the HCP's language, whoever decides.
        lazy_gettext("Your HCP portal account is verified"),
        lazy_gettext(
            "Your professional details have been verified. You now have full access to the portal:"
        ),
    )


def reject_hcp(actor: User, hcp: User, *, reason: str) -> User:
    """Refuse a pending HCP's verification with a reason they will see. Administrators only.

    Raises :class:`PermissionDenied` unless the HCP is pending, :class:`InvalidInput` without a
    reason. Audits ``hcp.rejected``.
    """
    policy.require(policy.can_verify_hcp(actor, hcp), "This HCP is not awaiting verification.")
    return _decide_verification(
        actor,
        hcp,
        Verification.REJECTED,
        _required_reason(reason, "Give the HCP a reason (at least 5 characters)."),
        lazy_gettext("Your HCP portal registration could not be verified"),
        lazy_gettext(
            "We could not verify your professional details. Sign in to see the reason and what "
            "to do next:"
        ),
    )


def suspend_user(actor: User, target: User, *, reason: str) -> User:
    """Suspend an account: it cannot sign in, its open sessions end at once and its live
    sockets are disconnected.

    Administrators only, never themselves. Audits ``user.suspended``.
    """
    policy.require(policy.can_suspend_user(actor, target), "You cannot suspend this account.")
    if target.suspended:
        raise Conflict("This account is already suspended.")
    reason = _required_reason(reason, "Give a reason (at least 5 characters).")
    target.suspended = True
    target.suspended_reason = reason
    target.session_version += 1
    sessions.revoke_all(actor, target, reason=sessions.Reason.SUSPENDED)
    audit.record(actor, "user.suspended", target, reason=reason)
    realtime.close_sockets_after_commit(db.session(), target.id)
    db.session.commit()
    return target


def reactivate_user(actor: User, target: User) -> User:
    """Lift a suspension. Administrators only. Audits ``user.reactivated``."""
    policy.require(policy.can_suspend_user(actor, target), "You cannot reactivate this account.")
    if not target.suspended:
        raise Conflict("This account is not suspended.")
    target.suspended = False
    target.suspended_reason = None
    target.failed_logins = 0
    target.locked_until = None
    audit.record(actor, "user.reactivated", target)
    db.session.commit()
    return target


def list_teams() -> Sequence[Team]:
    return db.session.scalars(select(Team).order_by(Team.name)).all()


def list_territories() -> Sequence[Territory]:
    return db.session.scalars(select(Territory).order_by(Territory.country, Territory.code)).all()


def list_products() -> Sequence[Product]:
    return db.session.scalars(select(Product).order_by(Product.name)).all()


def team_members(team: TeamKey, *, leads_only: bool = False) -> list[User]:
    """Active members of ``team`` (only its leads with ``leads_only``), by id."""
    query = (
        select(User)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(Team.key == team, User.suspended.is_(False))
        .order_by(User.id)
    )
    if leads_only:
        query = query.where(TeamMembership.is_lead.is_(True))
    return list(db.session.scalars(query))
