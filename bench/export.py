"""Supervisory export benchmark: the export engine beside a bare read of the same rows, in one run.

Creates a fresh database (SQLite in a temporary folder, or with ``--backend postgresql`` a
database ``bench_export`` of its own on the local server, dropped first), migrates it, and
bulk-inserts ``--messages`` chat messages (default 200,000) over ``--conversations`` ended
conversations, every hundredth one edited with its original kept. Then it measures, in the same
process and on the same rows:

- ``baseline``: every message of the range read with one plain ``SELECT`` in batches, each row
  dumped as JSON into a deflated ZIP member: the floor any export of those rows pays;
- ``export``: :func:`portal.records.export.write_export` for the same range (the ZIP with the
  messages and their revisions, consents, questions, PV cases, summary and manifest, hashed).

It prints a table (seconds, rows per second, the peak resident memory the run added, the ZIP's
size) and ``ratio`` = export seconds / baseline seconds. Targets: ratio <= 4, and the export's
peak memory growth <= 64 MiB whatever the row count (the engine streams in keyset batches).

    .venv/bin/python bench/export.py                         # SQLite, 200,000 messages
    .venv/bin/python bench/export.py --messages 1000000
    .venv/bin/python bench/export.py --backend postgresql
    .venv/bin/python bench/export.py --json                  # one JSON object on stdout

``--json`` prints ``{"backend", "messages", "baseline_seconds", "export_seconds", "ratio",
"export_rows_per_second", "baseline_peak_mib", "export_peak_mib", "zip_bytes",
"ratio_target", "memory_target_mib"}``. ``--enforce-target`` exits 2 when a target is missed.
Everything runs locally, bounded by the row count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RATIO_TARGET = 4.0
MEMORY_TARGET_MIB = 64.0
BATCH = 10_000
BODY = "A message of ordinary length about the titration schedule and the renal dose. " * 2
STATUS = Path("/proc/self/status")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _status_kib(field: str) -> int:
    if not STATUS.exists():
        return 0
    found = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


class Peak:
    """The resident memory a block added at its highest (Linux's high-water mark, reset)."""

    def __enter__(self) -> Peak:
        clear = Path("/proc/self/clear_refs")
        if clear.exists():
            clear.write_text("5")
        self.before = _status_kib("VmRSS")
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.mib = max(0, _status_kib("VmHWM") - self.before) / 1024


def _database(backend: str, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'export.db'}"
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS bench_export")
        connection.execute("CREATE DATABASE bench_export")
    return "postgresql+psycopg://postgres@127.0.0.1:5432/bench_export"


def _seed(messages: int, conversations: int, now: dt.datetime) -> None:
    from chat.models import Conversation, ConversationState, Message, MessageKind, MessageRevision
    from portal.extensions import db
    from portal.models import Role, User

    unusable = "!"  # no password hash matches: nobody signs in to this database
    staff = User(email="msl@bench.test", name="Sam Lee", role=Role.MSL, password_hash=unusable)
    db.session.add(staff)
    pairs = []
    for n in range(conversations):
        hcp = User(
            email=f"hcp{n}@bench.test", name=f"Dr. Bench {n}", role=Role.HCP,
            password_hash=unusable,
        )  # fmt: skip
        db.session.add(hcp)
        db.session.flush()
        conversation = Conversation(hcp_id=hcp.id, staff_id=staff.id, state=ConversationState.ENDED)
        db.session.add(conversation)
        db.session.flush()
        pairs.append((conversation.id, hcp.id))
    db.session.commit()
    per = messages // len(pairs)
    rows: list[dict[str, Any]] = []
    for cid, hcp_id in pairs:
        for seq in range(1, per + 1):
            rows.append(
                {
                    "conversation_id": cid, "seq": seq, "client_id": f"c{cid}-{seq}",
                    "sender_id": hcp_id if seq % 2 else staff.id, "kind": MessageKind.TEXT,
                    "body": BODY, "sent_at": now - dt.timedelta(seconds=per - seq + 1),
                    "edited_at": now if seq % 100 == 0 else None, "flags": [],
                }
            )  # fmt: skip
            if len(rows) == BATCH:
                db.session.execute(Message.__table__.insert(), rows)
                rows = []
    if rows:
        db.session.execute(Message.__table__.insert(), rows)
    db.session.commit()
    edited = db.session.scalars(
        Message.__table__.select()
        .with_only_columns(Message.id)
        .where(Message.edited_at.is_not(None))
    ).all()
    for start in range(0, len(edited), BATCH):
        db.session.execute(
            MessageRevision.__table__.insert(),
            [
                {"message_id": i, "kind": "edit", "previous_body": "before", "at": now}
                for i in edited[start : start + BATCH]
            ],
        )
    db.session.commit()


def _baseline(since: dt.datetime, until: dt.datetime, out: Any) -> int:
    """The same messages, read plainly in keyset batches and dumped as JSON into a ZIP."""
    from sqlalchemy import select

    from chat.models import Message
    from portal.extensions import db

    table = Message.__table__
    last, count = 0, 0
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
        archive.open("messages.jsonl", "w", force_zip64=True) as member,
    ):
        while True:
            rows = db.session.execute(
                select(table)
                .where(table.c.sent_at >= since, table.c.sent_at < until, table.c.id > last)
                .order_by(table.c.id)
                .limit(1000)
            ).all()
            if not rows:
                break
            for row in rows:
                member.write(json.dumps(dict(row._mapping), default=str).encode() + b"\n")
            count += len(rows)
            last = rows[-1].id
    return count


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        url = _database(args.backend, Path(folder))
        os.environ.setdefault("SECRET_KEY", "bench-export-" + "x" * 40)
        from flask_migrate import upgrade

        from portal import create_app
        from portal.extensions import db
        from portal.models import utcnow
        from portal.records import export

        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": url, "PUBLIC_URL": "http://127.0.0.1", "TESTING": False}
        )
        with app.app_context():
            upgrade()
            now = utcnow()
            started = time.perf_counter()
            _seed(args.messages, args.conversations, now)
            print(f"seeded {args.messages:,} messages in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)  # fmt: skip
            db.session.expire_all()
            since = now - dt.timedelta(days=2)
            with tempfile.TemporaryFile() as out, Peak() as base:
                based = _baseline(since, now + dt.timedelta(seconds=1), out)
            filters = export.ExportFilters(since=since.date(), until=now.date())
            with tempfile.TemporaryFile() as out, Peak() as measured:
                result = export.write_export(filters, out, generated_by={"via": "bench"})
                out.seek(0, os.SEEK_END)
                size = out.tell()
            db.session.remove()
            db.engine.dispose()
    assert based == result.rows["messages"], (based, result.rows)
    return {
        "backend": args.backend,
        "messages": result.rows["messages"],
        "baseline_seconds": round(base.seconds, 2),
        "export_seconds": round(measured.seconds, 2),
        "ratio": round(measured.seconds / base.seconds, 2),
        "export_rows_per_second": round(result.rows["messages"] / measured.seconds),
        "baseline_peak_mib": round(base.mib, 1),
        "export_peak_mib": round(measured.mib, 1),
        "zip_bytes": size,
        "ratio_target": RATIO_TARGET,
        "memory_target_mib": MEMORY_TARGET_MIB,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--enforce-target", action="store_true")
    args = parser.parse_args()
    if args.messages < args.conversations or args.conversations < 1:
        parser.error("--messages must be at least --conversations, which must be positive")
    figures = run(args)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{'':10} {'seconds':>8} {'rows/s':>9} {'peak MiB':>9}")
        for name in ("baseline", "export"):
            seconds = figures[f"{name}_seconds"]
            print(
                f"{name:10} {seconds:8.2f} {figures['messages'] / seconds:9.0f}"
                f" {figures[f'{name}_peak_mib']:9.1f}"
            )
        print(
            f"ratio {figures['ratio']} (target <= {RATIO_TARGET}), ZIP {figures['zip_bytes']:,}"
            f" bytes, {figures['messages']:,} messages on {figures['backend']}"
        )
    missed = figures["ratio"] > RATIO_TARGET or figures["export_peak_mib"] > MEMORY_TARGET_MIB
    return 2 if args.enforce_target and missed else 0


if __name__ == "__main__":
    sys.exit(main())
