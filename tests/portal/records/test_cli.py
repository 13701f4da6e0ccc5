"""``flask export supervisory``: the same engine in this process, one JSON line out, exit 2 on
bad input."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from portal import audit
from portal.extensions import db
from portal.models import AuditRecord, utcnow
from tests.portal.records.conftest import History, jsonl, read_zip


def invoke(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["export", "supervisory", *args])
    return result.exit_code, result.output


def test_the_command_writes_the_zip_and_prints_its_contract(
    app: Flask, history: History, tmp_path: Path
):
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "export.zip"
    today = utcnow().date()
    head = audit.chain_head()

    code, output = invoke(
        app,
        "--since", (today - dt.timedelta(days=1)).isoformat(),
        "--until", today.isoformat(),
        "--hcp", history.hcp.email,
        "--out", str(out),
    )  # fmt: skip

    assert code == 0, output
    lines = output.strip().splitlines()
    assert len(lines) == 1
    printed = json.loads(lines[0])
    assert set(printed) == {"file", "sha256", "bytes", "rows", "chain_head"}
    data = out.read_bytes()
    assert printed["file"] == str(out)
    assert printed["sha256"] == hashlib.sha256(data).hexdigest()
    assert printed["bytes"] == len(data)
    assert printed["rows"]["messages"] == 3  # the HCP's conversation only
    assert set(printed["rows"]) == {
        "pv_cases",
        "consents",
        "messages",
        "questions",
        "attestations",
        "call_notes",
        "summary",
    }
    assert printed["chain_head"] == {"seq": head[0], "hash": head[1]}
    files = read_zip(data)
    assert len(jsonl(files["messages.jsonl"])) == 3
    assert json.loads(files["manifest.json"])["generated_by"] == {"via": "cli"}
    db.session.expire_all()
    record = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "export.completed")
    ).one()
    assert record.details["sha256"] == printed["sha256"]
    assert record.details["via"] == "cli"
    assert list(folder.iterdir()) == [out]  # no partial file left behind


def test_bad_dates_and_unknown_people_exit_2_and_write_nothing(
    app: Flask, history: History, tmp_path: Path
):
    out = tmp_path / "export.zip"
    cases = [
        ("--since", "yesterday", "--until", "2026-01-01"),
        ("--since", "2026-02-01", "--until", "2026-01-01"),
        ("--since", "2026-01-01", "--until", "2026-01-31", "--hcp", "nobody@clinic.test"),
        ("--since", "2026-01-01", "--until", "2026-01-31", "--staff", history.hcp.email),
        ("--since", "2026-01-01", "--until", "2026-01-31", "--team", "astronauts"),
    ]
    for args in cases:
        code, output = invoke(app, *args, "--out", str(out))
        assert code == 2, (args, output)
        assert "error" in json.loads(output.strip().splitlines()[-1])
    assert not out.exists()
