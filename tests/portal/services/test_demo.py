"""Demo data: every documented demo login works, a second run changes nothing, and a real
database (one that holds other users) never gets accounts with a public password."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import audit
from portal.extensions import db
from portal.models import AuditRecord, Role, Team, TeamKey, User, Verification
from portal.services import accounts, demo
from tests.factories import make_user

DEMO_PASSWORD = "demo-pass-2026"

# who -> (role, verification for HCPs)
LOGINS: dict[str, tuple[Role, Verification | None]] = {
    "hcp": (Role.HCP, Verification.VERIFIED),
    "hcp2": (Role.HCP, Verification.VERIFIED),
    "pending": (Role.HCP, Verification.PENDING),
    "rep": (Role.REP, None),
    "access": (Role.MARKET_ACCESS, None),
    "msl": (Role.MSL, None),
    "mi": (Role.MEDICAL_INFORMATION, None),
    "pv": (Role.PHARMACOVIGILANCE, None),
    "quality": (Role.QUALITY, None),
    "content": (Role.CONTENT_MANAGER, None),
    "reviewer": (Role.MLR_REVIEWER, None),
    "compliance": (Role.COMPLIANCE, None),
    "admin": (Role.ADMIN, None),
}


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def user(who: str) -> User:
    found = db.session.scalar(select(User).where(User.email == f"{who}@example.com"))
    assert found is not None, f"{who}@example.com is missing"
    return found


def demo_users() -> list[User]:
    return list(db.session.scalars(select(User).where(User.email.like("%@example.com"))))


@pytest.fixture
def seeded(app) -> demo.SeedResult:
    return demo.seed_demo()


def test_seeding_an_empty_database_loads_the_demo(seeded):
    assert seeded.loaded
    assert seeded.demo_present
    assert count(User) > len(LOGINS)


def test_every_documented_demo_login_signs_in_with_the_demo_password(seeded):
    assert {who for who, _ in demo.DEMO_LOGINS} == set(LOGINS)
    for who, (role, verification) in LOGINS.items():
        signed_in = accounts.authenticate(f"{who}@example.com", DEMO_PASSWORD)
        assert signed_in.role is role, who
        assert signed_in.email_confirmed_at is not None, who
        if verification is not None:
            assert signed_in.hcp_profile is not None, who
            assert signed_in.hcp_profile.verification is verification, who


def test_demo_hcps_differ_in_specialty_and_territory(seeded):
    hcp, hcp2 = user("hcp").hcp_profile, user("hcp2").hcp_profile
    assert hcp is not None and hcp2 is not None
    assert hcp.specialty != hcp2.specialty
    assert hcp.territory is not None and hcp2.territory is not None
    assert hcp.territory.id != hcp2.territory.id


def test_demo_staff_belong_to_their_teams(seeded):
    expected = {
        "rep": TeamKey.SALES,
        "access": TeamKey.MARKET_ACCESS,
        "msl": TeamKey.MSL,
        "mi": TeamKey.MEDICAL_INFORMATION,
        "pv": TeamKey.PHARMACOVIGILANCE,
        "quality": TeamKey.QUALITY,
        "content": TeamKey.CONTENT,
        "reviewer": TeamKey.MLR_REVIEW,
        "compliance": TeamKey.COMPLIANCE,
    }
    for who, team in expected.items():
        assert team in {t.key for t in user(who).teams}, who


def test_demo_field_staff_cover_the_demo_hcps_territory(seeded):
    territory = user("hcp").territory
    assert territory in user("rep").territories
    assert territory in user("msl").territories


def test_demo_accounts_are_audited_and_the_chain_verifies(seeded):
    created = db.session.scalar(
        select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "user.created")
    )
    assert created == count(User)
    assert audit.verify().ok


def test_seeding_again_changes_nothing(seeded):
    users_before = {(u.email, u.role, u.password_hash) for u in db.session.scalars(select(User))}
    records_before = count(AuditRecord)
    teams_before = count(Team)

    again = demo.seed_demo()

    assert not again.loaded
    assert again.demo_present
    assert {(u.email, u.role, u.password_hash) for u in db.session.scalars(select(User))} == (
        users_before
    )
    assert count(AuditRecord) == records_before
    assert count(Team) == teams_before
    assert audit.verify().ok


def test_database_with_other_users_gets_no_demo_accounts(app):
    real = make_user(Role.ADMIN, email="it@pharma.org")

    result = demo.seed_demo()

    assert not result.loaded
    assert not result.demo_present
    assert demo_users() == []
    assert [u.email for u in db.session.scalars(select(User))] == [real.email]
    assert count(AuditRecord) == 0


def test_seed_demo_command_prints_the_logins(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])

    assert result.exit_code == 0, result.output
    assert "demo-pass-2026" in result.output
    for who in LOGINS:
        assert f"{who}@example.com" in result.output


def test_seed_demo_command_refuses_quietly_on_a_real_database(app):
    make_user(Role.ADMIN, email="it@pharma.org")

    result = app.test_cli_runner().invoke(args=["seed-demo"])

    assert result.exit_code == 0
    assert "not added" in result.output
    assert "@example.com" not in result.output
    assert demo_users() == []
