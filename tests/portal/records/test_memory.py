"""200,000 messages exported with bounded memory: rows are read in keyset batches and streamed
into the ZIP, never held all at once.

Two measures: the process's peak resident memory during the 200,000-message export (Linux's
high-water mark, reset just before; tracemalloc would make that export five times slower), and
tracemalloc's peak for two smaller exports, which must not grow with the number of messages."""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from flask import Flask

from chat.models import Conversation, ConversationState, Message, MessageKind, MessageRevision
from portal.extensions import db
from portal.models import Role, User, utcnow
from portal.records import export
from tests.factories import make_hcp, make_user

CONVERSATIONS = 20
MEMORY_LIMIT = 64 * 1024 * 1024
STATUS = Path("/proc/self/status")
BODY = "A message of ordinary length about the titration schedule and the renal dose. " * 2


def make_conversations(staff: User) -> list[tuple[int, int]]:
    pairs = []
    for _ in range(CONVERSATIONS):
        hcp = make_hcp()
        conversation = Conversation(hcp_id=hcp.id, staff_id=staff.id, state=ConversationState.ENDED)
        db.session.add(conversation)
        db.session.flush()
        pairs.append((conversation.id, hcp.id))
    db.session.commit()
    return pairs


def seed(count: int, now: dt.datetime, *, first_seq: int = 1) -> None:
    """``count`` messages over the conversations (bulk-inserted with Core in batches), every
    hundredth edited with its original kept."""
    staff = db.session.query(User).filter(User.role == Role.MSL).first() or make_user(Role.MSL)
    pairs = [
        (c.id, c.hcp_id) for c in db.session.query(Conversation).order_by(Conversation.id)
    ] or make_conversations(staff)
    per = count // len(pairs)
    rows = []
    for cid, hcp_id in pairs:
        for seq in range(first_seq, first_seq + per):
            rows.append(
                {
                    "conversation_id": cid,
                    "seq": seq,
                    "client_id": f"c{cid}-{seq}",
                    "sender_id": hcp_id if seq % 2 else staff.id,
                    "kind": MessageKind.TEXT,
                    "body": BODY,
                    "sent_at": now - dt.timedelta(seconds=per - seq + first_seq),
                    "edited_at": now if seq % 100 == 0 else None,
                    "flags": [],
                }
            )
            if len(rows) == 10_000:
                db.session.execute(Message.__table__.insert(), rows)
                rows = []
    if rows:
        db.session.execute(Message.__table__.insert(), rows)
    db.session.commit()
    edited = db.session.scalars(
        Message.__table__.select()
        .with_only_columns(Message.id)
        .where(Message.edited_at.is_not(None), Message.seq >= first_seq)
    ).all()
    if edited:
        db.session.execute(
            MessageRevision.__table__.insert(),
            [
                {"message_id": i, "kind": "edit", "previous_body": "before", "at": now}
                for i in edited
            ],
        )
    db.session.commit()


def filters(now: dt.datetime) -> export.ExportFilters:
    return export.ExportFilters(since=now.date() - dt.timedelta(days=2), until=now.date())


def status_kib(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    assert found is not None
    return int(found.group(1))


@pytest.mark.skipif(not STATUS.exists(), reason="reads Linux's /proc/self/status")
def test_200000_messages_export_under_the_memory_bound(app: Flask):
    now = utcnow()
    seed(200_000, now)
    db.session.expire_all()

    with tempfile.TemporaryFile() as out:
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
        before = status_kib("VmRSS")
        result = export.write_export(filters(now), out, generated_by={"via": "test"})
        peak = status_kib("VmHWM")
        out.seek(0)
        with zipfile.ZipFile(out) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            with archive.open("messages.jsonl") as stream:
                lines = sum(1 for _ in stream)

    assert result.rows["messages"] == 200_000
    assert lines == 200_000
    assert {f["name"]: f["rows"] for f in manifest["files"]}["messages.jsonl"] == 200_000
    grew = (peak - before) * 1024
    assert grew < MEMORY_LIMIT, f"the export took {grew / 2**20:.1f} MiB more"


def traced_peak(now: dt.datetime) -> int:
    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        try:
            export.write_export(filters(now), out, generated_by={"via": "test"})
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_the_exports_memory_does_not_grow_with_the_number_of_messages(app: Flask):
    now = utcnow()
    seed(2_000, now)
    db.session.expire_all()
    small = traced_peak(now)

    seed(6_000, now, first_seq=5_000)  # four times as many in all
    db.session.expire_all()
    large = traced_peak(now)

    assert large < MEMORY_LIMIT / 4
    assert large < small * 1.5 + 1024 * 1024, (small, large)
