"""Wiring of the administration pages: who may open them, and what their forms do."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditRecord, OutboxMail, Role, User, Verification
from tests.conftest import login
from tests.factories import (
    make_hcp,
    make_product,
    make_territory,
    make_user,
    unique,
    valid_npi,
)
from tests.portal.helpers import audit_actions, fresh


def page(response: Any) -> str:
    """The response's HTML with entities decoded, so text reads as a person sees it."""
    return html.unescape(response.get_data(as_text=True))


def form_actions(html: str) -> set[str]:
    return set(re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html))


def switch_to(client: FlaskClient, user: User) -> None:
    client.post("/logout")
    response = login(client, user.email)
    assert response.status_code == 302


@pytest.fixture
def admin(client: FlaskClient) -> User:
    """An administrator, signed in on ``client``."""
    user = make_user(Role.ADMIN, name="Alex Admin")
    login(client, user.email)
    return user


# --- who may open the pages ------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE])
def test_admin_and_compliance_can_open_the_user_list(client, role):
    login(client, make_user(role).email)

    response = client.get("/admin/users")

    assert response.status_code == 200
    assert 'data-testid="user-table"' in page(response)


@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.ADMIN, Role.COMPLIANCE)])
@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/{id}", "/admin/users/new"])
def test_other_roles_find_no_admin_pages(client, role, path):
    other = make_hcp()
    login(client, make_user(role).email)

    response = client.get(path.format(id=other.id))

    assert response.status_code == 404


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/admin/users")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


# --- search ----------------------------------------------------------------------------------


@pytest.fixture
def directory() -> dict[str, User]:
    return {
        "pending": make_hcp(
            name="Dr. Zed Pending",
            institution="Harbor Clinic",
            verification=Verification.PENDING,
            npi=valid_npi(),
        ),
        "verified": make_hcp(name="Dr. Yara Verified", institution="Hilltop Hospital"),
        "rejected": make_hcp(name="Dr. Xavi Rejected", verification=Verification.REJECTED),
        "rep": make_user(Role.REP, name="Quentin Rep", email="quentin.rep@company.test"),
        "msl": make_user(Role.MSL, name="Ursula Liaison"),
        "suspended": make_user(
            Role.REP, name="Sid Suspended", suspended=True, suspended_reason="On leave"
        ),
    }


NAMES = {
    "pending": "Dr. Zed Pending",
    "verified": "Dr. Yara Verified",
    "rejected": "Dr. Xavi Rejected",
    "rep": "Quentin Rep",
    "msl": "Ursula Liaison",
    "suspended": "Sid Suspended",
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "harbor"}, {"pending"}),
        ({"q": "QUENTIN.REP@"}, {"rep"}),
        ({"q": "yara"}, {"verified"}),
        ({"role": "msl"}, {"msl"}),
        ({"role": "rep"}, {"rep", "suspended"}),
        ({"status": "pending"}, {"pending"}),
        ({"status": "rejected"}, {"rejected"}),
        ({"status": "suspended"}, {"suspended"}),
        ({"role": "rep", "status": "active"}, {"rep"}),
        ({"status": "active"}, {"verified", "rep", "msl"}),
        ({}, set(NAMES)),
    ],
)
def test_user_list_filters_by_text_role_and_status(client, admin, directory, query, expected):
    response = client.get("/admin/users", query_string=query)

    assert response.status_code == 200
    table = page(response).split('data-testid="user-table"', 1)[1]
    shown = {key for key, name in NAMES.items() if name in table}
    assert shown == expected


def test_user_list_finds_an_hcp_by_npi(client, admin, directory):
    npi = directory["pending"].hcp_profile.npi

    table = page(client.get("/admin/users", query_string={"q": npi}))

    assert "Dr. Zed Pending" in table
    assert "Dr. Yara Verified" not in table


# --- verification ----------------------------------------------------------------------------


def test_admin_verifies_a_pending_hcp_who_then_sees_professional_content(client, admin):
    hcp = make_hcp(name="Dr. Newly Verified", verification=Verification.PENDING)
    detail = page(client.get(f"/admin/users/{hcp.id}"))
    assert f"/admin/users/{hcp.id}/verify" in form_actions(detail)

    response = client.post(f"/admin/users/{hcp.id}/verify", follow_redirects=True)

    assert response.status_code == 200
    assert "Dr. Newly Verified is verified" in page(response)
    assert fresh(hcp).hcp_profile.verification is Verification.VERIFIED
    assert "hcp.verified" in audit_actions(hcp)
    subjects = db.session.scalars(select(OutboxMail.subject).where(OutboxMail.to == hcp.email))
    assert "Your HCP portal account is verified" in list(subjects)
    switch_to(client, hcp)
    home = page(client.get("/"))
    assert "Welcome, Dr. Newly Verified" in home
    assert "Your field team" in home


def test_rejection_reason_is_shown_on_the_hcps_home(client, admin):
    hcp = make_hcp(verification=Verification.PENDING)
    reason = "The NPI belongs to a different practitioner."

    response = client.post(
        f"/admin/users/{hcp.id}/reject", data={"reason": reason}, follow_redirects=True
    )

    assert "registration is rejected" in page(response)
    assert fresh(hcp).hcp_profile.verification is Verification.REJECTED
    assert "hcp.rejected" in audit_actions(hcp)
    switch_to(client, hcp)
    home = page(client.get("/"))
    assert "We could not verify your registration" in home
    assert reason in home
    assert "Your field team" not in home


@pytest.mark.parametrize("reason", ["", "     ", "no"])
def test_rejection_without_a_reason_is_refused_with_a_message(client, admin, reason):
    hcp = make_hcp(verification=Verification.PENDING)

    response = client.post(
        f"/admin/users/{hcp.id}/reject", data={"reason": reason}, follow_redirects=True
    )

    assert "Give the HCP a reason" in page(response)
    assert fresh(hcp).hcp_profile.verification is Verification.PENDING
    assert "hcp.rejected" not in audit_actions(hcp)


def test_verified_hcp_has_no_verification_buttons_and_cannot_be_verified_again(client, admin):
    hcp = make_hcp()

    detail = page(client.get(f"/admin/users/{hcp.id}"))
    response = client.post(f"/admin/users/{hcp.id}/verify")

    assert f"/admin/users/{hcp.id}/verify" not in form_actions(detail)
    assert response.status_code == 403
    assert audit_actions(hcp) == []


# --- staff accounts --------------------------------------------------------------------------


def test_admin_creates_a_staff_account_through_the_form(client, admin):
    territory = make_territory()
    product = make_product()
    email = f"{unique('new.msl')}@example.com"
    assert client.get("/admin/users/new").status_code == 200

    response = client.post(
        "/admin/users/new",
        data={
            "name": "Dr. New Liaison",
            "email": email,
            "role": "msl",
            "teams": ["msl"],
            "territories": [str(territory.id)],
            "products": [str(product.id)],
        },
    )

    created = db.session.scalar(select(User).where(User.email == email))
    assert created is not None
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/users/{created.id}"
    assert created.role is Role.MSL
    assert [t.id for t in created.territories] == [territory.id]
    assert [p.id for p in created.products] == [product.id]
    assert [m.team.key.value for m in created.memberships] == ["msl"]
    (welcome,) = db.session.scalars(select(OutboxMail).where(OutboxMail.to == email))
    assert welcome.subject == "Your HCP portal account: choose a password"
    assert "/password/reset/" in welcome.body
    record = db.session.scalar(
        select(AuditRecord).where(
            AuditRecord.action == "user.created", AuditRecord.target_id == str(created.id)
        )
    )
    assert record is not None
    assert record.actor_id == admin.id
    assert "Dr. New Liaison's account is created" in page(client.get(response.headers["Location"]))


def test_staff_account_with_a_taken_email_is_refused_next_to_the_field(client, admin):
    existing = make_user(Role.REP, email=f"{unique('taken')}@example.com")
    before = db.session.scalar(select(func.count()).select_from(User))

    response = client.post(
        "/admin/users/new",
        data={"name": "Someone Else", "email": existing.email, "role": "rep", "teams": ["sales"]},
    )

    assert response.status_code == 200
    assert re.search(
        r'name="email"[^>]*>\s*<div class="invalid-feedback">[^<]*already exists', page(response)
    )
    assert db.session.scalar(select(func.count()).select_from(User)) == before


def test_admin_updates_a_staff_assignment(client, admin):
    north = make_territory(name="North")
    rep = make_user(Role.REP)

    response = client.post(
        f"/admin/users/{rep.id}/assignment",
        data={"role": "market_access", "teams": ["market_access"], "territories": [str(north.id)]},
        follow_redirects=True,
    )

    assert "Assignment saved." in page(response)
    rep = fresh(rep)
    assert rep.role is Role.MARKET_ACCESS
    assert [m.team.key.value for m in rep.memberships] == ["market_access"]
    assert [t.id for t in rep.territories] == [north.id]
    assert "user.assignment_changed" in audit_actions(rep)


def test_assignment_with_a_lead_outside_the_team_is_refused(client, admin):
    rep = make_user(Role.REP)

    response = client.post(
        f"/admin/users/{rep.id}/assignment",
        data={"role": "rep", "teams": ["sales"], "lead_teams": ["msl"]},
        follow_redirects=True,
    )

    assert "A team lead must be a member of that team." in page(response)
    rep = fresh(rep)
    assert [(m.team.key.value, m.is_lead) for m in rep.memberships] == [("sales", False)]
    assert "user.assignment_changed" not in audit_actions(rep)


def test_admin_suspends_and_reactivates_an_account_through_the_pages(client, admin):
    rep = make_user(Role.REP, name="Riley Away")
    assert f"/admin/users/{rep.id}/suspend" in form_actions(
        page(client.get(f"/admin/users/{rep.id}"))
    )

    suspended = client.post(
        f"/admin/users/{rep.id}/suspend",
        data={"reason": "Left the company"},
        follow_redirects=True,
    )

    assert "Riley Away is suspended" in page(suspended)
    assert "Suspended: Left the company" in page(suspended)
    assert f"/admin/users/{rep.id}/reactivate" in form_actions(page(suspended))
    assert fresh(rep).suspended is True

    reactivated = client.post(f"/admin/users/{rep.id}/reactivate", follow_redirects=True)

    assert "Riley Away can sign in again" in page(reactivated)
    assert fresh(rep).suspended is False
    assert audit_actions(rep)[-2:] == ["user.suspended", "user.reactivated"]


def test_suspension_without_a_reason_is_refused(client, admin):
    rep = make_user(Role.REP)

    response = client.post(
        f"/admin/users/{rep.id}/suspend", data={"reason": ""}, follow_redirects=True
    )

    assert "Give a reason" in page(response)
    assert fresh(rep).suspended is False


def test_admin_cannot_suspend_themselves(client, admin):
    own_page = page(client.get(f"/admin/users/{admin.id}"))

    response = client.post(f"/admin/users/{admin.id}/suspend", data={"reason": "Trying it out"})

    assert f"/admin/users/{admin.id}/suspend" not in form_actions(own_page)
    assert f"/admin/users/{admin.id}/assignment" not in form_actions(own_page)
    assert response.status_code == 403
    assert fresh(admin).suspended is False
    assert client.get("/").status_code == 200


# --- compliance: read-only -------------------------------------------------------------------


@pytest.fixture
def compliance(client: FlaskClient) -> User:
    """A compliance auditor, signed in on ``client``."""
    user = make_user(Role.COMPLIANCE)
    login(client, user.email)
    return user


def test_compliance_sees_accounts_but_no_action_buttons(client, compliance):
    hcp = make_hcp(name="Dr. Awaiting", verification=Verification.PENDING)
    rep = make_user(Role.REP, name="Robin Field")
    gone = make_user(Role.REP, suspended=True, suspended_reason="On leave")

    listing = page(client.get("/admin/users"))
    assert "Dr. Awaiting" in listing
    assert "Robin Field" in listing
    assert "/admin/users/new" not in listing
    for user in (hcp, rep, gone):
        detail = client.get(f"/admin/users/{user.id}")
        assert detail.status_code == 200
        assert user.name in page(detail)
        assert form_actions(page(detail)) == {"/logout"}


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("verify", {}),
        ("reject", {"reason": "Compliance should not decide this"}),
        ("suspend", {"reason": "Compliance should not decide this"}),
        ("reactivate", {}),
        ("assignment", {"role": "msl", "teams": ["msl"]}),
    ],
)
def test_compliance_posts_are_refused_and_change_nothing(client, compliance, action, data):
    hcp = make_hcp(verification=Verification.PENDING)
    rep = make_user(Role.REP, suspended=(action == "reactivate"), suspended_reason="On leave")
    target = hcp if action in ("verify", "reject") else rep
    audit_before = db.session.scalar(select(func.count()).select_from(AuditRecord))

    response = client.post(f"/admin/users/{target.id}/{action}", data=data)

    if action == "assignment":  # the form reports the refusal on the account's page
        assert response.status_code == 302
        assert "You cannot change this account" in page(client.get(response.headers["Location"]))
    else:
        assert response.status_code == 403
    assert fresh(hcp).hcp_profile.verification is Verification.PENDING
    rep = fresh(rep)
    assert rep.suspended is (action == "reactivate")
    assert rep.role is Role.REP
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)) == audit_before


def test_compliance_cannot_create_staff(client, compliance):
    email = f"{unique('sneaky')}@example.com"

    response = client.post(
        "/admin/users/new", data={"name": "Sneaky", "email": email, "role": "admin"}
    )

    assert response.status_code == 403
    assert db.session.scalar(select(User).where(User.email == email)) is None


# --- audit trail page ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE])
def test_audit_page_verifies_an_intact_chain(client, role):
    login(client, make_user(role).email)

    response = client.post("/audit/verify")

    assert response.status_code == 200
    match = re.search(r"Chain intact: (\d+) records verified", page(response))
    assert match
    assert int(match.group(1)) == db.session.scalar(select(func.count()).select_from(AuditRecord))
    assert "auth.login" in page(response)


@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.ADMIN, Role.COMPLIANCE)])
def test_other_roles_find_no_audit_page(client, role):
    login(client, make_user(role).email)

    assert client.get("/audit").status_code == 404
    assert client.post("/audit/verify").status_code == 404
