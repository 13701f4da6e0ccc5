"""Every permission rule in portal.policy, role by role: each has an allowed and a denied case.

Policy is pure, so most of the table uses unsaved model instances; the personas at the end are
real users from the factories, to show the rules hold for what the database gives back.
"""

from __future__ import annotations

import itertools

import pytest
from flask_login import AnonymousUserMixin

from portal import policy
from portal.errors import NotFound, PermissionDenied
from portal.models import HcpProfile, Profession, Role, Side, User, Verification
from tests.factories import make_hcp, make_user

_ids = itertools.count(1000)

ALL_ROLES = list(Role)
STAFF = [r for r in Role if r is not Role.HCP]
COMMERCIAL = {Role.REP, Role.MARKET_ACCESS}
MEDICAL = {Role.MSL, Role.MEDICAL_INFORMATION, Role.PHARMACOVIGILANCE, Role.QUALITY}
NEUTRAL = {Role.CONTENT_MANAGER, Role.MLR_REVIEWER, Role.COMPLIANCE, Role.ADMIN}


def person(
    role: Role,
    *,
    verification: Verification = Verification.VERIFIED,
    suspended: bool = False,
) -> User:
    """An unsaved user of ``role`` (an HCP gets a profile with ``verification``)."""
    user = User(
        id=next(_ids),
        email=f"{role.value}{next(_ids)}@company.test",
        name=f"A {role.label}",
        role=role,
        password_hash="x",
        suspended=suspended,
        session_version=1,
    )
    if role is Role.HCP:
        user.hcp_profile = HcpProfile(
            profession=Profession.PHYSICIAN,
            specialty="Cardiology",
            institution="General Hospital",
            country="US",
            postal_code="10001",
            npi="1234567893",
            verification=verification,
        )
    return user


NOBODY = [None, AnonymousUserMixin()]


def test_the_tables_below_cover_every_role():
    assert COMMERCIAL | MEDICAL | NEUTRAL | {Role.HCP} == set(Role)
    assert set(EXPECTED_SIDE) == set(Role)
    assert set(SIDES_VISIBLE) == set(Role)


# --- sides of the firewall -------------------------------------------------------------------

EXPECTED_SIDE = {
    Role.HCP: Side.OUTSIDE,
    Role.REP: Side.COMMERCIAL,
    Role.MARKET_ACCESS: Side.COMMERCIAL,
    Role.MSL: Side.MEDICAL,
    Role.MEDICAL_INFORMATION: Side.MEDICAL,
    Role.PHARMACOVIGILANCE: Side.MEDICAL,
    Role.QUALITY: Side.MEDICAL,
    Role.CONTENT_MANAGER: Side.NEUTRAL,
    Role.MLR_REVIEWER: Side.NEUTRAL,
    Role.COMPLIANCE: Side.NEUTRAL,
    Role.ADMIN: Side.NEUTRAL,
}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_role_works_on_its_side_of_the_firewall(role):
    assert policy.side_of(role) is EXPECTED_SIDE[role]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_medical_roles_are_medical(role):
    assert policy.is_medical(person(role)) is (role in MEDICAL)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_reps_and_market_access_are_commercial(role):
    assert policy.is_commercial(person(role)) is (role in COMMERCIAL)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_everyone_but_hcps_is_staff(role):
    assert policy.is_staff(person(role)) is (role is not Role.HCP)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_compliance_is_read_only(role):
    assert policy.is_read_only(person(role)) is (role is Role.COMPLIANCE)


@pytest.mark.parametrize("nobody", NOBODY)
def test_nobody_signed_in_is_on_no_side(nobody):
    assert not policy.is_staff(nobody)
    assert not policy.is_medical(nobody)
    assert not policy.is_commercial(nobody)
    assert not policy.is_read_only(nobody)


# Which sides' records each role may read.
SIDES_VISIBLE: dict[Role, set[Side]] = {
    Role.HCP: set(),
    Role.REP: {Side.COMMERCIAL, Side.NEUTRAL, Side.OUTSIDE},
    Role.MARKET_ACCESS: {Side.COMMERCIAL, Side.NEUTRAL, Side.OUTSIDE},
    Role.MSL: set(Side),
    Role.MEDICAL_INFORMATION: set(Side),
    Role.PHARMACOVIGILANCE: set(Side),
    Role.QUALITY: set(Side),
    Role.CONTENT_MANAGER: {Side.NEUTRAL, Side.OUTSIDE},
    Role.MLR_REVIEWER: {Side.NEUTRAL, Side.OUTSIDE},
    Role.COMPLIANCE: set(Side),
    Role.ADMIN: {Side.NEUTRAL, Side.OUTSIDE},
}


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("role", ALL_ROLES)
def test_who_may_read_records_of_each_side(role, side):
    assert policy.can_view_side(person(role), side) is (side in SIDES_VISIBLE[role])


@pytest.mark.parametrize("role", sorted(COMMERCIAL))
def test_commercial_roles_never_see_medical_records(role):
    assert not policy.can_view_side(person(role), Side.MEDICAL)
    assert policy.can_view_side(person(role), Side.COMMERCIAL)


@pytest.mark.parametrize("role", sorted(MEDICAL))
def test_medical_roles_see_commercial_and_medical_records(role):
    assert policy.can_view_side(person(role), Side.COMMERCIAL)
    assert policy.can_view_side(person(role), Side.MEDICAL)


def test_compliance_sees_every_side():
    auditor = person(Role.COMPLIANCE)
    assert all(policy.can_view_side(auditor, side) for side in Side)


@pytest.mark.parametrize("nobody", NOBODY)
def test_nobody_signed_in_sees_no_side(nobody):
    assert not any(policy.can_view_side(nobody, side) for side in Side)


# --- professional content --------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
def test_active_staff_see_professional_content(role):
    assert policy.can_see_professional_content(person(role))


@pytest.mark.parametrize("role", STAFF)
def test_suspended_staff_do_not_see_professional_content(role):
    assert not policy.can_see_professional_content(person(role, suspended=True))


@pytest.mark.parametrize(
    ("verification", "allowed"),
    [
        (Verification.VERIFIED, True),
        (Verification.PENDING, False),
        (Verification.REJECTED, False),
    ],
)
def test_only_verified_hcps_see_professional_content(verification, allowed):
    hcp = person(Role.HCP, verification=verification)
    assert policy.can_see_professional_content(hcp) is allowed


def test_suspended_verified_hcp_does_not_see_professional_content():
    hcp = person(Role.HCP, verification=Verification.VERIFIED, suspended=True)
    assert not policy.can_see_professional_content(hcp)


def test_hcp_without_a_profile_does_not_see_professional_content():
    hcp = person(Role.HCP)
    hcp.hcp_profile = None
    assert not policy.can_see_professional_content(hcp)


@pytest.mark.parametrize("nobody", NOBODY)
def test_visitors_do_not_see_professional_content(nobody):
    assert not policy.can_see_professional_content(nobody)


# --- administration, accounts, audit trail ---------------------------------------------------


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_administrators_administer(role):
    assert policy.can_administer(person(role)) is (role is Role.ADMIN)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_administrators_create_staff(role):
    assert policy.can_create_staff(person(role)) is (role is Role.ADMIN)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_administrators_and_compliance_view_users(role):
    assert policy.can_view_users(person(role)) is (role in (Role.ADMIN, Role.COMPLIANCE))


@pytest.mark.parametrize("role", ALL_ROLES)
def test_administrators_and_compliance_view_the_audit_trail(role):
    expected = role in (Role.ADMIN, Role.COMPLIANCE)
    assert policy.can_view_audit_trail(person(role)) is expected


@pytest.mark.parametrize(
    "check",
    [
        policy.can_administer,
        policy.can_create_staff,
        policy.can_view_users,
        policy.can_view_audit_trail,
    ],
    ids=lambda check: check.__name__,
)
@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE])
def test_suspended_accounts_lose_their_powers(check, role):
    assert not check(person(role, suspended=True))


@pytest.mark.parametrize(
    "check",
    [
        policy.can_administer,
        policy.can_create_staff,
        policy.can_view_users,
        policy.can_view_audit_trail,
    ],
    ids=lambda check: check.__name__,
)
@pytest.mark.parametrize("nobody", NOBODY)
def test_visitors_have_no_powers(check, nobody):
    assert not check(nobody)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_administrators_verify_a_pending_hcp(role):
    pending = person(Role.HCP, verification=Verification.PENDING)
    assert policy.can_verify_hcp(person(role), pending) is (role is Role.ADMIN)


@pytest.mark.parametrize("verification", [Verification.VERIFIED, Verification.REJECTED])
def test_administrator_cannot_verify_an_hcp_already_decided(verification):
    decided = person(Role.HCP, verification=verification)
    assert not policy.can_verify_hcp(person(Role.ADMIN), decided)


@pytest.mark.parametrize("role", STAFF)
def test_administrator_cannot_verify_a_staff_member(role):
    assert not policy.can_verify_hcp(person(Role.ADMIN), person(role))


def test_administrator_cannot_verify_nobody_or_an_hcp_without_profile():
    admin = person(Role.ADMIN)
    no_profile = person(Role.HCP)
    no_profile.hcp_profile = None
    assert not policy.can_verify_hcp(admin, None)
    assert not policy.can_verify_hcp(admin, no_profile)


def test_suspended_administrator_cannot_verify():
    pending = person(Role.HCP, verification=Verification.PENDING)
    assert not policy.can_verify_hcp(person(Role.ADMIN, suspended=True), pending)


@pytest.mark.parametrize("target_role", STAFF)
@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_administrators_edit_a_staff_member(role, target_role):
    expected = role is Role.ADMIN
    assert policy.can_edit_staff(person(role), person(target_role)) is expected


def test_administrator_cannot_edit_their_own_role():
    admin = person(Role.ADMIN)
    assert not policy.can_edit_staff(admin, admin)


def test_administrator_cannot_edit_an_hcp_as_staff():
    assert not policy.can_edit_staff(person(Role.ADMIN), person(Role.HCP))


def test_nobody_edits_a_missing_account():
    assert not policy.can_edit_staff(person(Role.ADMIN), None)


@pytest.mark.parametrize("target_role", ALL_ROLES)
@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_administrators_suspend_an_account(role, target_role):
    expected = role is Role.ADMIN
    assert policy.can_suspend_user(person(role), person(target_role)) is expected


def test_administrator_cannot_suspend_themselves():
    admin = person(Role.ADMIN)
    assert not policy.can_suspend_user(admin, admin)


def test_suspended_administrator_cannot_suspend_anyone():
    assert not policy.can_suspend_user(person(Role.ADMIN, suspended=True), person(Role.REP))


@pytest.mark.parametrize("nobody", NOBODY)
def test_visitors_cannot_verify_edit_or_suspend(nobody):
    assert not policy.can_verify_hcp(nobody, person(Role.HCP, verification=Verification.PENDING))
    assert not policy.can_edit_staff(nobody, person(Role.REP))
    assert not policy.can_suspend_user(nobody, person(Role.REP))


# --- require ---------------------------------------------------------------------------------


def test_require_lets_an_allowed_action_through():
    assert policy.require(True) is None
    assert policy.require_visible(True, "That chat") is None


def test_require_refuses_with_permission_denied_and_the_message():
    with pytest.raises(PermissionDenied) as caught:
        policy.require(False, "You cannot suspend this account.")
    assert caught.value.message == "You cannot suspend this account."
    assert caught.value.status == 403


def test_require_has_a_default_message():
    with pytest.raises(PermissionDenied) as caught:
        policy.require(False)
    assert caught.value.message


def test_require_visible_answers_not_found_so_ids_reveal_nothing():
    with pytest.raises(NotFound) as caught:
        policy.require_visible(False, "That conversation")
    assert caught.value.message == "That conversation was not found."
    assert caught.value.status == 404
    assert not isinstance(caught.value, PermissionDenied)


def test_require_combines_with_a_policy_answer():
    rep = person(Role.REP)
    with pytest.raises(NotFound):
        policy.require_visible(policy.can_view_side(rep, Side.MEDICAL), "That note")
    with pytest.raises(PermissionDenied):
        policy.require(policy.can_administer(rep))


# --- personas from the database ---------------------------------------------------------------


def test_rep_from_the_database_cannot_see_medical_records(app):
    rep = make_user(Role.REP)
    msl = make_user(Role.MSL)
    assert not policy.can_view_side(rep, Side.MEDICAL)
    assert policy.can_view_side(msl, Side.COMMERCIAL)


def test_pending_hcp_from_the_database_waits_for_verification(app):
    pending = make_hcp(verification=Verification.PENDING)
    verified = make_hcp()
    admin = make_user(Role.ADMIN)
    assert not policy.can_see_professional_content(pending)
    assert policy.can_see_professional_content(verified)
    assert policy.can_verify_hcp(admin, pending)
    assert not policy.can_verify_hcp(admin, verified)


def test_suspended_hcp_from_the_database_loses_access(app):
    hcp = make_hcp(suspended=True)
    assert not policy.can_see_professional_content(hcp)


def test_administrator_from_the_database_manages_others_but_not_themselves(app):
    admin = make_user(Role.ADMIN)
    colleague = make_user(Role.MSL)
    hcp = make_hcp()
    assert policy.can_edit_staff(admin, colleague)
    assert not policy.can_edit_staff(admin, admin)
    assert not policy.can_edit_staff(admin, hcp)
    assert policy.can_suspend_user(admin, hcp)
    assert policy.can_suspend_user(admin, colleague)
    assert not policy.can_suspend_user(admin, admin)
    assert not policy.can_suspend_user(colleague, hcp)
