"""audit records keep personal data apart from the hashed content

The chain's records until now hashed the actor's e-mail and every detail, so no personal data
could ever be erased from them without breaking the chain. From here each record's personal part
(its actor label and the details named below) is covered by a salted digest instead, and erasing a
person removes the values and the salt but keeps the digest (docs/records.md).

The upgrade re-chains the existing records in the new form, once: it first checks every record
against the old form and refuses to go on if the chain is broken (a broken chain is never
laundered into a valid one), then re-hashes in order and appends an ``audit.chain_upgraded``
record naming the old head, so an earlier proof of the old chain can still be placed. The
append-only triggers are replaced by ones that let exactly one change through: the erasure of a
record's personal part (the salt and the values gone, the hashed content and the digest unchanged,
the actor's label kept or replaced by an ``erased-`` pseudonym).

Revision ID: 0021_audit_personal
Revises: 0020_insight_results
Create Date: 2026-11-27 03:00:00

"""

import datetime as dt
import hashlib
import json
import secrets

from alembic import op
import sqlalchemy as sa

from portal.models.base import UTCDateTime


revision = "0021_audit_personal"
down_revision = "0020_insight_results"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BATCH = 5000
# Frozen here: what this upgrade moved into the personal part (portal.audit.PERSONAL_KEYS may grow).
PERSONAL_KEYS = frozenset(
    {
        "email", "ip", "device", "npi", "licence", "phone", "institution", "specialty",
        "profession", "country", "timezone", "locale", "matched",
    }
)  # fmt: skip

records = sa.table(
    "audit_records",
    sa.column("id", sa.Integer),
    sa.column("at", UTCDateTime()),
    sa.column("actor_id", sa.Integer),
    sa.column("actor_label", sa.String),
    sa.column("action", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.String),
    sa.column("details", sa.JSON),
    sa.column("personal", sa.JSON(none_as_null=True)),
    sa.column("salt", sa.String),
    sa.column("personal_digest", sa.String),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
head = sa.table(
    "audit_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer),
    sa.column("last_hash", sa.String),
)  # fmt: skip


def _sha(content: dict) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _stamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _old_hash(row, prev: str) -> str:
    return _sha(
        {
            "id": row.id, "at": _stamp(row.at), "actor_id": row.actor_id,
            "actor_label": row.actor_label, "action": row.action,
            "target_type": row.target_type, "target_id": row.target_id,
            "details": row.details, "prev": prev,
        }
    )  # fmt: skip


def _new_values(record_id, at, actor_id, label, action, target_type, target_id, details, prev):
    keys = PERSONAL_KEYS | ({"before", "after"} if action == "user.renamed" else set())
    personal = {k: v for k, v in details.items() if k in keys} or None
    plain = {k: v for k, v in details.items() if k not in keys}
    salt = secrets.token_hex(16)
    digest = _sha({"salt": salt, "actor": label, "personal": personal or {}})
    new_hash = _sha(
        {
            "id": record_id, "at": _stamp(at), "actor_id": actor_id, "action": action,
            "target_type": target_type, "target_id": target_id, "details": plain,
            "personal": digest, "prev": prev,
        }
    )  # fmt: skip
    return {
        "details": plain, "personal": personal, "salt": salt, "personal_digest": digest,
        "prev_hash": prev, "hash": new_hash,
    }  # fmt: skip


PG_GUARD = """
CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger AS $$
BEGIN
    -- One change is allowed: erasing a record's personal part (docs/records.md).
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id AND NEW.at = OLD.at
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.action = OLD.action AND NEW.target_type = OLD.target_type
       AND NEW.target_id IS NOT DISTINCT FROM OLD.target_id
       AND NEW.details::text = OLD.details::text
       AND NEW.personal_digest = OLD.personal_digest
       AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash
       AND (NEW.actor_label = OLD.actor_label OR NEW.actor_label LIKE 'erased-%')
       AND OLD.salt IS NOT NULL AND NEW.salt IS NULL AND NEW.personal IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_records is append-only';
END;
$$ LANGUAGE plpgsql
"""
PG_OLD = """
CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_records is append-only';
END;
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = (
    "CREATE TRIGGER audit_records_no_update BEFORE UPDATE OR DELETE ON audit_records "
    "FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()"
)
SQLITE_ERASURE = (
    "NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor_id IS OLD.actor_id"
    " AND NEW.action = OLD.action AND NEW.target_type = OLD.target_type"
    " AND NEW.target_id IS OLD.target_id AND NEW.details = OLD.details"
    " AND NEW.personal_digest = OLD.personal_digest"
    " AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash"
    " AND (NEW.actor_label = OLD.actor_label OR NEW.actor_label LIKE 'erased-%')"
    " AND OLD.salt IS NOT NULL AND NEW.salt IS NULL AND NEW.personal IS NULL"
)


def _drop_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_records_no_update ON audit_records")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_records_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_records_no_delete")


def _check_old_chain(connection) -> None:
    # Before any change (SQLite does not roll DDL back): the old form must verify throughout.
    prev, last_id, count = GENESIS, 0, 0
    columns = [c for c in records.c if c.name not in ("personal", "salt", "personal_digest")]
    while True:
        rows = connection.execute(
            sa.select(*columns).where(records.c.id > last_id).order_by(records.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.id != count + 1 or row.prev_hash != prev or _old_hash(row, prev) != row.hash:
                raise RuntimeError(
                    f"the audit chain is broken at record {count + 1}: it is not re-chained."
                    " Run `flask audit verify` and investigate before upgrading."
                )
            prev = row.hash
            count += 1
        last_id = rows[-1].id
    seq, tip = connection.execute(
        sa.select(head.c.seq, head.c.last_hash).where(head.c.id == 1)
    ).one()
    if seq != count or tip != prev:
        raise RuntimeError(
            "the audit chain's head does not match its records: it is not re-chained"
        )


def _rechain(connection) -> None:
    old_prev = new_prev = GENESIS
    last_id = count = 0
    update = (
        records.update()
        .where(records.c.id == sa.bindparam("record_id"))
        .values(
            details=sa.bindparam("details"), personal=sa.bindparam("personal"),
            salt=sa.bindparam("salt"), personal_digest=sa.bindparam("personal_digest"),
            prev_hash=sa.bindparam("prev_hash"), hash=sa.bindparam("hash"),
        )
    )  # fmt: skip
    while True:
        rows = connection.execute(
            sa.select(records).where(records.c.id > last_id).order_by(records.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        changes = []
        for row in rows:
            if (
                row.id != count + 1
                or row.prev_hash != old_prev
                or _old_hash(row, old_prev) != row.hash
            ):
                raise RuntimeError(
                    f"the audit chain is broken at record {count + 1}: it is not re-chained."
                    " Run `flask audit verify` and investigate before upgrading."
                )
            old_prev = row.hash
            values = _new_values(
                row.id, row.at, row.actor_id, row.actor_label, row.action, row.target_type,
                row.target_id, dict(row.details or {}), new_prev,
            )  # fmt: skip
            new_prev = values["hash"]
            changes.append({"record_id": row.id, **values})
            count += 1
        connection.execute(update, changes)
        last_id = rows[-1].id
    seq, tip = connection.execute(
        sa.select(head.c.seq, head.c.last_hash).where(head.c.id == 1)
    ).one()
    if seq != count or tip != old_prev:
        raise RuntimeError(
            "the audit chain's head does not match its records: it is not re-chained"
        )
    if count == 0:
        return
    # The upgrade itself, on the record: the old head lets an earlier proof be placed.
    at = dt.datetime.now(dt.UTC)
    values = _new_values(
        count + 1, at, None, "system", "audit.chain_upgraded", "system", None,
        {"records": count, "previous_head": old_prev, "format": 2}, new_prev,
    )  # fmt: skip
    connection.execute(
        records.insert().values(
            id=count + 1, at=at, actor_id=None, actor_label="system",
            action="audit.chain_upgraded", target_type="system", target_id=None, **values,
        )
    )  # fmt: skip
    connection.execute(
        head.update().where(head.c.id == 1).values(seq=count + 1, last_hash=values["hash"])
    )


def upgrade():
    _check_old_chain(op.get_bind())
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("personal", sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column("salt", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("personal_digest", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    dialect = connection.dialect.name
    _drop_triggers(dialect)
    _rechain(connection)
    if dialect == "postgresql":
        op.execute(PG_GUARD)
        op.execute(PG_TRIGGER)
    else:
        op.execute(
            "CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records"
            f" WHEN NOT ({SQLITE_ERASURE})"
            " BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records"
            " BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END"
        )


def downgrade():
    # The old form cannot be restored (its hashes covered values that may since be erased): the
    # personal parts still held go back into the details, the records keep their new hashes,
    # which the old code cannot verify.
    connection = op.get_bind()
    dialect = connection.dialect.name
    _drop_triggers(dialect)
    held = connection.execute(
        sa.select(records.c.id, records.c.details, records.c.personal).where(
            records.c.personal.is_not(None)
        )
    ).all()
    for row in held:
        connection.execute(
            records.update()
            .where(records.c.id == row.id)
            .values(details={**(row.details or {}), **(row.personal or {})})
        )
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_column("personal_digest")
        batch_op.drop_column("salt")
        batch_op.drop_column("personal")
    if dialect == "postgresql":
        op.execute(PG_OLD)
        op.execute(PG_TRIGGER)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_records_no_{verb.lower()} BEFORE {verb} ON audit_records "
                "BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END"
            )
