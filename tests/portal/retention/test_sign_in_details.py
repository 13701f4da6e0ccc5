"""Sign-in details: the IP addresses and devices of sign-in, session and two-factor audit records
lose their personal part after ``RETENTION_SIGN_IN_DETAILS_DAYS``; the records stay, the chain
still verifies, and a held person's records keep theirs."""

from __future__ import annotations

import datetime as dt
import json

from flask import Flask
from sqlalchemy import select

from portal import audit
from portal.extensions import db
from portal.models import AuditRecord, Role, User
from portal.retention import purge
from portal.retention.models import RecordKind
from portal.retention.periods import current_periods
from portal.services import sessions
from tests.factories import make_hcp, make_user
from tests.portal.retention.conftest import T0, at, count, hold, personal_of, sign_in_record

DAY = dt.timedelta(days=1)


def period() -> dt.timedelta:
    return dt.timedelta(days=current_periods()[RecordKind.SIGN_IN_DETAILS])


def _sign_in_history(person: User, admin: User) -> tuple[list[int], list[int]]:
    """Every kind of sign-in record with an address, and records that are not about signing in
    (or hold nothing personal); returns (sign-in ids, other ids)."""
    sign_ins = [
        sign_in_record(person),
        sign_in_record(person, "auth.login_refused", reason="suspended"),
        sign_in_record(person, "auth.login_throttled"),
        sign_in_record(person, "auth.two_factor", method="totp"),
        sign_in_record(person, "auth.two_factor_failed", reason="wrong code"),
        sign_in_record(person, "two_factor.turned_off"),
        sign_in_record(person, "two_factor.recovery_code_used", remaining=9),
        sign_in_record(person, "user.password_changed"),
    ]
    sessions.start(person, ip="198.51.100.4", user_agent="Mozilla/5.0 (iPhone)")
    db.session.commit()
    started = db.session.scalar(
        select(AuditRecord.id).where(
            AuditRecord.action == "session.started", AuditRecord.actor_id == person.id
        )
    )
    assert started is not None
    sign_ins.append(started)
    renamed = audit.record(admin, "user.renamed", person, before="Dr A", after="Dr B")
    logout = audit.record(person, "auth.logout", person)
    db.session.commit()
    return sign_ins, [renamed.id, logout.id]


def test_old_sign_in_records_lose_their_address_and_the_chain_still_verifies(app: Flask, admin):
    with at(T0):
        hcp = make_hcp()
        sign_ins, others = _sign_in_history(hcp, admin)
    before = {
        r.id: (r.actor_label, r.details, r.personal_digest, r.hash)
        for r in db.session.scalars(select(AuditRecord).where(AuditRecord.id.in_(sign_ins)))
    }
    assert all(personal_of(rid) for rid in sign_ins)

    with at(T0 + period() - DAY):
        kept = purge.purge()
    assert kept.counts["sign_in_details"] == 0
    assert all(personal_of(rid) for rid in sign_ins)

    with at(T0 + period() + DAY):
        run = purge.purge()

    assert run.counts["sign_in_details"] == len(sign_ins)
    db.session.expire_all()
    for record in db.session.scalars(select(AuditRecord).where(AuditRecord.id.in_(sign_ins))):
        assert record.personal is None and record.salt is None
        assert "ip" not in record.shown_details and "device" not in record.shown_details
        # The record itself stays as it was: who, what, when, its details and its hashes.
        assert (record.actor_label, record.details, record.personal_digest, record.hash) == (
            before[record.id]
        )
    renamed, logout = (db.session.get_one(AuditRecord, rid) for rid in others)
    assert renamed.personal == {"before": "Dr A", "after": "Dr B"}
    assert logout.salt is not None  # nothing personal to erase: untouched
    assert audit.verify().ok
    [report] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "retention.purged").order_by(AuditRecord.id)
    ).all()[-1:]
    assert report.details["removed"]["sign_in_details"] == len(sign_ins)


def test_recent_sign_ins_keep_their_address(app: Flask):
    hcp = make_hcp()
    with at(T0):
        old = sign_in_record(hcp)
    with at(T0 + period() - 10 * DAY):
        recent = sign_in_record(hcp)

    with at(T0 + period() + DAY):
        run = purge.purge()

    assert run.counts["sign_in_details"] == 1
    assert personal_of(old) is None
    assert personal_of(recent) == {"ip": "203.0.113.7"}
    assert audit.verify().ok


def test_a_held_persons_sign_ins_keep_their_address(app: Flask, compliance):
    held, other = make_hcp(), make_hcp()
    with at(T0):
        acted = sign_in_record(held)
        # Someone else (or no one) acting on the held person: the record is about them.
        about = audit.record(None, "auth.login_refused", held, ip="192.0.2.9", reason="unknown")
        db.session.commit()
        others = sign_in_record(other)
        hold(compliance, held)

    with at(T0 + period() + DAY):
        run = purge.purge()

    assert personal_of(acted) == {"ip": "203.0.113.7"}
    assert personal_of(about.id) == {"ip": "192.0.2.9"}
    assert personal_of(others) is None
    assert run.counts["sign_in_details"] == 1
    assert audit.verify().ok


def test_sign_in_details_are_erased_in_batches(app: Flask):
    app.config["RETENTION_BATCH_SIZE"] = 2
    staff = make_user(Role.MSL)
    with at(T0):
        ids = [sign_in_record(staff) for _ in range(5)]

    with at(T0 + period() + DAY):
        run = purge.purge()

    assert run.counts["sign_in_details"] == 5
    assert all(personal_of(rid) is None for rid in ids)
    assert audit.verify().ok


def test_the_command_counts_sign_in_details_and_the_dry_run_changes_nothing(app: Flask):
    hcp = make_hcp()
    with at(T0):
        rid = sign_in_record(hcp)

    with at(T0 + period() + DAY):
        dry = app.test_cli_runner().invoke(args=["retention", "purge", "--dry-run"])
        assert json.loads(dry.output)["removed"]["sign_in_details"] == 1
        assert personal_of(rid) == {"ip": "203.0.113.7"}
        real = app.test_cli_runner().invoke(args=["retention", "purge"])

    assert real.exit_code == 0, real.output
    assert json.loads(real.output)["removed"]["sign_in_details"] == 1
    assert personal_of(rid) is None
    assert count(AuditRecord, AuditRecord.id == rid) == 1
