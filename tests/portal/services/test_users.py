"""Administration of accounts: HCP verification, staff creation and assignments, suspension,
and the user search."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from portal import policy
from portal.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import (
    AuditRecord,
    OutboxMail,
    Role,
    TeamKey,
    User,
    Verification,
    utcnow,
)
from portal.services import accounts, users
from portal.services.users import StaffAssignment
from tests.factories import (
    PASSWORD,
    make_hcp,
    make_product,
    make_territory,
    make_user,
    unique,
)

NOT_ADMIN = [r for r in Role if r is not Role.ADMIN]
STAFF_PASSWORD = "Colleague-Pass-2026!"


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def stored_counts() -> dict[str, int]:
    return {m.__name__: count(m) for m in (User, OutboxMail, AuditRecord)}


def records(action: str) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        )
    )


def mails_to(address: str) -> list[OutboxMail]:
    return list(db.session.scalars(select(OutboxMail).where(OutboxMail.to == address)))


def actor_of(role: Role) -> User:
    return make_hcp() if role is Role.HCP else make_user(role)


# --- HCP verification ------------------------------------------------------------------------


def test_admin_verifies_a_pending_hcp(app):
    admin = make_user(Role.ADMIN)
    hcp = make_hcp(verification=Verification.PENDING)
    assert not policy.can_see_professional_content(hcp)

    users.verify_hcp(admin, hcp)

    db.session.expire_all()
    profile = hcp.hcp_profile
    assert profile is not None
    assert profile.verification is Verification.VERIFIED
    assert profile.verified_by_id == admin.id
    assert profile.verified_at is not None
    assert policy.can_see_professional_content(hcp)


def test_verification_is_audited_and_the_hcp_is_told_by_mail(app):
    admin = make_user(Role.ADMIN)
    hcp = make_hcp(verification=Verification.PENDING)

    users.verify_hcp(admin, hcp)

    [record] = records("hcp.verified")
    assert record.actor_id == admin.id
    assert record.target_id == str(hcp.id)
    assert record.shown_details["npi"] == hcp.hcp_profile.npi
    [mail] = mails_to(hcp.email)
    assert "verified" in mail.subject.lower()
    assert "http://portal.test/" in mail.body


@pytest.mark.parametrize("role", NOT_ADMIN)
def test_only_an_administrator_verifies_an_hcp(app, role):
    actor = actor_of(role)
    hcp = make_hcp(verification=Verification.PENDING)
    before = stored_counts()

    with pytest.raises(PermissionDenied):
        users.verify_hcp(actor, hcp)

    db.session.refresh(hcp.hcp_profile)
    assert hcp.hcp_profile.verification is Verification.PENDING
    assert stored_counts() == before


def test_suspended_administrator_cannot_verify(app):
    admin = make_user(Role.ADMIN, suspended=True)
    hcp = make_hcp(verification=Verification.PENDING)
    with pytest.raises(PermissionDenied):
        users.verify_hcp(admin, hcp)


@pytest.mark.parametrize("verification", [Verification.VERIFIED, Verification.REJECTED])
def test_hcp_already_decided_cannot_be_verified_again(app, verification):
    admin = make_user(Role.ADMIN)
    hcp = make_hcp(verification=verification)
    before = stored_counts()

    with pytest.raises(PermissionDenied):
        users.verify_hcp(admin, hcp)

    assert hcp.hcp_profile.verification is verification
    assert stored_counts() == before


def test_staff_member_cannot_be_verified_as_an_hcp(app):
    with pytest.raises(PermissionDenied):
        users.verify_hcp(make_user(Role.ADMIN), make_user(Role.MSL))


def test_admin_rejects_a_pending_hcp_with_a_reason(app):
    admin = make_user(Role.ADMIN)
    hcp = make_hcp(verification=Verification.PENDING)
    reason = "  The NPI belongs to another practitioner. "

    users.reject_hcp(admin, hcp, reason=reason)

    db.session.expire_all()
    profile = hcp.hcp_profile
    assert profile.verification is Verification.REJECTED
    assert profile.rejection_reason == reason.strip()
    assert profile.verified_by_id == admin.id
    assert not policy.can_see_professional_content(hcp)
    [record] = records("hcp.rejected")
    assert record.actor_id == admin.id
    assert record.details == {"reason": reason.strip()}


def test_rejection_mail_points_to_the_portal_without_the_reason(app):
    admin = make_user(Role.ADMIN)
    hcp = make_hcp(verification=Verification.PENDING)

    users.reject_hcp(admin, hcp, reason="The NPI belongs to another practitioner.")

    [mail] = mails_to(hcp.email)
    assert "http://portal.test/" in mail.body
    assert "another practitioner" not in mail.body


@pytest.mark.parametrize("reason", ["", "    ", "no", "  abcd  "])
def test_rejection_needs_a_reason(app, reason):
    admin = make_user(Role.ADMIN)
    hcp = make_hcp(verification=Verification.PENDING)
    before = stored_counts()

    with pytest.raises(InvalidInput) as caught:
        users.reject_hcp(admin, hcp, reason=reason)

    assert caught.value.field == "reason"
    db.session.refresh(hcp.hcp_profile)
    assert hcp.hcp_profile.verification is Verification.PENDING
    assert stored_counts() == before


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.REP, Role.MSL, Role.HCP])
def test_only_an_administrator_rejects_an_hcp(app, role):
    hcp = make_hcp(verification=Verification.PENDING)
    with pytest.raises(PermissionDenied):
        users.reject_hcp(actor_of(role), hcp, reason="Not a real practitioner.")
    assert hcp.hcp_profile.verification is Verification.PENDING


def test_rejected_hcp_cannot_be_rejected_again(app):
    hcp = make_hcp(verification=Verification.REJECTED)
    with pytest.raises(PermissionDenied):
        users.reject_hcp(make_user(Role.ADMIN), hcp, reason="Still not a practitioner.")


def test_pending_hcps_are_counted(app):
    make_hcp(verification=Verification.PENDING)
    make_hcp(verification=Verification.PENDING)
    make_hcp()
    assert users.count_pending_hcps() == 2


# --- staff creation --------------------------------------------------------------------------


def test_admin_creates_a_staff_member_with_a_password(app):
    admin = make_user(Role.ADMIN)
    territory = make_territory()
    product = make_product()

    msl = users.create_staff(
        admin,
        email="Morgan.Liaison@Pharma.org",
        name="  Dr. Morgan Liaison ",
        assignment=StaffAssignment(
            role="msl",
            team_keys=["msl"],
            lead_team_keys=["msl"],
            territory_ids=[territory.id],
            product_ids=[product.id],
        ),
        password=STAFF_PASSWORD,
    )

    db.session.expire_all()
    assert msl.email == "morgan.liaison@pharma.org"
    assert msl.name == "Dr. Morgan Liaison"
    assert msl.role is Role.MSL
    assert [(m.team.key, m.is_lead) for m in msl.memberships] == [(TeamKey.MSL, True)]
    assert msl.territories == [territory]
    assert msl.products == [product]
    assert msl.email_confirmed_at is not None
    assert mails_to(msl.email) == []
    assert accounts.authenticate(msl.email, STAFF_PASSWORD).id == msl.id


def test_staff_creation_is_audited_with_the_assignment(app):
    admin = make_user(Role.ADMIN)
    territory = make_territory(code="US-NE")

    rep = users.create_staff(
        admin,
        email="riley@pharma.org",
        name="Riley Rep",
        assignment=StaffAssignment(role="rep", team_keys=["sales"], territory_ids=[territory.id]),
        password=STAFF_PASSWORD,
    )

    [record] = records("user.created")
    assert record.actor_id == admin.id
    assert record.target_id == str(rep.id)
    assert record.shown_details == {
        "email": "riley@pharma.org",
        "role": "rep",
        "teams": ["sales"],
        "territories": ["US-NE"],
        "products": [],
    }
    assert STAFF_PASSWORD not in str(record.details)


def test_staff_member_without_a_password_gets_a_welcome_link_to_choose_one(app):
    admin = make_user(Role.ADMIN)

    pv = users.create_staff(
        admin,
        email="pat@pharma.org",
        name="Pat Vigilance",
        assignment=StaffAssignment(role="pharmacovigilance", team_keys=["pharmacovigilance"]),
    )

    assert pv.email_confirmed_at is None
    [mail] = mails_to(pv.email)
    assert "password" in mail.subject.lower()
    found = re.search(r"http://portal\.test/password/reset/([A-Za-z0-9_.\-]+)", mail.body)
    assert found
    accounts.reset_password(found.group(1), STAFF_PASSWORD)
    signed_in = accounts.authenticate(pv.email, STAFF_PASSWORD)
    assert signed_in.id == pv.id
    assert signed_in.email_confirmed_at is not None


def test_command_line_creates_staff_as_the_system(app):
    user = users.create_staff(
        None,
        email="first.admin@pharma.org",
        name="First Admin",
        assignment=StaffAssignment(role="admin"),
        password=STAFF_PASSWORD,
    )

    assert user.role is Role.ADMIN
    [record] = records("user.created")
    assert record.actor_id is None
    assert record.actor_label == "system"


@pytest.mark.parametrize("existing", ["riley@pharma.org", "Riley@Pharma.org"])
def test_staff_email_already_taken_is_a_conflict(app, existing):
    admin = make_user(Role.ADMIN)
    make_user(Role.REP, email=existing)
    before = stored_counts()

    with pytest.raises(Conflict) as caught:
        users.create_staff(
            admin,
            email="RILEY@pharma.org",
            name="Riley Again",
            assignment=StaffAssignment(role="rep", team_keys=["sales"]),
            password=STAFF_PASSWORD,
        )

    assert caught.value.field == "email"
    assert stored_counts() == before


def test_staff_email_taken_by_an_hcp_is_a_conflict(app):
    hcp = make_hcp(email="dr.who@clinic.org")
    with pytest.raises(Conflict):
        users.create_staff(
            make_user(Role.ADMIN),
            email=hcp.email,
            name="Someone",
            assignment=StaffAssignment(role="rep"),
        )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"assignment": StaffAssignment(role="hcp")}, "role", id="hcp-role"),
        pytest.param({"assignment": StaffAssignment(role="wizard")}, "role", id="unknown-role"),
        pytest.param(
            {"assignment": StaffAssignment(role="rep", team_keys=["sales", "marketing"])},
            "teams",
            id="unknown-team",
        ),
        pytest.param(
            {"assignment": StaffAssignment(role="rep", team_keys=[], lead_team_keys=["sales"])},
            "lead_teams",
            id="lead-of-a-team-not-joined",
        ),
        pytest.param(
            {"assignment": StaffAssignment(role="rep", territory_ids=[999_999])},
            "territories",
            id="unknown-territory",
        ),
        pytest.param(
            {"assignment": StaffAssignment(role="rep", product_ids=[999_999])},
            "products",
            id="unknown-product",
        ),
        pytest.param({"email": "riley@"}, "email", id="bad-email"),
        pytest.param({"name": "   "}, "name", id="no-name"),
        pytest.param({"password": "short"}, "password", id="weak-password"),
    ],
)
def test_staff_creation_refuses_bad_input_and_stores_nothing(app, overrides, field):
    admin = make_user(Role.ADMIN)
    values: dict[str, Any] = {
        "email": f"{unique('riley')}@pharma.org",
        "name": "Riley Rep",
        "assignment": StaffAssignment(role="rep", team_keys=["sales"]),
        "password": STAFF_PASSWORD,
    }
    values.update(overrides)
    before = stored_counts()

    with pytest.raises(InvalidInput) as caught:
        users.create_staff(admin, **values)

    assert caught.value.field == field
    assert stored_counts() == before


@pytest.mark.parametrize("role", NOT_ADMIN)
def test_only_an_administrator_creates_staff(app, role):
    actor = actor_of(role)
    before = stored_counts()

    with pytest.raises(PermissionDenied):
        users.create_staff(
            actor,
            email="sneaky@pharma.org",
            name="Sneaky",
            assignment=StaffAssignment(role="admin"),
            password=STAFF_PASSWORD,
        )

    assert stored_counts() == before


# --- staff assignments -----------------------------------------------------------------------


def test_admin_changes_a_colleagues_role_and_the_change_is_audited(app):
    admin = make_user(Role.ADMIN)
    north = make_territory(code="US-NE")
    south = make_territory(code="US-SO")
    cvx = make_product(code="CVX")
    rep = make_user(Role.REP, territories=[north], products=[cvx])

    users.update_staff(
        admin,
        rep,
        StaffAssignment(
            role="msl",
            team_keys=["msl", "medical_information"],
            lead_team_keys=["msl"],
            territory_ids=[south.id],
        ),
    )

    db.session.expire_all()
    assert rep.role is Role.MSL
    assert sorted((m.team.key.value, m.is_lead) for m in rep.memberships) == [
        ("medical_information", False),
        ("msl", True),
    ]
    assert rep.territories == [south]
    assert rep.products == []
    [record] = records("user.assignment_changed")
    assert record.actor_id == admin.id
    assert record.target_id == str(rep.id)
    assert record.details == {
        "before": {
            "role": "rep",
            "teams": ["sales"],
            "territories": ["US-NE"],
            "products": ["CVX"],
        },
        "after": {
            "role": "msl",
            "teams": ["medical_information", "msl*"],
            "territories": ["US-SO"],
            "products": [],
        },
    }


def test_saving_an_unchanged_assignment_writes_no_audit_record(app):
    admin = make_user(Role.ADMIN)
    rep = make_user(Role.REP)

    users.update_staff(admin, rep, StaffAssignment(role="rep", team_keys=["sales"]))

    assert records("user.assignment_changed") == []


def test_admin_cannot_change_their_own_role(app):
    admin = make_user(Role.ADMIN)

    with pytest.raises(PermissionDenied):
        users.update_staff(admin, admin, StaffAssignment(role="compliance"))

    db.session.refresh(admin)
    assert admin.role is Role.ADMIN
    assert records("user.assignment_changed") == []


def test_admin_cannot_turn_an_hcp_into_staff(app):
    hcp = make_hcp()
    with pytest.raises(PermissionDenied):
        users.update_staff(make_user(Role.ADMIN), hcp, StaffAssignment(role="rep"))
    db.session.refresh(hcp)
    assert hcp.role is Role.HCP


def test_admin_cannot_make_a_colleague_an_hcp(app):
    rep = make_user(Role.REP)
    with pytest.raises(InvalidInput) as caught:
        users.update_staff(make_user(Role.ADMIN), rep, StaffAssignment(role="hcp"))
    assert caught.value.field == "role"
    db.session.refresh(rep)
    assert rep.role is Role.REP


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.REP, Role.MSL, Role.HCP])
def test_only_an_administrator_changes_assignments(app, role):
    rep = make_user(Role.REP)
    with pytest.raises(PermissionDenied):
        users.update_staff(actor_of(role), rep, StaffAssignment(role="admin"))
    db.session.refresh(rep)
    assert rep.role is Role.REP


# --- suspension ------------------------------------------------------------------------------


@pytest.mark.parametrize("target_role", [Role.REP, Role.ADMIN, Role.HCP])
def test_admin_suspends_an_account_and_its_sessions_end(app, target_role):
    admin = make_user(Role.ADMIN)
    target = actor_of(target_role)
    version = target.session_version

    users.suspend_user(admin, target, reason="  Left the company. ")

    db.session.expire_all()
    assert target.suspended
    assert target.suspended_reason == "Left the company."
    assert target.session_version == version + 1
    [record] = records("user.suspended")
    assert record.actor_id == admin.id
    assert record.target_id == str(target.id)
    assert record.details == {"reason": "Left the company."}
    with pytest.raises(PermissionDenied):
        accounts.authenticate(target.email, PASSWORD)


def test_admin_cannot_suspend_themselves(app):
    admin = make_user(Role.ADMIN)

    with pytest.raises(PermissionDenied):
        users.suspend_user(admin, admin, reason="Going on holiday.")

    db.session.refresh(admin)
    assert not admin.suspended


@pytest.mark.parametrize("reason", ["", "   ", "bye", " abcd "])
def test_suspension_needs_a_reason(app, reason):
    admin = make_user(Role.ADMIN)
    rep = make_user(Role.REP)
    version = rep.session_version

    with pytest.raises(InvalidInput) as caught:
        users.suspend_user(admin, rep, reason=reason)

    assert caught.value.field == "reason"
    db.session.refresh(rep)
    assert not rep.suspended
    assert rep.session_version == version
    assert records("user.suspended") == []


def test_suspending_a_suspended_account_is_a_conflict(app):
    admin = make_user(Role.ADMIN)
    rep = make_user(Role.REP)
    users.suspend_user(admin, rep, reason="Left the company.")

    with pytest.raises(Conflict):
        users.suspend_user(admin, rep, reason="Really left the company.")

    assert len(records("user.suspended")) == 1


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.REP, Role.MSL, Role.HCP])
def test_only_an_administrator_suspends(app, role):
    rep = make_user(Role.REP)
    with pytest.raises(PermissionDenied):
        users.suspend_user(actor_of(role), rep, reason="I do not like them.")
    db.session.refresh(rep)
    assert not rep.suspended


def test_admin_reactivates_a_suspended_account(app):
    admin = make_user(Role.ADMIN)
    rep = make_user(Role.REP, failed_logins=3, locked_until=utcnow())
    users.suspend_user(admin, rep, reason="On leave until May.")
    version = rep.session_version

    users.reactivate_user(admin, rep)

    db.session.expire_all()
    assert not rep.suspended
    assert rep.suspended_reason is None
    assert rep.failed_logins == 0
    assert rep.locked_until is None
    assert rep.session_version == version  # sessions ended at suspension stay ended
    [record] = records("user.reactivated")
    assert record.actor_id == admin.id
    assert accounts.authenticate(rep.email, PASSWORD).id == rep.id


def test_reactivating_an_active_account_is_a_conflict(app):
    with pytest.raises(Conflict):
        users.reactivate_user(make_user(Role.ADMIN), make_user(Role.REP))
    assert records("user.reactivated") == []


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.REP])
def test_only_an_administrator_reactivates(app, role):
    rep = make_user(Role.REP, suspended=True, suspended_reason="On leave.")
    with pytest.raises(PermissionDenied):
        users.reactivate_user(actor_of(role), rep)
    db.session.refresh(rep)
    assert rep.suspended


# --- looking up and searching users ----------------------------------------------------------


def test_admin_and_compliance_open_a_user_by_id(app):
    rep = make_user(Role.REP)
    assert users.get_user(make_user(Role.ADMIN), rep.id).id == rep.id
    assert users.get_user(make_user(Role.COMPLIANCE), rep.id).id == rep.id


def test_other_roles_do_not_find_a_user_by_id(app):
    rep = make_user(Role.REP)
    with pytest.raises(NotFound):
        users.get_user(make_user(Role.MSL), rep.id)


def test_unknown_user_id_is_not_found(app):
    with pytest.raises(NotFound):
        users.get_user(make_user(Role.ADMIN), 999_999)


def emails(page: users.UserPage) -> set[str]:
    return {u.email for u in page.users}


@pytest.fixture
def directory(app) -> dict[str, User]:
    """An administrator and a small population to search."""
    return {
        "admin": make_user(Role.ADMIN, email="alex.admin@pharma.org", name="Alex Admin"),
        "rep": make_user(Role.REP, email="riley@pharma.org", name="Riley Rep"),
        "msl": make_user(Role.MSL, email="morgan@pharma.org", name="Dr. Morgan Liaison"),
        "suspended": make_user(Role.REP, email="gone@pharma.org", name="Gone Rep", suspended=True),
        "verified": make_hcp(
            email="harper@clinic.org",
            name="Dr. Harper Cole",
            npi="1234567893",
            institution="Mount Sinai Hospital",
        ),
        "pending": make_hcp(
            email="pat@clinic.org",
            name="Dr. Pat Newcomer",
            verification=Verification.PENDING,
            institution="Boston Medical Center",
        ),
        "rejected": make_hcp(
            email="chris@clinic.org",
            name="Chris Unverified",
            verification=Verification.REJECTED,
            institution="Unknown Clinic",
        ),
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"admin", "rep", "msl", "suspended", "verified", "pending", "rejected"}),
        ({"text": "RILEY"}, {"rep"}),
        ({"text": "morgan liaison"}, {"msl"}),
        ({"text": "@clinic.org"}, {"verified", "pending", "rejected"}),
        ({"text": "1234567893"}, {"verified"}),
        ({"text": "sinai"}, {"verified"}),
        ({"text": "  boston  "}, {"pending"}),
        ({"text": "nobody-matches-this"}, set()),
        ({"role": "rep"}, {"rep", "suspended"}),
        ({"role": "hcp"}, {"verified", "pending", "rejected"}),
        ({"status": "pending"}, {"pending"}),
        ({"status": "rejected"}, {"rejected"}),
        ({"status": "suspended"}, {"suspended"}),
        ({"status": "active"}, {"admin", "rep", "msl", "verified"}),
        ({"role": "hcp", "status": "active"}, {"verified"}),
        ({"role": "rep", "status": "active"}, {"rep"}),
        ({"role": "hcp", "text": "dr."}, {"verified", "pending"}),
    ],
)
def test_search_filters_users(directory, filters, expected):
    page = users.search_users(directory["admin"], **filters)
    assert emails(page) == {directory[k].email for k in expected}
    assert page.total == len(expected)


def test_compliance_may_search_users(directory):
    auditor = make_user(Role.COMPLIANCE)
    page = users.search_users(auditor, status="pending")
    assert emails(page) == {directory["pending"].email}


@pytest.mark.parametrize("role", [Role.REP, Role.MSL, Role.CONTENT_MANAGER, Role.HCP])
def test_other_roles_may_not_search_users(directory, role):
    with pytest.raises(PermissionDenied):
        users.search_users(actor_of(role))


def test_search_refuses_an_unknown_role(directory):
    with pytest.raises(InvalidInput) as caught:
        users.search_users(directory["admin"], role="wizard")
    assert caught.value.field == "role"


def test_search_lists_newest_first_a_page_at_a_time(app):
    admin = make_user(Role.ADMIN)
    reps = [make_user(Role.REP, email=f"rep{n:02}@pharma.org") for n in range(30)]
    newest_first = [u.email for u in reversed(reps)]

    first = users.search_users(admin, role="rep")
    second = users.search_users(admin, role="rep", page=2)

    assert (first.total, first.pages, first.page) == (30, 2, 1)
    assert [u.email for u in first.users] == newest_first[: users.PAGE_SIZE]
    assert [u.email for u in second.users] == newest_first[users.PAGE_SIZE :]
    assert second.page == 2


@pytest.mark.parametrize(("asked", "given"), [(0, 1), (-3, 1), (99, 2)])
def test_search_page_number_is_kept_in_range(app, asked, given):
    admin = make_user(Role.ADMIN)
    for _ in range(users.PAGE_SIZE + 1):
        make_user(Role.REP)

    assert users.search_users(admin, role="rep", page=asked).page == given


def test_empty_search_has_one_empty_page(app):
    admin = make_user(Role.ADMIN)
    page = users.search_users(admin, role="quality")
    assert (page.total, page.pages, page.page, list(page.users)) == (0, 1, 1, [])
