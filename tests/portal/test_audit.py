"""The audit trail: attributable records, chained by hash, append-only, tampering detected.

To tamper, the tests play an attacker with direct database access: they drop the append-only
triggers and change rows with raw SQL, then ask :func:`portal.audit.verify` (and ``flask audit
verify``) which record is the first one broken.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam, event, func, select, text
from sqlalchemy.exc import DBAPIError

from portal import audit
from portal.extensions import db
from portal.models import AuditRecord, Role, User, utcnow
from tests.factories import make_user

COLUMNS = AuditRecord.__table__.c
PG_TRIGGER = (
    "CREATE TRIGGER audit_records_no_update BEFORE UPDATE OR DELETE ON audit_records "
    "FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()"
)


def dialect() -> str:
    return db.engine.dialect.name


def write_chain(count: int, actor: User | None = None) -> list[int]:
    """``count`` committed records; returns their ids."""
    ids = [
        audit.record(actor, "test.step", ("thing", step), step=step).id
        for step in range(1, count + 1)
    ]
    db.session.commit()
    return ids


def stored(record_id: int) -> AuditRecord:
    found = db.session.get(AuditRecord, record_id)
    assert found is not None
    return found


def raw_update(record_id: int, **values: Any) -> None:
    """``UPDATE audit_records SET ... WHERE id = ...`` in plain SQL, committed."""
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    # Column names come from the model, never from input.
    sql = f"UPDATE audit_records SET {assignments} WHERE id = :record_id"  # noqa: S608
    statement = text(sql).bindparams(
        *(bindparam(name, type_=COLUMNS[name].type) for name in values)
    )
    db.session.execute(statement, {**values, "record_id": record_id})
    db.session.commit()


def raw_delete(*record_ids: int) -> None:
    for record_id in record_ids:
        db.session.execute(text("DELETE FROM audit_records WHERE id = :id"), {"id": record_id})
    db.session.commit()


def raw_insert(**row: Any) -> None:
    names = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    sql = f"INSERT INTO audit_records ({names}) VALUES ({values})"  # noqa: S608
    statement = text(sql).bindparams(*(bindparam(name, type_=COLUMNS[name].type) for name in row))
    db.session.execute(statement, row)
    db.session.commit()


def forged_row(record_id: int, prev_hash: str, *, rehash: bool = True) -> dict[str, Any]:
    """A record an attacker made up; with ``rehash`` its hash is computed as the portal would."""
    entry = AuditRecord(
        id=record_id,
        at=utcnow(),
        actor_id=None,
        actor_label="system",
        action="forged.action",
        target_type="system",
        target_id=None,
        details={"note": "never happened"},
        salt=(salt := audit.new_salt()),
        personal_digest=audit.personal_digest(salt, "system", None),
        prev_hash=prev_hash,
    )
    entry.hash = audit.compute_hash(entry, prev_hash) if rehash else "f" * 64
    return {column.name: getattr(entry, column.name) for column in COLUMNS}


def record_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditRecord)) or 0


@pytest.fixture
def unprotected(app: Flask) -> Iterator[None]:
    """The append-only triggers dropped, as an attacker with database access would.

    A PostgreSQL schema outlives the test, so the trigger is put back afterwards.
    """
    if dialect() == "postgresql":
        db.session.execute(text("DROP TRIGGER audit_records_no_update ON audit_records"))
    else:
        db.session.execute(text("DROP TRIGGER audit_records_no_update"))
        db.session.execute(text("DROP TRIGGER audit_records_no_delete"))
    db.session.commit()
    yield
    if dialect() == "postgresql":
        db.session.rollback()
        db.session.execute(text("DROP TRIGGER IF EXISTS audit_records_no_update ON audit_records"))
        db.session.execute(text(PG_TRIGGER))
        db.session.commit()


# --- writing ---------------------------------------------------------------------------------


def test_record_says_who_did_what_to_which_record_and_when(app):
    admin = make_user(Role.ADMIN)
    rep = make_user(Role.REP)
    before = utcnow()
    entry_id = audit.record(admin, "user.suspended", rep, reason="left the company").id
    db.session.commit()

    entry = stored(entry_id)
    assert entry.actor_id == admin.id
    assert entry.actor_label == admin.email
    assert entry.action == "user.suspended"
    assert entry.target_type == "users"
    assert entry.target_id == str(rep.id)
    assert entry.details == {"reason": "left the company"}
    assert entry.at.tzinfo is not None
    assert before <= entry.at <= utcnow()


def test_system_actions_are_attributed_to_the_system(app):
    entry_id = audit.record(None, "demo.seeded", None, users=3).id
    db.session.commit()

    entry = stored(entry_id)
    assert entry.actor_id is None
    assert entry.actor_label == "system"
    assert (entry.target_type, entry.target_id) == ("system", None)


def test_target_may_be_named_by_type_and_id(app):
    entry_id = audit.record(None, "question.routed", ("question", 42)).id
    db.session.commit()

    assert (stored(entry_id).target_type, stored(entry_id).target_id) == ("question", "42")


def test_new_target_gets_its_id_before_it_is_recorded(app):
    admin = make_user(Role.ADMIN)
    newcomer = User(email="new@company.test", name="New", role=Role.REP, password_hash="x")
    db.session.add(newcomer)
    entry_id = audit.record(admin, "user.created", newcomer).id
    db.session.commit()

    assert newcomer.id is not None
    assert stored(entry_id).target_id == str(newcomer.id)


def test_details_are_stored_as_plain_json(app):
    when = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
    entry_id = audit.record(None, "auth.locked", None, until=when, count=3, tags=["a"]).id
    db.session.commit()

    details = stored(entry_id).details
    assert details == {"until": str(when), "count": 3, "tags": ["a"]}
    json.dumps(details)  # nothing but JSON in there


def test_records_are_numbered_in_order_and_chained_by_hash(app):
    ids = write_chain(4, make_user(Role.ADMIN))

    assert ids == [1, 2, 3, 4]
    records = [stored(i) for i in ids]
    assert records[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    hashes = [r.hash for r in records]
    assert len(set(hashes)) == 4
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes)


def test_hash_covers_the_content(app):
    entry = stored(write_chain(1)[0])
    original = audit.compute_hash(entry, entry.prev_hash)
    assert original == entry.hash
    entry.details = {"step": 2}
    assert audit.compute_hash(entry, entry.prev_hash) != original
    db.session.rollback()


def test_rolled_back_change_leaves_no_audit_record(app):
    admin = make_user(Role.ADMIN)
    newcomer = User(email="gone@company.test", name="Gone", role=Role.REP, password_hash="x")
    db.session.add(newcomer)
    audit.record(admin, "user.created", newcomer)
    db.session.rollback()

    assert record_count() == 0
    assert db.session.scalar(select(User).where(User.email == "gone@company.test")) is None
    # The chain carries on as if nothing happened.
    assert write_chain(1) == [1]
    assert audit.verify().ok


def test_records_written_after_a_rollback_still_verify(app):
    write_chain(2)
    audit.record(None, "test.abandoned", None)
    db.session.rollback()
    write_chain(2)

    result = audit.verify()
    assert result.ok
    assert result.checked == 4


# --- verifying an intact chain ---------------------------------------------------------------


def test_empty_trail_verifies(app):
    result = audit.verify()
    assert result.ok
    assert result.checked == 0
    assert result.broken_id is None


def test_intact_chain_verifies(app):
    write_chain(5, make_user(Role.ADMIN))

    result = audit.verify()
    assert result.ok
    assert result.checked == 5
    assert result.broken_id is None
    assert result.problem is None


def test_chain_longer_than_one_batch_verifies(app, monkeypatch):
    monkeypatch.setattr(audit, "VERIFY_BATCH", 3)
    write_chain(8)

    result = audit.verify()
    assert result.ok
    assert result.checked == 8


def test_verify_while_another_transaction_appends_reports_no_tampering(app):
    """A compliance officer runs verify on a live portal: a record committed meanwhile is not
    tampering. The concurrent write is slipped in just before verify reads the chain's head."""
    write_chain(3)
    armed = True

    def concurrent_write(conn, cursor, statement, parameters, context, executemany):
        nonlocal armed
        if not (armed and statement.lstrip().upper().startswith("SELECT")):
            return
        if "audit_head" not in statement:
            return
        armed = False
        with app.app_context():  # another session, on another connection
            try:
                if dialect() == "postgresql":
                    db.session.execute(text("SET LOCAL lock_timeout = '2s'"))
                audit.record(None, "test.concurrent", None)
                db.session.commit()
            except DBAPIError:
                db.session.rollback()  # verify holds writers back: fine too
            finally:
                db.session.remove()

    event.listen(db.engine, "before_cursor_execute", concurrent_write)
    try:
        result = audit.verify()
    finally:
        event.remove(db.engine, "before_cursor_execute", concurrent_write)

    assert result.ok, result
    assert audit.verify().ok


# --- the database refuses changes ------------------------------------------------------------


def test_database_refuses_to_update_an_audit_record(app):
    write_chain(2)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("UPDATE audit_records SET action = 'x' WHERE id = 1"))
    db.session.rollback()
    assert stored(1).action == "test.step"
    assert audit.verify().ok


def test_database_refuses_to_delete_an_audit_record(app):
    write_chain(2)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("DELETE FROM audit_records WHERE id = 2"))
    db.session.rollback()
    assert record_count() == 2
    assert audit.verify().ok


# --- tampering is detected -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "forged"),
    [
        ("details", {"step": 99}),
        ("actor_label", "someone.else@company.test"),
        ("action", "test.innocent"),
        ("target_type", "questions"),
        ("target_id", "999"),
        ("at", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
    ],
)
def test_edited_record_is_reported_as_the_first_broken_one(app, unprotected, column, forged):
    write_chain(5)
    raw_update(3, **{column: forged})

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 3
    assert result.checked == 2
    assert result.problem


def test_edited_record_with_its_hash_recomputed_breaks_the_link_to_the_next(app, unprotected):
    write_chain(5)
    entry = stored(3)
    entry.details = {"step": 99}
    new_hash = audit.compute_hash(entry, entry.prev_hash)
    db.session.rollback()
    raw_update(3, details={"step": 99}, hash=new_hash)

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 4


def test_deleted_record_is_reported_missing(app, unprotected):
    write_chain(5)
    raw_delete(3)

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 3
    assert "missing" in (result.problem or "")


def test_deleted_first_record_is_reported(app, unprotected):
    write_chain(3)
    raw_delete(1)

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 1


def test_reordered_records_are_reported(app, unprotected):
    write_chain(5)
    # Swap records 2 and 3 (through a free id: the primary key must stay unique).
    raw_update(2, id=1000)
    raw_update(3, id=2)
    raw_update(1000, id=3)

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 2


def test_record_inserted_in_the_middle_is_reported(app, unprotected):
    write_chain(5)
    # Make room at id 3 (highest first: the primary key must stay unique), then forge record 3.
    for record_id in (5, 4, 3):
        raw_update(record_id, id=record_id + 1)
    raw_insert(**forged_row(3, stored(2).hash, rehash=False))

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 3


def test_well_forged_record_inserted_in_the_middle_breaks_the_link_after_it(app, unprotected):
    write_chain(5)
    for record_id in (5, 4, 3):
        raw_update(record_id, id=record_id + 1)
    raw_insert(**forged_row(3, stored(2).hash))

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 4


def test_record_appended_with_a_wrong_hash_is_reported(app):
    # Inserting needs no dropped trigger: append-only tables accept appends.
    write_chain(3)
    raw_insert(**forged_row(4, stored(3).hash, rehash=False))

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 4


def test_well_forged_record_appended_behind_the_heads_back_is_reported_at_its_id(app):
    write_chain(3)
    raw_insert(**forged_row(4, stored(3).hash))

    result = audit.verify()
    assert not result.ok
    # Record 4 is the first one the chain's head does not vouch for.
    assert result.broken_id == 4


def test_truncated_tail_is_reported(app, unprotected):
    write_chain(5)
    raw_delete(5, 4)

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 4
    assert result.checked == 3


def test_every_record_deleted_is_reported(app, unprotected):
    write_chain(2)
    raw_delete(2, 1)

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == 1


# --- flask audit verify ----------------------------------------------------------------------


def test_cli_says_an_intact_chain_is_intact(app):
    write_chain(4)

    result = app.test_cli_runner().invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "intact" in result.stdout
    assert "4 records" in result.stdout


def test_cli_names_the_broken_record_and_exits_1(app, unprotected):
    write_chain(5)
    raw_update(3, details={"step": 99})

    result = app.test_cli_runner().invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "BROKEN" in result.stderr
    assert "record 3" in result.stderr
    assert "intact" not in result.output


def test_cli_json_output_for_an_intact_chain(app):
    write_chain(2)

    result = app.test_cli_runner().invoke(args=["audit", "verify", "--json"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "ok": True,
        "checked": 2,
        "broken_id": None,
        "problem": None,
    }


def test_cli_json_output_for_a_broken_chain(app, unprotected):
    write_chain(5)
    raw_delete(4)

    result = app.test_cli_runner().invoke(args=["audit", "verify", "--json"])

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["broken_id"] == 4
    assert report["checked"] == 3
    assert "missing" in report["problem"]


# --- several records in one go (a batch of chat messages) ----------------------------------------
def _entries(actor: User, count: int) -> list[audit.Entry]:
    return [
        audit.Entry(actor.id, actor.email, "test.batch", "thing", str(n), {"step": n})
        for n in range(count)
    ]


def test_records_appended_together_chain_like_records_appended_one_by_one(app):
    actor = make_user(Role.ADMIN)
    who = (actor.id, actor.email)
    write_chain(2)

    audit.record_many(_entries(actor, 3))
    audit.record(None, "test.after")
    db.session.commit()

    result = audit.verify()
    assert result.ok and result.checked == 6
    batch = [stored(n) for n in (3, 4, 5)]
    assert [(r.action, r.target_id, r.details) for r in batch] == [
        ("test.batch", str(n), {"step": n}) for n in range(3)
    ]
    assert {(r.actor_id, r.actor_label) for r in batch} == {who}
    assert [r.prev_hash for r in batch[1:]] == [r.hash for r in batch[:-1]]
    assert stored(6).prev_hash == batch[-1].hash


def test_nothing_to_append_writes_nothing(app):
    write_chain(1)
    audit.record_many([])
    db.session.commit()
    assert record_count() == 1


def test_a_batch_record_edited_afterwards_is_found(app, unprotected):
    write_chain(1)
    audit.record_many(_entries(make_user(Role.ADMIN), 3))
    db.session.commit()
    raw_update(3, details={"step": 99})

    result = audit.verify()
    assert not result.ok and result.broken_id == 3


# --- personal data and the chain (docs/records.md) -----------------------------------------------


def test_personal_details_are_kept_apart_from_the_hashed_details(app):
    admin = make_user(Role.ADMIN)
    entry = audit.record(admin, "user.created", ("users", 7), email="dr.x@clinic.test", role="hcp")
    db.session.commit()

    entry = stored(entry.id)
    assert entry.details == {"role": "hcp"}
    assert entry.personal == {"email": "dr.x@clinic.test"}
    assert entry.shown_details == {"role": "hcp", "email": "dr.x@clinic.test"}
    assert entry.salt and entry.personal_digest
    assert audit.personal_digest(entry.salt, admin.email, entry.personal) == entry.personal_digest
    assert audit.verify().ok


def test_a_batch_keeps_personal_details_apart_as_one_record_does(app):
    rep = make_user(Role.REP)
    audit.record_many(
        [
            audit.Entry(
                rep.id, rep.email, "test.batch", "thing", str(n), {"n": n, "ip": "10.0.0.1"}
            )
            for n in range(3)
        ]
    )
    db.session.commit()

    batch = db.session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
    assert [(r.details, r.personal) for r in batch] == [
        ({"n": n}, {"ip": "10.0.0.1"}) for n in range(3)
    ]
    assert audit.verify().ok


def erase_fixture() -> tuple[User, User, list[int]]:
    """An HCP who signed in twice, was created by an administrator, and a colleague's record."""
    admin, hcp, other = make_user(Role.ADMIN), make_user(Role.HCP), make_user(Role.HCP)
    ids = [
        audit.record(admin, "user.created", hcp, email=hcp.email, role="hcp").id,
        audit.record(hcp, "auth.login", hcp, ip="192.0.2.10").id,
        audit.record(other, "auth.login", other, ip="192.0.2.99").id,
        audit.record(hcp, "auth.login", hcp, ip="192.0.2.11").id,
    ]
    db.session.commit()
    return admin, hcp, ids


def test_erasing_a_person_removes_their_personal_data_and_the_chain_still_verifies(app):
    admin, hcp, (created, login1, colleague, login2) = erase_fixture()
    admin_email, hcp_email = admin.email, hcp.email

    changed = audit.erase_person(hcp.id, pseudonym="erased-7f3a")
    db.session.commit()
    db.session.expire_all()

    assert changed == 3
    for record_id in (login1, login2):
        entry = stored(record_id)
        assert (entry.actor_label, entry.personal, entry.salt) == ("erased-7f3a", None, None)
        assert entry.erased and entry.personal_digest
        assert entry.details == {}
    by_admin = stored(created)
    assert (by_admin.actor_label, by_admin.personal, by_admin.details) == (
        admin_email,
        None,
        {"role": "hcp"},
    )
    untouched = stored(colleague)
    assert untouched.personal == {"ip": "192.0.2.99"} and not untouched.erased
    result = audit.verify()
    assert result.ok and result.checked == 4
    # Nothing personal of the erased HCP is left anywhere in the trail.
    rows = db.session.execute(text("SELECT * FROM audit_records")).all()
    assert hcp_email not in repr(rows) and "192.0.2.1" not in repr(rows)


def test_the_database_lets_an_erasure_with_a_pseudonym_through(app):
    _, _, (_, login1, *_) = erase_fixture()

    raw_update(login1, salt=None, personal=None, actor_label="erased-0a1b2c@erased.invalid")

    assert stored(login1).erased
    assert audit.verify().ok


def test_a_pseudonym_must_look_like_one(app):
    with pytest.raises(ValueError, match="erased-"):
        audit.erase_person(1, pseudonym="someone@company.test")


def test_erasing_twice_changes_nothing_more(app):
    _, hcp, _ = erase_fixture()
    audit.erase_person(hcp.id, pseudonym="erased-1")
    db.session.commit()

    assert audit.erase_person(hcp.id, pseudonym="erased-2") == 0
    db.session.commit()
    assert audit.verify().ok


@pytest.mark.parametrize(
    "values",
    [
        {"details": {"role": "admin"}},  # the hashed content, in the guise of an erasure
        {"actor_label": "someone.else@company.test"},  # the label, keeping the salt
        {"personal": {"email": "other@clinic.test"}},
        {"salt": None},  # the salt alone, the values left behind
        {"salt": None, "personal": None, "actor_label": "someone.else@company.test"},
    ],
    ids=["details", "label", "personal", "salt-only", "erased-as-someone-else"],
)
def test_the_database_lets_only_an_erasure_through(app, values):
    _, hcp, (created, *_) = erase_fixture()
    erased = {"salt": None, "personal": None}
    changes = {**erased, **values} if "details" in values else values

    with pytest.raises(DBAPIError, match="append-only"):
        raw_update(created, **changes)
    db.session.rollback()
    assert stored(created).personal == {"email": hcp.email}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"personal": {"email": "forged@clinic.test"}}, "personal data does not match"),
        ({"actor_label": "someone.else@company.test"}, "personal data does not match"),
        ({"salt": None}, "kept personal data after its erasure"),
        ({"salt": None, "personal": None, "personal_digest": "0" * 64}, "content does not match"),
    ],
    ids=["personal", "label", "half-erased", "digest"],
)
def test_tampering_with_the_personal_part_is_detected(app, unprotected, values, problem):
    _, _, (created, *_) = erase_fixture()
    raw_update(created, **values)

    result = audit.verify()
    assert not result.ok
    assert result.broken_id == created
    assert problem in (result.problem or "")


def test_chain_head_names_the_last_record(app):
    ids = write_chain(3)
    assert audit.chain_head() == (ids[-1], stored(ids[-1]).hash)


def test_a_renames_names_are_personal_data(app):
    hcp = make_user(Role.HCP)
    entry = audit.record(hcp, "user.renamed", hcp, before="Dr. Old", after="Dr. New")
    db.session.commit()

    assert stored(entry.id).details == {}
    assert stored(entry.id).personal == {"before": "Dr. Old", "after": "Dr. New"}
