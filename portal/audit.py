"""The append-only, hash-chained audit trail.

Every record carries the hash of the record before it, so changing, inserting or deleting a record
anywhere breaks the chain from that point on; :func:`verify` finds the first broken link. Writers
take turns by updating the single ``audit_head`` row first (a row lock on PostgreSQL, the write lock
on SQLite), so the chain never forks under concurrent transactions.

Personal data and the chain coexist through salted commitments (docs/records.md): a record's
personal part (who acted, as their e-mail, and the details named in :data:`PERSONAL_KEYS`) is kept
beside the hashed content, and the hash covers ``personal_digest`` = sha256(salt, label, personal
part) instead of the values. While the salt is there, :func:`verify` checks the values against the
digest; :func:`erase_person` deletes the values and the salt and keeps the digest, so the chain
still verifies and the digest, salted with a value nobody has any more, reveals nothing. The
database refuses every other change to a record (triggers of migration 0021).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import secrets
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, TextClause, and_, bindparam, insert, null, or_, select, text, update

from portal.extensions import db
from portal.models import AuditHead, AuditRecord, User, utcnow

GENESIS_HASH = "0" * 64
HEAD_ID = 1
VERIFY_BATCH = 1000

# Details under these names are personal data: kept in the record's erasable ``personal`` part.
# Changing this set changes how new records are split, never how a stored record verifies (each
# record keeps its own split).
PERSONAL_KEYS = frozenset(
    {
        "email", "ip", "device", "npi", "licence", "phone", "institution", "specialty",
        "profession", "country", "timezone", "locale", "matched", "actor_search",
    }
)  # fmt: skip


# And these, for the actions named: a rename's before and after are a person's names.
PERSONAL_KEYS_OF_ACTION = {"user.renamed": frozenset({"before", "after"})}


def split_details(
    details: dict[str, Any], action: str = ""
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The details without their personal part, and that part (``None`` when there is none)."""
    keys = PERSONAL_KEYS | PERSONAL_KEYS_OF_ACTION.get(action, frozenset())
    personal = {key: value for key, value in details.items() if key in keys}
    plain = {key: value for key, value in details.items() if key not in keys}
    return plain, (personal or None)


def new_salt() -> str:
    return secrets.token_hex(16)


def personal_digest(salt: str, actor_label: str, personal: dict[str, Any] | None) -> str:
    """The commitment the chain covers instead of a record's personal data."""
    canonical = json.dumps(
        {"salt": salt, "actor": actor_label, "personal": personal or {}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _json_safe(details: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(details, default=str, sort_keys=True))
    return result


def compute_hash(record: AuditRecord, prev_hash: str) -> str:
    """The record's hash over its content, its personal part's digest (recomputed from the values
    while the salt is there, the stored one once erased) and its predecessor's hash."""
    digest = (
        record.personal_digest
        if record.salt is None
        else personal_digest(record.salt, record.actor_label, record.personal)
    )
    return _content_hash(
        id=record.id,
        at=record.at,
        actor_id=record.actor_id,
        action=record.action,
        target_type=record.target_type,
        target_id=record.target_id,
        details=record.details,
        personal_digest=digest,
        prev_hash=prev_hash,
    )


def _content_hash(
    *,
    id: int,
    at: dt.datetime,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: str | None,
    details: dict[str, Any],
    personal_digest: str | None,
    prev_hash: str,
) -> str:
    content = {
        "id": id,
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "details": details,
        "personal": personal_digest,
        "prev": prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _target_of(target: Any) -> tuple[str, str | None]:
    if target is None:
        return ("system", None)
    if isinstance(target, tuple):
        kind, ident = target
        return (str(kind), None if ident is None else str(ident))
    if getattr(target, "id", None) is None:
        db.session.flush()  # the target's id is part of the record
    return (getattr(target, "__tablename__", type(target).__name__.lower()), str(target.id))


def ensure_head() -> None:
    """Create the chain's head row if it is missing (a fresh or emptied database)."""
    if db.session.get(AuditHead, HEAD_ID) is None:
        db.session.add(AuditHead(id=HEAD_ID, seq=0, last_hash=GENESIS_HASH))
        db.session.flush()


def record(actor: User | None, action: str, target: Any = None, **details: Any) -> AuditRecord:
    """Append an audit record in the caller's transaction (never commits).

    ``actor`` is the user who acted, or ``None`` for the system (CLI, scheduled work). ``target``
    is a model instance, a ``(type, id)`` pair, or ``None``. ``details`` must be JSON-serialisable
    and carries what changed; it never carries passwords or tokens.
    """
    target_type, target_id = _target_of(target)
    # Lock the head first: whoever holds it is the only one extending the chain. One statement
    # bumps the sequence and reads the chain's tip under that lock.
    bump = (
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.last_hash)
    )
    head = db.session.execute(bump).one_or_none()
    if head is None:
        ensure_head()
        head = db.session.execute(bump).one()
    plain, personal = split_details(_json_safe(details), action)
    label = actor.email if actor is not None else "system"
    salt = new_salt()
    entry = AuditRecord(
        id=head.seq,
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_label=label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=plain,
        personal=personal,
        salt=salt,
        personal_digest=personal_digest(salt, label, personal),
        prev_hash=head.last_hash,
    )
    entry.hash = compute_hash(entry, head.last_hash)
    db.session.add(entry)
    db.session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_hash=entry.hash)
    )
    return entry


@dataclasses.dataclass(frozen=True)
class Entry:
    """One record for :func:`record_many`: the actor as id and label (their e-mail), the target
    as type and id, and the JSON-serialisable details."""

    actor_id: int | None
    actor_label: str
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]
    # When it happened; None: now. Only a bulk load of past activity (``flask seed-scale``)
    # passes its own time: the chain's order, not the times, is what verify checks.
    at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Reserved:
    """Record numbers taken by the caller's own statement (:func:`reserve_sql`): the head's
    ``seq`` after the numbers were taken and the chain's tip before them."""

    seq: int
    last_hash: str


def reserve_sql(count_sql: str) -> str:
    """A data-modifying part of a caller's ``WITH`` (PostgreSQL) that takes ``count_sql`` record
    numbers (an SQL expression, such as how many rows another part inserted) and returns the
    head's ``seq`` and ``last_hash`` for :class:`Reserved`: a batch that must write its rows
    before it knows how many records it owes saves the round trip of its own turn on the head.
    No row comes back when the head is missing (a fresh database)."""
    head = cast(Table, AuditHead.__table__)
    return (
        f"UPDATE {head.name} SET seq = {head.name}.seq + ({count_sql})"  # noqa: S608 - names only
        f" WHERE {head.name}.id = {HEAD_ID} RETURNING {head.name}.seq, {head.name}.last_hash"
    )


def record_many(entries: Sequence[Entry], *, reserved: Reserved | None = None) -> None:
    """Append several records in the caller's transaction (never commits), in one turn on the
    chain's head however many there are: one statement takes the numbers and reads the tip,
    one inserts the records and moves the tip (on PostgreSQL; two statements elsewhere). What a
    batch of chat messages writes. With ``reserved`` the caller's statement took exactly
    ``len(entries)`` numbers already (:func:`reserve_sql`), and only the insert is left.

    The chain is the same as :func:`record` builds, one record after the other, so
    :func:`verify` cannot tell the two apart. The head row is created if missing (a fresh
    database), as :func:`record` does.
    """
    if not entries:
        return
    sql = _append_statements()
    connection = db.session.connection()
    head: Any = reserved
    if head is None:
        head = connection.execute(sql.bump, {"count": len(entries)}).one_or_none()
    if head is None:
        ensure_head()
        head = connection.execute(sql.bump, {"count": len(entries)}).one()
    at, prev_hash = utcnow(), head.last_hash
    rows = []
    for number, entry in enumerate(entries, start=head.seq - len(entries) + 1):
        plain, personal = split_details(_plain_or_safe(entry.details), entry.action)
        salt = new_salt()
        row: dict[str, Any] = {
            "id": number, "at": entry.at or at, "actor_id": entry.actor_id,
            "action": entry.action, "target_type": entry.target_type,
            "target_id": entry.target_id, "details": plain,
            "personal_digest": personal_digest(salt, entry.actor_label, personal),
        }  # fmt: skip
        row["hash"] = _content_hash(**row, prev_hash=prev_hash)
        row["prev_hash"], prev_hash = prev_hash, row["hash"]
        row.update(actor_label=entry.actor_label, personal=personal, salt=salt)
        rows.append(row)
    if connection.dialect.name == "postgresql":
        # The records and the new tip in one round trip (a data-modifying WITH).
        columns: dict[str, Any] = {name: [row[name] for row in rows] for name in rows[0]}
        columns["details"] = [json.dumps(details) for details in columns["details"]]
        columns["personal"] = [
            None if personal is None else json.dumps(personal) for personal in columns["personal"]
        ]
        connection.execute(_append_and_move_tip(), {**columns, "tip": prev_hash})
        return
    connection.execute(sql.insert, rows)
    connection.execute(sql.set_tip, {"tip": prev_hash})


def _plain_or_safe(details: dict[str, Any]) -> dict[str, Any]:
    # A batch's details are usually plain already (numbers, text, lists of text): those need no
    # round trip through JSON to be stored and hashed as they are.
    if all(
        value is None
        or type(value) in (int, str, bool)
        or (type(value) is list and all(type(item) is str for item in value))
        for value in details.values()
    ) and all(type(key) is str for key in details):
        return dict(sorted(details.items()))
    return _json_safe(details)


# PostgreSQL array types of the records' columns, for :func:`_append_and_move_tip`.
_ARRAY_TYPES = {
    "id": "INTEGER[]", "at": "TIMESTAMP WITH TIME ZONE[]", "actor_id": "INTEGER[]",
    "actor_label": "VARCHAR[]", "action": "VARCHAR[]", "target_type": "VARCHAR[]",
    "target_id": "VARCHAR[]", "details": "JSON[]", "prev_hash": "VARCHAR[]", "hash": "VARCHAR[]",
    "personal": "JSON[]", "salt": "VARCHAR[]", "personal_digest": "VARCHAR[]",
}  # fmt: skip


@functools.cache
def _append_and_move_tip() -> TextClause:
    """The records and the new tip in one statement (PostgreSQL), whatever their number: each
    column's values travel as one array (``unnest``), so the text never changes, the server
    keeps it prepared, and nothing is parsed per record. Parameters: one list per column of
    ``audit_records`` (``details`` as JSON text), and ``tip``."""
    records, head = cast(Table, AuditRecord.__table__), cast(Table, AuditHead.__table__)
    names = [c.name for c in records.c]
    assert set(names) == set(_ARRAY_TYPES), "a column of audit_records has no array type here"
    arrays = ", ".join(f"CAST(:{name} AS {_ARRAY_TYPES[name]})" for name in names)
    # Names from the models, every value bound: nothing of a record is spliced into the SQL.
    sql = (
        f"WITH appended AS (INSERT INTO {records.name} ({', '.join(names)})"  # noqa: S608
        f" SELECT * FROM unnest({arrays})) "
        f"UPDATE {head.name} SET last_hash = :tip WHERE id = {HEAD_ID}"
    )
    return text(sql).bindparams(bindparam("tip", type_=head.c.last_hash.type))


@functools.cache
def _append_statements() -> SimpleNamespace:
    head = cast(Table, AuditHead.__table__)
    return SimpleNamespace(
        bump=update(head)
        .where(head.c.id == HEAD_ID)
        .values(seq=head.c.seq + bindparam("count"))
        .returning(head.c.seq, head.c.last_hash),
        insert=insert(cast(Table, AuditRecord.__table__)),
        set_tip=update(head).where(head.c.id == HEAD_ID).values(last_hash=bindparam("tip")),
    )


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_id: int | None = None
    problem: str | None = None


def _records_after(last_id: int) -> Iterator[AuditRecord]:
    while True:
        batch = db.session.scalars(
            select(AuditRecord)
            .where(AuditRecord.id > last_id)
            .order_by(AuditRecord.id)
            .limit(VERIFY_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        db.session.expunge_all()


def _personal_problem(entry: AuditRecord) -> str | None:
    # While the salt is there the values must match the digest the chain covers; once erased
    # (salt gone) no personal value may be left behind.
    if entry.personal_digest is None:
        return "has no digest of its personal data"
    if entry.salt is None:
        return "kept personal data after its erasure" if entry.personal is not None else None
    if personal_digest(entry.salt, entry.actor_label, entry.personal) != entry.personal_digest:
        return "personal data does not match its digest"
    return None


def chain_head() -> tuple[int, str]:
    """The chain's head now: how many records it holds and the last record's hash (what an
    export's manifest quotes, so the export can later be placed in the chain)."""
    return _read_head()


ERASED_PREFIX = "erased-"  # a pseudonym's start: the only new label the database lets in


def erase_person(user_id: int, *, pseudonym: str) -> int:
    """Erase a person's personal data from the trail, in the caller's transaction (never
    commits): every record they acted in, or that targets them (``("users", user_id)``), loses
    its personal part and its salt; where they acted, the actor's label becomes ``pseudonym``.
    The digests stay, so :func:`verify` still holds. Returns how many records changed. The
    caller (``portal.privacy``) writes the ``privacy.erased`` record. ``pseudonym`` starts with
    :data:`ERASED_PREFIX` (the database refuses any other new label)."""
    if not pseudonym.startswith(ERASED_PREFIX):
        raise ValueError(f"a pseudonym starts with {ERASED_PREFIX!r}")
    records = cast(Table, AuditRecord.__table__)
    still_held = records.c.salt.is_not(None)
    acted = records.c.actor_id == user_id
    targeted = and_(records.c.target_type == "users", records.c.target_id == str(user_id))
    acted_rows = db.session.execute(
        update(records)
        .where(acted, still_held)
        .values(actor_label=pseudonym, personal=null(), salt=null())
    )
    targeted_rows = db.session.execute(
        update(records)
        .where(targeted, or_(records.c.actor_id.is_(None), records.c.actor_id != user_id))
        .where(still_held)
        .values(personal=null(), salt=null())
    )
    return int(cast(Any, acted_rows).rowcount) + int(cast(Any, targeted_rows).rowcount)


def _read_head() -> tuple[int, str]:
    row = db.session.execute(
        select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
    ).one_or_none()
    return (row.seq, row.last_hash) if row is not None else (0, GENESIS_HASH)


def verify(*, settle_rounds: int = 5) -> VerifyResult:
    """Walk the chain from the start and report the first broken link, if any.

    Detects edited records (hash mismatch), deleted or reordered records (sequence gap or wrong
    predecessor), records added behind the portal's back (beyond the chain's head) and a removed
    tail (the head points past the last record). Safe on a live portal: records appended while it
    runs are verified too, never mistaken for tampering.
    """
    expected_prev = GENESIS_HASH
    expected_id = 1
    checked = 0
    for _ in range(settle_rounds):
        for entry in _records_after(checked):
            if entry.id != expected_id:
                return VerifyResult(False, checked, expected_id, f"record {expected_id} is missing")
            if entry.prev_hash != expected_prev:
                return VerifyResult(
                    False, checked, entry.id, "does not follow the record before it"
                )
            if problem := _personal_problem(entry):
                return VerifyResult(False, checked, entry.id, problem)
            if compute_hash(entry, entry.prev_hash) != entry.hash:
                return VerifyResult(False, checked, entry.id, "content does not match its hash")
            expected_prev = entry.hash
            expected_id += 1
            checked += 1
        # The head is committed with each record, so read after the records it covers them all.
        head_seq, head_hash = _read_head()
        if head_seq < checked:
            return VerifyResult(
                False,
                head_seq,
                head_seq + 1,
                "was added outside the portal (beyond the chain's head)",
            )
        if head_seq == checked:
            if head_hash != expected_prev:
                return VerifyResult(False, checked, checked, "does not match the chain's head")
            return VerifyResult(True, checked)
        # head_seq > checked: records were appended while we walked, or the tail was removed.
    return VerifyResult(False, checked, checked + 1, "records after this point were removed")
