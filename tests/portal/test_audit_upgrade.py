"""Migration 0021 re-chains an existing trail in the form that lets personal data be erased, and
refuses to launder a broken one."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from portal import audit
from portal.extensions import db
from portal.models import AuditRecord

BEFORE = "0020_insight_results"


def old_hash(row: dict, prev: str) -> str:
    """The first form: every value hashed, the actor's e-mail included."""
    content = {
        "id": row["id"], "at": row["at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": None, "actor_label": row["actor_label"], "action": row["action"],
        "target_type": row["target_type"], "target_id": row["target_id"],
        "details": row["details"], "prev": prev,
    }  # fmt: skip
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def write_old_chain(*, break_at: int | None = None) -> str:
    """Three records in the first form, as a portal before 0021 wrote them; returns the tip."""
    prev = "0" * 64
    for n in (1, 2, 3):
        row = {
            "id": n,
            "at": dt.datetime(2026, 5, n, 9, 30, tzinfo=dt.UTC),
            "actor_label": f"dr.{n}@clinic.test",
            "action": "auth.login",
            "target_type": "users",
            "target_id": str(n),
            "details": {"ip": f"192.0.2.{n}", "method": "password"},
        }
        digest = old_hash(row, prev)
        if n == break_at:
            row["details"] = {"ip": "198.51.100.1", "method": "password"}  # edited afterwards
        at = row["at"] if db.engine.dialect.name == "postgresql" else row["at"].replace(tzinfo=None)
        db.session.execute(
            text(
                "INSERT INTO audit_records (id, at, actor_id, actor_label, action, target_type,"
                " target_id, details, prev_hash, hash) VALUES (:id, :at, NULL, :label, :action,"
                " :tt, :tid, :details, :prev, :hash)"
            ),
            {
                "id": n, "at": at, "label": row["actor_label"], "action": row["action"],
                "tt": row["target_type"], "tid": row["target_id"],
                "details": json.dumps(row["details"]), "prev": prev, "hash": digest,
            },
        )  # fmt: skip
        prev = digest
    db.session.execute(text("UPDATE audit_head SET seq = 3, last_hash = :tip"), {"tip": prev})
    db.session.commit()
    return prev


def test_upgrade_rechains_the_trail_and_records_the_old_head(app):
    db.session.remove()
    downgrade(revision=BEFORE)
    old_tip = write_old_chain()

    upgrade()

    result = audit.verify()
    assert result.ok and result.checked == 4
    first = db.session.get(AuditRecord, 1)
    assert first is not None
    assert first.details == {"method": "password"}
    assert first.personal == {"ip": "192.0.2.1"}
    assert first.actor_label == "dr.1@clinic.test"
    upgraded = db.session.get(AuditRecord, 4)
    assert upgraded is not None and upgraded.action == "audit.chain_upgraded"
    assert upgraded.details == {"records": 3, "previous_head": old_tip, "format": 2}
    # The upgraded trail can be erased from and still verifies.
    assert audit.erase_person(0, pseudonym="erased-x") == 0
    db.session.execute(text("UPDATE audit_records SET salt = NULL, personal = NULL WHERE id = 2"))
    db.session.commit()
    assert audit.verify().ok


def test_upgrade_refuses_a_broken_trail(app, capsys):
    db.session.remove()
    downgrade(revision=BEFORE)
    write_old_chain(break_at=2)

    with pytest.raises(SystemExit):
        upgrade()
    assert "the audit chain is broken at record 2" in capsys.readouterr().err
    db.session.remove()
    assert db.session.scalar(text("SELECT version_num FROM alembic_version")) == BEFORE

    # Put the schema back for the tests after this one (a PostgreSQL schema outlives the test).
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE audit_records"))
    else:
        db.session.execute(text("DROP TRIGGER audit_records_no_delete"))
        db.session.execute(text("DELETE FROM audit_records"))
    db.session.execute(text("UPDATE audit_head SET seq = 0, last_hash = :g"), {"g": "0" * 64})
    db.session.commit()
    upgrade()
