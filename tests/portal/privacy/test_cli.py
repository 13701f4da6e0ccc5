"""``flask privacy export`` and ``flask privacy erase``: their JSON contracts and refusals."""

from __future__ import annotations

import json

from portal import audit
from portal.extensions import db
from portal.models import Role
from portal.retention.models import HoldScope, LegalHold
from tests.factories import make_user
from tests.portal import helpers
from tests.portal.privacy.seed import seed_history


def run(app, *args: str):
    result = app.test_cli_runner().invoke(args=["privacy", *args])
    db.session.expire_all()
    return result


def test_export_writes_the_file_and_prints_its_size(app, tmp_path):
    history = seed_history()
    out = tmp_path / "data.json"

    result = run(app, "export", "--email", history.hcp.email.upper(), "--out", str(out))

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == {"file": str(out), "bytes": out.stat().st_size}
    assert json.loads(out.read_bytes())["profile"]["id"] == history.hcp.id


def test_erase_prints_the_pseudonym_and_counts(app):
    history = seed_history()

    result = run(app, "erase", "--email", history.hcp.email, "--reason", "Request by letter")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert set(printed) == {"user_id", "pseudonym", "kept", "removed"}
    assert printed["user_id"] == history.hcp.id
    assert printed["pseudonym"] == helpers.fresh(history.hcp).name
    assert printed["kept"]["questions"] == 1 and printed["removed"]["conversations"] == 1
    assert audit.verify().ok


def test_erase_is_refused_under_a_legal_hold(app):
    history = seed_history()
    db.session.add(LegalHold(scope=HoldScope.PERSON, user_id=history.hcp.id, reason="Case 17"))
    db.session.commit()

    result = run(app, "erase", "--email", history.hcp.email, "--reason", "Request by letter")

    assert result.exit_code == 2
    assert "legal hold" in json.loads(result.output)["error"]
    assert not helpers.fresh(history.hcp).suspended


def test_unknown_addresses_staff_and_missing_reasons_are_refused(app, tmp_path):
    staff = make_user(Role.MSL)
    history = seed_history()

    unknown = run(app, "export", "--email", "nobody@x.test", "--out", str(tmp_path / "a"))
    colleague = run(app, "erase", "--email", staff.email, "--reason", "Left the company")
    short = run(app, "erase", "--email", history.hcp.email, "--reason", "x")

    assert unknown.exit_code == 2 and "error" in json.loads(unknown.output)
    assert colleague.exit_code == 2 and "error" in json.loads(colleague.output)
    assert short.exit_code == 2 and "reason" in json.loads(short.output)["error"]
    assert not (tmp_path / "a").exists()
