"""Self-service accounts: HCP registration, sign-in and lockout, email confirmation, password
reset."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select

from portal.errors import InvalidInput, PermissionDenied
from portal.extensions import db
from portal.models import (
    AuditRecord,
    HcpProfile,
    OutboxMail,
    Role,
    User,
    Verification,
    utcnow,
)
from portal.services import accounts
from portal.services.accounts import Registration
from tests.factories import PASSWORD, make_hcp, make_territory, make_user, unique, valid_npi

pytestmark = pytest.mark.app_config(LOGIN_MAX_FAILURES=5, LOGIN_LOCKOUT_MINUTES=15)

NEW_PASSWORD = "Sturdy-Pass-2026!"
FULLWIDTH_NPI = "".join(chr(0xFF10 + int(d)) for d in "1234567893")


def registration(**overrides: Any) -> Registration:
    values: dict[str, Any] = {
        "name": "Dr. Ada Lovelace",
        "email": f"{unique('ada')}@hospital.org",
        "password": NEW_PASSWORD,
        "profession": "physician",
        "specialty": "Cardiology",
        "institution": "General Hospital",
        "country": "US",
        "postal_code": "94143",
        "npi": valid_npi(),
        "licence_number": "",
    }
    values.update(overrides)
    return Registration(**values)


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def stored_counts() -> dict[str, int]:
    return {m.__name__: count(m) for m in (User, HcpProfile, OutboxMail, AuditRecord)}


def audit_actions(user: User | None = None) -> list[str]:
    query = select(AuditRecord.action).order_by(AuditRecord.id)
    if user is not None:
        query = query.where(
            AuditRecord.target_type == "users", AuditRecord.target_id == str(user.id)
        )
    return list(db.session.scalars(query))


def mails_to(address: str) -> list[OutboxMail]:
    return list(
        db.session.scalars(
            select(OutboxMail).where(OutboxMail.to == address).order_by(OutboxMail.id)
        )
    )


def link_token(mail: OutboxMail, path: str) -> str:
    found = re.search(rf"http://portal\.test{re.escape(path)}([A-Za-z0-9_.\-]+)", mail.body)
    assert found, f"no {path} link in: {mail.body}"
    return found.group(1)


def tampered(token: str) -> str:
    """The token with the first character of its signature changed (the last character of a
    base64 signature may carry only padding bits)."""
    body, signature = token.rsplit(".", 1)
    first = "A" if signature[0] != "A" else "B"
    return f"{body}.{first}{signature[1:]}"


# --- registration ----------------------------------------------------------------------------


def test_registration_creates_a_pending_hcp(app):
    data = registration(name="  Dr. Ada Lovelace ", institution=" General Hospital ")

    user = accounts.register_hcp(data)

    db.session.expire_all()
    assert user.role is Role.HCP
    assert user.name == "Dr. Ada Lovelace"
    assert user.email == data.email
    assert user.email_confirmed_at is None
    assert not user.suspended
    profile = user.hcp_profile
    assert profile is not None
    assert profile.verification is Verification.PENDING
    assert profile.npi == data.npi
    assert profile.licence_number is None
    assert profile.institution == "General Hospital"
    accounts.confirm_email(link_token(mails_to(user.email)[0], "/confirm/"))
    assert accounts.authenticate(data.email, NEW_PASSWORD).id == user.id


def test_a_new_registration_cannot_sign_in_before_confirming_its_address(app):
    # Otherwise "register with a password of your own, then sign in with it" would tell apart
    # a new address (signed in) from a known one (wrong password).
    user = accounts.register_hcp(registration())
    assert user is not None

    with pytest.raises(InvalidInput) as caught:
        accounts.authenticate(user.email, NEW_PASSWORD)

    assert caught.value.message == accounts.BAD_CREDENTIALS
    assert audit_actions(user)[-1] == "auth.login_refused"


def test_registration_stores_the_npi_without_surrounding_spaces(app):
    npi = valid_npi()
    user = accounts.register_hcp(registration(npi=f"  {npi} "))
    assert user.hcp_profile is not None
    assert user.hcp_profile.npi == npi


def test_registration_lower_cases_the_email(app):
    user = accounts.register_hcp(registration(email="Ada.Lovelace@Hospital.ORG"))
    assert user.email == "ada.lovelace@hospital.org"


def test_non_us_hcp_registers_with_a_licence_number(app):
    user = accounts.register_hcp(
        registration(country="DE", postal_code="10117", npi="", licence_number=" LAEK-1 ")
    )
    assert user.hcp_profile is not None
    assert user.hcp_profile.npi is None
    assert user.hcp_profile.licence_number == "LAEK-1"


@pytest.mark.parametrize(
    ("country", "postal_code", "territory"),
    [
        ("US", "98101", "US-WE"),
        ("US", "10029", "US-NE"),
        ("US", "02118", "US-NE"),
        ("US", "94105", "US-SF"),  # the longest matching prefix wins
        ("US", "55401", None),  # no territory covers it
        ("DE", "10117", "DE"),  # a whole-country territory
        ("FR", "75005", None),
    ],
)
def test_registration_derives_the_territory_from_the_postal_code(
    app, country, postal_code, territory
):
    make_territory(code="US-NE", country="US", postal_prefixes="0 1 2")
    make_territory(code="US-WE", country="US", postal_prefixes="8 9")
    make_territory(code="US-SF", country="US", postal_prefixes="941")
    make_territory(code="DE", country="DE", postal_prefixes="")
    extra = {} if country == "US" else {"npi": "", "licence_number": "LIC-1"}

    user = accounts.register_hcp(registration(country=country, postal_code=postal_code, **extra))

    assert (user.territory.code if user.territory else None) == territory


def test_registration_is_audited_as_the_hcp_themselves(app):
    make_territory(code="US-WE", country="US", postal_prefixes="9")
    user = accounts.register_hcp(registration(specialty="Oncology"))

    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "hcp.registered"))
    assert record is not None
    assert record.actor_id == user.id
    assert record.target_id == str(user.id)
    assert record.shown_details["country"] == "US"
    assert record.shown_details["specialty"] == "Oncology"
    assert record.details["territory"] == "US-WE"
    assert NEW_PASSWORD not in str(record.details)


def test_registration_queues_a_confirmation_mail_without_the_password(app):
    user = accounts.register_hcp(registration())

    [mail] = mails_to(user.email)
    assert "confirm" in mail.subject.lower()
    assert mail.sent_at is None
    assert link_token(mail, "/confirm/")
    assert NEW_PASSWORD not in mail.body
    assert NEW_PASSWORD not in mail.subject
    assert user.password_hash not in mail.body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"name": "  "}, "name", id="no-name"),
        pytest.param({"email": "not-an-email"}, "email", id="email-without-at"),
        pytest.param({"email": "ada@"}, "email", id="email-without-domain"),
        pytest.param({"email": "ada@clinic.test"}, "email", id="reserved-domain"),
        pytest.param({"password": "Short-1!"}, "password", id="password-too-short"),
        pytest.param({"password": "abababababababab"}, "password", id="password-repetitive"),
        pytest.param(
            {"email": "lovelace@hospital.org", "password": "Lovelace-2026-xyz"},
            "password",
            id="password-contains-email",
        ),
        pytest.param({"profession": "surgeon-general"}, "profession", id="unknown-profession"),
        pytest.param({"profession": ""}, "profession", id="no-profession"),
        pytest.param({"specialty": "Astrology"}, "specialty", id="unknown-specialty"),
        pytest.param({"specialty": "cardiology"}, "specialty", id="specialty-wrong-case"),
        pytest.param({"institution": " "}, "institution", id="no-institution"),
        pytest.param({"country": "XX"}, "country", id="unknown-country"),
        pytest.param({"country": "us"}, "country", id="country-lower-case"),
        pytest.param({"postal_code": ""}, "postal_code", id="no-postal-code"),
        pytest.param({"npi": ""}, "npi", id="us-without-npi"),
        pytest.param({"npi": "1234567890"}, "npi", id="us-npi-bad-check-digit"),
        pytest.param({"npi": "123-456-7893"}, "npi", id="us-npi-with-dashes"),
        pytest.param({"npi": FULLWIDTH_NPI}, "npi", id="us-npi-fullwidth-digits"),
        pytest.param(
            {"country": "DE", "npi": "", "licence_number": " "},
            "licence_number",
            id="non-us-without-licence",
        ),
        pytest.param(
            {"country": "GB", "npi": "1234567893", "licence_number": ""},
            "licence_number",
            id="non-us-with-npi-only",
        ),
    ],
)
def test_registration_refuses_bad_input_and_stores_nothing(app, overrides, field):
    before = stored_counts()

    with pytest.raises(InvalidInput) as caught:
        accounts.register_hcp(registration(**overrides))

    assert caught.value.field == field
    assert caught.value.message
    assert stored_counts() == before


def test_registration_reports_every_bad_field_at_once(app):
    before = stored_counts()

    with pytest.raises(InvalidInput) as caught:
        accounts.register_hcp(
            registration(email="ada@", password="short", specialty="Astrology", npi="1234567890")
        )

    assert set(caught.value.errors) == {"email", "password", "specialty", "npi"}
    assert all(caught.value.errors.values())
    assert caught.value.field in caught.value.errors
    assert stored_counts() == before


@pytest.mark.parametrize(
    ("existing", "entered"),
    [
        ("ada.lovelace@hospital.org", "ada.lovelace@hospital.org"),
        ("ada.lovelace@hospital.org", "Ada.Lovelace@Hospital.ORG"),
        ("Ada.Lovelace@Hospital.org", "ada.lovelace@hospital.org"),
        ("ada.lovelace@hospital.org", "  ada.lovelace@hospital.org "),
    ],
)
def test_registration_of_a_known_email_creates_nothing_and_mails_its_owner(app, existing, entered):
    owner = make_hcp(email=existing)
    users_before = (count(User), count(HcpProfile))

    assert accounts.register_hcp(registration(email=entered)) is None

    assert (count(User), count(HcpProfile)) == users_before
    (notice,) = mails_to(owner.email)
    assert notice.subject == "Someone tried to register with your address"
    assert "/password/forgot" in notice.body
    assert audit_actions(owner)[-1] == "auth.registration_existing"
    db.session.refresh(owner)
    assert owner.name != "Dr. Ada Lovelace"


def test_registration_of_an_email_a_staff_member_has_changes_nothing(app):
    rep = make_user(Role.REP, email="riley@pharma.org")
    password_hash = rep.password_hash

    assert accounts.register_hcp(registration(email=rep.email.upper())) is None

    db.session.refresh(rep)
    assert rep.role is Role.REP
    assert rep.password_hash == password_hash
    assert rep.hcp_profile is None


def test_registration_of_a_known_unconfirmed_email_mails_a_fresh_confirmation_link(app):
    first = accounts.register_hcp(registration())
    assert first is not None

    assert accounts.register_hcp(registration(email=first.email)) is None

    notice = mails_to(first.email)[-1]
    assert notice.subject == "Someone tried to register with your address"
    accounts.confirm_email(link_token(notice, "/confirm/"))
    db.session.refresh(first)
    assert first.email_confirmed_at is not None


def test_registration_with_an_npi_already_registered_creates_nothing(app):
    npi = valid_npi()
    owner = make_hcp(npi=npi)
    data = registration(npi=f" {npi} ")
    users_before = (count(User), count(HcpProfile))

    assert accounts.register_hcp(data) is None

    assert (count(User), count(HcpProfile)) == users_before
    # Only whoever reads the mailbox typed learns why; the owner's mailbox is left alone.
    (explained,) = mails_to(data.email)
    assert "already registered" in explained.body
    assert mails_to(owner.email) == []
    assert audit_actions(owner)[-1] == "auth.registration_npi_taken"


def test_two_hcps_with_different_npis_both_register(app):
    first = accounts.register_hcp(registration())
    second = accounts.register_hcp(registration())
    assert first.id != second.id
    assert count(User) == 2


# --- sign-in ---------------------------------------------------------------------------------


def test_sign_in_returns_the_user_and_resets_failures(app):
    rep = make_user(Role.REP, failed_logins=3)

    user = accounts.authenticate(rep.email.upper(), PASSWORD, remote_addr="10.0.0.1")

    assert user.id == rep.id
    assert user.failed_logins == 0
    assert user.locked_until is None
    assert user.last_login_at is not None
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "auth.login"))
    assert record is not None
    assert record.actor_id == rep.id
    assert record.shown_details == {"ip": "10.0.0.1"}


def test_wrong_password_is_counted_and_audited(app):
    rep = make_user(Role.REP)

    for attempt in (1, 2):
        with pytest.raises(InvalidInput) as caught:
            accounts.authenticate(rep.email, "wrong-password-123")
        assert caught.value.message == accounts.BAD_CREDENTIALS
        db.session.refresh(rep)
        assert rep.failed_logins == attempt

    assert audit_actions(rep) == ["auth.login_failed", "auth.login_failed"]


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(app):
    rep = make_user(Role.REP)

    with pytest.raises(InvalidInput) as unknown:
        accounts.authenticate("nobody@pharma.org", PASSWORD)
    with pytest.raises(InvalidInput) as wrong:
        accounts.authenticate(rep.email, "wrong-password-123")

    assert unknown.value.message == wrong.value.message
    assert unknown.value.field == wrong.value.field


def test_empty_email_is_refused_like_a_wrong_password(app):
    with pytest.raises(InvalidInput) as caught:
        accounts.authenticate("", PASSWORD)
    assert caught.value.message == accounts.BAD_CREDENTIALS


def fail(user: User, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(InvalidInput) as caught:
            accounts.authenticate(user.email, "wrong-password-123")
        assert caught.value.message == accounts.BAD_CREDENTIALS


def test_fifth_failure_in_a_row_starts_a_one_second_wait_not_a_lockout(app):
    rep = make_user(Role.REP)
    fail(rep, 4)
    db.session.refresh(rep)
    assert rep.locked_until is None

    fail(rep)

    db.session.refresh(rep)
    assert rep.failed_logins == 5
    assert rep.locked_until is not None
    assert rep.locked_until <= utcnow() + dt.timedelta(seconds=1)
    assert "auth.locked" not in audit_actions(rep)


def test_an_attempt_inside_the_wait_is_refused_like_a_wrong_password_and_not_counted(app):
    rep = make_user(Role.REP)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        fail(rep, 6)  # the sixth came in the wait: refused unchecked
        with pytest.raises(InvalidInput) as caught:
            accounts.authenticate(rep.email, PASSWORD)

    assert caught.value.message == accounts.BAD_CREDENTIALS
    db.session.refresh(rep)
    assert rep.failed_logins == 5
    assert audit_actions(rep)[-2:] == ["auth.login_throttled", "auth.login_throttled"]


@pytest.mark.parametrize(("failures", "wait"), [(5, 1), (6, 2), (9, 16), (14, 512), (15, 900)])
def test_the_wait_doubles_with_each_failure_up_to_the_cap(app, failures, wait):
    rep = make_user(Role.REP)
    now = utcnow()
    with time_machine.travel(now, tick=False) as clock:
        for _ in range(failures):
            db.session.refresh(rep)
            if rep.locked_until is not None:
                clock.move_to(rep.locked_until)  # each attempt right after the last wait
            fail(rep)

        db.session.refresh(rep)
        assert rep.locked_until is not None
        assert (rep.locked_until - utcnow()).total_seconds() == wait


def test_the_right_password_after_the_wait_signs_in_and_clears_the_count(app):
    rep = make_user(Role.REP)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        fail(rep, 5)
    with time_machine.travel(start + dt.timedelta(seconds=2), tick=False):
        user = accounts.authenticate(rep.email, PASSWORD)

    assert user.id == rep.id
    assert user.failed_logins == 0
    assert user.locked_until is None


def test_a_stranger_hammering_holds_the_owner_back_at_most_the_cap(app):
    rep = make_user(Role.REP)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        fail(rep, 40)  # most of them inside the wait: refused, not counted

    with time_machine.travel(start + dt.timedelta(minutes=15, seconds=1), tick=False):
        assert accounts.authenticate(rep.email, PASSWORD).id == rep.id


def test_a_success_in_between_restarts_the_failure_count(app):
    rep = make_user(Role.REP)
    fail(rep, 4)
    accounts.authenticate(rep.email, PASSWORD)

    fail(rep, 4)
    assert accounts.authenticate(rep.email, PASSWORD).id == rep.id


def test_suspended_user_with_the_right_password_is_told_they_are_suspended(app):
    rep = make_user(Role.REP, suspended=True, suspended_reason="Left the company")

    with pytest.raises(PermissionDenied) as caught:
        accounts.authenticate(rep.email, PASSWORD)

    assert "suspended" in caught.value.message
    db.session.refresh(rep)
    assert rep.last_login_at is None
    assert "auth.login_refused" in audit_actions(rep)


def test_suspended_user_with_a_wrong_password_learns_nothing(app):
    rep = make_user(Role.REP, suspended=True)
    with pytest.raises(InvalidInput) as caught:
        accounts.authenticate(rep.email, "wrong-password-123")
    assert caught.value.message == accounts.BAD_CREDENTIALS


def test_suspended_hcp_is_refused(app):
    hcp = make_hcp(suspended=True)
    with pytest.raises(PermissionDenied):
        accounts.authenticate(hcp.email, PASSWORD)


# --- email confirmation ----------------------------------------------------------------------


def test_link_in_the_confirmation_mail_confirms_the_address(app):
    user = accounts.register_hcp(registration())
    token = link_token(mails_to(user.email)[0], "/confirm/")

    confirmed = accounts.confirm_email(token)

    assert confirmed.id == user.id
    assert confirmed.email_confirmed_at is not None
    assert audit_actions(user).count("auth.email_confirmed") == 1


def test_confirming_twice_changes_nothing_the_second_time(app):
    user = accounts.register_hcp(registration())
    token = link_token(mails_to(user.email)[0], "/confirm/")
    first = accounts.confirm_email(token).email_confirmed_at

    again = accounts.confirm_email(token)

    assert again.email_confirmed_at == first
    assert audit_actions(user).count("auth.email_confirmed") == 1


def test_expired_confirmation_link_is_refused(app):
    user = accounts.register_hcp(registration())
    token = link_token(mails_to(user.email)[0], "/confirm/")
    max_age = dt.timedelta(seconds=app.config["EMAIL_CONFIRM_MAX_AGE"])

    too_late = utcnow() + max_age + dt.timedelta(minutes=1)
    with time_machine.travel(too_late, tick=False), pytest.raises(InvalidInput, match="expired"):
        accounts.confirm_email(token)

    db.session.refresh(user)
    assert user.email_confirmed_at is None


def test_confirmation_link_still_works_just_before_it_expires(app):
    user = accounts.register_hcp(registration())
    token = link_token(mails_to(user.email)[0], "/confirm/")
    max_age = dt.timedelta(seconds=app.config["EMAIL_CONFIRM_MAX_AGE"])

    with time_machine.travel(utcnow() + max_age - dt.timedelta(minutes=5), tick=False):
        assert accounts.confirm_email(token).email_confirmed_at is not None


@pytest.mark.parametrize(
    "mangle",
    [tampered, lambda t: t[:-4], lambda t: "x" + t, lambda t: "not-a-token", lambda t: ""],
    ids=["changed-signature", "cut-short", "prefixed", "garbage", "empty"],
)
def test_tampered_confirmation_link_is_refused(app, mangle):
    user = accounts.register_hcp(registration())
    token = link_token(mails_to(user.email)[0], "/confirm/")

    with pytest.raises(InvalidInput):
        accounts.confirm_email(mangle(token))

    db.session.refresh(user)
    assert user.email_confirmed_at is None


def test_confirmation_link_for_an_address_the_account_no_longer_has_is_refused(app):
    user = accounts.register_hcp(registration())
    token = link_token(mails_to(user.email)[0], "/confirm/")
    user.email = "moved@hospital.org"
    db.session.commit()

    with pytest.raises(InvalidInput):
        accounts.confirm_email(token)


def test_reset_password_link_is_not_a_confirmation_link(app):
    user = accounts.register_hcp(registration())
    accounts.request_password_reset(user.email)
    reset_token = link_token(mails_to(user.email)[-1], "/password/reset/")

    with pytest.raises(InvalidInput):
        accounts.confirm_email(reset_token)


# --- password reset --------------------------------------------------------------------------


def test_reset_request_for_an_unknown_email_does_nothing(app):
    make_user(Role.REP)
    before = stored_counts()

    accounts.request_password_reset("nobody@pharma.org")
    accounts.request_password_reset("")

    assert stored_counts() == before


def test_reset_request_for_a_suspended_account_sends_nothing(app):
    rep = make_user(Role.REP, suspended=True)
    before = stored_counts()

    accounts.request_password_reset(rep.email)

    assert stored_counts() == before


def test_reset_request_queues_a_link_and_is_audited(app):
    rep = make_user(Role.REP)

    accounts.request_password_reset(rep.email.upper())

    [mail] = mails_to(rep.email)
    assert "reset" in mail.subject.lower()
    assert link_token(mail, "/password/reset/")
    assert PASSWORD not in mail.body
    assert audit_actions(rep) == ["auth.reset_requested"]


def test_reset_link_sets_the_new_password_and_ends_other_sessions(app):
    rep = make_user(Role.REP)
    version = rep.session_version
    accounts.request_password_reset(rep.email)
    token = link_token(mails_to(rep.email)[0], "/password/reset/")

    user = accounts.reset_password(token, NEW_PASSWORD)

    assert user.session_version == version + 1
    assert accounts.authenticate(rep.email, NEW_PASSWORD).id == rep.id
    with pytest.raises(InvalidInput):
        accounts.authenticate(rep.email, PASSWORD)
    assert "auth.password_reset" in audit_actions(rep)


def test_reset_link_works_only_once(app):
    rep = make_user(Role.REP)
    accounts.request_password_reset(rep.email)
    token = link_token(mails_to(rep.email)[0], "/password/reset/")
    accounts.reset_password(token, NEW_PASSWORD)

    with pytest.raises(InvalidInput):
        accounts.reset_password(token, "Another-Pass-2027!")

    assert accounts.authenticate(rep.email, NEW_PASSWORD).id == rep.id


def test_an_older_reset_link_stops_working_once_a_newer_one_was_used(app):
    rep = make_user(Role.REP)
    accounts.request_password_reset(rep.email)
    accounts.request_password_reset(rep.email)
    older, newer = (link_token(m, "/password/reset/") for m in mails_to(rep.email))
    accounts.reset_password(newer, NEW_PASSWORD)

    with pytest.raises(InvalidInput):
        accounts.reset_password(older, "Another-Pass-2027!")


def test_expired_reset_link_is_refused(app):
    rep = make_user(Role.REP)
    accounts.request_password_reset(rep.email)
    token = link_token(mails_to(rep.email)[0], "/password/reset/")
    max_age = dt.timedelta(seconds=app.config["PASSWORD_RESET_MAX_AGE"])

    too_late = utcnow() + max_age + dt.timedelta(minutes=1)
    with time_machine.travel(too_late, tick=False), pytest.raises(InvalidInput, match="expired"):
        accounts.reset_password(token, NEW_PASSWORD)

    assert accounts.authenticate(rep.email, PASSWORD).id == rep.id


def test_tampered_reset_link_is_refused(app):
    rep = make_user(Role.REP)
    accounts.request_password_reset(rep.email)
    token = link_token(mails_to(rep.email)[0], "/password/reset/")

    with pytest.raises(InvalidInput):
        accounts.reset_password(tampered(token), NEW_PASSWORD)


def test_weak_new_password_is_refused_and_the_link_keeps_working(app):
    rep = make_user(Role.REP)
    version = rep.session_version
    accounts.request_password_reset(rep.email)
    token = link_token(mails_to(rep.email)[0], "/password/reset/")

    with pytest.raises(InvalidInput) as caught:
        accounts.reset_password(token, "short")
    assert caught.value.field == "password"
    db.session.refresh(rep)
    assert rep.session_version == version

    accounts.reset_password(token, NEW_PASSWORD)
    assert accounts.authenticate(rep.email, NEW_PASSWORD).id == rep.id


def test_reset_lifts_the_backoff(app):
    rep = make_user(Role.REP)
    fail(rep, 12)
    accounts.request_password_reset(rep.email)
    token = link_token(mails_to(rep.email)[0], "/password/reset/")

    accounts.reset_password(token, NEW_PASSWORD)

    assert accounts.authenticate(rep.email, NEW_PASSWORD).id == rep.id


def test_reset_from_the_mailed_link_confirms_the_address(app):
    user = accounts.register_hcp(registration())
    accounts.request_password_reset(user.email)
    token = link_token(mails_to(user.email)[-1], "/password/reset/")

    accounts.reset_password(token, "Different-Pass-2026?")

    assert user.email_confirmed_at is not None
