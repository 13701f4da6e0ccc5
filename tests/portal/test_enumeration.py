"""No account enumeration and no lockout by strangers: sign-in, registration and password reset
answer the same for known and unknown addresses, and repeated failures slow attempts down per
account and per client address instead of locking the owner out."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditRecord, HcpProfile, OutboxMail, Role, User, utcnow
from portal.services import accounts, passwords
from tests.conftest import login
from tests.factories import PASSWORD, make_hcp, make_user, unique
from tests.portal.helpers import registration

WRONG = "not-the-password-at-all"
ADDRESS_A = {"REMOTE_ADDR": "198.51.100.10"}
ADDRESS_B = {"REMOTE_ADDR": "198.51.100.20"}


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def answer(response: Any, client: Any) -> tuple[int, str | None, list[str]]:
    """What a stranger sees: the status, where it leads, and the messages on the page it leads
    to (the sign-in form echoes the address typed, so whole pages differ by that alone)."""
    location = response.headers.get("Location")
    shown = client.get(location) if location else response
    html = shown.get_data(as_text=True)
    alerts = re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', html, flags=re.S)
    return response.status_code, location, [re.sub(r"<[^>]+>|\s+", " ", a).strip() for a in alerts]


def counting_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash computed or checked (what the answer's time is made of)."""
    calls: list[str] = []
    real_hash, real_check = passwords.hash_password, passwords.check_password

    def hash_password(password: str) -> str:
        calls.append("hash")
        return real_hash(password)

    def check_password(password_hash: str | None, password: str) -> bool:
        calls.append("check")
        return real_check(password_hash, password)

    monkeypatch.setattr(passwords, "hash_password", hash_password)
    monkeypatch.setattr(passwords, "check_password", check_password)
    return calls


# --- registration ----------------------------------------------------------------------------


def test_registering_a_known_address_answers_exactly_like_a_new_one(app, client):
    owner = make_hcp(email=f"{unique('owner')}@example.org")

    new = answer(client.post("/register", data=registration()), client)
    known = answer(client.post("/register", data=registration(email=owner.email)), client)

    assert new == known
    assert new[0] == 302
    assert any("Check your e-mail" in message for message in new[2])
    assert not any("already" in message for message in new[2])


def test_registering_a_known_address_creates_nothing_and_mails_its_owner(app, client):
    owner = make_hcp(email=f"{unique('owner')}@example.org")
    before = (count(User), count(HcpProfile))

    client.post("/register", data=registration(email=owner.email.upper()))

    assert (count(User), count(HcpProfile)) == before
    (notice,) = db.session.scalars(select(OutboxMail).where(OutboxMail.to == owner.email))
    assert notice.subject == "Someone tried to register with your address"
    assert "sign in" in notice.body
    assert "/password/forgot" in notice.body
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_registering_a_known_npi_answers_like_a_new_registration(app, client):
    owner = make_hcp()
    assert owner.hcp_profile is not None

    taken = answer(
        client.post("/register", data=registration(npi=owner.hcp_profile.npi or "")), client
    )
    new = answer(client.post("/register", data=registration()), client)

    assert taken == new


def test_registering_a_known_address_costs_the_same_hashing_as_a_new_one(app, monkeypatch):
    owner = make_hcp(email=f"{unique('owner')}@example.org")
    calls = counting_hashes(monkeypatch)
    form = registration()
    data = accounts.Registration(**{k: v for k, v in form.items() if k != "confirm"})

    accounts.register_hcp(data)
    new = list(calls)
    calls.clear()
    accounts.register_hcp(accounts.Registration(**{**data.__dict__, "email": owner.email}))

    assert calls == new == ["hash"]


def test_a_stranger_cannot_tell_a_known_address_by_registering_then_signing_in(app, client):
    owner = make_hcp(email=f"{unique('owner')}@example.org")
    form = registration()
    client.post("/register", data=form, follow_redirects=True)
    client.post("/register", data={**form, "email": owner.email}, follow_redirects=True)

    new = answer(login(client, form["email"], form["password"]), client)
    known = answer(login(client, owner.email, form["password"]), client)

    assert new == known
    assert new[0] == 200


# --- sign-in ---------------------------------------------------------------------------------


def test_sign_in_with_an_unknown_address_costs_one_hash_like_a_wrong_password(app, monkeypatch):
    rep = make_user(Role.REP)
    calls = counting_hashes(monkeypatch)

    for email in ("nobody@pharma.org", rep.email):
        calls.clear()
        with pytest.raises(accounts.InvalidInput):
            accounts.authenticate(email, WRONG)
        assert calls == ["check"]


def test_an_attempt_inside_the_wait_costs_one_hash_too(app, monkeypatch):
    rep = make_user(Role.REP)
    with time_machine.travel(utcnow(), tick=False):
        for _ in range(5):
            with pytest.raises(accounts.InvalidInput):
                accounts.authenticate(rep.email, WRONG)
        calls = counting_hashes(monkeypatch)
        with pytest.raises(accounts.InvalidInput):
            accounts.authenticate(rep.email, PASSWORD)

    assert calls == ["check"]


@pytest.mark.parametrize("role", [Role.HCP, Role.ADMIN, Role.PHARMACOVIGILANCE])
def test_a_known_account_under_attack_answers_like_an_unknown_address(client, role):
    target = make_hcp() if role is Role.HCP else make_user(role)
    with time_machine.travel(utcnow(), tick=False):
        for n in range(8):
            known = answer(login(client, target.email, WRONG), client)
            unknown = answer(login(client, f"nobody{n}@example.org", WRONG), client)
            assert known == unknown, n


def test_strangers_cannot_lock_the_owner_out_for_long(client):
    target = make_user(Role.ADMIN)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        for _ in range(100):
            login(client, target.email, WRONG)

    with time_machine.travel(start + dt.timedelta(minutes=15, seconds=1), tick=False):
        response = login(client, target.email, PASSWORD)
        assert response.status_code == 302
    audited = db.session.scalars(
        select(AuditRecord.action).where(AuditRecord.target_id == str(target.id))
    ).all()
    assert "auth.login_failed" in audited
    assert "auth.locked" not in audited


def test_lockout_settings_are_the_backoffs_parameters(app):
    rep = make_user(Role.REP)
    app.config.update(LOGIN_MAX_FAILURES=2, LOGIN_LOCKOUT_MINUTES=1)
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(12):
            db.session.refresh(rep)
            if rep.locked_until is not None:
                clock.move_to(rep.locked_until)
            with pytest.raises(accounts.InvalidInput):
                accounts.authenticate(rep.email, WRONG)
        db.session.refresh(rep)
        assert rep.locked_until is not None
        assert (rep.locked_until - utcnow()).total_seconds() == 60


# --- per client address ----------------------------------------------------------------------


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="1000 per minute", LOGIN_ADDRESS_MAX_FAILURES=3
)
def test_one_address_guessing_many_accounts_is_slowed_down(client):
    victim = make_hcp()
    start = utcnow()
    with time_machine.travel(start, tick=False):
        for n in range(3):
            login(client, f"guess{n}@example.org", WRONG, environ_base=ADDRESS_A)

        # Inside the address's wait even the right password of a real account is refused
        # with the same answer, while everyone elsewhere signs in.
        refused = login(client, victim.email, PASSWORD, environ_base=ADDRESS_A)
        assert refused.status_code == 200
        assert accounts.BAD_CREDENTIALS in refused.get_data(as_text=True)
        db.session.refresh(victim)
        assert victim.failed_logins == 0  # the address waits; the account was not charged

        elsewhere = login(client, victim.email, PASSWORD, environ_base=ADDRESS_B)
        assert elsewhere.status_code == 302

    client.post("/logout")
    with time_machine.travel(start + dt.timedelta(seconds=2), tick=False):
        assert login(client, victim.email, PASSWORD, environ_base=ADDRESS_A).status_code == 302


@pytest.mark.app_config(
    RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="1000 per minute", LOGIN_ADDRESS_MAX_FAILURES=3
)
def test_the_address_backoff_is_shared_through_redis(app, redis_url):
    import redis
    from limits.storage import storage_from_string

    from portal.extensions import limiter

    # An address of this run's own: other tests use the same Redis at the same time.
    address = f"192.0.2.{secrets.randbelow(250) + 1}"
    store = redis.Redis.from_url(redis_url)
    for key in store.keys(f"*login-backoff*{address}*"):
        store.delete(key)  # a run before this one
    limiter._storage = storage_from_string(redis_url)  # what RATELIMIT_STORAGE_URI sets up
    for n in range(3):
        with pytest.raises(accounts.InvalidInput):
            accounts.authenticate(f"guess{n}@example.org", WRONG, remote_addr=address)
    keys = {k.decode() for k in store.keys(f"*login-backoff*{address}*")}

    assert any(f"wait/{address}" in key for key in keys)


# --- password reset --------------------------------------------------------------------------


def test_reset_request_answers_the_same_for_known_and_unknown_addresses(app, client):
    known = make_hcp()

    for_known = answer(client.post("/password/forgot", data={"email": known.email}), client)
    for_unknown = answer(
        client.post("/password/forgot", data={"email": "nobody@example.org"}), client
    )

    assert for_known == for_unknown
    assert for_known[0] == 302
